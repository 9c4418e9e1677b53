// The command server: one long-lived exec channel per pooled connection, running a small Perl loop (Perl is in
// every Debian and Ubuntu system as perl-base, and in most RHEL-family installs; without it, a channel per
// command stays the way: commands.ts) that forks each command itself. A command then costs one fork and one exec of /bin/sh on the server, and no channel open or exec
// request: sshd's per-session setup, the login shell and `timeout` are gone from the path. (A POSIX sh loop
// cannot frame binary output without a helper process per chunk; Perl's core POSIX module does it all.)
//
// What it keeps of a channel per command: each command is a fresh child of a loop that never changes its own
// cwd, environment or umask (state cannot leak from one command to the next); it is made a session and
// process-group leader (setsid, as sshd does), so a kill takes its children and background jobs too; it has its
// own stdin, stdout and stderr pipes, so a job it leaves behind can only ever write into its own command's
// output, and the command ends when its process has exited and both pipes are closed (as sshd's channel does),
// or, once killed, when its process has exited. The loop is not dumpable, so a command (same user) cannot reach
// the channel through /proc/<loop>/fd or ptrace; a kill the loop does not answer settles after KILL_GRACE_MS.
// Every frame either way is length-prefixed (type, id, length, payload), so nothing a command prints can be
// read as a frame. The loop kills a command's group itself at its deadline (the backstop `timeout` gave) and
// every group still running when its channel closes (the connection was lost, or the pool closed it).
import type { ClientChannel } from "ssh2";
import { BosunError } from "../kernel/errors.ts";
import { shq } from "./shell-quote.ts";

/** What one command needs: the loop kills its group past `deadlineSeconds` even if we cannot ask. */
export interface ServedRequest {
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  deadlineSeconds: number;
}

