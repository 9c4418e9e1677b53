import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

interface Team {
  slug: string;
  owner: TestAccount;
  ownerToken: string;
  maintainer: TestAccount;
  developer: TestAccount;
  viewer: TestAccount;
}

let teams = 0;
/** A project with one member of each role, added by the owner. */
async function team(): Promise<Team> {
  const slug = `team-${++teams}`;
  const owner = await t.account();
  const ownerToken = await owner.token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token: ownerToken, body: { slug, name: slug, kind: "site" } })).status,
  ).toBe(201);
  const members = { maintainer: await t.account(), developer: await t.account(), viewer: await t.account() };
  for (const [role, account] of Object.entries(members)) {
    await t.addMember(slug, ownerToken, account, role);
  }
  return { slug, owner, ownerToken, ...members };
}

const roleOf = async (slug: string, accountId: string) => {
  const row = await t.platform.db
    .selectFrom("project_members")
    .innerJoin("projects", "projects.id", "project_members.project_id")
    .select("project_members.role")
    .where("projects.slug", "=", slug)
    .where("project_members.account_id", "=", accountId)
    .executeTakeFirst();
  return row?.role ?? null;
};

describe("project members (list_project_members, update_project_member, remove_project_member)", () => {
  it("owners add, list, change and remove members", async () => {
    const p = await team();
    const list = await t.request("GET", `/v1/projects/${p.slug}/members`, { token: p.ownerToken });
    expect(list.status).toBe(200);
    const byId = Object.fromEntries(
      list.body.members.map((m: { account_id: string; role: string }) => [m.account_id, m.role]),
    );
    expect(byId).toEqual({
      [p.owner.id]: "owner",
      [p.maintainer.id]: "maintainer",
      [p.developer.id]: "developer",
      [p.viewer.id]: "viewer",
    });
    expect(list.body.members[0]).toEqual({
      account_id: expect.any(String),
      email: expect.any(String),
      name: expect.any(String),
      role: expect.any(String),
      added_at: expect.any(String),
    });

    const changed = await t.request("PATCH", `/v1/projects/${p.slug}/members/${p.viewer.id}`, {
      token: p.ownerToken,
      body: { role: "developer" },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ account_id: p.viewer.id, email: p.viewer.email, role: "developer" });
    expect(await roleOf(p.slug, p.viewer.id)).toBe("developer");

    const removed = await t.request("DELETE", `/v1/projects/${p.slug}/members/${p.viewer.id}`, { token: p.ownerToken });
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ removed: true, account_id: p.viewer.id });
    expect(await roleOf(p.slug, p.viewer.id)).toBeNull();
  });

  it("adds nobody directly (members join by invitation only), and answers 404 for a non-member", async () => {
    const p = await team();
    // add_project_member is gone: it told any caller whether an email had an account, and added accounts without consent.
    const direct = await t.request("POST", `/v1/projects/${p.slug}/members`, {
      token: p.ownerToken,
      body: { email: p.developer.email, role: "viewer" },
    });
    expect(direct.status).toBe(404);
    expect(t.platform.operations.has("add_project_member")).toBe(false);
    expect(await roleOf(p.slug, p.developer.id)).toBe("developer");
    const outsider = await t.account();
    for (const [method, body] of [
      ["PATCH", { role: "viewer" }],
      ["DELETE", undefined],
    ] as const) {
      const res = await t.request(method, `/v1/projects/${p.slug}/members/${outsider.id}`, {
        token: p.ownerToken,
        body,
      });
      expect(res.status, method).toBe(404);
    }
  });

  it("a viewer's token holding projects:write is still capped by the role: 403", async () => {
    const p = await team();
    const token = await p.viewer.token(["projects:read", "projects:write", "members:write"]);
    expect((await t.request("GET", `/v1/projects/${p.slug}`, { token })).body.role).toBe("viewer");
    const res = await t.request("PATCH", `/v1/projects/${p.slug}`, { token, body: { name: "Hijacked" } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("insufficient_scope");
    expect(res.body.error.required_scope).toBe("projects:write");
    expect(res.body.error.message).toContain("viewer");
    const added = await t.request("POST", `/v1/projects/${p.slug}/invitations`, {
      token,
      body: { email: (await t.account()).email, role: "viewer" },
    });
    expect(added.status).toBe(403);
    expect((await t.request("GET", `/v1/projects/${p.slug}`, { token })).body.name).toBe(p.slug);
  });

  it("a developer cannot manage members", async () => {
    const p = await team();
    const token = await p.developer.token(["members:read", "members:write"]);
    expect((await t.request("GET", `/v1/projects/${p.slug}/members`, { token })).status).toBe(200);
    const newcomer = await t.account();
    const add = await t.request("POST", `/v1/projects/${p.slug}/invitations`, {
      token,
      body: { email: newcomer.email, role: "viewer" },
    });
    expect(add.status).toBe(403);
    expect(add.body.error.required_scope).toBe("members:write");
    const change = await t.request("PATCH", `/v1/projects/${p.slug}/members/${p.viewer.id}`, {
      token,
      body: { role: "maintainer" },
    });
    expect(change.status).toBe(403);
    const remove = await t.request("DELETE", `/v1/projects/${p.slug}/members/${p.viewer.id}`, { token });
    expect(remove.status).toBe(403);
    expect(await roleOf(p.slug, newcomer.id)).toBeNull();
    expect(await roleOf(p.slug, p.viewer.id)).toBe("viewer");
  });

  it("a maintainer manages non-owners but cannot delete the project or make, change or remove owners", async () => {
    const p = await team();
    const token = await p.maintainer.token(["*"]);
    const url = `/v1/projects/${p.slug}`;
    expect((await t.request("PATCH", url, { token, body: { name: "Renamed by maintainer" } })).status).toBe(200);
    const newcomer = await t.account();
    await t.addMember(p.slug, token, newcomer, "developer");
    expect(await roleOf(p.slug, newcomer.id)).toBe("developer");
    expect(
      (await t.request("PATCH", `${url}/members/${p.viewer.id}`, { token, body: { role: "maintainer" } })).status,
    ).toBe(200);

    const del = await t.request("DELETE", url, { token });
    expect(del.status).toBe(403);
    expect(del.body.error.required_scope).toBe("projects:delete");
    const refused = [
      ["POST", `${url}/invitations`, { email: (await t.account()).email, role: "owner" }],
      ["PATCH", `${url}/members/${p.developer.id}`, { role: "owner" }],
      ["PATCH", `${url}/members/${p.maintainer.id}`, { role: "owner" }],
      ["PATCH", `${url}/members/${p.owner.id}`, { role: "viewer" }],
      ["DELETE", `${url}/members/${p.owner.id}`, undefined],
    ] as const;
    for (const [method, path, body] of refused) {
      const res = await t.request(method, path, { token, body });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(403);
      expect(res.body.error.code).toBe("insufficient_scope");
    }
    expect((await t.request("GET", url, { token })).status).toBe(200);
    expect(await roleOf(p.slug, p.owner.id)).toBe("owner");
    expect(await roleOf(p.slug, p.developer.id)).toBe("developer");
    expect(await roleOf(p.slug, p.maintainer.id)).toBe("maintainer");
  });

  it("a project keeps at least one owner", async () => {
    const p = await team();
    const url = `/v1/projects/${p.slug}/members`;
    const demote = await t.request("PATCH", `${url}/${p.owner.id}`, {
      token: p.ownerToken,
      body: { role: "maintainer" },
    });
    expect(demote.status).toBe(409);
    const leave = await t.request("DELETE", `${url}/${p.owner.id}`, { token: p.ownerToken });
    expect(leave.status).toBe(409);
    expect(await roleOf(p.slug, p.owner.id)).toBe("owner");

    // With a second owner, the first may step down.
    expect(
      (await t.request("PATCH", `${url}/${p.maintainer.id}`, { token: p.ownerToken, body: { role: "owner" } })).status,
    ).toBe(200);
    expect(
      (await t.request("PATCH", `${url}/${p.owner.id}`, { token: p.ownerToken, body: { role: "developer" } })).status,
    ).toBe(200);
    // ...and is then capped as a developer: the remaining owner cannot be removed by them.
    expect((await t.request("DELETE", `${url}/${p.maintainer.id}`, { token: p.ownerToken })).status).toBe(403);
    const newOwner = await p.maintainer.token(["*"]);
    expect((await t.request("DELETE", `${url}/${p.maintainer.id}`, { token: newOwner })).status).toBe(409);
    expect(await roleOf(p.slug, p.maintainer.id)).toBe("owner");
  });

  it("two owners stepping down at the same time still leave one owner", async () => {
    for (const method of ["PATCH", "DELETE"] as const) {
      const p = await team();
      const url = `/v1/projects/${p.slug}/members`;
      expect(
        (await t.request("PATCH", `${url}/${p.maintainer.id}`, { token: p.ownerToken, body: { role: "owner" } }))
          .status,
      ).toBe(200);
      const second = await p.maintainer.token(["*"]);
      const body = method === "PATCH" ? { role: "developer" } : undefined;
      const results = await Promise.all([
        t.request(method, `${url}/${p.owner.id}`, { token: p.ownerToken, body }),
        t.request(method, `${url}/${p.maintainer.id}`, { token: second, body }),
      ]);
      expect(results.map((r) => r.status).sort(), method).toEqual([200, 409]);
      const owners = [await roleOf(p.slug, p.owner.id), await roleOf(p.slug, p.maintainer.id)].filter(
        (r) => r === "owner",
      );
      expect(owners, method).toHaveLength(1);
    }
  });

  it("removing a member removes their access at once: 404 afterwards", async () => {
    const p = await team();
    const token = await p.developer.token(["projects:read", "members:read"]);
    expect((await t.request("GET", `/v1/projects/${p.slug}`, { token })).status).toBe(200);
    expect(
      (await t.request("DELETE", `/v1/projects/${p.slug}/members/${p.developer.id}`, { token: p.ownerToken })).status,
    ).toBe(200);
    const after = await t.request("GET", `/v1/projects/${p.slug}`, { token });
    expect(after.status).toBe(404);
    expect(after.body.error.code).toBe("not_found");
    expect((await t.request("GET", `/v1/projects/${p.slug}/members`, { token })).status).toBe(404);
    expect((await t.request("GET", "/v1/projects", { token })).body.projects).toEqual([]);
  });
});
