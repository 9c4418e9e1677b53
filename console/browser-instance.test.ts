// The console in Chromium, for an instance (the real sshd, the fake model): status and the metrics chart, run a
// command, browse and edit a file, follow a log; then an instance chat whose command waits for approval inline,
// is approved from the page, and whose output streams into the transcript. Screenshots to test-output/console/.
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunWorkers } from "../agent-runner/worker.ts";
import { credit } from "../core/billing/ledger.ts";
import { loadConfig } from "../core/config.ts";
import {
  launchBrowser,
  newPage,
  type ServedPlatform,
  screenshot,
  servePlatform,
  signIn,
  type TestBrowser,
} from "../testkit/browser.ts";
import type { FakeModelServer } from "../testkit/fake-anthropic.ts";
import { startFakeRunner } from "../testkit/fake-runner.ts";
import { type InstanceWorld, startInstanceWorld } from "../testkit/instances.ts";

let w: InstanceWorld;
let served: ServedPlatform;
let b: TestBrowser;
let fake: FakeModelServer;
let workers: RunWorkers;
let page: Page;

beforeAll(async () => {
  w = await startInstanceWorld({
    project: "ops",
    instance: "web",
    config: { agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 } },
  });
  await credit(w.t.platform.db, { accountId: w.user.id, pool: "ai_credits", amount: 5_000_000, reason: "top_up" });
  ({ fake, workers } = await startFakeRunner(w.t.platform));
  served = await servePlatform(w.t);
  b = await launchBrowser();
  ({ page } = await newPage(b));
  await signIn(page, served.apiUrl, w.user);
});
afterAll(async () => {
  await b?.close();
  await served?.close();
  await workers?.stop();
  await fake?.close();
  await w?.close();
});

describe("the console in a browser: an instance", () => {
  it("shows status and a metrics chart, runs a command, edits a file and follows a log", async () => {
    w.sshd.writeFile("notes.txt", "first line\n");
    w.sshd.writeFile("app.log", "booting\nlistening on :8080\n");
    await page.goto(`${served.apiUrl}/console/p/ops/i/web`);
    await page.getByRole("heading", { name: "web", level: 1 }).waitFor();
    await page.locator("[data-metrics] canvas").first().waitFor({ timeout: 30_000 });

    await page.getByRole("textbox", { name: "Command" }).fill("echo hello-from-the-console");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator("pre[data-stdout]").getByText("hello-from-the-console").waitFor();
    await screenshot(page, "20-instance");

    await page.getByRole("link", { name: "notes.txt" }).click();
    const editor = page.getByLabel("Content", { exact: true });
    await expect.poll(() => editor.inputValue()).toContain("first line");
    await editor.fill("first line\nsecond line\n");
    const reloaded = page.waitForEvent("framenavigated"); // the page reloads after a change
    await page.getByRole("button", { name: "Save file" }).click();
    await reloaded;
    await page.waitForLoadState("load");
    await expect
      .poll(() => fs.readFileSync(path.join(w.sshd.home, "notes.txt"), "utf8"))
      .toBe("first line\nsecond line\n");

    await page.getByLabel("Log file").fill(path.join(w.sshd.home, "app.log"));
    await page.getByRole("button", { name: "Follow" }).click();
    await page.locator("#log pre").getByText("listening on :8080").waitFor();
    fs.appendFileSync(path.join(w.sshd.home, "app.log"), "request from 10.0.0.7\n");
    await page.locator("#log pre").getByText("request from 10.0.0.7").waitFor({ timeout: 20_000 });
  });

  it("an instance chat: the approval appears inline, is approved, and the command's output streams in", async () => {
    const marker = path.join(w.sshd.home, "marker");
    fake.script([
      {
        text: "I will leave a marker.",
        toolUse: { name: "run_command", input: { command: `touch ${marker} && echo console-was-here` } },
      },
      { text: "All done: the marker is in place." },
    ]);
    await page.goto(`${served.apiUrl}/console/p/ops/chat`);
    await page.getByLabel("Instance").selectOption("web");
    await page.getByLabel("What should the agent do?").fill("Leave a marker file in the home directory");
    await page.getByRole("button", { name: "Start" }).click();
    await page.waitForURL(/\/console\/p\/ops\/chat\/[\w-]+\?run=/);

    // Tool call and approval arrive over the run's event stream; the transcript shows the pending approval.
    await page.locator(".events").getByText("Approval needed: run_command").waitFor({ timeout: 30_000 });
    const approval = page.locator(".approval");
    await approval.locator("code").getByText(`touch ${marker}`).waitFor();
    expect(fs.existsSync(marker)).toBe(false);
    await screenshot(page, "21-chat-approval");
    await approval.getByRole("button", { name: "Approve" }).click();

    await page.locator("#transcript pre").getByText("console-was-here").first().waitFor({ timeout: 30_000 });
    expect(fs.existsSync(marker)).toBe(true);
    // The run ends; the page shows the whole transcript, the run's tokens and cost, and the message box again.
    await page.getByText("All done: the marker is in place.").first().waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Send" }).waitFor({ timeout: 30_000 });
    const runs = page.locator("table", { has: page.locator("caption", { hasText: "Runs: tokens and cost" }) });
    await runs.getByText("done").waitFor();
    expect(await runs.locator("tbody tr td").nth(5).innerText()).toMatch(/^\$0\.\d{6}$/);
    await screenshot(page, "22-chat-done");

    // The decision went through the invoker: the audit shows approve_tool_call from the console.
    const audit = await w.t.request("GET", "/v1/audit-events?operation=approve_tool_call", {
      token: await w.user.token(["audit:read"]),
    });
    expect(audit.body.events[0]).toMatchObject({ surface: "console", outcome: "ok" });
  });
});
