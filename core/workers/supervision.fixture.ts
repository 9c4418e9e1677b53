// A Bosun-like process for supervision.test.ts: opens a platform, starts its workers runtime, says so and waits
// (to be killed).
import pino from "pino";
import { createPlatform } from "../platform.ts";

const [dataDir] = process.argv.slice(2);
const platform = await createPlatform({
  databaseUrl: "memory://",
  config: { dataDir },
  log: pino({ level: "silent" }),
});
await platform.workers.ensureStarted();
process.stdout.write("ready\n");
setInterval(() => {}, 1 << 30);
