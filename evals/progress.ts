// A progress line on stderr: trials done, passed, and money spent so far. On a terminal it redraws in place;
// elsewhere (CI logs) it prints one line per trial. A dozen lines did not justify a dependency.
export class Progress {
  private done = 0;
  private passed = 0;
  private spentMicros = 0;

  constructor(
    private readonly total: number,
    private readonly out:
      | NodeJS.WriteStream
      | { isTTY?: boolean; columns?: number; write(s: string): boolean } = process.stderr,
  ) {}

  line(): string {
    const width = 24;
    const filled = this.total ? Math.round((this.done / this.total) * width) : width;
    return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${this.done}/${this.total} trials · ${this.passed} passed · $${(this.spentMicros / 1e6).toFixed(4)} spent`;
  }

  start(): void {
    if (this.out.isTTY) this.out.write(this.line());
  }

  tick(result: { pass: boolean; costMicros: number; scenario: string; model: string }): void {
    this.done++;
    if (result.pass) this.passed++;
    this.spentMicros += result.costMicros;
    if (this.out.isTTY) this.out.write(`\r${this.line()}`);
    else this.out.write(`${this.line()}  (${result.model} ${result.scenario}: ${result.pass ? "pass" : "fail"})\n`);
  }

  stop(): void {
    if (this.out.isTTY) this.out.write("\n");
  }
}
