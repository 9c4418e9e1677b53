// Pages over REST: create (slug normalised, 409 when taken), list with titles, rename with link rewriting
// across the site, delete with navigation clean-up.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { dbSnapshot } from "../../testkit/operation-inputs.ts";
import { normaliseSlug } from "./pages.ts";

let t: TestPlatform;
let token: string;
const p = "/v1/projects/pages-site";
const call = (method: string, path: string, body?: unknown) => t.request(method, `${p}${path}`, { token, body });
const read = async (path: string) =>
  (await call("GET", `/files/content?path=${encodeURIComponent(path)}`)).body.content as string;

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "pages-site", name: "Pages", kind: "site" } }))
      .status,
  ).toBe(201);
});
afterAll(() => t?.close());

describe("pages: happy paths", () => {
  it("normalises slugs", () => {
    expect(normaliseSlug("  About Us! ")).toBe("about-us");
    expect(normaliseSlug("Café_Menu--2024")).toBe("caf-menu-2024");
    expect(normaliseSlug("!!!")).toBe("");
  });

  it("create_page, list_pages, get_page and update_page: creates, lists, gets and updates pages", async () => {
    const created = await call("POST", "/pages", { slug: "Our Team", title: "Team & Co", content: "<p>Hi</p>" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ slug: "our-team", path: "our-team.html", title: "Team & Co" });
    const doc = await call("POST", "/pages", {
      slug: "full",
      title: "Full",
      content: "<!doctype html><html><head><title>Old</title></head><body>x</body></html>",
    });
    expect(doc.body.title).toBe("Full");
    const list = await call("GET", "/pages");
    expect(list.body.pages.map((x: { slug: string; title: string }) => [x.slug, x.title])).toEqual([
      ["full", "Full"],
      ["our-team", "Team & Co"],
    ]);
    const got = await call("GET", "/pages/our-team");
    expect(got.body.content).toContain("<p>Hi</p>");
    const retitled = await call("PATCH", "/pages/our-team", { title: "The Team" });
    expect(retitled.body.page.title).toBe("The Team");
    expect(await read("our-team.html")).toContain("<p>Hi</p>");
    const rewritten = await call("PATCH", "/pages/full", { content: "<p>new body</p>" });
    expect(rewritten.body.page.title).toBe("Full");
    expect(await read("full.html")).toContain("<p>new body</p>");
  });

  it("renames a page linked from 3 other pages, CSS and JS: every link is rewritten, nothing else changes", async () => {
    await call("POST", "/pages", {
      slug: "about",
      title: "About",
      content: '<a href="index.html">home</a> <a href="about.html#me">self</a>',
    });
    await call("POST", "/pages", {
      slug: "index",
      title: "Home",
      content:
        '<nav><a href="about.html">About</a> <a href="/about">About (pretty)</a></nav><p>about.html is a word here</p>',
    });
    await call("POST", "/pages", {
      slug: "contact",
      title: "Contact",
      content: '<a href="./about.html?x=1">About</a> <a href="https://other.test/about.html">elsewhere</a>',
    });
    await call("PUT", "/files", {
      path: "blog/post.html",
      content: '<a href="../about.html">About</a><a href="../about-us.html">not it</a>',
    });
    await call("PUT", "/files", { path: "css/site.css", content: 'a.about{background:url("/about.html")}' });
    await call("PUT", "/files", { path: "js/app.js", content: 'const about = "about"; go("/about.html");' });
    await call("PUT", "/files", { path: "notes.txt", content: "about.html" });
    const untouched = ["our-team.html", "full.html", "notes.txt"];
    const before = Object.fromEntries(await Promise.all(untouched.map(async (f) => [f, await read(f)])));

    const res = await call("PATCH", "/pages/about", { new_slug: "Who We Are" });
    expect(res.status).toBe(200);
    expect(res.body.page).toMatchObject({ slug: "who-we-are", path: "who-we-are.html", title: "About" });
    expect(res.body.links_rewritten_in.sort()).toEqual([
      "blog/post.html",
      "contact.html",
      "css/site.css",
      "index.html",
      "js/app.js",
      "who-we-are.html",
    ]);
    expect(res.body.files_changed).toBe(6);

    expect(await read("index.html")).toContain(
      '<nav><a href="who-we-are.html">About</a> <a href="/who-we-are">About (pretty)</a></nav><p>about.html is a word here</p>',
    );
    expect(await read("contact.html")).toContain(
      '<a href="./who-we-are.html?x=1">About</a> <a href="https://other.test/about.html">elsewhere</a>',
    );
    expect(await read("blog/post.html")).toBe(
      '<a href="../who-we-are.html">About</a><a href="../about-us.html">not it</a>',
    );
    expect(await read("css/site.css")).toBe('a.about{background:url("/who-we-are.html")}');
    expect(await read("js/app.js")).toBe('const about = "about"; go("/who-we-are.html");');
    expect(await read("who-we-are.html")).toContain('<a href="who-we-are.html#me">self</a>');
    for (const f of untouched) expect(await read(f)).toBe(before[f]);
    expect((await call("GET", "/pages/about")).status).toBe(404);
  });

  it("deletes a page and removes it from navigation", async () => {
    await call("POST", "/pages", { slug: "gone", title: "Gone", content: "<p>bye</p>" });
    await call("PUT", "/files", {
      path: "nav.html",
      content:
        '<nav><ul>\n<li><a href="/">Home</a></li>\n<li><a href="gone.html">Gone</a></li>\n</ul></nav><p><a href="gone.html">inline</a></p>',
    });
    const res = await call("DELETE", "/pages/gone");
    expect(res.body).toEqual({ deleted: true, slug: "gone", nav_links_removed_in: ["nav.html"] });
    expect(await read("nav.html")).toBe(
      '<nav><ul>\n<li><a href="/">Home</a></li>\n</ul></nav><p><a href="gone.html">inline</a></p>',
    );
  });
});

