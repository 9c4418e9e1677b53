// The contract every operation keeps, walked over the registry (a new operation is covered with no change here,
// and fails loudly until it has a workable input): on REST,
// - happy path: its sample input (plus the fixtures below) answers 2xx, or the one refusal listed in REFUSES;
// - missing scope: a token with every scope but the operation's own answers 403 naming that scope;
// - another tenant: a project-scoped operation called on someone else's project answers 404, like a missing one;
// - malformed input: an unknown field, and a field of the wrong type, answer 400 naming the field.
// On MCP, the missing-scope, tenant and malformed cases again for every tool. One platform for the file; a token per
// case (one MCP client per missing scope).
import crypto from "node:crypto";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTarGz } from "../../testkit/archives.ts";
import type { TestAccount, TestPlatform, TestResponse } from "../../testkit/harness.ts";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { connectMcp, everyToolset } from "../../testkit/mcp-client.ts";
import {
  callRest,
  concrete,
  inputSchema,
  pathParams,
  readsBody,
  sampleInput,
  toolError,
} from "../../testkit/operation-inputs.ts";
import { parkRunOnApproval } from "../../testkit/parked-approval.ts";
import { CONTACT_FORM, PNG_1X1 } from "../../testkit/sites.ts";
import { credit } from "../billing/ledger.ts";
import { loadConfig } from "../config.ts";
import { issueLinkToken, tokenFromLink } from "../identity/one-time.ts";
import { generateSshKeyPair } from "../instances/ssh-keypair.ts";
import { isProjectScoped, levelOf, type Operation } from "./operation.ts";
import { ADMIN_SCOPE, scopeCatalog } from "./scopes.ts";

const EVERY_OPERATION_TIMEOUT = 300_000;
const SITE = "ct-site";
const SERVERS = "ct-srv";
const DOOMED = "ct-doomed";
const BOX = "box";
const OAUTH_REDIRECT = "http://127.0.0.1:9/callback";

let w: InstanceWorld;
let t: TestPlatform;
let user: TestAccount;
let stranger: TestAccount;
/** Ids the fixtures made, for the hints. */
const fx: Record<string, string> = {};

/**
 * The operations whose happy path needs what a test cannot hand it here, with the one answer they give and why.
 * Everything else must answer 2xx.
 */
const REFUSES: Record<string, { code: string; why: string }> = {
  start_instance: { code: "not_supported", why: "the ssh provider has no power-on (core/instances/power.test.ts)" },
  reinstall_instance: { code: "not_supported", why: "the ssh provider cannot reinstall" },
  link_telegram_chat: { code: "validation_error", why: "a pairing code comes from the Telegram bot (telegram/ tests)" },
  link_site_telegram_chat: {
    code: "validation_error",
    why: "a pairing code comes from the Telegram bot (telegram/site-chat.test.ts)",
  },
  verify_domain: {
    code: "conflict",
    why: "its DNS records are served by a test DNS server (core/sites/domains.test.ts, sites-server/tls.test.ts)",
  },
  setup_instance_observer: {
    code: "unprocessable",
    why: "creating a Unix user needs the fixture's root mode (observer.test.ts)",
  },
};

const allScopes = scopeCatalog.map((s) => s.scope);
const usesServers = (op: Operation) =>
  op.tags.includes("instances") || (/telegram/.test(op.id) && !/site_telegram/.test(op.id));
const actorOf = (op: Operation) => (op.scope === ADMIN_SCOPE ? t.operator : user);
const tokenFor = (op: Operation, scopes: string[]) =>
  actorOf(op).token(scopes.filter((s) => s !== ADMIN_SCOPE || op.scope === ADMIN_SCOPE));

const bundleOf = (word: string) => ({
  modules: [{ name: "index.js", content: `export default { fetch() { return new Response("${word}"); } };` }],
  main_module: "index.js",
  compatibility_date: "2025-01-01",
  compatibility_flags: [],
  vars: {},
  bindings: [],
  routes: [],
});

