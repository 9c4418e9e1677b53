// Broken internal links (wrong file names), fixed to point at the right pages, then published. Verified by
// crawling the live site over HTTP: every internal link answers 200, and each one goes where it was meant to.

import { links, live, seedSite, sitePathOf } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";
import { page } from "../site-fixture.ts";

const NAV =
  '<nav><a href="/">Home</a> <a href="/about-us.html">About</a> <a href="/prices.html">Pricing</a> <a href="/team.html">Team</a></nav>';
/** Each page, and the pages its links must reach. */
const MEANT: Record<string, string[]> = {
  "index.html": ["about.html", "pricing.html", "team.html"],
  "team.html": ["contact.html"],
};

const scenario: Scenario = {
  name: "fix-broken-links",
  kind: "site_editor",
  instruction: "Some links on my site are broken. Fix them so every link goes to the right page, then publish.",
  allowPublish: true,
  budget: { steps: 14, costUsd: 0.6, wallSeconds: 240 },
  approvals: approveAll,
  async setup(w) {
    await seedSite(w, {
      "index.html": page("Home", '<h1>Blue Fern Studio</h1><p>See our <a href="/prices.html">prices</a>.</p>', NAV),
      "about.html": page("About", "<h1>About</h1>", NAV),
      "pricing.html": page("Pricing", "<h1>Pricing</h1><p>From £900.</p>", NAV),
      "team.html": page("Team", '<h1>Team</h1><p>Questions? <a href="/contact-us.html">Get in touch</a>.</p>', NAV),
      "contact.html": page("Contact", "<h1>Contact</h1><p>hello@bluefern.example</p>", NAV),
    });
  },
  async verify(w) {
    const c = checks();
    const broken: string[] = [];
    const seen = new Set<string>();
    const queue = ["index.html"];
    const reached = new Map<string, Set<string>>();
    while (queue.length && seen.size < 50) {
      const p = queue.shift()!;
      if (seen.has(p)) continue;
      seen.add(p);
      const res = await live(w, p);
      if (res.status !== 200) continue;
      const targets = new Set<string>();
      for (const href of links(res.text)) {
        const t = sitePathOf(href, p, w.project);
        if (t === null) continue;
        const file = t === "" ? "index.html" : /\.[a-z]+$/.test(t) ? t : `${t}.html`;
        targets.add(file);
        const got = await live(w, t);
        if (got.status !== 200) broken.push(`${p} → ${href} (${got.status})`);
        else queue.push(file);
      }
      reached.set(p, targets);
    }
    c.check(
      broken.length === 0,
      `every internal link on the live site answers 200${broken.length ? ` (broken: ${[...new Set(broken)].join(", ")})` : ""}`,
    );
    for (const [p, meant] of Object.entries(MEANT)) {
      const missing = meant.filter((m) => !reached.get(p)?.has(m));
      c.check(
        missing.length === 0,
        `the live ${p} links to ${meant.join(", ")}${missing.length ? ` (missing: ${missing.join(", ")})` : ""}`,
      );
    }
    return c.verdict();
  },
};
export default scenario;
