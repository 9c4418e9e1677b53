import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";

// Power actions reach only the fixture's `sudo` stand-in (first on the test user's PATH), which records its
// arguments: nothing here can reboot or shut down the machine running the tests.
let w: InstanceWorld;
beforeAll(async () => {
  w = await startInstanceWorld();
});
afterAll(() => w?.close());

const post = (action: string) => w.t.request("POST", `${w.path()}/${action}`, { token: w.token });

describe("power", () => {
  it("restarts and shuts down through sudo -n", async () => {
    const restart = await post("restart");
    expect(restart.status, JSON.stringify(restart.body)).toBe(200);
    expect(restart.body).toEqual({ instance: "box", provider: "ssh", action: "restart", accepted: true });
    expect((await post("shutdown")).status).toBe(200);
    expect(w.sshd.sudoCalls()).toEqual(["-n shutdown -r now", "-n shutdown -h now"]);
  });

  it("reports a sudo that wants a password as a clear error", async () => {
    w.sshd.writeFile("bin/sudo", "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n", 0o755);
    const res = await post("restart");
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain("a password is required");
    expect(res.body.error.message).toContain("passwordless sudo");
  });

  it("start_instance and reinstall_instance answer not_supported for what the ssh provider cannot do, naming it", async () => {
    for (const action of ["start", "reinstall"]) {
      const res = await post(action);
      expect(res.status, action).toBe(501);
      expect(res.body.error).toMatchObject({ code: "not_supported", provider: "ssh", action });
      expect(res.body.error.message).toContain("'ssh' provider");
    }
  });

  it("is marked destructive and needs instances:exec", async () => {
    const ops = w.t.platform.operations;
    expect(ops.get("restart_instance").effect).toBe("destructive");
    expect(ops.get("shutdown_instance").effect).toBe("destructive");
    const token = await w.user.token(["instances:read", "instances:write", "instances:files"]);
    const res = await w.t.request("POST", `${w.path()}/restart`, { token });
    expect(res.status).toBe(403);
  });
});
