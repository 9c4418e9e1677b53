// The small site most site scenarios start from: three pages sharing one <nav>, already published.
export const NAV =
  '<nav><a href="/">Home</a> <a href="/about.html">About</a> <a href="/services.html">Services</a></nav>';

export const page = (title: string, body: string, nav = NAV) =>
  `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title} – Blue Fern Studio</title></head>\n<body>${nav}\n<main>${body}</main></body></html>\n`;

export const studioSite = (): Record<string, string> => ({
  "index.html": page("Home", "<h1>Welcome to Blue Fern Studio</h1><p>Garden design in Leeds.</p>"),
  "about.html": page("About", "<h1>About us</h1><p>Two designers, twenty years of gardens.</p>"),
  "services.html": page("Services", "<h1>Services</h1><p>We design gardens, terraces and green roofs.</p>"),
});
