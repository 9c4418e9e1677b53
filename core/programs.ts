// External programs Bosun runs (sshd for evals and tests today; workerd, chromium later). A missing one is a
// one-line error naming the Debian package to install, never a `spawn … ENOENT` stack trace.
import fs from "node:fs";
import path from "node:path";

export interface ProgramSpec {
  /** The command name, looked up on PATH. */
  command: string;
  /** Where distributions install it when it is not on an unprivileged PATH (sshd lives in /usr/sbin). */
  paths?: string[];
  /** The Debian/Ubuntu package that provides it. */
  debianPackage: string;
  /** An environment variable that names its path instead. */
  env?: string;
}

export const PROGRAMS = {
  sshd: {
    command: "sshd",
    paths: ["/usr/sbin/sshd", "/usr/local/sbin/sshd"],
    debianPackage: "openssh-server",
    env: "BOSUN_SSHD_PATH",
  },
  "ssh-keygen": { command: "ssh-keygen", paths: ["/usr/bin/ssh-keygen"], debianPackage: "openssh-client" },
  // The ACME test server and the certificate tool its TLS listener's certificate is made with (tests only).
  pebble: { command: "pebble", paths: ["/usr/bin/pebble"], debianPackage: "pebble" },
  openssl: { command: "openssl", paths: ["/usr/bin/openssl"], debianPackage: "openssl" },
} satisfies Record<string, ProgramSpec>;

export class MissingProgramError extends Error {
  constructor(
    readonly program: string,
    readonly debianPackage: string,
    message: string,
  ) {
    super(message);
    this.name = "MissingProgramError";
  }
}

const isExecutable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/**
 * The absolute path of a program, or a MissingProgramError saying what needs it and what to install.
 * `purpose` completes "… needs {command}", e.g. "bosun eval (instance scenarios)".
 */
export function requireProgram(
  spec: ProgramSpec | keyof typeof PROGRAMS,
  purpose: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const p: ProgramSpec = typeof spec === "string" ? PROGRAMS[spec] : spec;
  const explicit = p.env ? env[p.env] : undefined;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new MissingProgramError(
      p.command,
      p.debianPackage,
      `${purpose} needs ${p.command}, but ${p.env}=${explicit} is not an executable file: install the ${p.debianPackage} package (apt-get install ${p.debianPackage}) or point ${p.env} at it`,
    );
  }
  const candidates = [
    ...(env.PATH ?? "")
      .split(path.delimiter)
      .filter(Boolean)
      .map((d) => path.join(d, p.command)),
    ...(p.paths ?? []),
  ];
  const found = candidates.find(isExecutable);
  if (found) return found;
  throw new MissingProgramError(
    p.command,
    p.debianPackage,
    `${purpose} needs ${p.command}, which is not installed: install the ${p.debianPackage} package (apt-get install ${p.debianPackage})` +
      (p.env ? ` or set ${p.env} to its path` : ""),
  );
}
