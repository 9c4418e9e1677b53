// Secrets at rest: AES-256-GCM under a master key (BOSUN_MASTER_KEY, or a key file in the data dir).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromConfig(masterKey: string | undefined, dataDir: string): SecretBox {
    if (masterKey) {
      const key = Buffer.from(masterKey, "base64");
      if (key.length !== 32) throw new Error("BOSUN_MASTER_KEY must be base64 of exactly 32 bytes");
      return new SecretBox(key);
    }
    const file = path.join(dataDir, "master.key");
    if (!fs.existsSync(file)) {
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      try {
        fs.writeFileSync(file, crypto.randomBytes(32).toString("base64"), { flag: "wx", mode: 0o600 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
    return SecretBox.fromConfig(fs.readFileSync(file, "utf8").trim(), dataDir);
  }

  encrypt(plaintext: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", iv.toString("base64"), cipher.getAuthTag().toString("base64"), body.toString("base64")].join(":");
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, body] = sealed.split(":");
    if (version !== "v1" || !iv || !tag || body === undefined) throw new Error("not a sealed secret");
    const decipher = crypto.createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
  }

  /** A purpose-bound subkey (e.g. for signing session JWTs), so one master key serves every use. */
  deriveKey(purpose: string): Uint8Array {
    return new Uint8Array(crypto.hkdfSync("sha256", this.key, Buffer.alloc(0), `bosun:${purpose}`, 32));
  }
}

// The one-shot crypto.hash: a quarter of createHash's cost, and every authenticated request hashes its bearer.
export const sha256 = (value: string) => crypto.hash("sha256", value, "hex");
