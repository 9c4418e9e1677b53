// Rename a page (its URL and its title) and keep every link working, in the draft: the old page is gone, no
// page links to it, every page's navigation points at the new URL under the new name, the content is kept.

import { draftFile, draftPaths, links, seedSite, textOf } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";
import { studioSite } from "../site-fixture.ts";

const scenario: Scenario = {
  name: "rename-page",
  kind: "site_editor",
  instruction:
    'Rename the Services page to "What we do", at /what-we-do.html, and make sure every link to it still works — the menu should say "What we do" too.',
  budget: { steps: 10, costUsd: 0.5, wallSeconds: 180 },
  approvals: approveAll,
  async setup(w) {
    await seedSite(w, studioSite());
  },
  async verify(w) {
    const c = checks();
    const paths = await draftPaths(w);
    c.check(!paths.includes("services.html"), "services.html is gone from the draft");
    const page = await draftFile(w, "what-we-do.html");
    if (!c.check(page !== null, "the draft has what-we-do.html")) return c.verdict();
    c.check(/<title>[^<]*What we do[^<]*<\/title>/i.test(page!), "its title says What we do");
    c.check(page!.includes("We design gardens, terraces and green roofs."), "its content is kept");
    for (const file of paths.filter((p) => p.endsWith(".html"))) {
      const html = (await draftFile(w, file)) ?? "";
      c.check(!links(html).some((h) => /services(\.html)?$/.test(h)), `${file} has no link to the old page`);
      const nav = /<nav\b[\s\S]*?<\/nav>/i.exec(html)?.[0] ?? "";
      const entry = [...nav.matchAll(/<a\b[^>]*href=["']([^"']*)["'][^>]*>([\s\S]*?)<\/a>/gi)].find((m) =>
        /what-we-do(\.html)?$/.test(m[1]!),
      );
      c.check(
        !!entry && textOf(entry[2]!) === "What we do",
        `${file}'s menu links to /what-we-do.html as "What we do"`,
      );
    }
    return c.verdict();
  },
};
export default scenario;
