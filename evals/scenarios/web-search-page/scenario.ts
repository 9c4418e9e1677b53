// Fill a page from web search results (served by the fake Tavily server): the draft must hold a new page,
// linked from the home page's navigation, stating the hours the search returned — which the agent could
// only know by searching.

import { draftFile, draftPaths, links, seedSite, sitePathOf, textOf } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";
import { studioSite } from "../site-fixture.ts";

const scenario: Scenario = {
  name: "web-search-page",
  kind: "site_editor",
  instruction:
    "We're running a stall at the Riverside Farmers Market. Add an \"Opening hours\" page with the market's current hours and place — look them up on the web — and link it from the navigation.",
  budget: { steps: 10, costUsd: 0.5, wallSeconds: 180 },
  approvals: approveAll,
  search: [
    {
      results: [
        {
          title: "Riverside Farmers Market – Hours & Location",
          url: "https://riversidemarket.example/visit",
          content:
            "The Riverside Farmers Market is open every Saturday from 8 am to 1 pm, April through November, at Mill Street Park.",
        },
        {
          title: "Riverside Farmers Market (2019 archive)",
          url: "https://old.example/riverside",
          content: "In 2019 the market ran Sundays 9–3 on the quay.",
        },
      ],
    },
  ],
  async setup(w) {
    await seedSite(w, studioSite());
  },
  async verify(w, facts) {
    const c = checks();
    c.check(facts.searches.length > 0, `the web search server was queried (${facts.searches.length} time(s))`);
    const before = new Set(Object.keys(studioSite()));
    const added = (await draftPaths(w)).filter((p) => p.endsWith(".html") && !before.has(p));
    let page: { path: string; text: string } | null = null;
    for (const p of added) {
      const text = textOf((await draftFile(w, p)) ?? "");
      if (/saturday/i.test(text)) page = { path: p, text };
    }
    if (!c.check(page !== null, `a new page mentions the market day (new pages: ${added.join(", ") || "none"})`))
      return c.verdict();
    c.check(
      /\b8(:00)?\s*(am|a\.m\.)|\b08:00\b/i.test(page!.text) && /\b1(:00)?\s*(pm|p\.m\.)|\b13:00\b/i.test(page!.text),
      "it gives the hours found: 8 am to 1 pm",
    );
    c.check(/mill street/i.test(page!.text), "it gives the place found: Mill Street Park");
    c.check(!/sunday/i.test(page!.text), "it does not give the outdated Sunday hours");
    const nav = links((await draftFile(w, "index.html")) ?? "", "nav").map((h) =>
      sitePathOf(h, "index.html", w.project),
    );
    c.check(
      nav.some((p) => p === page!.path || `${p}.html` === page!.path),
      "the home page's navigation links to it",
    );
    return c.verdict();
  },
};
export default scenario;
