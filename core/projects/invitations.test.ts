// Invitations, against a real SMTP server: nobody joins a project without following the link mailed to them, and
// the inviter learns nothing about whether an address has an account.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";
import { type SmtpFixture, startSmtpServer } from "../../testkit/smtp.ts";
import { tokenFromLink } from "../identity/one-time.ts";

let t: TestPlatform;
let smtp: SmtpFixture;
beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await startTestPlatform({
    config: {
      trialCreditMicros: 1_000_000,
      publicUrl: "http://bosun.test",
      mail: { smtpUrl: smtp.url, from: "bosun@bosun.test" },
    },
  });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

let n = 0;
async function project(): Promise<{ slug: string; owner: TestAccount; token: string }> {
  const slug = `inv-${++n}`;
  const owner = await t.account();
  const token = await owner.token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug, name: `Project ${n}`, kind: "site" } })).status,
  ).toBe(201);
  return { slug, owner, token };
}
const invite = (slug: string, token: string, email: string, role = "developer") =>
  t.request("POST", `/v1/projects/${slug}/invitations`, { token, body: { email, role } });
const roleOf = async (slug: string, email: string) =>
  (
    await t.platform.db
      .selectFrom("project_members")
      .innerJoin("projects", "projects.id", "project_members.project_id")
      .innerJoin("accounts", "accounts.id", "project_members.account_id")
      .select("project_members.role")
      .where("projects.slug", "=", slug)
      .where("accounts.email", "=", email)
      .executeTakeFirst()
  )?.role ?? null;
const linkIn = async (email: string) =>
  tokenFromLink((await smtp.next(email)).links.find((l) => l.includes("/account/accept-invitation#token="))!);
/** The response with what differs between any two invitations (ids, addresses, times) blanked out. */
const shape = (body: any) =>
  JSON.parse(JSON.stringify(body, (k, v) => (["id", "email", "expires_at", "created_at"].includes(k) ? "*" : v)));

