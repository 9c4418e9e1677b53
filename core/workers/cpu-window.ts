// CPU ms per invocation without two /proc reads per request. workerd reports `cpuTime: 0` in tail events, so the
// process's CPU counter is all there is: it is sampled at most every few ms (and before invocations are written),
// and the CPU used since the previous sample is shared among the invocations that finished since, in proportion to
// their wall time — never more than an invocation's own wall time.

export interface Timed {
  wallMs: number;
  cpuMs: number;
}

export class CpuWindow {
  private last: number;
  private at: number;
  private window: Timed[] = [];

  constructor(
    private readonly read: () => number,
    private readonly minIntervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = read();
    this.at = now();
  }

  /** A finished invocation; its `cpuMs` is set at this sample or a later one. */
  add(inv: Timed): void {
    this.window.push(inv);
    if (this.now() - this.at >= this.minIntervalMs) this.sample();
  }

  /** Reads the counter and shares what was used since the last read among the invocations waiting. */
  sample(): void {
    const cpu = this.read();
    const used = Math.max(0, cpu - this.last);
    this.last = cpu;
    this.at = this.now();
    const batch = this.window;
    if (!batch.length) return;
    this.window = [];
    let wall = 0;
    for (const inv of batch) wall += inv.wallMs;
    for (const inv of batch) {
      const share = wall > 0 ? (used * inv.wallMs) / wall : used / batch.length;
      inv.cpuMs = Math.min(inv.wallMs, share);
    }
  }
}
