// Least privilege enforced by the OS, end to end: an agent run on the real sshd with two users (operator and
// observer) and the fake model. A command the classifier wrongly judged read-only (simulated: decide() is
// wrapped so a marked command comes back `{ action: "run", readOnly: true }`, whatever it does) runs as the
// observer and meets the OS's "permission denied"; the operator's files are unchanged. An approved command
// runs as the operator. With no observer configured, nothing changes.
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { credit } from "../core/billing/ledger.ts";
import { loadConfig } from "../core/config.ts";
import type { FakeModelServer } from "../testkit/fake-anthropic.ts";
import { startFakeRunner } from "../testkit/fake-runner.ts";
import { type InstanceWorld, startInstanceWorld } from "../testkit/instances.ts";
import type { RunWorkers } from "./worker.ts";

/** A command carrying this comment is "judged read-only" whatever it is: the classifier's mistake, simulated. */
const MISTAKE = "#classifier-mistake";
vi.mock("../core/agent/policy.ts", async (importOriginal) => {
  const real = await importOriginal<typeof import("../core/agent/policy.ts")>();
  return {
    ...real,
    decide: (...args: Parameters<typeof real.decide>) => {
      const [, call] = args;
      if (call.tool === "run_command" && String(call.input.command).includes(MISTAKE))
        return { action: "run", readOnly: true };
      return real.decide(...args);
    },
  };
});

let w: InstanceWorld;
let fake: FakeModelServer;
let workers: RunWorkers | null = null;

beforeAll(async () => {
  w = await startInstanceWorld({
    project: "ops",
    instance: "web",
    sshd: { observer: true },
    config: { agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 } },
  });
  await credit(w.t.platform.db, { accountId: w.user.id, pool: "ai_credits", amount: 5_000_000, reason: "top_up" });
});
beforeEach(async () => {
  ({ fake, workers } = await startFakeRunner(w.t.platform));
});
afterEach(async () => {
  await workers?.stop();
  await fake.close();
});
afterAll(() => w?.close());

