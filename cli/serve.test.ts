import { describe, expect, it } from "vitest";
import { loadConfig } from "../core/config.ts";
import type { Platform } from "../core/platform.ts";
import { firstStartMessage, sitesStartNote } from "./serve.ts";

const owner = {
  email: "admin@localhost",
  password: "pw-123",
  token: "bsn_abc",
  apiUrl: "http://127.0.0.1:8787",
  tokenFile: "/data/admin-token",
};

describe("the first-start message", () => {
  it("says who the owner is, how to log in, how to start the agent and how to add people", () => {
    const text = firstStartMessage({ ...owner, agentUnavailable: null, mail: false });
    for (const part of [
      "admin@localhost",
      "pw-123",
      "bsn_abc",
      "/data/admin-token",
      "POST /v1/auth/login",
      "export BOSUN_URL=http://127.0.0.1:8787",
      "bosun call create_project",
      "bosun call start_agent_chat --project my-site",
      "never refused for lack of credit",
      "bosun call create_account",
      "bosun call invite_member",
      "BOSUN_SMTP_URL",
    ]) {
      expect(text, part).toContain(part);
    }
    expect(text).not.toContain("ANTHROPIC_API_KEY");
  });

  it("names the key to set when the agent has no model yet", () => {
    const text = firstStartMessage({ ...owner, agentUnavailable: "the agent is not configured", mail: true });
    expect(text).toContain("set ANTHROPIC_API_KEY");
    expect(text).toContain("go out by email");
  });
});

describe("where sites are served, said at start", () => {
  const platformWith = (env: Record<string, string>) =>
    ({ config: loadConfig({ ...env, BOSUN_DATA_DIR: "/tmp/x" }) }) as Pick<Platform, "config"> as Platform;

  it("by default each site on its own origin, with no warning", () => {
    const note = sitesStartNote(platformWith({}));
    expect(note).toContain("http://{project}.localhost:8788/");
    expect(note).toContain("each site on its own origin");
    expect(note).not.toContain("warning");
  });

  it("in path mode, only when asked, with a warning naming what one shared origin gives up", () => {
    const note = sitesStartNote(platformWith({ BOSUN_SITES_PATH_MODE: "1", BOSUN_SITES_URL: "http://127.0.0.1:8788" }));
    expect(note).toContain("http://127.0.0.1:8788/s/{project}/");
    expect(note).toMatch(/warning: BOSUN_SITES_PATH_MODE is on: every site shares one origin.*password cookies/);
  });
});