export interface ServedIo {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

/** A command's outcome: its exit code, or the signal that ended it. */
export interface ServedExit {
  code: number | null;
  signal: string | null;
}

// Frames: type (1 byte), id (u32), payload length (u32), payload. To the server: R run (payload: the fields
// below, each u32-length-prefixed), K kill the command's process group. From it: H hello, O stdout, E stderr,
// X exit ("c:<code>" or "s:<signal name>"), and A: the run request was read; written through to sshd before the
// command is forked. A command whose A never came did not start, and may be sent again on a new connection:
// the line a channel's exec reply draws.
const HEADER = 9;
const HELLO = "bosun-cmd 1";
/** The script's frames are at most 64 KiB (one read); a longer one is not the script's: the server is closed. */
const MAX_FRAME = 1024 * 1024;
/** After a kill, how long `done` waits for the server's X frame before settling without it. */
export const KILL_GRACE_MS = 5000;

const SCRIPT = String.raw`
use strict;
use POSIX (); use Fcntl; use Config;
my @SIGNAME = split " ", $Config{sig_name};
# Not dumpable (prctl PR_SET_DUMPABLE 0, where the syscall number is known): a command, running as the same user,
# cannot open /proc/<server>/fd/* (the channel: forge frames, read other commands' requests) or ptrace the server.
# Its children are dumpable again once they exec /bin/sh.
{ my %nr = (x86_64 => 157, aarch64 => 167, riscv64 => 167, i386 => 172, i686 => 172, arm => 172, s390x => 172, ppc64le => 171, ppc64 => 171);
  my ($arch) = $Config{archname} =~ /^([^-]+)/; syscall($nr{$arch}, 4, 0) if $^O eq "linux" && $nr{$arch} }
$SIG{PIPE} = "IGNORE";
pipe(my $sigr, my $sigw) or die "pipe: $!";
sub nb { my $f = fcntl($_[0], F_GETFL, 0); fcntl($_[0], F_SETFL, $f | O_NONBLOCK) }
nb($_) for $sigr, $sigw, \*STDOUT;
$SIG{CHLD} = sub { syswrite $sigw, "c" };
my ($in, $out, $eof) = ("", "", 0);
my (%job, %bypid);
sub frame { $out .= pack("a N N/a*", @_) }
sub fail { frame("E", $_[0], "bosun: $_[1]\n"); frame("X", $_[0], "c:126") }
sub start {
  my ($id, $p) = @_;
  my ($secs, $cwd, $cmd, $stdin, @env) = unpack("(N/a*)*", $p);
  my ($or, $ow, $er, $ew, $ir, $iw);
  (pipe($or, $ow) && pipe($er, $ew) && pipe($ir, $iw)) or return fail($id, "pipe: $!");
  my $pid = fork;
  defined $pid or return fail($id, "fork: $!");
  if (!$pid) {
    POSIX::setsid();
    $SIG{PIPE} = "DEFAULT"; $SIG{CHLD} = "DEFAULT";
    open(STDIN, "<&", $ir); open(STDOUT, ">&", $ow); open(STDERR, ">&", $ew);
    if (length $cwd) {
      my $d = $cwd eq "~" ? $ENV{HOME} : $cwd =~ m{^~/(.*)}s ? "$ENV{HOME}/$1" : $cwd;
      chdir $d or do { syswrite STDERR, "cd: $cwd: $!\n"; POSIX::_exit(1) };
    }
    while (@env) { my $k = shift @env; $ENV{$k} = shift @env }
    exec { "/bin/sh" } "/bin/sh", "-c", $cmd;
    syswrite STDERR, "/bin/sh: $!\n"; POSIX::_exit(127);
  }
  close $_ for $ow, $ew, $ir;
  nb($_) for $or, $er, $iw;
  my $j = { id => $id, pid => $pid, out => $or, err => $er, in => $iw, inbuf => $stdin, deadline => time + $secs };
  if (!length $stdin) { close $iw; $j->{in} = undef }
  $job{$id} = $j; $bypid{$pid} = $j;
}
sub flushall {
  my $f = fcntl(STDOUT, F_GETFL, 0); fcntl(STDOUT, F_SETFL, $f & ~O_NONBLOCK);
  while (length $out) { my $n = syswrite STDOUT, $out; if (!defined $n) { $out = ""; lost(); last } substr($out, 0, $n) = "" }
  fcntl(STDOUT, F_SETFL, $f);
}
sub killgroup { my $j = shift or return; $j->{killed} = 1; kill "KILL", -$j->{pid}; kill "KILL", $j->{pid} unless defined $j->{status} }
sub lost { $eof = 1; killgroup($_) for values %job }
frame("H", 0, "${HELLO}");
while (!$eof || %job) {
  my ($r, $w, $wait) = ("", "", undef);
  vec($r, 0, 1) = 1 unless $eof;
  vec($r, fileno $sigr, 1) = 1;
  vec($w, 1, 1) = 1 if length $out;
  my $now = time;
  for my $j (values %job) {
    if (length($out) < 262144) { for my $fh ($j->{out}, $j->{err}) { vec($r, fileno $fh, 1) = 1 if $fh } }
    vec($w, fileno $j->{in}, 1) = 1 if $j->{in};
    if (!$j->{killed}) { my $left = $j->{deadline} - $now; $wait = $left if !defined $wait || $left < $wait }
  }
  $wait = 0 if defined $wait && $wait < 0;
  if (select($r, $w, undef, $wait) < 0) { ($r, $w) = ("", "") }
  sysread $sigr, my $x, 512 if vec($r, fileno $sigr, 1);
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) { my $j = delete $bypid{$pid}; $j->{status} = $? if $j }
  if (vec($r, 0, 1)) { my $n = sysread STDIN, $in, 65536, length $in; lost() if defined $n ? $n == 0 : !$!{EAGAIN} }
  while (length($in) >= ${HEADER}) {
    my ($t, $id, $len) = unpack("a N N", $in);
    last if length($in) < ${HEADER} + $len;
    my $p = substr($in, ${HEADER}, $len);
    substr($in, 0, ${HEADER} + $len) = "";
    if ($t eq "R") { frame("A", $id, ""); flushall(); start($id, $p) unless $eof } elsif ($t eq "K") { killgroup($job{$id}) }
  }
  if (length $out && vec($w, 1, 1)) {
    my $n = syswrite STDOUT, $out;
    if (defined $n) { substr($out, 0, $n) = "" } elsif (!$!{EAGAIN}) { $out = ""; lost() }
  }
  for my $j (values %job) {
    for my $k ("out", "err") {
      my $fh = $j->{$k} or next;
      next unless vec($r, fileno $fh, 1);
      my $n = sysread $fh, my $buf, 65536;
      if ($n) { frame($k eq "out" ? "O" : "E", $j->{id}, $buf) } elsif (defined $n || !$!{EAGAIN}) { close $fh; $j->{$k} = undef }
    }
    if ($j->{in} && vec($w, fileno $j->{in}, 1)) {
      my $n = syswrite $j->{in}, $j->{inbuf};
      substr($j->{inbuf}, 0, $n) = "" if defined $n;
      if ((!defined $n && !$!{EAGAIN}) || !length $j->{inbuf}) { close $j->{in}; $j->{in} = undef }
    }
    if (!$j->{killed} && time >= $j->{deadline}) { killgroup($j) }
    # A killed command ends once its process is gone, even if something outside its group holds its pipes.
    if (defined $j->{status} && ($j->{killed} || (!$j->{out} && !$j->{err}))) {
      for my $k ("in", "out", "err") { close $j->{$k} if $j->{$k} }
      my $s = $j->{status};
      frame("X", $j->{id}, $s & 127 ? "s:" . $SIGNAME[$s & 127] : "c:" . ($s >> 8));
      delete $job{$j->{id}};
    }
  }
}
`;

/** The exec request that starts the server (for a POSIX login shell, which the caller checks). */
export const SERVER_COMMAND = `exec perl -e ${shq(SCRIPT)}`;

function encodeFrame(type: string, id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(HEADER);
  head.write(type, 0, "latin1");
  head.writeUInt32BE(id, 1);
  head.writeUInt32BE(payload.length, 5);
  return Buffer.concat([head, payload]);
}

/** The request's fields, each u32-length-prefixed, in the order the script unpacks them. */
export function encodeRequest(req: ServedRequest): Buffer {
  const fields = [String(req.deadlineSeconds), req.cwd ?? "", req.command, req.stdin ?? ""];
  for (const [name, value] of Object.entries(req.env ?? {})) fields.push(name, value);
  const parts: Buffer[] = [];
  for (const f of fields) {
    const b = Buffer.from(f, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

/** The server or its connection ended before a command's A frame: it did not start. */
export class NotStarted extends Error {}

interface Job {
  io: ServedIo;
  acked: boolean;
  resolve(exit: ServedExit): void;
  reject(err: Error): void;
}

export interface ServedHandle {
  done: Promise<ServedExit>;
  /** Kills the command's process group on the server; `done` then settles with the KILL signal. */
  kill(): void;
}

export class CommandServer {
  private jobs = new Map<number, Job>();
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  /** Frames read so far (a kill's grace tells a wedged server by it). */
  private frames = 0;
  private hello: (() => void) | null = null;
  closed = false;

  private constructor(
    private readonly channel: ClientChannel,
    private readonly host: string,
  ) {
    channel.on("data", (chunk: Buffer) => this.read(chunk));
    channel.stderr.on("data", () => {}); // the script's own complaints: nothing to act on
    channel.on("close", () => this.end());
  }

  /** Starts the server on `channel` (already exec'd with SERVER_COMMAND); null when it does not say hello in time. */
  static async start(channel: ClientChannel, host: string, timeoutMs: number): Promise<CommandServer | null> {
    const server = new CommandServer(channel, host);
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      server.hello = () => {
        clearTimeout(timer);
        resolve(true);
      };
      channel.once("close", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!ok) {
      server.close();
      return null;
    }
    return server;
  }

  /** Runs a command; `release` is called once it has ended, whatever the outcome. */
  run(req: ServedRequest, io: ServedIo, release: () => void): ServedHandle {
    const id = this.nextId++;
    let killRequested = false;
    const done = new Promise<ServedExit>((resolve, reject) => {
      this.jobs.set(id, { io, acked: false, resolve, reject });
    });
    done.then(release, release);
    if (this.closed) this.fail(id);
    else this.channel.write(encodeFrame("R", id, encodeRequest(req)));
    return {
      done,
      kill: () => {
        if (killRequested || this.closed) return;
        killRequested = true;
        const sentAt = this.frames;
        this.channel.write(encodeFrame("K", id, Buffer.alloc(0)));
        // A kill the server does not answer (stopped or wedged, or a job escaped the group and holds the pipes)
        // must not hold the caller for ever: the command settles without its exit after a grace, as a channel's
        // close did; a server that sent nothing meanwhile is closed (its groups go when it reads EOF).
        const timer = setTimeout(() => {
          const job = this.jobs.get(id);
          if (!job) return;
          this.jobs.delete(id);
          job.resolve({ code: null, signal: null });
          if (this.frames === sentAt) this.close();
        }, KILL_GRACE_MS);
        timer.unref();
        done.then(
          () => clearTimeout(timer),
          () => clearTimeout(timer),
        );
      },
    };
  }

  close() {
    try {
      this.channel.close();
    } catch {
      /* the connection is already gone */
    }
    this.end();
  }

  private end() {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.jobs.keys()]) this.fail(id);
  }

  private fail(id: number) {
    const job = this.jobs.get(id);
    this.jobs.delete(id);
    if (!job) return;
    job.reject(
      job.acked
        ? new BosunError(
            "unreachable",
            `the connection to ${this.host} was lost while the command ran; it may or may not have completed`,
          )
        : new NotStarted(`the command server on ${this.host} ended before the command started`),
    );
  }

  private read(chunk: Buffer) {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let at = 0;
    while (this.buf.length - at >= HEADER) {
      const len = this.buf.readUInt32BE(at + 5);
      if (len > MAX_FRAME) {
        // Not a frame of the script: something else wrote into the channel. Nothing after it can be trusted.
        this.buf = Buffer.alloc(0);
        this.close();
        return;
      }
      if (this.buf.length - at < HEADER + len) break;
      const type = String.fromCharCode(this.buf.readUInt8(at));
      const id = this.buf.readUInt32BE(at + 1);
      const payload = this.buf.subarray(at + HEADER, at + HEADER + len);
      at += HEADER + len;
      this.frames++;
      this.dispatch(type, id, payload);
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
  }

  private dispatch(type: string, id: number, payload: Buffer) {
    if (type === "H") {
      if (payload.toString() === HELLO) this.hello?.();
      return;
    }
    const job = this.jobs.get(id);
    if (!job) return;
    if (type === "A") job.acked = true;
    else if (type === "O") job.io.onStdout(payload);
    else if (type === "E") job.io.onStderr(payload);
    else if (type === "X") {
      this.jobs.delete(id);
      const text = payload.toString();
      job.resolve(
        text.startsWith("s:") ? { code: null, signal: text.slice(2) } : { code: Number(text.slice(2)), signal: null },
      );
    }
  }
}
