// Browser tests: Debian's Chromium driven by playwright-core, against a test platform listening on real loopback
// ports (the API with the console, and the sites listener, each site on its own `{slug}.localhost` origin).
import fs from "node:fs";
import path from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { createSitesApp } from "../sites-server/app.ts";
import type { TestPlatform } from "./harness.ts";

export const CHROMIUM = "/usr/bin/chromium";
/** Where screenshots go for a reviewer (gitignored). */
export const SCREENSHOTS = path.resolve(import.meta.dirname, "../test-output/console");

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/** One headless Chromium (playwright gives it a fresh --user-data-dir of its own, removed on close); fails with one line naming the Debian package when it is missing. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install the Debian package \`chromium\` (apt-get install chromium)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}

export interface ServedPlatform {
  /** e.g. http://127.0.0.1:41234 — the API, /console and /docs. */
  apiUrl: string;
  sitesPort: number;
  /** A site's live URL on its own origin. */
  siteUrl(slug: string): string;
  close(): Promise<void>;
}

const listen = (fetch: TestPlatform["app"]["fetch"]) =>
  new Promise<{ server: ServerType; port: number }>((resolve) => {
    const server = serve({ fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve({ server, port: info.port }));
  });

/** Puts the test platform's app and its sites listener on loopback ports, and points site links at the latter. */
export async function servePlatform(t: TestPlatform): Promise<ServedPlatform> {
  const api = await listen(t.app.fetch);
  const sites = await listen(createSitesApp(t.platform).fetch);
  t.platform.config.sitesUrl = `http://127.0.0.1:${sites.port}`;
  t.platform.config.publicUrl = `http://127.0.0.1:${api.port}`;
  const close = (s: ServerType) =>
    new Promise<void>((resolve) => {
      (s as { closeAllConnections?: () => void }).closeAllConnections?.();
      s.close(() => resolve());
    });
  return {
    apiUrl: `http://127.0.0.1:${api.port}`,
    sitesPort: sites.port,
    siteUrl: (slug) => `http://${slug}.localhost:${sites.port}`,
    close: async () => {
      await close(api.server);
      await close(sites.server);
    },
  };
}

/** A fresh context (its own cookies) and page, phone-sized when asked. */
export async function newPage(
  b: TestBrowser,
  opts: { phone?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await b.browser.newContext(
    opts.phone
      ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 }
      : { viewport: { width: 1280, height: 900 } },
  );
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on("dialog", (d) => void d.accept());
  return { context, page };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs in through the console's form (with a two-factor code when given). */
export async function signIn(
  page: Page,
  apiUrl: string,
  account: { email: string; password: string },
  totp?: () => Promise<string>,
) {
  await page.goto(`${apiUrl}/console`);
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password").fill(account.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (totp) {
    await page.getByLabel("Two-factor code").fill(await totp());
    await page.getByLabel("Password").fill(account.password);
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  await page.getByRole("heading", { name: "Overview" }).waitFor();
}