const startChat = async (token: string, message: string, extra: Record<string, unknown> = {}) => {
  const res = await w.t.request("POST", "/v1/projects/ops/agent/conversations", {
    token,
    body: { project: "ops", instance: "web", message, ...extra },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { conversation: { id: string }; run_id: string };
};
async function waitFor(token: string, runId: string, status: string) {
  for (let i = 0; i < 300; i++) {
    const res = await w.t.request("GET", `/v1/projects/ops/agent/runs/${runId}/events`, { token });
    const body = res.body as {
      run: { status: string; error: unknown };
      events: { type: string; data: Record<string, unknown> }[];
    };
    if (body.run.status === status) return body;
    if (["done", "failed", "cancelled"].includes(body.run.status))
      throw new Error(`run ended ${body.run.status}: ${JSON.stringify(body.run.error)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run never reached ${status}`);
}
const lastApproval = (page: { events: { type: string; data: Record<string, unknown> }[] }) =>
  page.events.filter((e) => e.type === "approval_requested").at(-1)!.data as {
    approval_id: string;
    tool: string;
    input: Record<string, unknown>;
  };
/** The run's tool results, in order, as the model read them. */
async function outputs(runId: string) {
  const steps = await w.t.platform.db
    .selectFrom("agent_steps")
    .select(["tool", "output", "is_error"])
    .where("run_id", "=", runId)
    .where("kind", "=", "tool")
    .orderBy("id")
    .execute();
  return steps.map((s) => ({ tool: s.tool, is_error: s.is_error, output: s.output ?? "" }));
}
const setObserver = (token: string) =>
  w.t.request("PUT", `${w.path()}/observer`, {
    token,
    body: { username: w.sshd.observer!.username, private_key: w.sshd.observer!.privateKey },
  });

describe("agent runs with an observer login", () => {
  it("in ask mode, a write the classifier let through runs as the observer and fails with the OS's permission error", async () => {
    const token = await w.user.token(["agent:*", "instances:*"]);
    expect((await setObserver(token)).status).toBe(200);
    const conf = w.sshd.writeFile("app/app.conf", "port = 8080\n");
    w.sshd.writeFile(".ssh/authorized_keys", `${w.sshd.publicKey}\n`, 0o600);
    fake.script([
      { toolUse: { name: "run_command", input: { command: `id -un ${MISTAKE}` } } },
      { toolUse: { name: "run_command", input: { command: `echo 'port = 6666' > ${conf} ${MISTAKE}` } } },
      {
        toolUse: {
          name: "run_command",
          input: { command: `echo ssh-ed25519 AAAAevil attacker >> ${w.sshd.home}/.ssh/authorized_keys ${MISTAKE}` },
        },
      },
      { toolUse: { name: "read_remote_file", input: { path: conf } } },
      { text: "done" },
    ]);
    const { run_id: runId } = await startChat(token, "check the server", { mode: "ask" });
    const page = await waitFor(token, runId, "done");
    expect(page.events.filter((e) => e.type === "approval_requested")).toEqual([]); // nothing was asked: the OS stopped it
    const [who, write, plant, read] = await outputs(runId);
    expect(JSON.parse(who!.output)).toMatchObject({ exit_code: 0, stdout: `${w.sshd.observer!.username}\n` });
    expect(JSON.parse(write!.output).exit_code).not.toBe(0);
    expect(JSON.parse(write!.output).stderr).toMatch(/Permission denied/i);
    expect(JSON.parse(plant!.output).stderr).toMatch(/Permission denied/i);
    // An unapproved read goes as the observer too: the operator's private home is not its to read.
    expect(read).toMatchObject({ tool: "read_remote_file", is_error: true });
    expect(read!.output).toMatch(/forbidden|permission denied/i);
    expect(fs.readFileSync(conf, "utf8")).toBe("port = 8080\n");
    expect(fs.readFileSync(path.join(w.sshd.home, ".ssh/authorized_keys"), "utf8")).toBe(`${w.sshd.publicKey}\n`);
  });

  it("a command a person approved runs as the operator", async () => {
    const token = await w.user.token(["agent:*", "instances:*"]);
    const marker = path.join(w.sshd.home, "approved-marker");
    fake.script([
      { toolUse: { name: "run_command", input: { command: `touch ${marker} && id -un` } } },
      { text: "done" },
    ]);
    const { run_id: runId } = await startChat(token, "touch the marker", { mode: "ask" });
    const asked = lastApproval(await waitFor(token, runId, "awaiting_approval"));
    expect(fs.existsSync(marker)).toBe(false);
    expect(
      (await w.t.request("POST", `/v1/projects/ops/agent/approvals/${asked.approval_id}/approve`, { token, body: {} }))
        .status,
    ).toBe(200);
    await waitFor(token, runId, "done");
    const [ran] = await outputs(runId);
    expect(JSON.parse(ran!.output)).toMatchObject({ exit_code: 0, stdout: `${w.sshd.username}\n` });
    expect(fs.statSync(marker).uid).toBe(fs.statSync(w.sshd.home).uid);
  });

  it("setting up an observer is a change to the server: the agent must ask", async () => {
    const token = await w.user.token(["agent:*", "instances:*"]);
    fake.script([
      { toolUse: { name: "setup_instance_observer", input: { username: "bosun-observer" } } },
      { text: "ok" },
    ]);
    const { run_id: runId } = await startChat(token, "set up an observer", { mode: "ask" });
    const asked = lastApproval(await waitFor(token, runId, "awaiting_approval"));
    expect(asked).toMatchObject({ tool: "setup_instance_observer" });
    await w.t.request("POST", `/v1/projects/ops/agent/approvals/${asked.approval_id}/deny`, { token, body: {} });
    await waitFor(token, runId, "done");
    expect(w.sshd.sudoCalls()).toEqual([]);
  });

  it("with no observer configured, nothing changes: the same commands run as the operator", async () => {
    const token = await w.user.token(["agent:*", "instances:*"]);
    expect((await w.t.request("DELETE", `${w.path()}/observer`, { token })).status).toBe(200);
    const conf = w.sshd.writeFile("app/other.conf", "port = 8080\n");
    fake.script([
      { toolUse: { name: "run_command", input: { command: `id -un ${MISTAKE}` } } },
      { toolUse: { name: "run_command", input: { command: `echo 'port = 6666' > ${conf} ${MISTAKE}` } } },
      { toolUse: { name: "read_remote_file", input: { path: conf } } },
      { text: "done" },
    ]);
    const { run_id: runId } = await startChat(token, "check the server", { mode: "ask" });
    await waitFor(token, runId, "done");
    const [who, write, read] = await outputs(runId);
    expect(JSON.parse(who!.output).stdout).toBe(`${w.sshd.username}\n`);
    expect(JSON.parse(write!.output).exit_code).toBe(0);
    expect(read!.is_error).toBe(false);
    // This is what the observer prevents: the classifier's mistake wrote as the operator.
    expect(fs.readFileSync(conf, "utf8")).toBe("port = 6666\n");
  });
});