/** Per operation, what its sample input needs to act on something that exists. */
function hintsFor(op: Operation): Record<string, unknown> {
  const project = op.id === "delete_project" ? DOOMED : usesServers(op) ? SERVERS : SITE;
  const common = {
    project,
    ...(usesServers(op) ? { instance: BOX } : {}),
    site: SITE,
    form_id: "contact",
    conversation_id: fx.conversation,
    run_id: fx.run,
    schedule_id: fx.schedule,
    store: "ct-kv",
    bucket: "ct-bucket",
    key: "ct-key",
    trigger_id: fx.cronTrigger,
    worker: "ct-worker",
    database: "ct-db",
  };
  const fresh = `ct-${crypto.randomBytes(3).toString("hex")}`;
  const specific: Record<string, Record<string, unknown>> = {
    register: { email: `${fresh}@example.test`, password: "a long enough password" },
    login: { email: user.email, password },
    create_api_token: { name: fresh, scopes: ["projects:read"] },
    revoke_api_token: { id: fx.spareToken },
    change_password: { current_password: password, new_password: "another long password" },
    create_project: { slug: fresh },
    update_project_member: { account_id: fx.member, role: "viewer" },
    remove_project_member: { account_id: fx.member },
    create_account: { email: `${fresh}@example.test` },
    set_password: { token: fx.setPassword, password: "a long enough password" },
    verify_email: { token: fx.verifyEmail },
    request_password_reset: { email: user.email },
    invite_member: { email: `${fresh}@example.test`, role: "viewer" },
    revoke_invitation: { invitation_id: fx.invitation },
    accept_invitation: { token: fx.acceptInvitation },
    grant_credit: { email: user.email },
    run_command: { command: "echo contract" },
    read_remote_file: { path: "ct.txt" },
    write_remote_file: { path: "ct-written.txt", content: "written" },
    edit_remote_file: { path: "ct.txt", old_str: "remote", new_str: "edited" },
    tail_log: { path: "ct.txt" },
    add_ssh_key: { name: fresh, public_key: generateSshKeyPair("bosun-test").public },
    register_instance: {
      name: fresh,
      host: w.sshd.host,
      port: w.sshd.port,
      username: w.sshd.username,
      private_key: w.sshd.privateKey,
    },
    delete_ssh_key: { key_id: fx.sshKey },
    install_ssh_key: { key_id: fx.sshKey },
    setup_instance_observer: { username: "ct-observer" },
    set_instance_observer: { username: "ct-observer" },
    read_file: { path: "index.html" },
    write_file: { path: "new.html", content: "<p>new</p>" },
    delete_file: { path: "renamed.txt" },
    rename_file: { from: "old.txt", to: "renamed.txt" },
    edit_file: { path: "index.html", old_str: "Hello", new_str: "Hi" },
    get_page: { slug: "about" },
    create_page: { slug: "made", title: "Made", content: "made" },
    update_page: { slug: "about", title: "About us" },
    delete_page: { slug: "about" },
    rollback_site: { release: 1 },
    update_site_settings: { settings: { site_name: "Contract" } },
    upload_asset: { filename: "dot.png", content_base64: PNG_1X1.toString("base64") },
    deploy_site_archive: { archive_base64: makeTarGz([{ path: "ct-archive.html", data: "x" }]).toString("base64") },
    delete_files: { paths: ["ct-archive.html"] },
    submit_form: { data: { name: "Ada", email: "ada@example.test" } },
    submit_site_form: { data: { name: "Bob", email: "bob@example.test" } },
    update_submission: { id: fx.submission, status: "read" },
    get_published_page: { slug: "about" },
    start_agent_chat: { message: "hello" },
    send_agent_message: { message: "and again", conversation_id: fx.idleConversation },
    approve_tool_call: { approval_id: fx.approve },
    deny_tool_call: { approval_id: fx.deny },
    link_telegram_chat: { code: "ABCD-EFGH" },
    link_site_telegram_chat: { code: "ABCD-EFGH" },
    authorize_oauth_client: { client_id: fx.oauthClient, redirect_uri: OAUTH_REDIRECT, scopes: ["projects:read"] },
    create_agent_schedule: { name: fresh, cron: "0 9 * * *" },
    create_webhook_endpoint: { url: "https://example.com/made" },
    update_webhook_endpoint: { id: fx.webhook },
    rotate_webhook_secret: { id: fx.webhook },
    send_test_event: { id: fx.webhook },
    list_webhook_deliveries: { id: fx.webhook },
    delete_webhook_endpoint: { id: fx.doomedWebhook },
    redeliver_webhook: { id: fx.webhookDelivery },
    mark_notification_read: { id: fx.notification },
    create_kv_store: { name: fresh },
    delete_kv_store: { store: "ct-kv-doomed" },
    create_bucket: { name: fresh },
    delete_bucket: { bucket: "ct-bucket-doomed" },
    put_bucket_object: { content_base64: Buffer.from("ct").toString("base64") },
    create_cron_trigger: { worker: fresh, cron: "*/5 * * * *" },
    delete_cron_trigger: { trigger_id: fx.doomedCronTrigger },
    get_proposal: { proposal_id: fx.proposal },
    apply_proposal: { proposal_id: fx.proposal },
    discard_proposal: { proposal_id: fx.doomedProposal },
    create_worker: { name: fresh },
    deploy_worker: { worker: "ct-worker", ...bundleOf("three") },
    delete_worker: { worker: "ct-doomed" },
    set_worker_var: { name: "CT_VAR", value: "w" },
    delete_worker_var: { name: "CT_VAR" },
    set_worker_secret: { name: "CT_SECRET", value: "t" },
    delete_worker_secret: { name: "CT_SECRET" },
    create_sql_database: { name: fresh },
    delete_sql_database: { database: "ct-doomed-db" },
    query_sql_database: { sql: "SELECT 1 AS one", params: [] },
  };
  return { ...common, ...specific[op.id] };
}

