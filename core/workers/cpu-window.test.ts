import { expect, it } from "vitest";
import { CpuWindow } from "./cpu-window.ts";

it("reads the counter at most once per interval and shares the CPU among the window's invocations by wall time", () => {
  let cpu = 1000;
  let clock = 0;
  let reads = 0;
  const w = new CpuWindow(
    () => {
      reads++;
      return cpu;
    },
    100,
    () => clock,
  );
  expect(reads).toBe(1);
  const a = { wallMs: 30, cpuMs: 0 };
  const b = { wallMs: 10, cpuMs: 0 };
  clock = 50;
  w.add(a);
  w.add(b);
  expect(reads).toBe(1); // within the interval: no read yet
  cpu = 1020;
  clock = 120;
  const c = { wallMs: 40, cpuMs: 0 };
  w.add(c); // past the interval: one read for all three
  expect(reads).toBe(2);
  expect([a.cpuMs, b.cpuMs, c.cpuMs]).toEqual([7.5, 2.5, 10]);
});

it("never gives an invocation more CPU than its wall time, and drops CPU used while nothing finished", () => {
  let cpu = 0;
  const w = new CpuWindow(
    () => cpu,
    0,
    () => 0,
  );
  cpu = 500; // idle time (GC, timers) before anything ran
  w.sample();
  const a = { wallMs: 5, cpuMs: 0 };
  cpu = 600;
  w.add(a);
  expect(a.cpuMs).toBe(5);
  // A counter that goes backwards (a restarted process read as 0) is no negative CPU.
  const b = { wallMs: 5, cpuMs: 0 };
  cpu = 0;
  w.add(b);
  expect(b.cpuMs).toBe(0);
});
