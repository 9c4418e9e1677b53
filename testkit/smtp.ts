// A real SMTP server for tests (smtp-server on 127.0.0.1, a random port): Bosun sends to it with nodemailer over
// the wire, and the test reads what arrived — recipient, subject, decoded text — and follows the links in it.
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  /** Every http(s) link in the text. */
  links: string[];
  raw: string;
}

export interface SmtpFixture {
  /** For BOSUN_SMTP_URL / config.mail.smtpUrl. */
  url: string;
  messages: ReceivedMail[];
  /** The next (or an already received, unclaimed) message to this address; fails after `timeoutMs`. */
  next(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  /** Refuse every message from now on (a mail server that is down or rejects). */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

function decodeBody(headers: string, body: string): string {
  const cte = /^content-transfer-encoding:\s*(\S+)/im.exec(headers)?.[1]?.toLowerCase();
  if (cte === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (cte === "quoted-printable") {
    const bytes = body
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  }
  return body;
}

function parse(raw: string, from: string, to: string[]): ReceivedMail {
  const split = raw.indexOf("\r\n\r\n");
  const headers = raw.slice(0, split).replace(/\r\n[ \t]+/g, " ");
  const text = decodeBody(headers, raw.slice(split + 4)).replace(/\r\n/g, "\n");
  return {
    from,
    to,
    subject: /^subject:\s*(.*)$/im.exec(headers)?.[1]?.trim() ?? "",
    text,
    links: text.match(/https?:\/\/[^\s<>"]+/g) ?? [],
    raw,
  };
}

export async function startSmtpServer(): Promise<SmtpFixture> {
  const messages: ReceivedMail[] = [];
  const claimed = new Set<ReceivedMail>();
  const waiters: { to: string; resolve: (m: ReceivedMail) => void }[] = [];
  let refusing = false;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"], // plain SMTP on loopback; nodemailer would otherwise try TLS with no certificate
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (refusing) return callback(Object.assign(new Error("mailbox unavailable"), { responseCode: 550 }));
        const mail = parse(
          Buffer.concat(chunks).toString("utf8"),
          session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
        );
        messages.push(mail);
        const i = waiters.findIndex((w) => mail.to.includes(w.to));
        if (i >= 0) {
          claimed.add(mail);
          waiters.splice(i, 1)[0]!.resolve(mail);
        }
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    next: (to, timeoutMs = 5000) => {
      const addr = to.toLowerCase();
      const waiting = messages.find((m) => !claimed.has(m) && m.to.includes(addr));
      if (waiting) {
        claimed.add(waiting);
        return Promise.resolve(waiting);
      }
      return new Promise((resolve, reject) => {
        const w = { to: addr, resolve: (m: ReceivedMail) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no email to ${to} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    refuse: (on) => (refusing = on),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