const input = (op: Operation) => sampleInput(op, hintsFor(op));

/** The user's password and two-factor secret as the sweep changes them (change_password, setup/confirm_totp). */
let password = "";
let totpSecret = "";
let totpOn = false;
// Codes of the steps -1, 0 and +1 are accepted, each once and in order: the sweep needs three (confirm, a login, disable).
let totpStep = -1;
const totpCode = () => generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + totpStep++ * 30 });

/** A fresh login session of the user: its token and id. */
async function session(): Promise<{ token: string; id: string }> {
  const body = { email: user.email, password, ...(totpOn ? { totp_code: await totpCode() } : {}) };
  const res = await t.request("POST", "/v1/auth/login", { body });
  if (res.status !== 200) throw new Error(`login: ${JSON.stringify(res.body)}`);
  return { token: res.body.token, id: res.body.session_id };
}

/** What some happy paths need made at call time: a code of this moment, a session still alive. */
const PREPARE: Record<string, () => Promise<{ input?: Record<string, unknown>; token?: string }>> = {
  confirm_totp: async () => ({ input: { code: await totpCode() } }),
  disable_totp: async () => ({ input: { code: await totpCode() } }),
  revoke_session: async () => ({ input: { id: (await session()).id } }),
  logout: async () => ({ token: (await session()).token }),
};

/** The operations in the order the sweep runs them: what deletes a fixture runs after what reads it. */
function sweepOrder(ops: readonly Operation[]): Operation[] {
  const last = ["delete_instance", "delete_project"];
  const rank = (op: Operation) =>
    last.includes(op.id) ? 2 + last.indexOf(op.id) : op.effect === "destructive" ? 1 : 0;
  return [...ops].filter((op) => !op.surfaces || op.surfaces.includes("rest")).sort((a, b) => rank(a) - rank(b));
}

