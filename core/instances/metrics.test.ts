import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { parseMetrics } from "./metrics.ts";

let w: InstanceWorld;
beforeAll(async () => {
  w = await startInstanceWorld();
});
afterAll(() => w?.close());

const metrics = (query = "") => w.t.request("GET", `${w.path()}/metrics${query}`, { token: w.token });

describe("metrics", () => {
  it("parses /proc and df output", () => {
    const out = [
      "cpu  100 0 100 800 0 0 0 0 0 0",
      "cpu  150 0 150 900 0 0 0 0 0 0",
      "@@load",
      "0.50 0.25 0.10 1/100 1234",
      "@@mem",
      "MemTotal:        2000000 kB",
      "MemFree:          500000 kB",
      "MemAvailable:    1500000 kB",
      "SwapTotal: 1000 kB",
      "SwapFree: 400 kB",
      "@@uptime",
      "12345.67 20000.00",
      "@@net",
      "Inter-|   Receive",
      " face |bytes    packets",
      "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0",
      "  eth0: 5000 10 0 0 0 0 0 0 7000 12 0 0 0 0 0 0",
      "@@cpus",
      "4",
      "@@df",
      "/dev/sda1 10000 2500 7500 25% /",
    ].join("\n");
    const s = parseMetrics(out, new Date("2026-01-01T00:00:00Z"));
    expect(s).toEqual({
      at: "2026-01-01T00:00:00.000Z",
      cpu_percent: 50,
      cpus: 4,
      load: { "1m": 0.5, "5m": 0.25, "15m": 0.1 },
      memory: {
        total_bytes: 2_048_000_000,
        available_bytes: 1_536_000_000,
        used_percent: 25,
        swap_total_bytes: 1_024_000,
        swap_used_bytes: 614_400,
      },
      disk: {
        mount: "/",
        total_bytes: 10_240_000,
        used_bytes: 2_560_000,
        available_bytes: 7_680_000,
        used_percent: 25,
      },
      network: {
        rx_bytes: 5000,
        tx_bytes: 7000,
        interfaces: [
          { name: "lo", rx_bytes: 100, tx_bytes: 100 },
          { name: "eth0", rx_bytes: 5000, tx_bytes: 7000 },
        ],
      },
      uptime_seconds: 12345,
    });
    expect(() => parseMetrics("nothing here")).toThrow();
  });

  it("reads a live sample from the server in one round trip", async () => {
    const res = await metrics();
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const c = res.body.current;
    expect(c.cpu_percent).toBeGreaterThanOrEqual(0);
    expect(c.cpu_percent).toBeLessThanOrEqual(100);
    expect(c.cpus).toBeGreaterThanOrEqual(1);
    expect(c.memory.total_bytes).toBeGreaterThan(0);
    expect(c.disk.total_bytes).toBeGreaterThan(0);
    expect(c.uptime_seconds).toBeGreaterThan(0);
    expect(res.body).toMatchObject({ period: null, history: [], interval_seconds: 0 });
  });

  it("records history with the sampler and returns it by period", async () => {
    expect((await metrics("?live=false&period=1h")).body).toMatchObject({ current: null, history: [] });
    // The instance connected above (pinned), so the sampler takes it; a second pass right away finds nothing due.
    expect(await w.t.platform.instances.sampleMetrics()).toBe(1);
    expect(await w.t.platform.instances.sampleMetrics()).toBe(0);
    // An old sample, outside 5m but inside 1h.
    const id = (await w.t.platform.db.selectFrom("instances").select("id").executeTakeFirstOrThrow()).id;
    const old = { ...(await metrics()).body.current, at: new Date(Date.now() - 20 * 60_000).toISOString() };
    await w.t.platform.db
      .insertInto("instance_metrics")
      .values({ instance_id: id, at: old.at, sample: JSON.stringify(old) })
      .execute();

    const fiveMin = await metrics("?live=false&period=5m");
    expect(fiveMin.body.history).toHaveLength(1);
    expect(Object.keys(fiveMin.body.history[0]).sort()).toEqual([
      "at",
      "cpu_percent",
      "disk_used_percent",
      "load_1m",
      "memory_used_percent",
      "rx_bytes",
      "tx_bytes",
    ]);
    const hour = await metrics("?live=false&period=1h");
    expect(hour.body.history.map((p: { at: string }) => p.at)[0]).toBe(old.at);
    expect(hour.body.history).toHaveLength(2);
    expect((await metrics("?period=2h")).status).toBe(400);
  });
});
