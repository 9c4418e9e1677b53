// Outgoing email, in one place: invitations, set-password, verification and reset links today, webhooks and
// notifications later. SMTP through nodemailer (BOSUN_SMTP_URL). Without SMTP configured nothing is sent and the
// caller decides what to do with the link instead (hand it to the operator or inviter, never to a stranger).
import nodemailer, { type Transporter } from "nodemailer";
import type { Logger } from "pino";
import type { MailConfig } from "./config.ts";
import { BosunError } from "./kernel/errors.ts";

export interface MailMessage {
  to: string;
  subject: string;
  /** Plain text: links stay visible and copyable, and there is no HTML to sanitise. */
  text: string;
}

export class Mailer {
  private readonly transport: Transporter | null;

  constructor(
    private readonly config: MailConfig,
    private readonly log: Logger,
  ) {
    this.transport = config.smtpUrl ? nodemailer.createTransport(config.smtpUrl) : null;
  }

  /** Whether email can be sent at all. */
  get configured(): boolean {
    return this.transport !== null;
  }

  /** Sends one message; a mail server that refuses or cannot be reached is `unreachable` (502), naming no secret. */
  async send(message: MailMessage): Promise<void> {
    if (!this.transport)
      throw new BosunError(
        "not_configured",
        "email is not configured on this server: the operator must set BOSUN_SMTP_URL",
      );
    try {
      await this.transport.sendMail({
        from: this.config.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
      });
    } catch (err) {
      // The SMTP URL may carry a password: log the error's code and message, never the transport's options.
      this.log.warn({ code: (err as { code?: string }).code, message: (err as Error).message }, "sending email failed");
      throw new BosunError(
        "unreachable",
        "the mail server could not be reached or refused the message; try again later",
      );
    }
  }

  close(): void {
    this.transport?.close();
  }
}
