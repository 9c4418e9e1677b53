// The console in Chromium, for a site: sign in with a TOTP code → create a site → add a page and edit its file →
// preview → publish → the live site shows the edit. A viewer sees no write buttons; a change posted without the
// CSRF token or from another origin is refused; the CSP holds (a page title holding <script> is shown as text,
// and an inline script injected into the page does not run). /docs is Swagger UI. Screenshots for a reviewer go
// to test-output/console/.
import { generate } from "otplib";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  launchBrowser,
  newPage,
  type ServedPlatform,
  screenshot,
  servePlatform,
  signIn,
  type TestBrowser,
} from "../testkit/browser.ts";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../testkit/harness.ts";
import { siteFetch } from "../testkit/site-fetch.ts";

let t: TestPlatform;
let served: ServedPlatform;
let b: TestBrowser;
let owner: TestAccount;
let totpSecret: string;
const SITE = "bakery";

beforeAll(async () => {
  t = await startTestPlatform();
  served = await servePlatform(t);
  b = await launchBrowser();
  owner = await t.account({ email: "owner@example.test" });
  // Two-factor on, the way a person turns it on (setup_totp, confirm_totp).
  const token = await owner.token(["account:write"]);
  const setup = await t.request("POST", "/v1/me/totp/setup", { token });
  totpSecret = setup.body.secret;
  const confirmed = await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await codeAt(0) } });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
});
afterAll(async () => {
  await b?.close();
  await served?.close();
  await t?.close();
});

/** A code `offset` 30 s steps from now (a step once used is refused, so sign-in uses the next one). */
const codeAt = (offset: number) => generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + offset * 30 });