/** A field of `op` that the body (or query) carries, with a value of the wrong type for it. */
function wrongTyped(op: Operation): { field: string; value: unknown } | null {
  if (!readsBody(op)) return null; // a query string carries text only: a type cannot be wrong there
  const params = pathParams(op);
  for (const [field, schema] of Object.entries(inputSchema(op).properties ?? {})) {
    if (params.includes(field)) continue;
    const type = concrete(schema).type;
    const value =
      type === "string"
        ? 12345
        : type === "number" || type === "integer"
          ? "twelve"
          : type === "boolean"
            ? "maybe"
            : type === "object"
              ? [1]
              : type === "array"
                ? "x"
                : undefined;
    if (value !== undefined) return { field, value };
  }
  return null;
}

/** An issue names the field by its path, or (an unknown field, which has no path of its own) in its message. */
const namesField = (issues: unknown, field: string) =>
  ((issues ?? []) as { path: string; message: string }[]).some(
    (i) => i.path === field || i.path.startsWith(`${field}.`) || (i.path === "" && i.message.includes(field)),
  );

const api = (token: string, method: string, path: string, body?: unknown) =>
  t.request(method, `/v1${path}`, { token, body });

beforeAll(async () => {
  // A model key, so agent operations record and enqueue (no worker runs in this file) instead of 503.
  w = await startInstanceWorld({
    project: SERVERS,
    instance: BOX,
    config: { agent: { ...loadConfig({}).agent, apiKey: "contract-not-a-real-key" } },
  });
  t = w.t;
  user = w.user;
  password = user.password;
  stranger = await t.account();
  const full = await user.token(allScopes.filter((s) => s !== ADMIN_SCOPE));
  const ok = async (res: Promise<TestResponse>) => {
    const r = await res;
    if (r.status >= 300) throw new Error(`fixture: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  for (const slug of [SITE, DOOMED]) await ok(api(full, "POST", "/projects", { slug, name: slug, kind: "site" }));
  // An OAuth client registers itself (anonymous, at the protocol endpoint), for authorize_oauth_client.
  fx.oauthClient = (
    await ok(t.request("POST", "/oauth/register", { body: { redirect_uris: [OAUTH_REDIRECT], client_name: "ct" } }))
  ).client_id;
  const site = `/projects/${SITE}`;
  for (const [path, content] of [
    ["index.html", "<p>Hello</p>"],
    ["old.txt", "old"],
  ])
    await ok(api(full, "PUT", `${site}/files`, { path, content }));
  await ok(api(full, "POST", `${site}/pages`, { slug: "about", title: "About", content: "about us" }));
  await ok(api(full, "PATCH", `${site}/settings`, { settings: { forms: [CONTACT_FORM] } }));
  await ok(api(full, "POST", `${site}/releases`, {}));
  await ok(api(full, "PUT", `${site}/files`, { path: "index.html", content: "<p>Hello again</p>" }));
  await ok(api(full, "POST", `${site}/releases`, {}));
  await ok(
    t.request("POST", `/v1/sites/${SITE}/forms/contact/submissions`, {
      body: { data: { name: "Eve", email: "eve@example.test" } },
    }),
  );
  fx.submission = (await ok(api(full, "GET", `${site}/submissions`))).submissions[0].id;

  const member = await t.account();
  await t.addMember(SITE, full, member, "developer");
  fx.member = member.id;
  fx.invitation = (
    await ok(api(full, "POST", `${site}/invitations`, { email: "invited@example.test", role: "viewer" }))
  ).invitation.id;
  const acceptor = await t.account();
  fx.acceptInvitation = tokenFromLink(
    (await ok(api(full, "POST", `${site}/invitations`, { email: acceptor.email, role: "viewer" }))).invitation_link,
  );
  fx.setPassword = (
    await issueLinkToken(t.platform.db, { purpose: "set_password", email: acceptor.email, accountId: acceptor.id })
  ).token;
  fx.verifyEmail = (
    await issueLinkToken(t.platform.db, { purpose: "verify_email", email: acceptor.email, accountId: acceptor.id })
  ).token;

  fx.sshKey = (await ok(api(full, "POST", "/ssh-keys", { name: "fixture", public_key: w.sshd.publicKey }))).id;
  w.sshd.writeFile("ct.txt", "a remote file\n");
  const spare = await user.token(["projects:read"]);
  fx.spareToken = (await ok(api(full, "GET", "/tokens"))).tokens.find((x: { prefix: string }) =>
    spare.startsWith(x.prefix),
  ).id;

  // Workers: one deployed twice (rollback has a version to go back to) with a var and a secret, one to delete,
  // a bound SQL database and a spare one.
  const bundle = (word: string) => ({
    modules: [{ name: "index.js", content: `export default { fetch() { return new Response("${word}"); } };` }],
    main_module: "index.js",
  });
  await ok(api(full, "POST", `${site}/workers/ct-worker/deployments`, bundle("one")));
  await ok(api(full, "POST", `${site}/workers/ct-worker/deployments`, bundle("two")));
  await ok(api(full, "PUT", `${site}/workers/ct-worker/vars/CT_VAR`, { value: "v" }));
  await ok(api(full, "PUT", `${site}/workers/ct-worker/secrets/CT_SECRET`, { value: "s" }));
  await ok(api(full, "POST", `${site}/workers`, { name: "ct-doomed" }));
  await ok(api(full, "POST", `${site}/sql-databases`, { name: "ct-db" }));
  await ok(api(full, "POST", `${site}/sql-databases`, { name: "ct-doomed-db" }));

  fx.webhook = (await ok(api(full, "POST", "/webhooks", { url: "https://example.com/ct" }))).id;
  fx.doomedWebhook = (await ok(api(full, "POST", "/webhooks", { url: "https://example.com/doomed" }))).id;
  fx.webhookDelivery = (await ok(api(full, "POST", `/webhooks/${fx.webhook}/test`, {}))).id;
  // No event workers run here: the notification a fan-out would have made, written as it would write it.
  fx.notification = crypto.randomUUID();
  await t.platform.db
    .insertInto("notifications")
    .values({ id: fx.notification, account_id: user.id, type: "webhook.test", title: "t", body: "b" })
    .execute();

  await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10_000_000, reason: "top_up" });
  const chat = await ok(api(full, "POST", `${site}/agent/conversations`, { message: "hello" }));
  fx.conversation = chat.conversation.id;
  fx.run = chat.run_id;
  const idle = await ok(api(full, "POST", `${site}/agent/conversations`, { message: "idle" }));
  await ok(api(full, "POST", `${site}/agent/conversations/${idle.conversation.id}/cancel`, {}));
  fx.idleConversation = idle.conversation.id;
  // Proposals of two runs, as a site run in ask mode leaves them (core/sites/proposals.test.ts makes real ones).
  const index = await t.platform.db
    .selectFrom("site_draft_files as f")
    .innerJoin("projects as p", "p.id", "f.project_id")
    .select(["f.sha256", "f.bytes", "p.id"])
    .where("p.slug", "=", SITE)
    .where("f.path", "=", "index.html")
    .executeTakeFirstOrThrow();
  for (const [key, runId, conversationId] of [
    ["proposal", fx.run, fx.conversation],
    ["doomedProposal", idle.run_id, idle.conversation.id],
  ] as const) {
    fx[key] = crypto.randomUUID();
    await t.platform.db
      .insertInto("site_proposals")
      .values({ id: fx[key], project_id: index.id, run_id: runId, conversation_id: conversationId })
      .execute();
    await t.platform.db
      .insertInto("site_proposal_files")
      .values({
        proposal_id: fx[key],
        path: `ct-${key}.html`,
        sha256: index.sha256,
        bytes: index.bytes,
        base_sha256: null,
      })
      .execute();
  }
  fx.approve = await parkedApproval();
  fx.deny = await parkedApproval();
  fx.schedule = (
    await ok(api(full, "POST", `${site}/agent/schedules`, { name: "fixture", cron: "0 9 * * *", prompt: "check" }))
  ).id;
  // Workers' resources: a store and a bucket holding `ct-key`, one of each to delete, cron triggers.
  for (const name of ["ct-kv", "ct-kv-doomed"]) await ok(api(full, "POST", `${site}/kv`, { name }));
  await ok(api(full, "PUT", `${site}/kv/ct-kv/value`, { key: "ct-key", value: "v" }));
  for (const name of ["ct-bucket", "ct-bucket-doomed"]) await ok(api(full, "POST", `${site}/buckets`, { name }));
  await ok(api(full, "PUT", `${site}/buckets/ct-bucket/object`, { key: "ct-key", content_base64: "dg==" }));
  fx.cronTrigger = (await ok(api(full, "POST", `${site}/cron-triggers`, { worker: "ct", cron: "0 9 * * *" }))).id;
  fx.doomedCronTrigger = (
    await ok(api(full, "POST", `${site}/cron-triggers`, { worker: "ct", cron: "0 10 * * *" }))
  ).id;
}, EVERY_OPERATION_TIMEOUT);
afterAll(() => w?.close());

/** A conversation whose run is parked on a pending write_file call (recorded as the runner would park it). */
const parkedApproval = async () =>
  (
    await parkRunOnApproval(t.platform.db, {
      projectSlug: SITE,
      accountId: user.id,
      tool: "write_file",
      input: { path: "agent.html", content: "x" },
      reason: "contract",
    })
  ).approvalId;

describe("the contract, every operation on REST", () => {
  it(
    "happy path, missing scope, another tenant, malformed input",
    async () => {
      const started = Date.now();
      let cases = 0;
      const ops = sweepOrder(t.platform.operations.operations);
      expect(ops.length).toBeGreaterThan(100);
      for (const op of ops) {
        const valid = input(op);

        if (op.scope) {
          const token = await tokenFor(
            op,
            allScopes.filter((s) => s !== op.scope),
          );
          const res = await callRest(t, op, valid, { token });
          expect.soft(res.status, `${op.id} without ${op.scope}: ${JSON.stringify(res.body)}`).toBe(403);
          expect
            .soft(res.body?.error, `${op.id} without ${op.scope}`)
            .toMatchObject({ code: "insufficient_scope", required_scope: op.scope });
          expect.soft(res.body?.error?.message, op.id).toContain(op.scope);
          cases++;
        }

        if (isProjectScoped(op) && levelOf(op) === "project") {
          const token = await stranger.token(allScopes.filter((s) => s !== ADMIN_SCOPE));
          const res = await callRest(t, op, valid, { token });
          expect.soft(res.status, `${op.id} by another tenant: ${JSON.stringify(res.body)}`).toBe(404);
          expect
            .soft(res.body?.error, `${op.id} by another tenant`)
            .toMatchObject({ code: "not_found", resource: "project" });
          cases++;
        }

        const token = op.public ? undefined : await tokenFor(op, allScopes);
        const malformed: { field: string; input: Record<string, unknown> }[] = [
          { field: "zz_unknown", input: { ...valid, zz_unknown: "x" } },
        ];
        const wrong = wrongTyped(op);
        if (wrong) malformed.push({ field: wrong.field, input: { ...valid, [wrong.field]: wrong.value } });
        for (const bad of malformed) {
          const res = await callRest(t, op, bad.input, { token });
          expect.soft(res.status, `${op.id} ${bad.field}: ${JSON.stringify(res.body)}`).toBe(400);
          expect.soft(res.body?.error?.code, `${op.id} ${bad.field}`).toBe("validation_error");
          expect
            .soft(
              namesField(res.body?.error?.issues, bad.field),
              `${op.id} names ${bad.field}: ${JSON.stringify(res.body)}`,
            )
            .toBe(true);
          cases++;
        }

        const prepared = await PREPARE[op.id]?.();
        const res = await callRest(t, op, { ...valid, ...prepared?.input }, { token: prepared?.token ?? token });
        const refusal = REFUSES[op.id];
        if (refusal)
          expect
            .soft(res.body?.error?.code, `${op.id} (${refusal.why}): ${JSON.stringify(res.body)}`)
            .toBe(refusal.code);
        else
          expect.soft(res.status, `${op.id} happy path: ${JSON.stringify(res.body).slice(0, 400)}`).toBeLessThan(300);
        if (op.id === "setup_totp") totpSecret = res.body?.secret ?? "";
        if (op.id === "confirm_totp") totpOn = res.status === 200;
        if (op.id === "disable_totp") totpOn = res.status !== 200;
        if (op.id === "change_password" && res.status === 200) password = "another long password";
        cases++;
      }
      console.log(`contract: ${ops.length} operations, ${cases} REST cases in ${Date.now() - started} ms`);
    },
    EVERY_OPERATION_TIMEOUT,
  );
});

describe("the contract on MCP", () => {
  it(
    "a tool called without its scope answers isError insufficient_scope naming the scope, and is not listed",
    async () => {
      const ops = t.platform.operations.operations.filter(
        (op) => (!op.surfaces || op.surfaces.includes("mcp")) && op.scope,
      );
      expect(ops.length).toBeGreaterThan(50);
      // One client per (actor, missing scope): many operations share a scope.
      const clients = new Map<string, { client: Client; listed: Set<string> }>();
      try {
        for (const op of ops) {
          const key = `${actorOf(op).id} ${op.scope}`;
          let entry = clients.get(key);
          if (!entry) {
            const client = await connectMcp(
              t.app,
              await tokenFor(
                op,
                allScopes.filter((s) => s !== op.scope),
              ),
              everyToolset(t.platform.operations.operations),
            );
            entry = { client, listed: new Set((await client.listTools()).tools.map((x) => x.name)) };
            clients.set(key, entry);
          }
          expect.soft(entry.listed.has(op.id), `${op.id} listed without ${op.scope}`).toBe(false);
          // Hidden from the list, but a client can still name it: the invoker refuses it exactly as on REST.
          const res = await entry.client.callTool({ name: op.id, arguments: input(op) });
          expect.soft(res.isError, `${op.id} without ${op.scope}`).toBe(true);
          const error = toolError(res);
          expect
            .soft(error, `${op.id} without ${op.scope}`)
            .toMatchObject({ code: "insufficient_scope", required_scope: op.scope });
          expect.soft(error.message, op.id).toContain(op.scope);
        }
      } finally {
        for (const { client } of clients.values()) await client.close();
      }
    },
    EVERY_OPERATION_TIMEOUT,
  );

  it(
    "another tenant's project is not found and malformed input names the field, for every tool",
    async () => {
      // Operator-only tools answer a stranger's call with insufficient_scope before reading the input.
      const ops = t.platform.operations.operations.filter(
        (op) => (!op.surfaces || op.surfaces.includes("mcp")) && op.scope !== ADMIN_SCOPE,
      );
      const client = await connectMcp(
        t.app,
        await stranger.token(allScopes.filter((s) => s !== ADMIN_SCOPE)),
        everyToolset(t.platform.operations.operations),
      );
      try {
        for (const op of ops) {
          // The sweep above deleted some fixtures: these cases fail before any handler runs, so that does not matter.
          const valid = sampleInput(op, { ...hintsFor(op), project: SITE });
          if (isProjectScoped(op) && levelOf(op) === "project") {
            const res = await client.callTool({ name: op.id, arguments: valid });
            expect.soft(res.isError, op.id).toBe(true);
            expect.soft(toolError(res), op.id).toMatchObject({ code: "not_found", resource: "project" });
          }
          const bad = await client.callTool({ name: op.id, arguments: { ...valid, zz_unknown: 1 } });
          const error = toolError(bad);
          expect.soft(error.code, op.id).toBe("validation_error");
          expect.soft(namesField(error.issues, "zz_unknown"), op.id).toBe(true);
        }
      } finally {
        await client.close();
      }
    },
    EVERY_OPERATION_TIMEOUT,
  );
});
