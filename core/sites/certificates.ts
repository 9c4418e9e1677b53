// Certificates for verified custom domains, by ACME (`acme-client`), HTTP-01: the key authorization is stored in
// acme_challenges and answered by every process's sites listener at /.well-known/acme-challenge/{token}.
// Issuance is a job on the Postgres queue (core/jobs/): verify_domain enqueues it, a worker in any process
// leases it, and a periodic check enqueues renewals 30 days before expiry (and retries failures after a pause).
// The ACME account key and each certificate's key are sealed with the master key; the chain is public.
import fs from "node:fs";
import https from "node:https";
import tls from "node:tls";
import * as acme from "acme-client";
import { sql } from "kysely";
import type { Config } from "../config.ts";
import { enqueue, finish, heartbeat, type Job, lease, workerId } from "../jobs/queue.ts";
import type { DB } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";

export const CERT_QUEUE = "site_certificates";
/** Published when a domain is verified or removed, or its certificate changes: routing and SNI caches drop it. */
export const DOMAIN_CHANGED_TOPIC = "domain_changed";
/** Renew this long before expiry (Let's Encrypt's own advice for 90-day certificates). */
export const RENEW_BEFORE_MS = 30 * 86_400_000;
/** A failed issuance is tried again by the periodic check after this pause (ACME servers rate-limit failures). */
const RETRY_FAILED_MS = 6 * 3600_000;
const LEASE_MS = 120_000;
const MAX_ATTEMPTS = 3;

/** Certificates are requested only where they can be served: an HTTPS sites port is configured. */
export const certificatesEnabled = (config: Config) => config.sitesHttpsPort !== undefined;

/** The HTTP-01 answer for a token, or null (the sites listener answers 404). */
export async function challengeAnswer(db: DB, token: string): Promise<string | null> {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) return null;
  const row = await db
    .selectFrom("acme_challenges")
    .select("key_authorization")
    .where("token", "=", token)
    .executeTakeFirst();
  return row?.key_authorization ?? null;
}

/** A verified domain's certificate chain and key (decrypted), for the HTTPS listener's SNI; null if none. */
export async function certificateFor(
  platform: Platform,
  domain: string,
): Promise<{ cert: string; key: string } | null> {
  const row = await platform.db
    .selectFrom("site_domains")
    .select(["cert_pem", "cert_key_enc"])
    .where("domain", "=", domain)
    .where("verified_at", "is not", null)
    .executeTakeFirst();
  if (!row?.cert_pem || !row.cert_key_enc) return null;
  return { cert: row.cert_pem, key: platform.secrets.decrypt(row.cert_key_enc) };
}

let trustedCaFile: string | undefined;
/** acme-client talks through its own axios instance; extra roots (a private ACME server) are trusted there. */
function trustAcmeCa(config: Config) {
  const file = config.acme.caFile;
  if (!file || file === trustedCaFile) return;
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: [...tls.rootCertificates, fs.readFileSync(file, "utf8")] });
  trustedCaFile = file;
}

/** This directory's account key, created (and sealed) on first use; concurrent first uses agree on one. */
async function accountKey(platform: Platform, directoryUrl: string): Promise<string> {
  const read = () =>
    platform.db
      .selectFrom("acme_accounts")
      .select("key_enc")
      .where("directory_url", "=", directoryUrl)
      .executeTakeFirst();
  let row = await read();
  if (!row) {
    const key = (await acme.crypto.createPrivateEcdsaKey()).toString();
    await platform.db
      .insertInto("acme_accounts")
      .values({ directory_url: directoryUrl, key_enc: platform.secrets.encrypt(key) })
      .onConflict((oc) => oc.column("directory_url").doNothing())
      .execute();
    row = await read();
  }
  if (!row) throw new Error(`the ACME account key for ${directoryUrl} was not stored`);
  return platform.secrets.decrypt(row.key_enc);
}