describe("pages: bad input changes nothing", () => {
  it("refuses taken slugs, empty slugs, renames onto pages, missing pages and empty updates", async () => {
    await call("POST", "/pages", { slug: "taken", title: "T", content: "x" });
    const before = await dbSnapshot(t.platform.db, ["audit_events"]);
    const cases: [string, string, string, unknown, number, string][] = [
      ["taken", "POST", "/pages", { slug: "Taken", title: "T", content: "x" }, 409, "conflict"],
      ["empty slug", "POST", "/pages", { slug: "!!!", title: "T", content: "x" }, 400, "validation_error"],
      ["rename onto", "PATCH", "/pages/taken", { new_slug: "index" }, 409, "conflict"],
      ["missing page", "PATCH", "/pages/nope", { title: "x" }, 404, "not_found"],
      ["empty update", "PATCH", "/pages/taken", {}, 400, "validation_error"],
      ["traversal slug", "GET", "/pages/..%2F..%2Fetc", undefined, 400, "invalid_path"],
      ["delete missing", "DELETE", "/pages/nope", undefined, 404, "not_found"],
    ];
    for (const [label, method, path, body, status, code] of cases) {
      const res = await call(method, path, body);
      expect.soft(res.status, label).toBe(status);
      expect.soft(res.body?.error?.code, label).toBe(code);
    }
    expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(before);
  });
});

describe("list_pages: errors and other tenants", () => {
  it("refuses an instance project (409), an unknown field (400) and a token without pages:read (403)", async () => {
    expect(
      (await t.request("POST", "/v1/projects", { token, body: { slug: "pages-srv", name: "S", kind: "instance" } }))
        .status,
    ).toBe(201);
    const server = await t.request("GET", "/v1/projects/pages-srv/pages", { token });
    expect(server.status).toBe(409);
    expect(server.body.error).toMatchObject({ code: "conflict", kind: "instance" });
    const unknown = await call("GET", "/pages?zz_unknown=1");
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body.error.issues)).toContain("zz_unknown");
    const account = await t.account();
    const denied = await t.request("GET", `${p}/pages`, { token: await account.token(["files:read"]) });
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("pages:read");
  });

  it("answers another tenant 404, exactly like a project that does not exist, and lists nothing of theirs", async () => {
    await call("POST", "/pages", { slug: "private-plans", title: "Private plans", content: "<p>secret</p>" });
    const stranger = await (await t.account()).token(["*"]);
    const theirs = await t.request("GET", `${p}/pages`, { token: stranger });
    const missing = await t.request("GET", "/v1/projects/no-such-site/pages", { token: stranger });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe("not_found");
    expect(missing.status).toBe(404);
    expect(JSON.stringify(theirs.body)).not.toContain("private-plans");
    // Their own site lists its own pages only.
    expect(
      (
        await t.request("POST", "/v1/projects", {
          token: stranger,
          body: { slug: "pages-own", name: "O", kind: "site" },
        })
      ).status,
    ).toBe(201);
    const own = await t.request("GET", "/v1/projects/pages-own/pages", { token: stranger });
    expect(own.status).toBe(200);
    expect(own.body.pages.map((x: { slug: string }) => x.slug)).not.toContain("private-plans");
  });
});
