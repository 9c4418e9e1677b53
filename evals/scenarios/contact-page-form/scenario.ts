// A contact page with a working form, linked from every page's navigation, published. Verified on the live
// site over HTTP: the nav links, the page, and a real form submission that lands in the project.

import { links, live, seedSite, sitePathOf } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";
import { studioSite } from "../site-fixture.ts";

const scenario: Scenario = {
  name: "contact-page-form",
  kind: "site_editor",
  instruction:
    "Add a Contact page with a form where visitors leave their name, email and a message. Link it from the navigation on every page, then publish the site.",
  allowPublish: true,
  budget: { steps: 14, costUsd: 0.6, wallSeconds: 240 },
  approvals: approveAll,
  async setup(w) {
    await seedSite(w, studioSite(), { site_name: "Blue Fern Studio" });
  },
  async verify(w) {
    const c = checks();
    // The contact page: the one the home page's nav links to that holds a form.
    const home = await live(w, "");
    let contact: { path: string; html: string } | null = null;
    for (const href of links(home.text, "nav")) {
      const p = sitePathOf(href, "index.html", w.project);
      if (!p || p === "" || p === "index.html") continue;
      const res = await live(w, p);
      if (res.status === 200 && /<form\b/i.test(res.text)) contact = { path: p, html: res.text };
    }
    if (!c.check(contact !== null, "the live home page's navigation links to a page with a form")) return c.verdict();
    for (const page of ["about.html", "services.html"]) {
      const html = (await live(w, page)).text;
      const navTargets = links(html, "nav").map((h) => sitePathOf(h, page, w.project)?.replace(/\.html$/, ""));
      c.check(
        navTargets.includes(contact!.path.replace(/\.html$/, "")),
        `the live ${page} links to it from its navigation`,
      );
    }
    const form = /<form\b[^>]*>[\s\S]*?<\/form>/i.exec(contact!.html)![0];
    const fields = [...form.matchAll(/<(?:input|textarea)\b[^>]*\bname\s*=\s*["']([^"']+)["'][^>]*>/gi)].map(
      (m) => m[1]!,
    );
    c.check(
      fields.some((f) => /mail/i.test(f)) &&
        fields.some((f) => /name/i.test(f)) &&
        fields.some((f) => /message|msg|comment|text/i.test(f)),
      `the form asks for a name, an email and a message (fields: ${fields.join(", ")})`,
    );
    const action = /\baction\s*=\s*["']([^"']+)["']/i.exec(form)?.[1] ?? "";
    const target = sitePathOf(action, contact!.path, w.project);
    const body = new URLSearchParams(
      fields.map((f) => [f, /mail/i.test(f) ? "ada@example.test" : "Hello from the eval"]),
    );
    const posted = target
      ? await live(w, target, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body,
        })
      : null;
    c.check(
      !!posted && posted.status < 400,
      `a visitor can submit the form (POST ${action || "(no action)"}: ${posted?.status ?? "not sent"})`,
    );
    const subs = (await w.apiOk("GET", `/v1/projects/${w.project}/submissions`)).submissions as {
      data: Record<string, unknown>;
    }[];
    c.check(
      subs.some((s) => Object.values(s.data).includes("ada@example.test")),
      `the submission reached the project (${subs.length} submission(s))`,
    );
    return c.verdict();
  },
};
export default scenario;
