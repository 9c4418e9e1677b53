import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

const accountRow = (id: string) =>
  t.platform.db.selectFrom("accounts").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
/** A code for `offset` 30 s steps from now; a step already accepted is refused, so later calls use later steps. */
const codeAt = (secret: string, offset = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offset * 30 });
/** Six digits that are not the current code (nor the neighbouring ones). */
async function wrongCode(secret: string) {
  const valid = new Set([await codeAt(secret, -1), await codeAt(secret), await codeAt(secret, 1)]);
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(6, "0");
    if (!valid.has(candidate)) return candidate;
  }
}

async function withToken(user?: TestAccount) {
  const account = user ?? (await t.account());
  return { user: account, token: await account.token(["account:write", "account:read"]) };
}

describe("two-factor setup (setup_totp, confirm_totp)", () => {
  it("setup returns a secret once and stores it only encrypted; two-factor stays off until confirmed", async () => {
    const { user, token } = await withToken();
    const setup = await t.request("POST", "/v1/me/totp/setup", { token });
    expect(setup.status).toBe(200);
    const secret: string = setup.body.secret;
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(setup.body.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
    expect(setup.body.otpauth_uri).toContain(`secret=${secret}`);
    expect(setup.body.otpauth_uri).toContain("issuer=Bosun");

    const row = await accountRow(user.id);
    expect(row.totp_enabled).toBe(false);
    expect(row.totp_secret_enc).toEqual(expect.any(String));
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(t.platform.secrets.decrypt(row.totp_secret_enc!)).toBe(secret);
    const me = await t.request("GET", "/v1/me", { token });
    expect(me.body.account.totp_enabled).toBe(false);
    expect(JSON.stringify(me.body)).not.toContain(secret);
  });

  it("confirm refuses wrong codes with 401, then turns two-factor on and shows backup codes once", async () => {
    const { user, token } = await withToken();
    const secret: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;

    for (const code of [await wrongCode(secret), "abcdef", "12345678"]) {
      const res = await t.request("POST", "/v1/me/totp/confirm", { token, body: { code } });
      expect(res.status, code).toBe(401);
      expect(res.body.error.code).toBe("unauthorized");
    }
    expect((await accountRow(user.id)).totp_enabled).toBe(false);

    const confirmed = await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await codeAt(secret) } });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.enabled).toBe(true);
    const codes: string[] = confirmed.body.backup_codes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);

    const row = await accountRow(user.id);
    expect(row.totp_enabled).toBe(true);
    expect(row.totp_backup_hashes).toHaveLength(10);
    const stored = JSON.stringify(row);
    for (const c of codes) {
      expect(stored).not.toContain(c);
      expect(stored).not.toContain(c.replace("-", ""));
    }
    expect(stored).not.toContain(secret);
    // Shown once: asking again is a conflict, and nothing else returns them.
    const again = await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await codeAt(secret, 1) } });
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).not.toContain(codes[0]!);
    const me = await t.request("GET", "/v1/me", { token });
    expect(me.body.account.totp_enabled).toBe(true);
  });

  it("refuses setup with 409 while two-factor is on, keeping the enabled secret", async () => {
    const { user, token } = await withToken();
    const secret: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;
    expect(
      (await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await codeAt(secret) } })).status,
    ).toBe(200);
    const before = (await accountRow(user.id)).totp_secret_enc;
    const res = await t.request("POST", "/v1/me/totp/setup", { token });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
    expect(res.body.secret).toBeUndefined();
    expect((await accountRow(user.id)).totp_secret_enc).toBe(before);
  });

  it("confirm without setup is a conflict", async () => {
    const { token } = await withToken();
    const res = await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: "123456" } });
    expect(res.status).toBe(409);
  });

  it("a second setup replaces the first secret: the old secret's codes no longer confirm", async () => {
    const { token } = await withToken();
    const first: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;
    const second: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;
    expect(second).not.toBe(first);
    const old = await codeAt(first);
    if (old !== (await codeAt(second))) {
      expect((await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: old } })).status).toBe(401);
    }
    expect(
      (await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await codeAt(second) } })).status,
    ).toBe(200);
  });
});

describe("two-factor disable (disable_totp)", () => {
  it("refuses a wrong code with 401, then disables with a valid one and clears the secret", async () => {
    const { user, token } = await withToken();
    const secret: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;
    expect(
      (await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await codeAt(secret) } })).status,
    ).toBe(200);

    const wrong = await t.request("POST", "/v1/me/totp/disable", { token, body: { code: await wrongCode(secret) } });
    expect(wrong.status).toBe(401);
    expect((await accountRow(user.id)).totp_enabled).toBe(true);
    // The code confirm_totp just used cannot be spent again to disable.
    const replay = await t.request("POST", "/v1/me/totp/disable", { token, body: { code: await codeAt(secret) } });
    expect(replay.status).toBe(401);

    const off = await t.request("POST", "/v1/me/totp/disable", { token, body: { code: await codeAt(secret, 1) } });
    expect(off.status).toBe(200);
    expect(off.body).toEqual({ enabled: false });
    const row = await accountRow(user.id);
    expect(row).toMatchObject({
      totp_enabled: false,
      totp_secret_enc: null,
      totp_backup_hashes: [],
      totp_last_step: null,
    });
    // Logging in needs the password only again.
    expect(
      (await t.request("POST", "/v1/auth/login", { body: { email: user.email, password: user.password } })).status,
    ).toBe(200);
    // Disabling twice is a conflict.
    expect((await t.request("POST", "/v1/me/totp/disable", { token, body: { code: "123456" } })).status).toBe(409);
  });

  it("accepts a backup code to disable", async () => {
    const { user, token } = await withToken();
    const secret: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;
    const confirmed = await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await codeAt(secret) } });
    const off = await t.request("POST", "/v1/me/totp/disable", {
      token,
      body: { code: confirmed.body.backup_codes[0] },
    });
    expect(off.status).toBe(200);
    expect((await accountRow(user.id)).totp_enabled).toBe(false);
  });

  it("needs account:write", async () => {
    const user = await t.account();
    const token = await user.token(["account:read"]);
    for (const path of ["/v1/me/totp/setup", "/v1/me/totp/confirm", "/v1/me/totp/disable"]) {
      const res = await t.request("POST", path, {
        token,
        body: path.endsWith("setup") ? undefined : { code: "123456" },
      });
      expect(res.status, path).toBe(403);
      expect(res.body.error.required_scope).toBe("account:write");
    }
  });
});
