import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import { generateSshKeyPair } from "./ssh-keypair.ts";

describe("generateSshKeyPair", () => {
  it("every pair parses back, with the public half in authorized_keys form (ssh2 alone fails ~1 in 300)", () => {
    for (let i = 0; i < 1500; i++) {
      const pair = generateSshKeyPair("bosun");
      const parsed = ssh2.utils.parseKey(pair.private);
      expect(parsed instanceof Error ? parsed.message : "ok").toBe("ok");
      expect(pair.public).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+ bosun$/);
    }
  });
});
