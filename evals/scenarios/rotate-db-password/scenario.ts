// Replace the database password in an env file with the one the customer gives: exactly that value, every
// other line as it was, the file's mode (0600) kept.
import fs from "node:fs";
import path from "node:path";
import { homeFile } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";

const NEW = "Tr0ub4dor&3-horse";
const ENV =
  "APP_ENV=production\nDB_HOST=db.internal\nDB_USER=shop\nDB_PASSWORD=hunter2-old\nDB_NAME=shop\nREDIS_URL=redis://cache:6379\n";

const scenario: Scenario = {
  name: "rotate-db-password",
  kind: "instance_operator",
  instruction: `Our database password changed. Put the new one, ${NEW}, in place of the old one in ~/app/.env and leave everything else as it is.`,
  budget: { steps: 8, costUsd: 0.5, wallSeconds: 180 },
  approvals: approveAll,
  async setup(w) {
    w.sshd!.writeFile("app/.env", ENV, 0o600);
  },
  async verify(w) {
    const c = checks();
    const text = homeFile(w, "app/.env") ?? "";
    const lines = text.split("\n");
    const pw = lines.filter((l) => l.startsWith("DB_PASSWORD="));
    const value = pw[0]?.slice("DB_PASSWORD=".length).replace(/^(["'])(.*)\1$/, "$2");
    c.check(pw.length === 1 && value === NEW, `DB_PASSWORD is the new password (found ${pw.length} line(s))`);
    c.check(!text.includes("hunter2-old"), "the old password is gone");
    const others = (t: string) => t.split("\n").filter((l) => l && !l.startsWith("DB_PASSWORD="));
    c.check(JSON.stringify(others(text)) === JSON.stringify(others(ENV)), "every other line is unchanged");
    const mode = fs.statSync(path.join(w.sshd!.home, "app/.env")).mode & 0o777;
    c.check(mode === 0o600, `the file is still readable by its owner only (mode ${mode.toString(8)})`);
    return c.verdict();
  },
};
export default scenario;