describe("the console in a browser: a site", () => {
  let page: Page;

  it("signs in with password and TOTP, creates a site, edits a file, previews, publishes: the live site shows it", async () => {
    ({ page } = await newPage(b));
    await page.goto(`${served.apiUrl}/console`);
    await expect.poll(() => page.url()).toContain("/console/sign-in");
    await screenshot(page, "01-sign-in");
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Password").fill(owner.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Enter the code from your authenticator app").waitFor();
    await page.getByLabel("Password").fill(owner.password);
    await page.getByLabel("Two-factor code").fill(await codeAt(1));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === "bosun_console")).toMatchObject({ httpOnly: true, sameSite: "Strict" });

    // Create the site (create_project) from the overview.
    await page.getByText("New project").click();
    await page.getByLabel("Name").fill("The Bakery");
    await page.getByLabel("Slug (lowercase, used in URLs)").fill(SITE);
    await page.getByLabel("Kind").selectOption("site");
    await page.getByRole("button", { name: "Create project" }).click();
    await page.waitForURL(`**/console/p/${SITE}`);
    await page.getByRole("heading", { name: "The Bakery", level: 1 }).waitFor();

    // A page (create_page), then its file edited in the editor (write_file).
    await page.getByText("New page", { exact: true }).click();
    await page.getByLabel("Slug", { exact: true }).fill("index");
    await page.getByLabel("Title").fill("Home");
    await page.getByLabel("Content (HTML)").fill("<h1>Fresh bread</h1>");
    await page.getByRole("button", { name: "Create page" }).click();
    await page.getByRole("link", { name: "index.html" }).first().waitFor();
    await page.getByRole("link", { name: "index.html" }).first().click();
    await page.waitForURL("**/file?path=index.html");
    const editor = page.getByLabel("Content", { exact: true });
    expect(await editor.inputValue()).toContain("Fresh bread");
    await editor.fill("<h1>Fresh bread</h1>\n<p>Sourdough every morning</p>");
    await screenshot(page, "03-file-editor");
    const reloaded = page.waitForEvent("framenavigated"); // the page reloads after a change
    await page.getByRole("button", { name: "Save" }).click();
    await reloaded;
    // The field already holds the text, so wait for the draft itself (write_file ran), then the page's reload.
    const filesRead = await owner.token(["files:read"]);
    await expect
      .poll(
        async () =>
          (await t.request("GET", `/v1/projects/${SITE}/files/content?path=index.html`, { token: filesRead })).body
            .content,
      )
      .toContain("Sourdough every morning");
    await page.waitForLoadState("load");
    await page.getByRole("link", { name: "Back to the site" }).waitFor();

    // Preview the draft (create_preview_link): the link opens the draft on the site's origin.
    await page.getByRole("link", { name: "Back to the site" }).click();
    await page.getByRole("button", { name: "Preview the draft" }).click();
    const link = page.locator("a[data-preview]");
    await link.waitFor();
    const previewUrl = (await link.getAttribute("href")) ?? "";
    const preview = await page.context().newPage();
    await preview.goto(previewUrl);
    await preview.getByText("Sourdough every morning").waitFor();
    await preview.close();

    // Publish, and the live site serves the edit.
    expect((await siteFetch(`${served.siteUrl(SITE)}/`)).status).not.toBe(200);
    await page.getByRole("button", { name: "Publish" }).click();
    await page.getByText("#1 (live)").waitFor();
    await screenshot(page, "02-site");
    const live = await page.context().newPage();
    await live.goto(`${served.siteUrl(SITE)}/`);
    await live.getByText("Sourdough every morning").waitFor();
    await screenshot(live, "04-live-site");
    await live.close();
  });

  it("shows the other pages (billing, tokens, audit, chat) and a token once", async () => {
    await page.goto(`${served.apiUrl}/console`);
    await screenshot(page, "05-overview");
    await page.getByRole("link", { name: "Tokens" }).click();
    await page.getByLabel("Name").fill("ci");
    await page.getByRole("button", { name: "Create token" }).click();
    const secret = await page.locator("input[data-token]").inputValue();
    expect(secret).toMatch(/^bsn_/);
    await screenshot(page, "06-tokens");
    const me = await t.request("GET", "/v1/projects", { token: secret });
    expect(me.status).toBe(200);
    await page.reload();
    expect(await page.content()).not.toContain(secret);
    await page.getByRole("row", { name: /^ci / }).getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("row", { name: /^ci / }).waitFor({ state: "detached" }); // the page reloaded without it
    await expect.poll(async () => (await t.request("GET", "/v1/projects", { token: secret })).status).toBe(401);
    for (const [name, shot] of [
      ["Billing", "07-billing"],
      ["Audit log", "08-audit"],
    ] as const) {
      await page.getByRole("link", { name, exact: true }).click();
      await page.getByRole("heading", { name, level: 1 }).waitFor();
      await screenshot(page, shot);
    }
    expect(await page.content()).toContain("publish_site");
    await page.goto(`${served.apiUrl}/console/p/${SITE}/chat`);
    await page.getByRole("heading", { name: "Agent chat" }).waitFor();
    await screenshot(page, "09-chat-list");
    // At phone width the same page stays usable: nothing wider than the screen.
    const phone = await newPage(b, { phone: true });
    await phone.context.addCookies(await page.context().cookies());
    await phone.page.goto(`${served.apiUrl}/console/p/${SITE}`);
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await screenshot(phone.page, "10-site-phone");
    await phone.context.close();
  });

  it("refuses a change without the CSRF token, with a wrong one, or from another origin", async () => {
    const before = await t.request("GET", `/v1/projects/${SITE}/releases`, {
      token: await owner.token(["publish:trigger"]),
    });
    const statuses = await page.evaluate(async (site) => {
      const post = (headers: Record<string, string>, body: Record<string, string>) =>
        fetch("/console/call/publish_site", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
          body: new URLSearchParams({ project: site, ...body }),
        }).then((r) => r.status);
      return [await post({}, {}), await post({ "X-CSRF-Token": "forged" }, {}), await post({}, { _csrf: "forged" })];
    }, SITE);
    expect(statuses).toEqual([403, 403, 403]);
    // A page on another origin (the site's own) posting a form to the console: no cookie (SameSite) and the
    // Origin is not ours; nothing is published.
    const cookie = (await page.context().cookies()).find((c) => c.name === "bosun_console");
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
    const res = await fetch(`${served.apiUrl}/console/call/publish_site`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        Cookie: `bosun_console=${cookie?.value}`,
        Origin: served.siteUrl(SITE),
      },
      body: new URLSearchParams({ project: SITE, _csrf: csrf ?? "" }),
    });
    expect(res.status).toBe(403);
    const after = await t.request("GET", `/v1/projects/${SITE}/releases`, {
      token: await owner.token(["publish:trigger"]),
    });
    expect(after.body.releases.length).toBe(before.body.releases.length);
  });

  it("holds the CSP: a page title with <script> is text, and an injected inline script does not run", async () => {
    const token = await owner.token(["pages:write"]);
    const created = await t.request("POST", `/v1/projects/${SITE}/pages`, {
      token,
      body: { slug: "xss", title: "<script>window.__pwned = 1</script>", content: "<p>x</p>" },
    });
    expect(created.status).toBe(201);
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${served.apiUrl}/console/p/${SITE}`);
    await page.getByText("<script>window.__pwned = 1</script>").waitFor();
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    // Even markup that got in would not run: the CSP refuses inline script.
    await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__pwned = 2";
      document.body.append(s);
    });
    await expect.poll(() => violations.length).toBeGreaterThan(0);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it("a viewer sees no write buttons, and the invoker refuses a viewer's change anyway", async () => {
    const viewer = await t.account({ email: "viewer@example.test" });
    await t.addMember(SITE, await owner.token(["members:write"]), viewer, "viewer");
    const v = await newPage(b);
    await signIn(v.page, served.apiUrl, viewer);
    await v.page.goto(`${served.apiUrl}/console/p/${SITE}`);
    await v.page.getByRole("heading", { name: "The Bakery", level: 1 }).waitFor();
    for (const name of ["Publish", "Create page", "Create file", "Save settings", /Roll back/])
      expect(await v.page.getByRole("button", { name }).count(), String(name)).toBe(0);
    await v.page.getByRole("link", { name: "index.html" }).first().click();
    expect(await v.page.getByRole("button", { name: "Save" }).count()).toBe(0);
    await screenshot(v.page, "11-viewer-file");
    // With the right CSRF token, the role still decides (the invoker, not the page).
    const status = await v.page.evaluate(async (site) => {
      const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
      const r = await fetch("/console/call/publish_site", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf, "HX-Request": "true" },
        body: new URLSearchParams({ project: site }),
      });
      return r.status;
    }, SITE);
    expect(status).toBe(403);
    await v.context.close();
  });

  it("the operator's page, and /docs (Swagger UI from the installed package, under its CSP) with a try-it call", async () => {
    const op = await newPage(b);
    await signIn(op.page, served.apiUrl, t.operator);
    await op.page.getByRole("link", { name: "Operator" }).click();
    await op.page.getByRole("heading", { name: "Operator" }).waitFor();
    await screenshot(op.page, "12-operator");
    await op.page.getByLabel("Account email").fill(owner.email);
    await op.page.getByLabel("Amount (micro-dollars; 1000000 = $1)").fill("2500000");
    await op.page.getByLabel("Reason").fill("welcome");
    await op.page.getByRole("button", { name: "Grant" }).click();
    await op.page.getByText("Granted.").waitFor();
    const errors: string[] = [];
    op.page.on("pageerror", (e) => errors.push(String(e)));
    await op.page.goto(`${served.apiUrl}/docs`);
    await op.page
      .locator(".swagger-ui .opblock")
      .first()
      .waitFor({ timeout: 60_000 })
      .catch(async (err) => {
        await screenshot(op.page, "13-docs-failed");
        throw err;
      });
    expect(await op.page.locator(".swagger-ui .opblock").count()).toBeGreaterThan(10);
    await screenshot(op.page, "13-docs");
    // Try it: authorize with a bearer token, call get_me against this server.
    const token = await t.operator.token(["account:read"]);
    await op.page.locator(".swagger-ui .btn.authorize").first().click();
    await op.page.locator(".auth-container input").first().fill(token);
    await op.page.locator(".auth-btn-wrapper .authorize").click();
    await op.page.locator(".auth-btn-wrapper .btn-done").click();
    const getMe = op.page.locator("#operations-identity-get_me");
    await getMe.locator(".opblock-summary").click();
    await getMe.getByRole("button", { name: "Try it out" }).click();
    await getMe.getByRole("button", { name: "Execute" }).click();
    await getMe.locator(".live-responses-table .response-col_status").getByText("200").waitFor({ timeout: 30_000 });
    expect(await getMe.locator(".live-responses-table").innerText()).toContain(t.operator.email);
    expect(errors).toEqual([]);
    await op.context.close();
  });
});
