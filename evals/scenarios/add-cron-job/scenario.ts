// Add a daily cron job at 03:30 and keep the existing ones. The test server has no cron daemon, so its
// `crontab` is a stand-in with the real command's interface (-l, -r, a file or - for stdin) keeping the
// table in ~/.crontab, which the verifier reads.

import { homeFile } from "../../inspect.ts";
import { approveAll, checks, type Scenario } from "../../scenario.ts";

const CRONTAB = `#!/bin/sh
# Stand-in for crontab(1): the user's table is ~/.crontab.
tab="$HOME/.crontab"
case "$1" in
  -l) if [ -f "$tab" ]; then cat "$tab"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -r) rm -f "$tab" ;;
  -e) echo "crontab: no editor on this server; use crontab -l and crontab - instead" >&2; exit 1 ;;
  -|"") cat > "$tab.new" && mv "$tab.new" "$tab" ;;
  *) cp "$1" "$tab" ;;
esac
`;

const scenario: Scenario = {
  name: "add-cron-job",
  kind: "instance_operator",
  instruction: "Add a cron job that runs ~/bin/backup.sh every day at 03:30. Keep the jobs that are already there.",
  budget: { steps: 10, costUsd: 0.5, wallSeconds: 240 },
  approvals: approveAll,
  async setup(w) {
    const s = w.sshd!;
    s.writeFile("bin/crontab", CRONTAB, 0o755);
    s.writeFile("bin/backup.sh", '#!/bin/sh\ntar czf "$HOME/backup.tgz" "$HOME/app"\n', 0o755);
    s.writeFile("bin/rotate.sh", "#!/bin/sh\n:\n", 0o755);
    w.notes.existing = `0 * * * * ${s.home}/bin/rotate.sh`;
    s.writeFile(".crontab", `# m h dom mon dow command\n${w.notes.existing}\n`);
  },
  async verify(w) {
    const c = checks();
    const lines = (homeFile(w, ".crontab") ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const backups = lines.filter((l) => /backup\.sh\b/.test(l));
    c.check(backups.length === 1, `exactly one backup.sh job (found ${backups.length}: ${JSON.stringify(backups)})`);
    c.check(
      backups.length === 1 && /^30\s+0?3\s+\*\s+\*\s+\*\s+(\S*\/)?(sh\s+)?\S*bin\/backup\.sh$/.test(backups[0]!),
      "it runs ~/bin/backup.sh at 03:30 every day",
    );
    c.check(lines.includes(w.notes.existing as string), "the existing rotate.sh job is kept");
    return c.verdict();
  },
};
export default scenario;
