// Shared by the instance tests: a test platform that may reach loopback, one sshd, and a tenant with an
// instance project whose instance points at that sshd.
import type { Config } from "../core/config.ts";
import { startTestPlatform, type TestAccount, type TestPlatform } from "./harness.ts";
import { type SshdFixture, type SshdOptions, startSshd } from "./sshd.ts";

export interface InstanceWorld {
  t: TestPlatform;
  sshd: SshdFixture;
  user: TestAccount;
  /** Holds every instances scope and projects:*. */
  token: string;
  project: string;
  /** REST path of the instance `name` in the project. */
  path(name?: string): string;
  close(): Promise<void>;
}

export async function startInstanceWorld(
  opts: { project?: string; instance?: string; config?: Partial<Config>; sshd?: SshdOptions } = {},
): Promise<InstanceWorld> {
  const [t, sshd] = await Promise.all([
    // No background metrics sampling unless a test asks: it would open connections a test does not expect.
    startTestPlatform({ config: { egressAllowPrivate: true, metricsIntervalSeconds: 0, ...opts.config } }),
    startSshd(opts.sshd),
  ]);
  const user = await t.account();
  const token = await user.token(["projects:*", "instances:*"]);
  const project = opts.project ?? "srv-proj";
  const created = await t.request("POST", "/v1/projects", {
    token,
    body: { slug: project, name: "Servers", kind: "instance" },
  });
  if (created.status !== 201) throw new Error(`create project: ${JSON.stringify(created.body)}`);
  const instance = opts.instance ?? "box";
  const reg = await t.request("POST", `/v1/projects/${project}/instances`, {
    token,
    body: { name: instance, host: sshd.host, port: sshd.port, username: sshd.username, private_key: sshd.privateKey },
  });
  if (reg.status !== 201) throw new Error(`register instance: ${JSON.stringify(reg.body)}`);
  return {
    t,
    sshd,
    user,
    token,
    project,
    path: (name = instance) => `/v1/projects/${project}/instances/${name}`,
    close: async () => {
      await t.close();
      await sshd.stop();
    },
  };
}