/** Obtains and stores a certificate for one verified domain (no transaction is held across the ACME calls). */
export async function issueCertificate(platform: Platform, domainId: string): Promise<void> {
  const row = await platform.db
    .selectFrom("site_domains")
    .select(["id", "domain", "verified_at"])
    .where("id", "=", domainId)
    .executeTakeFirst();
  if (!row?.verified_at) return; // removed, or no longer verified: nothing to do
  const { directoryUrl, email } = platform.config.acme;
  trustAcmeCa(platform.config);
  await platform.db
    .updateTable("site_domains")
    .set({ cert_attempted_at: new Date() })
    .where("id", "=", row.id)
    .execute();
  const client = new acme.Client({ directoryUrl, accountKey: await accountKey(platform, directoryUrl) });
  const [key, csr] = await acme.crypto.createCsr({ altNames: [row.domain] }, await acme.crypto.createPrivateEcdsaKey());
  const chain = await client.auto({
    csr,
    email,
    termsOfServiceAgreed: true,
    challengePriority: ["http-01"],
    // The ACME server checks reachability itself; a self-check from here would test our own network instead.
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      await platform.db
        .insertInto("acme_challenges")
        .values({ token: challenge.token, key_authorization: keyAuthorization, domain: row.domain })
        .onConflict((oc) => oc.column("token").doUpdateSet({ key_authorization: keyAuthorization }))
        .execute();
    },
    challengeRemoveFn: async (_authz, challenge) => {
      await platform.db.deleteFrom("acme_challenges").where("token", "=", challenge.token).execute();
    },
  });
  const info = acme.crypto.readCertificateInfo(chain);
  await platform.db
    .updateTable("site_domains")
    .set({
      cert_status: "issued",
      cert_pem: chain,
      cert_key_enc: platform.secrets.encrypt(key.toString()),
      cert_expires_at: info.notAfter,
      cert_error: null,
    })
    .where("id", "=", row.id)
    .execute();
  await platform.notifier
    .publish(DOMAIN_CHANGED_TOPIC, row.domain)
    .catch((err) => platform.log.warn({ err }, "certificate change not broadcast"));
}

/**
 * Enqueues every verified domain whose certificate is missing, failed a while ago, or expires within
 * RENEW_BEFORE_MS of `now`; answers how many were enqueued (a domain already queued is not added twice).
 */
export async function scheduleRenewals(platform: Platform, now = new Date()): Promise<number> {
  if (!certificatesEnabled(platform.config)) return 0;
  // Answers an order left behind (its process died mid-order) are no use to anyone after a day.
  await platform.db
    .deleteFrom("acme_challenges")
    .where("created_at", "<", new Date(Date.now() - 86_400_000))
    .execute();
  const due = await platform.db
    .selectFrom("site_domains")
    .select("id")
    .where("verified_at", "is not", null)
    .where((eb) =>
      eb.or([
        eb.and([
          eb("cert_status", "=", "issued"),
          eb("cert_expires_at", "<", new Date(now.getTime() + RENEW_BEFORE_MS)),
        ]),
        eb.and([
          eb("cert_status", "in", ["none", "failed"]),
          eb.or([
            eb("cert_attempted_at", "is", null),
            eb("cert_attempted_at", "<", new Date(now.getTime() - RETRY_FAILED_MS)),
          ]),
        ]),
      ]),
    )
    .execute();
  let added = 0;
  for (const { id } of due) if (await enqueue(platform.db, CERT_QUEUE, id, { domain_id: id })) added++;
  return added;
}

async function runJob(platform: Platform, job: Job): Promise<void> {
  const beat = setInterval(() => void heartbeat(platform.db, job, LEASE_MS).catch(() => {}), LEASE_MS / 4);
  try {
    await issueCertificate(platform, String(job.payload.domain_id));
    await finish(platform.db, job, { state: "done" });
  } catch (err) {
    const message = String((err as Error).message ?? err).slice(0, 1000);
    platform.log.warn({ err, domain_id: job.payload.domain_id }, "certificate not issued");
    const last = job.attempts >= MAX_ATTEMPTS;
    // A renewal that fails keeps serving the certificate it has: only its error is recorded.
    await platform.db
      .updateTable("site_domains")
      .set({
        cert_error: message,
        cert_status: sql<"failed" | "issued">`case when cert_pem is null then 'failed' else 'issued' end`,
      })
      .where("id", "=", String(job.payload.domain_id))
      .execute();
    await finish(
      platform.db,
      job,
      last ? { state: "failed", error: message } : { state: "retry", afterMs: 30_000 * job.attempts, error: message },
    );
  } finally {
    clearInterval(beat);
  }
}

export interface CertificateWorker {
  stop(): Promise<void>;
}

/**
 * Leases certificate jobs until stopped, and checks for renewals every `renewEveryMs` (first at start).
 * Any number of processes may run one: the queue hands each job to one of them.
 */
export function startCertificateWorker(
  platform: Platform,
  opts: { pollMs?: number; renewEveryMs?: number } = {},
): CertificateWorker {
  const owner = workerId("certificates");
  const pollMs = opts.pollMs ?? 2000;
  let stopped = false;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const loop = (async () => {
    while (!stopped) {
      try {
        const job = await lease(platform.db, CERT_QUEUE, owner, LEASE_MS);
        if (job) {
          await runJob(platform, job);
          continue;
        }
      } catch (err) {
        if (!stopped) platform.log.warn({ err }, "certificate worker failed to lease");
      }
      await sleep(pollMs);
    }
  })();
  const renew = () => {
    scheduleRenewals(platform).catch((err) => platform.log.warn({ err }, "certificate renewal check failed"));
  };
  renew();
  const renewer = setInterval(renew, opts.renewEveryMs ?? 3600_000);
  renewer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(renewer);
      wake?.();
      await loop;
    },
  };
}
