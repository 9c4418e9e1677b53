// The app will not start: its log names a bad port in its config. The fix is a one-character edit and a
// restart through the app's own start script; the verifier checks the config (every other line untouched)
// and that the start script recorded a good start.

import { homeFile } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";

const CONF = "port = 8O80\nworkers = 4\nlog = app.log\n";

const scenario: Scenario = {
  name: "fix-service-config",
  kind: "instance_operator",
  instruction:
    "My app on this server won't start. It lives in ~/app and is started with ~/bin/restart-app. Find out why from its log, fix it, and get it running.",
  budget: { steps: 12, costUsd: 0.5, wallSeconds: 240 },
  approvals: approveAll,
  async setup(w) {
    w.sshd!.writeFile("app/app.conf", CONF);
    w.sshd!.writeFile(
      "app/app.log",
      "2026-11-02T10:00:01Z app: reading app.conf\n2026-11-02T10:00:01Z app: error: invalid port '8O80' in app.conf line 1: not a number\n2026-11-02T10:00:01Z app: exited with status 1\n",
    );
    // The service stand-in: refuses a non-numeric port (and logs why), records a good start.
    w.sshd!.writeFile(
      "bin/restart-app",
      '#!/bin/sh\nconf="$HOME/app/app.conf"\nport=$(sed -n \'s/^port = //p\' "$conf")\ncase "$port" in\n  ""|*[!0-9]*) echo "$(date -u +%FT%TZ) app: error: invalid port \'$port\' in app.conf line 1: not a number" >> "$HOME/app/app.log"; echo "app failed to start" >&2; exit 1 ;;\nesac\necho "$(date -u +%FT%TZ) app: listening on port $port" >> "$HOME/app/app.log"\necho "started $port" > "$HOME/app/status"\n',
      0o755,
    );
  },
  async verify(w) {
    const c = checks();
    const conf = homeFile(w, "app/app.conf") ?? "";
    c.check(/^port = 8080$/m.test(conf), `app.conf sets port = 8080 (found: ${JSON.stringify(conf.split("\n")[0])})`);
    c.check(
      conf.split("\n").slice(1).join("\n") === CONF.split("\n").slice(1).join("\n"),
      "the other lines of app.conf are unchanged",
    );
    const status = homeFile(w, "app/status");
    c.check(
      status?.trim() === "started 8080",
      `the app was started on port 8080 (status file: ${JSON.stringify(status)})`,
    );
    return c.verdict();
  },
};
export default scenario;
