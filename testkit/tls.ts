// A self-signed certificate for a test's own TLS listener on 127.0.0.1 / localhost, made with Debian's openssl;
// the certificate is its own root, so a client trusts the listener by trusting `certFile`.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { requireProgram } from "../core/programs.ts";

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export function selfSignedCertificate(dir: string, commonName: string, purpose: string): TestCertificate {
  const openssl = requireProgram("openssl", purpose);
  const certFile = path.join(dir, `${commonName}-cert.pem`);
  const keyFile = path.join(dir, `${commonName}-key.pem`);
  execFileSync(
    openssl,
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"],
      ...["-subj", `/CN=${commonName}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ...["-keyout", keyFile, "-out", certFile],
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile, cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
}
