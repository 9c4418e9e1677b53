// Change the site name in the settings, exactly as given, leaving the other settings alone.

import { seedSite } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";
import { studioSite } from "../site-fixture.ts";

const NAME = "Fernwood & Co.";

const scenario: Scenario = {
  name: "change-site-name",
  kind: "site_editor",
  instruction: `We've rebranded: change the site name to "${NAME}".`,
  budget: { steps: 6, costUsd: 0.3, wallSeconds: 120 },
  approvals: approveAll,
  async setup(w) {
    await seedSite(w, studioSite(), {
      site_name: "Blue Fern Studio",
      tagline: "Garden design in Leeds",
      language: "en-GB",
    });
  },
  async verify(w) {
    const c = checks();
    // The draft's settings: the instruction does not ask to publish, and settings go live only with a publish.
    const s = (await w.apiOk("GET", `/v1/projects/${w.project}/settings`)).draft;
    c.check(s.site_name === NAME, `site_name is ${JSON.stringify(NAME)} (found ${JSON.stringify(s.site_name)})`);
    c.check(s.tagline === "Garden design in Leeds" && s.language === "en-GB", "the tagline and language are unchanged");
    return c.verdict();
  },
};
export default scenario;
