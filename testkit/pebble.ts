// Pebble, the ACME test server (Debian's `pebble`), on 127.0.0.1 for one test file: its TLS listener gets a
// certificate made here with openssl (trusted through `caFile`), its HTTP-01 checks go to `httpPort` and its
// DNS questions to the test's DNS server. `rootPem()` fetches the root it signs with, from its management
// interface, so a TLS client can verify what it issued.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { MissingProgramError, requireProgram } from "../core/programs.ts";
import { selfSignedCertificate } from "./tls.ts";

export interface Pebble {
  directoryUrl: string;
  /** PEM of the certificate pebble's own listeners present: trust it to talk to the directory. */
  caFile: string;
  /** The root certificate pebble issues under (PEM). */
  rootPem(): Promise<string>;
  close(): Promise<void>;
}

/** Why pebble tests cannot run here, or null: only a missing binary may skip them, and never in CI. */
export function pebbleMissing(): string | null {
  try {
    requireProgram("pebble", "the custom-domain ACME test");
    requireProgram("openssl", "the custom-domain ACME test");
    return null;
  } catch (err) {
    if (err instanceof MissingProgramError && !process.env.CI) return err.message;
    throw err;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

export async function startPebble(opts: { httpPort: number; dnsServer: string }): Promise<Pebble> {
  const pebble = requireProgram("pebble", "the custom-domain ACME test");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-pebble-"));
  const {
    certFile: cert,
    keyFile: key,
    cert: ca,
  } = selfSignedCertificate(dir, "pebble", "the custom-domain ACME test");
  const [port, managementPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(dir, "pebble-config.json");
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: cert,
        privateKey: key,
        httpPort: opts.httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  const child: ChildProcess = spawn(pebble, ["-config", config, "-dnsserver", opts.dnsServer], {
    // No sleeps before validating, no nonce rejections: a fast, deterministic server.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  const close = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`pebble exited (${child.exitCode}): ${output}`);
    const ok = await get(directoryUrl, ca).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (i >= 100) {
      await close();
      throw new Error(`pebble did not start in 10 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    directoryUrl,
    caFile: cert,
    rootPem: async () => {
      const res = await get(`https://127.0.0.1:${managementPort}/roots/0`, ca);
      if (res.status !== 200) throw new Error(`pebble's root: HTTP ${res.status}`);
      return res.body;
    },
    close,
  };
}
