import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";
import { toolError } from "../../testkit/operation-inputs.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

const create = (token: string, slug: string, kind = "site", name = `Project ${slug}`) =>
  t.request("POST", "/v1/projects", { token, body: { slug, name, kind } });

describe("projects", () => {
  it("create, get, list, rename and delete", async () => {
    const user = await t.account();
    const token = await user.token(["projects:read", "projects:write", "projects:delete"]);

    const created = await create(token, "crud-site", "site", "My Site");
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ slug: "crud-site", name: "My Site", kind: "site", role: "owner" });
    const row = await t.platform.db
      .selectFrom("projects")
      .selectAll()
      .where("slug", "=", "crud-site")
      .executeTakeFirstOrThrow();
    expect(row.owner_account_id).toBe(user.id);

    const got = await t.request("GET", "/v1/projects/crud-site", { token });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    const list = await t.request("GET", "/v1/projects", { token });
    expect(list.body.projects.map((p: { slug: string }) => p.slug)).toEqual(["crud-site"]);
    expect(list.body.next_cursor).toBeNull();

    const renamed = await t.request("PATCH", "/v1/projects/crud-site", { token, body: { name: "Renamed" } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ slug: "crud-site", name: "Renamed", kind: "site", role: "owner" });
    expect(new Date(renamed.body.updated_at).getTime()).toBeGreaterThanOrEqual(
      new Date(created.body.updated_at).getTime(),
    );
    expect((await t.request("GET", "/v1/projects/crud-site", { token })).body.name).toBe("Renamed");
    // The slug and kind are fixed.
    const slugChange = await t.request("PATCH", "/v1/projects/crud-site", {
      token,
      body: { name: "X", kind: "instance" },
    });
    expect(slugChange.status).toBe(400);

    const deleted = await t.request("DELETE", "/v1/projects/crud-site", { token });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: true, slug: "crud-site" });
    expect((await t.request("GET", "/v1/projects/crud-site", { token })).status).toBe(404);
    expect((await t.request("GET", "/v1/projects", { token })).body.projects).toEqual([]);
    const members = await t.platform.db
      .selectFrom("project_members")
      .select("account_id")
      .where("project_id", "=", row.id)
      .execute();
    expect(members).toEqual([]);
  });

  it("enforces slug rules with 400 naming slug", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    const bad = ["ab", "a".repeat(41), "Upper", "under_score", "-lead", "trail-", "sp ace", "dots.no", "ünï", ""];
    for (const slug of bad) {
      const res = await create(token, slug);
      expect(res.status, slug).toBe(400);
      expect(res.body.error.code).toBe("validation_error");
      expect(
        res.body.error.issues.map((i: { path: string }) => i.path),
        slug,
      ).toContain("slug");
    }
    for (const slug of ["abc", "a".repeat(40), "a-b-c", "123", "x-1-y"]) {
      expect((await create(token, slug)).status, slug).toBe(201);
    }
    const rows = await t.platform.db
      .selectFrom("projects")
      .select("slug")
      .where("slug", "in", bad.filter(Boolean))
      .execute();
    expect(rows).toEqual([]);
  });

  it("answers 409 for a slug that is taken, by anyone", async () => {
    const a = await (await t.account()).token(["projects:write"]);
    const b = await (await t.account()).token(["projects:write"]);
    expect((await create(a, "taken-slug")).status).toBe(201);
    for (const token of [a, b]) {
      const res = await create(token, "taken-slug", "instance");
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("conflict");
      expect(res.body.error.field).toBe("slug");
    }
    const rows = await t.platform.db.selectFrom("projects").select("kind").where("slug", "=", "taken-slug").execute();
    expect(rows).toEqual([{ kind: "site" }]);
  });

  it("pages list_projects with a cursor, and filters by kind", async () => {
    const token = await (await t.account()).token(["projects:read", "projects:write"]);
    const slugs = ["pg-a", "pg-b", "pg-c", "pg-d", "pg-e"];
    for (const [i, slug] of slugs.entries())
      expect((await create(token, slug, i % 2 ? "instance" : "site")).status).toBe(201);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: { projects: { slug: string }[]; next_cursor: string | null } } =
        await t.request("GET", `/v1/projects?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token });
      expect(res.status).toBe(200);
      expect(res.body.projects.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.projects.map((p) => p.slug));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(slugs);
    expect(pages).toBe(3);

    const instances = await t.request("GET", "/v1/projects?kind=instance", { token });
    expect(instances.body.projects.map((p: { slug: string }) => p.slug)).toEqual(["pg-b", "pg-d"]);
    expect((await t.request("GET", "/v1/projects?limit=0", { token })).status).toBe(400);
    expect((await t.request("GET", "/v1/projects?limit=201", { token })).status).toBe(400);
  });

  it("another tenant's project is not found, and only its members see it", async () => {
    const owner = await (await t.account()).token(["projects:read", "projects:write"]);
    const stranger = await (await t.account()).token(["projects:read", "projects:write", "projects:delete"]);
    expect((await create(owner, "private-one")).status).toBe(201);
    for (const [method, body] of [
      ["GET", undefined],
      ["PATCH", { name: "Mine now" }],
      ["DELETE", undefined],
    ] as const) {
      const res = await t.request(method, "/v1/projects/private-one", { token: stranger, body });
      expect(res.status, method).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
    expect((await t.request("GET", "/v1/projects", { token: stranger })).body.projects).toEqual([]);
    expect((await t.request("GET", "/v1/projects/private-one", { token: owner })).body.name).toBe(
      "Project private-one",
    );
  });
});

describe("a token restricted to some projects", () => {
  it("sees and touches only those, on REST and MCP", async () => {
    const user = await t.account();
    const full = await user.token(["*"]);
    expect((await create(full, "only-a")).status).toBe(201);
    expect((await create(full, "not-b")).status).toBe(201);
    const restricted = await user.token(["*"], { projects: ["only-a"] });

    expect((await t.request("GET", "/v1/projects/only-a", { token: restricted })).status).toBe(200);
    const list = await t.request("GET", "/v1/projects", { token: restricted });
    expect(list.body.projects.map((p: { slug: string }) => p.slug)).toEqual(["only-a"]);
    const requests = [
      ["GET", "/v1/projects/not-b", undefined],
      ["PATCH", "/v1/projects/not-b", { name: "Touched" }],
      ["GET", "/v1/projects/not-b/members", undefined],
      ["POST", "/v1/projects/not-b/invitations", { email: user.email, role: "viewer" }],
      ["DELETE", "/v1/projects/not-b", undefined],
      ["GET", "/v1/audit-events?project=not-b", undefined],
    ] as const;
    for (const [method, path, body] of requests) {
      const res = await t.request(method, path, { token: restricted, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
    // Nor can it mint a token at all (tokens belong to the account), even one narrower than itself.
    for (const body of [
      { name: "wider", scopes: ["projects:read"], projects: ["not-b"] },
      { name: "child", scopes: ["projects:read"] },
    ]) {
      const minted = await t.request("POST", "/v1/tokens", { token: restricted, body });
      expect(minted.status, body.name).toBe(403);
      expect(minted.body.error.code).toBe("restricted_credential");
    }

    const client = await connectMcp(t.app, restricted);
    const listed = await client.callTool({ name: "list_projects", arguments: {} });
    expect((listed.structuredContent as { projects: { slug: string }[] }).projects.map((p) => p.slug)).toEqual([
      "only-a",
    ]);
    const got = await client.callTool({ name: "get_project", arguments: { project: "not-b" } });
    expect(got.isError).toBe(true);
    expect(toolError(got).code).toBe("not_found");
    await client.close();

    const b = await t.request("GET", "/v1/projects/not-b", { token: full });
    expect(b.body.name).toBe("Project not-b");
  });

  it("restricting a token to a project you cannot reach is refused with 404", async () => {
    const owner = await (await t.account()).token(["projects:write"]);
    expect((await create(owner, "someone-elses")).status).toBe(201);
    const user = await t.account();
    const minter = await user.token(["tokens:write", "projects:read"]);
    const res = await t.request("POST", "/v1/tokens", {
      token: minter,
      body: { name: "x", scopes: ["projects:read"], projects: ["someone-elses"] },
    });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });
});
