#!/usr/bin/env node
// The `bosun` command. Bosun ships as TypeScript; tsx compiles it on load (cached), so there is no build step.
import { register } from "tsx/esm/api";

register();
// `bosun call | head`: the reader left; that is not an error worth a stack trace.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { main } = await import("../cli/main.ts");
try {
  await main(process.argv.slice(2));
} catch (err) {
  // A person reads this: one line, not a stack trace (BOSUN_DEBUG=1 shows the stack).
  const message = process.env.BOSUN_DEBUG
    ? (err?.stack ?? String(err))
    : err instanceof Error
      ? err.message
      : String(err);
  process.stderr.write(`bosun: ${message}\n`);
  process.exit(1);
}