describe("invitations", () => {
  it("answer the same whether the address has an account or not, and add nobody before acceptance", async () => {
    const p = await project();
    const existing = await t.account();
    const a = await invite(p.slug, p.token, existing.email);
    const b = await invite(p.slug, p.token, "no-account-yet@example.test");
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(shape(a.body)).toEqual(shape(b.body));
    expect(Object.keys(a.body.invitation).sort()).toEqual([
      "created_at",
      "email",
      "expires_at",
      "id",
      "invited_by",
      "role",
      "status",
    ]);
    expect(a.body).toMatchObject({
      emailed: true,
      invitation_link: null,
      invitation: { status: "pending", role: "developer" },
    });
    expect(await roleOf(p.slug, existing.email)).toBeNull();
    // Both addresses get the same email.
    const [ma, mb] = [await smtp.next(existing.email), await smtp.next("no-account-yet@example.test")];
    expect(ma.subject).toBe(mb.subject);
    const blank = (text: string) => text.replace(/#token=\S+/, "").replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, "");
    expect(blank(ma.text)).toBe(blank(mb.text));

    const list = await t.request("GET", `/v1/projects/${p.slug}/invitations`, { token: p.token });
    expect(list.body.invitations.map((i: { email: string; status: string }) => [i.email, i.status]).sort()).toEqual(
      [
        [existing.email, "pending"],
        ["no-account-yet@example.test", "pending"],
      ].sort(),
    );
  });

  it("an existing account joins by following the link; a new address creates its account there", async () => {
    const p = await project();
    const existing = await t.account();
    await invite(p.slug, p.token, existing.email, "maintainer");
    const joined = await t.request("POST", "/v1/auth/accept-invitation", {
      body: { token: await linkIn(existing.email) },
    });
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    expect(joined.body).toMatchObject({
      project: p.slug,
      role: "maintainer",
      account_created: false,
      account: { id: existing.id },
    });
    expect(await roleOf(p.slug, existing.email)).toBe("maintainer");

    await invite(p.slug, p.token, "Fresh@Example.test");
    const token = await linkIn("fresh@example.test");
    const needs = await t.request("POST", "/v1/auth/accept-invitation", { body: { token } });
    expect(needs.status).toBe(400);
    expect(needs.body.error.issues[0].path).toBe("password");
    const created = await t.request("POST", "/v1/auth/accept-invitation", {
      body: { token, name: "Fresh", password: "fresh-password-1" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body).toMatchObject({
      project: p.slug,
      role: "developer",
      account_created: true,
      account: { email: "fresh@example.test", email_verified: true },
    });
    const login = await t.request("POST", "/v1/auth/login", {
      body: { email: "fresh@example.test", password: "fresh-password-1" },
    });
    expect(login.status).toBe(200);
    expect((await t.request("GET", `/v1/projects/${p.slug}`, { token: login.body.token })).body.role).toBe("developer");
    // Used once: the link does nothing a second time.
    expect(
      (
        await t.request("POST", "/v1/auth/accept-invitation", {
          body: { token, name: "X", password: "other-password-1" },
        })
      ).status,
    ).toBe(400);
    const list = await t.request("GET", `/v1/projects/${p.slug}/invitations?status=accepted`, { token: p.token });
    expect(list.body.invitations).toHaveLength(2);
  });

  it("logged in as another account, the link is refused like an invalid one", async () => {
    const p = await project();
    const invited = await t.account();
    const other = await t.account();
    await invite(p.slug, p.token, invited.email);
    const token = await linkIn(invited.email);
    const wrong = await t.request("POST", "/v1/auth/accept-invitation", {
      token: await other.token(["*"]),
      body: { token },
    });
    const bogus = await t.request("POST", "/v1/auth/accept-invitation", {
      body: { token: "bsn_link_not-a-real-token" },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toBe(bogus.body.error.message);
    expect(await roleOf(p.slug, other.email)).toBeNull();
    const right = await t.request("POST", "/v1/auth/accept-invitation", {
      token: await invited.token(["*"]),
      body: { token },
    });
    expect(right.status).toBe(200);
  });

  it("a revoked or replaced invitation's link stops working", async () => {
    const p = await project();
    const a = await invite(p.slug, p.token, "revoke-me@example.test");
    const first = await linkIn("revoke-me@example.test");
    const revoked = await t.request("DELETE", `/v1/projects/${p.slug}/invitations/${a.body.invitation.id}`, {
      token: p.token,
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe("revoked");
    expect(
      (
        await t.request("POST", "/v1/auth/accept-invitation", {
          body: { token: first, name: "R", password: "long-password-1" },
        })
      ).status,
    ).toBe(400);

    await invite(p.slug, p.token, "twice@example.test");
    const old = await linkIn("twice@example.test");
    await invite(p.slug, p.token, "twice@example.test", "viewer");
    const fresh = await linkIn("twice@example.test");
    expect(
      (
        await t.request("POST", "/v1/auth/accept-invitation", {
          body: { token: old, name: "T", password: "long-password-1" },
        })
      ).status,
    ).toBe(400);
    const ok = await t.request("POST", "/v1/auth/accept-invitation", {
      body: { token: fresh, name: "T", password: "long-password-1" },
    });
    expect(ok.body.role).toBe("viewer");
    expect(
      await t.platform.db
        .selectFrom("accounts")
        .select("id")
        .where("email", "=", "revoke-me@example.test")
        .executeTakeFirst(),
    ).toBeUndefined();
  });

  it("re-inviting a member never changes their role", async () => {
    const p = await project();
    const m = await t.account();
    await t.addMember(p.slug, p.token, m, "maintainer", linkIn);
    await invite(p.slug, p.token, m.email, "viewer");
    const res = await t.request("POST", "/v1/auth/accept-invitation", { body: { token: await linkIn(m.email) } });
    expect(res.body.role).toBe("maintainer");
    expect(await roleOf(p.slug, m.email)).toBe("maintainer");
  });

  it("another project's invitations are not found; only owners invite owners; a developer cannot invite", async () => {
    const p = await project();
    const q = await project();
    const inv = await invite(p.slug, p.token, "someone@example.test");
    expect(
      (await t.request("DELETE", `/v1/projects/${q.slug}/invitations/${inv.body.invitation.id}`, { token: q.token }))
        .status,
    ).toBe(404);
    expect((await t.request("GET", `/v1/projects/${p.slug}/invitations`, { token: q.token })).status).toBe(404);
    expect((await invite(p.slug, q.token, "x@example.test")).status).toBe(404);

    const maint = await t.account();
    const dev = await t.account();
    await t.addMember(p.slug, p.token, maint, "maintainer", linkIn);
    await t.addMember(p.slug, p.token, dev, "developer", linkIn);
    const mt = await maint.token(["*"]);
    expect((await invite(p.slug, mt, "boss@example.test", "owner")).status).toBe(403);
    expect((await invite(p.slug, mt, "helper@example.test", "developer")).status).toBe(201);
    const dt = await dev.token(["*"]);
    expect((await invite(p.slug, dt, "friend@example.test")).status).toBe(403);
    const ownerInv = await invite(p.slug, p.token, "co-owner@example.test", "owner");
    expect(
      (await t.request("DELETE", `/v1/projects/${p.slug}/invitations/${ownerInv.body.invitation.id}`, { token: mt }))
        .status,
    ).toBe(403);
  });

  it("an agent cannot accept an invitation: the operation is not one of its tools", () => {
    expect(t.platform.operations.get("accept_invitation").surfaces).toEqual(["rest", "cli"]);
    expect(t.platform.operations.get("accept_invitation").level).toBe("account");
  });
});

describe("list_invitations and revoke_invitation", () => {
  it("list every invitation of the project with its state, filter by state, and revoking changes only that one", async () => {
    const p = await project();
    const q = await project();
    const joiner = await t.account();
    const a = await invite(p.slug, p.token, "list-a@example.test", "viewer");
    const b = await invite(p.slug, p.token, "list-b@example.test");
    await invite(q.slug, q.token, "elsewhere@example.test");
    await invite(p.slug, p.token, joiner.email);
    expect(
      (await t.request("POST", "/v1/auth/accept-invitation", { body: { token: await linkIn(joiner.email) } })).status,
    ).toBe(200);
    const list = async (query = "") =>
      (await t.request("GET", `/v1/projects/${p.slug}/invitations${query}`, { token: p.token })).body.invitations as {
        id: string;
        email: string;
        role: string;
        status: string;
        invited_by: string;
      }[];
    const byEmail = (xs: { email: string; status: string }[]) => Object.fromEntries(xs.map((x) => [x.email, x.status]));

    expect(byEmail(await list())).toEqual({
      "list-a@example.test": "pending",
      "list-b@example.test": "pending",
      [joiner.email]: "accepted",
    });
    expect((await list()).find((x) => x.email === "list-a@example.test")).toMatchObject({
      role: "viewer",
      invited_by: p.owner.id,
    });

    const revoked = await t.request("DELETE", `/v1/projects/${p.slug}/invitations/${a.body.invitation.id}`, {
      token: p.token,
    });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(byEmail(await list())).toEqual({
      "list-a@example.test": "revoked",
      "list-b@example.test": "pending",
      [joiner.email]: "accepted",
    });
    expect((await list("?status=pending")).map((x) => x.id)).toEqual([b.body.invitation.id]);
    expect((await list("?status=revoked")).map((x) => x.email)).toEqual(["list-a@example.test"]);
    // The other project's invitation is untouched, and not listed here.
    expect(
      (await t.request("GET", `/v1/projects/${q.slug}/invitations?status=pending`, { token: q.token })).body
        .invitations,
    ).toHaveLength(1);
  });
});
