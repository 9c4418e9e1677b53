// HTML escaping, written once for every place Bosun writes HTML (site pages, the API docs, Telegram messages).

/** Text or an attribute value made safe inside HTML: all five significant characters become entities. */
export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "#39" }[c]};`);
