// The world a trial runs in. A host is a platform (a throwaway database, as in tests) with its sites listener
// on a real port; a world is one fresh tenant on a host: an account with AI credit, one project, and for the
// instance operator a fresh OpenSSH sshd with its own unprivileged user and home. `bosun eval` starts a host
// per trial; a test file may share one host between trials run one at a time (a fresh tenant and a fresh
// sshd each), because starting a platform dominates a replayed trial's time.
import crypto from "node:crypto";
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { credit } from "../core/billing/ledger.ts";
import type { AgentConfig } from "../core/config.ts";
import { createSitesApp } from "../sites-server/app.ts";
import { startTestPlatform, type TestAccount, type TestPlatform, type TestResponse } from "../testkit/harness.ts";
import { type SshdFixture, startSshd } from "../testkit/sshd.ts";
import type { Scenario } from "./scenario.ts";

export interface Host {
  t: TestPlatform;
  /** `http://127.0.0.1:<port>`: the sites listener, where published sites are served over HTTP. */
  sitesUrl: string;
  /** One trial at a time: a host's runner workers would otherwise lease another trial's run. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function startHost(agent: AgentConfig): Promise<Host> {
  // The harness starts its own workers with the trial's provider; the platform's config only has to say the
  // agent is configured (an API key or a replay stand-in) and which model the runner asks for.
  // Path mode: verifiers fetch live sites over real HTTP, and Node does not resolve `{slug}.localhost`.
  const t = await startTestPlatform({
    config: {
      egressAllowPrivate: true,
      metricsIntervalSeconds: 0,
      sitesPathMode: true,
      agent: { ...agent, workers: 0 },
    },
  });
  let server: ServerType;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: createSitesApp(t.platform).fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) =>
      resolve(info.port),
    );
  });
  let tail: Promise<unknown> = Promise.resolve();
  return {
    t,
    sitesUrl: `http://127.0.0.1:${port}`,
    exclusive: <T>(fn: () => Promise<T>) => {
      const next = tail.then(fn, fn);
      tail = next.catch(() => {});
      return next;
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await t.close();
    },
  };
}

export interface World {
  host: Host;
  owner: TestAccount;
  /** The owner's token (every scope): the harness acts as the customer with it. */
  token: string;
  project: string;
  /** Instance scenarios: the instance's name and its server. */
  instance?: string;
  sshd?: SshdFixture;
  /** Site scenarios: the live site's base URL, `http://127.0.0.1:<port>/s/<project>`. */
  siteUrl: string;
  /** Values transcripts refer to as {{home}} and {{project}}, which differ per trial. */
  placeholders: Record<string, string>;
  /** What a setup keeps for its verifier (e.g. fingerprints of the files that must survive). */
  notes: Record<string, unknown>;
  /** A REST call as the owner. */
  api(method: string, path: string, body?: unknown): Promise<TestResponse>;
  /** The same, failing unless 2xx. */
  apiOk(method: string, path: string, body?: unknown): Promise<any>;
  /** Runs a command on the instance through Bosun (as the owner), for verifiers that read the server itself. */
  exec(command: string): Promise<{ exit_code: number | null; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function createWorld(scenario: Scenario, host: Host, creditMicros: number): Promise<World> {
  const { t } = host;
  const sshd = scenario.kind === "instance_operator" ? await startSshd() : undefined;
  try {
    const owner = await t.account();
    await credit(t.platform.db, { accountId: owner.id, pool: "ai_credits", amount: creditMicros, reason: "top_up" });
    const token = await owner.token(["*"]);
    const project = `eval-${crypto.randomBytes(5).toString("hex")}`;
    const api = (method: string, path: string, body?: unknown) => t.request(method, path, { token, body });
    const apiOk = async (method: string, path: string, body?: unknown) => {
      const res = await api(method, path, body);
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    await apiOk("POST", "/v1/projects", { slug: project, name: scenario.name, kind: sshd ? "instance" : "site" });
    const instance = sshd ? "web" : undefined;
    if (sshd) {
      await apiOk("POST", `/v1/projects/${project}/instances`, {
        name: instance,
        host: sshd.host,
        port: sshd.port,
        username: sshd.username,
        private_key: sshd.privateKey,
      });
    }
    const world: World = {
      host,
      owner,
      token,
      project,
      instance,
      sshd,
      siteUrl: `${host.sitesUrl}/s/${project}`,
      placeholders: { project, ...(sshd ? { home: sshd.home } : {}) },
      notes: {},
      api,
      apiOk,
      exec: async (command) => {
        if (!instance) throw new Error("exec: this world has no instance");
        return apiOk("POST", `/v1/projects/${project}/instances/${instance}/commands`, { command });
      },
      close: async () => {
        await sshd?.stop();
      },
    };
    await scenario.setup(world);
    return world;
  } catch (err) {
    await sshd?.stop();
    throw err;
  }
}
