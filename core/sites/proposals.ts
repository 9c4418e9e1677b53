// AI proposals: a site-editor run in `ask` mode does not write the draft. Each of its site tool calls runs in a
// transaction that first lays the run's proposal over the draft (so the agent reads back its own changes),
// then runs the operation unchanged, records how the draft then differs from the real draft as the proposal,
// and rolls back. A person reviews the proposal (a unified diff per file, against the draft as it is now) and
// applies or discards it. Every proposed file change keeps the draft hash it was based on: applying over a
// file the person changed since is a 409 naming the files, and nothing is applied. An `auto` run writes the
// draft as before; its changes are recorded as an applied proposal.
import crypto from "node:crypto";
import type { Transaction } from "kysely";
import { z } from "zod";
import type { Database, ProposalStatus } from "../../schema/database.ts";
import { publishEvent } from "../events/publish.ts";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, insufficientScope, notFound } from "../kernel/errors.ts";
import { type Context, type DB, defineOperation, type Operation } from "../kernel/operation.ts";
import { hasScope, roleCaps } from "../kernel/scopes.ts";
import type { Platform } from "../platform.ts";
import { getBlob, putBlob } from "./blobs.ts";
import { deleteDraftFiles, draftBytes, draftEntries, draftManifest, setDraftEntries } from "./draft.ts";
import { isText } from "./paths.ts";
import { unpublishedSettings } from "./settings.ts";
import { loadSite, lockSite, sameSettings, siteProject, touchSite } from "./site.ts";
import { unifiedDiff } from "./unified-diff.ts";

type Trx = Transaction<Database>;

interface ProposedFile {
  path: string;
  /** null: the proposal deletes the path. */
  sha256: string | null;
  bytes: number | null;
  /** The draft's hash when the change was first proposed; null: the path did not exist. */
  base_sha256: string | null;
}

interface SettingsState {
  settings: Record<string, unknown>;
  password_hash: string | null;
}

interface ProposalState {
  id: string;
  status: ProposalStatus;
  files: Map<string, ProposedFile>;
  /** The proposed settings and what they were based on; null: settings unchanged. */
  settings: { to: SettingsState; base: SettingsState } | null;
}

interface Snapshot {
  files: Map<string, { sha256: string; bytes: number }>;
  site: SettingsState;
}

async function loadProposal(db: DB, where: { runId: string } | { id: string; projectId: string }) {
  let q = db.selectFrom("site_proposals").selectAll();
  q = "runId" in where ? q.where("run_id", "=", where.runId) : q.where("id", "=", where.id);
  if ("projectId" in where) q = q.where("project_id", "=", where.projectId);
  const row = await q.executeTakeFirst();
  if (!row) return null;
  const files = await db
    .selectFrom("site_proposal_files")
    .select(["path", "sha256", "bytes", "base_sha256"])
    .where("proposal_id", "=", row.id)
    .orderBy("path")
    .execute();
  const state: ProposalState = {
    id: row.id,
    status: row.status,
    files: new Map(files.map((f) => [f.path, f])),
    settings: row.settings_changed
      ? {
          to: { settings: row.settings ?? {}, password_hash: row.password_hash },
          base: { settings: row.base_settings ?? {}, password_hash: row.base_password_hash },
        }
      : null,
  };
  return { row, state };
}

const isEmpty = (p: ProposalState) => p.files.size === 0 && !p.settings;

async function snapshot(trx: Trx, projectId: string): Promise<Snapshot> {
  const site = await loadSite(trx, projectId);
  const files = await draftManifest(trx, projectId);
  return {
    files: new Map(files.map((f) => [f.path, { sha256: f.sha256, bytes: f.bytes }])),
    site: { settings: site.settings, password_hash: site.password_hash },
  };
}

const sameSite = (a: SettingsState, b: SettingsState) =>
  sameSettings(a.settings, b.settings) && (a.password_hash ?? null) === (b.password_hash ?? null);

/** Lays the proposal over the draft inside `trx` (which the caller rolls back, or commits when applying). */
async function overlay(trx: Trx, projectId: string, p: ProposalState) {
  const writes = [...p.files.values()].flatMap((f) =>
    f.sha256 === null ? [] : [{ path: f.path, sha256: f.sha256, bytes: f.bytes ?? 0 }],
  );
  const deletes = [...p.files.values()].filter((f) => f.sha256 === null).map((f) => f.path);
  if (writes.length) await setDraftEntries(trx, projectId, writes);
  if (deletes.length) await deleteDraftFiles(trx, projectId, deletes);
  if (p.settings)
    await trx
      .updateTable("sites")
      .set({ settings: JSON.stringify(p.settings.to.settings), password_hash: p.settings.to.password_hash })
      .where("project_id", "=", projectId)
      .execute();
}

/** Paths whose state differs between two snapshots. */
function changedPaths(before: Snapshot, after: Snapshot): string[] {
  const paths = new Set([...before.files.keys(), ...after.files.keys()]);
  return [...paths].filter((p) => before.files.get(p)?.sha256 !== after.files.get(p)?.sha256);
}

const fileChange = (path: string, after: Snapshot, base: string | null): ProposedFile => {
  const a = after.files.get(path);
  return { path, sha256: a?.sha256 ?? null, bytes: a?.bytes ?? null, base_sha256: base };
};

async function saveProposal(
  trx: Trx,
  run: ProposalRun,
  projectId: string,
  prior: ProposalState | null,
  next: ProposalState,
  status: ProposalStatus,
) {
  if (!prior && isEmpty(next)) return;
  const settings = next.settings;
  const values = {
    status,
    settings_changed: !!settings,
    settings: settings ? JSON.stringify(settings.to.settings) : null,
    password_hash: settings?.to.password_hash ?? null,
    base_settings: settings ? JSON.stringify(settings.base.settings) : null,
    base_password_hash: settings?.base.password_hash ?? null,
    updated_at: new Date(),
  };
  if (!prior) {
    const message = await trx
      .selectFrom("agent_messages")
      .select("id")
      .where("run_id", "=", run.runId)
      .where("role", "=", "user")
      .orderBy("id")
      .limit(1)
      .executeTakeFirst();
    await trx
      .insertInto("site_proposals")
      .values({
        id: next.id,
        project_id: projectId,
        run_id: run.runId,
        conversation_id: run.conversationId,
        message_id: message?.id ?? null,
        ...values,
        ...(status === "applied" ? { decided_at: new Date(), decided_by: run.accountId } : {}),
      })
      .execute();
  } else if (status === "pending" && isEmpty(next)) {
    // Everything proposed was undone again: nothing left to review.
    await trx.deleteFrom("site_proposals").where("id", "=", next.id).execute();
    return;
  } else {
    await trx.updateTable("site_proposals").set(values).where("id", "=", next.id).execute();
  }
  await trx.deleteFrom("site_proposal_files").where("proposal_id", "=", next.id).execute();
  const rows = [...next.files.values()].map((f) => ({ proposal_id: next.id, ...f }));
  for (let i = 0; i < rows.length; i += 500)
    await trx
      .insertInto("site_proposal_files")
      .values(rows.slice(i, i + 500))
      .execute();
}

/** Thrown to roll back the sandbox transaction with what it learned. */
class Rollback {
  constructor(readonly value: unknown) {}
}

export interface ProposalRun {
  runId: string;
  conversationId: string;
  accountId: string;
  mode: "ask" | "auto";
}

/** Site tools that do not edit the draft: they run as they are (publishing is guarded, see below). */
const NOT_DRAFT = new Set(["publish_site"]);

/** Whether a tool call of a site run lands in its proposal (and so needs no approval of its own). */
export const lands = (mode: string, op: Pick<Operation, "id" | "tags" | "effect">) =>
  mode === "ask" && op.tags.includes("sites") && op.effect !== "read" && !NOT_DRAFT.has(op.id);

/**
 * The invoker's `around` for one tool call of a site-editor run, or undefined when the call runs as usual.
 * `ask`: draft tools run over the run's proposal and their writes land in it; `auto`: writes go to the draft
 * and are recorded as the run's applied proposal.
 */
export function proposalAround(
  platform: Platform,
  run: ProposalRun,
  op: Pick<Operation, "id" | "tags" | "effect">,
): ((ctx: Context, handler: (ctx: Context) => Promise<unknown>) => Promise<unknown>) | undefined {
  if (!op.tags.includes("sites")) return undefined;
  if (NOT_DRAFT.has(op.id)) {
    if (run.mode !== "ask") return undefined;
    // Publishing was approved by a person (ask mode asks before publish_site): the run's proposed changes are
    // applied first, conflict-checked like apply_proposal, so what goes live is what the run made.
    return async (ctx, handler) => {
      const projectId = ctx.project?.id;
      if (projectId)
        await platform.db.transaction().execute(async (trx) => {
          const site = await lockSite(trx, projectId);
          const p = await loadProposal(trx, { runId: run.runId });
          if (p && p.state.status === "pending" && !isEmpty(p.state))
            await applyPending(trx, platform, projectId, p, site, { force: false, by: run.accountId });
        });
      return handler(ctx);
    };
  }
  if (run.mode === "auto") {
    if (op.effect === "read") return undefined;
    return (ctx, handler) => recordApplied(platform, run, ctx, handler);
  }
  return (ctx, handler) => inProposal(platform, run, op.effect === "read", ctx, handler);
}

async function inProposal(
  platform: Platform,
  run: ProposalRun,
  read: boolean,
  ctx: Context,
  handler: (ctx: Context) => Promise<unknown>,
): Promise<unknown> {
  const projectId = ctx.project?.id;
  if (!projectId) return handler(ctx);
  const prior = (await loadProposal(platform.db, { runId: run.runId }))?.state ?? null;
  if (prior && prior.status !== "pending")
    throw conflict(`this run's proposal was already ${prior.status}; start a new message for further changes`);
  if (read && !prior) return handler(ctx);

  let learned: { output: unknown; next: ProposalState | null; blobs: Map<string, { path: string; data: Buffer }> };
  try {
    await platform.db.transaction().execute(async (trx) => {
      await lockSite(trx, projectId);
      const before = read ? null : await snapshot(trx, projectId);
      if (prior) await overlay(trx, projectId, prior);
      const output = await handler({ ...ctx, db: trx, tx: (fn) => fn(trx) });
      if (!before) throw new Rollback({ output, next: null, blobs: new Map() });
      const after = await snapshot(trx, projectId);
      const next: ProposalState = {
        id: prior?.id ?? crypto.randomUUID(),
        status: "pending",
        files: new Map(),
        settings: null,
      };
      recordChanges(next, prior, before, after);
      // The new bodies die with the rollback: keep them to store again with the proposal.
      const blobs = new Map<string, { path: string; data: Buffer }>();
      for (const f of next.files.values())
        if (f.sha256 && prior?.files.get(f.path)?.sha256 !== f.sha256 && !blobs.has(f.sha256))
          blobs.set(f.sha256, { path: f.path, data: await getBlob(trx, f.sha256) });
      throw new Rollback({ output, next, blobs });
    });
    throw new Error("bug: the proposal sandbox committed");
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
    learned = err.value as typeof learned;
  }
  const next = learned.next;
  if (next) {
    await platform.db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom("site_proposals")
        .select("status")
        .where("run_id", "=", run.runId)
        .forUpdate()
        .executeTakeFirst();
      if (current && current.status !== "pending")
        throw conflict(`this run's proposal was ${current.status} meanwhile; your change was not recorded`);
      for (const b of learned.blobs.values()) await putBlob(trx, b.data, b.path);
      await saveProposal(trx, run, projectId, prior, next, "pending");
    });
  }
  return learned.output;
}

/**
 * Adds to `next` what changed between two snapshots of the site. Each file keeps the draft hash its first change was
 * based on (from `prior`), so a conflict is judged against the draft the proposal started from.
 */
function recordChanges(next: ProposalState, prior: ProposalState | null, before: Snapshot, after: Snapshot): void {
  for (const path of changedPaths(before, after)) {
    const base = prior?.files.get(path)?.base_sha256;
    next.files.set(path, fileChange(path, after, base !== undefined ? base : (before.files.get(path)?.sha256 ?? null)));
  }
  if (!sameSite(before.site, after.site))
    next.settings = { to: after.site, base: prior?.settings?.base ?? before.site };
}

async function recordApplied(
  platform: Platform,
  run: ProposalRun,
  ctx: Context,
  handler: (ctx: Context) => Promise<unknown>,
): Promise<unknown> {
  const projectId = ctx.project?.id;
  if (!projectId) return handler(ctx);
  return platform.db.transaction().execute(async (trx) => {
    await lockSite(trx, projectId);
    const before = await snapshot(trx, projectId);
    const output = await handler({ ...ctx, db: trx, tx: (fn) => fn(trx) });
    const after = await snapshot(trx, projectId);
    const prior = (await loadProposal(trx, { runId: run.runId }))?.state ?? null;
    const next: ProposalState = {
      id: prior?.id ?? crypto.randomUUID(),
      status: "applied",
      files: new Map(prior?.files),
      settings: prior?.settings ?? null,
    };
    recordChanges(next, prior, before, after);
    await saveProposal(trx, run, projectId, prior, next, "applied");
    return output;
  });
}

/** When a run ends: its proposal is announced (pending: to review; applied: what an `auto` run changed). */
export async function announceProposal(
  trx: DB,
  runId: string,
  who: { account: string; project: { id: string; slug: string } },
): Promise<{ proposal_id: string; status: ProposalStatus; files: number } | null> {
  const p = await loadProposal(trx, { runId });
  if (!p || p.state.status === "discarded" || isEmpty(p.state)) return null;
  const data = {
    proposal_id: p.state.id,
    run_id: runId,
    conversation_id: p.row.conversation_id,
    files: p.state.files.size,
    settings: !!p.state.settings,
  };
  await publishEvent(trx, {
    type: p.state.status === "pending" ? "proposal.created" : "proposal.applied",
    account: who.account,
    project: who.project,
    data,
  });
  return { proposal_id: p.state.id, status: p.state.status, files: p.state.files.size };
}

// ---------------------------------------------------------------------------------------------------------
// Operations

const ProposalId = z.string().uuid().meta({ description: "The proposal's id (list_proposals)" });

const ProposalFile = z.object({
  path: z.string(),
  change: z.enum(["write", "delete"]),
  bytes: z.number().int().nullable(),
  sha256: z.string().nullable(),
  base_sha256: z.string().nullable().meta({ description: "The draft's hash the change was based on (null: absent)" }),
});

const Proposal = z
  .object({
    id: z.string(),
    status: z.enum(["pending", "applied", "discarded"]),
    run_id: z.string(),
    conversation_id: z.string(),
    message_id: z.string().nullable().meta({ description: "The person's message the run answered" }),
    files: z.array(ProposalFile),
    settings_changed: z.boolean(),
    created_at: Timestamp,
    decided_at: Timestamp.nullable(),
  })
  .meta({ id: "SiteProposal" });

type Loaded = NonNullable<Awaited<ReturnType<typeof loadProposal>>>;

const proposalView = ({ row, state }: Loaded): z.input<typeof Proposal> => ({
  id: row.id,
  status: row.status,
  run_id: row.run_id,
  conversation_id: row.conversation_id,
  message_id: row.message_id,
  files: [...state.files.values()].map((f) => ({ ...f, change: f.sha256 === null ? "delete" : "write" })),
  settings_changed: row.settings_changed,
  created_at: iso(row.created_at),
  decided_at: row.decided_at ? iso(row.decided_at) : null,
});

async function requireProposal(db: DB, projectId: string, id: string) {
  const p = await loadProposal(db, { id, projectId });
  if (!p) throw notFound("proposal", id);
  return p;
}

/** The draft file at each path now (sha256, or null when absent). */
async function draftNow(db: DB, projectId: string, paths: string[]) {
  const now = new Map<string, string | null>(paths.map((p) => [p, null]));
  for (const e of await draftEntries(db, projectId, paths)) now.set(e.path, e.sha256);
  return now;
}

/** Where the draft moved away from what a change was based on (and not to what it proposes). */
function conflictsOf(p: ProposalState, now: Map<string, string | null>, site: SettingsState): string[] {
  const out: string[] = [];
  for (const f of p.files.values()) {
    const cur = now.get(f.path) ?? null;
    if (cur !== f.base_sha256 && cur !== f.sha256) out.push(f.path);
  }
  if (p.settings && !sameSite(site, p.settings.base) && !sameSite(site, p.settings.to)) out.push("(settings)");
  return out;
}

/**
 * Applies a pending proposal to the draft inside `trx` (the site row locked by the caller): refused with a 409
 * naming the files the draft changed since, unless `force`. Answers the paths it overwrote.
 */
async function applyPending(
  trx: Trx,
  platform: Platform,
  projectId: string,
  p: Loaded,
  site: SettingsState,
  opts: { force: boolean; by: string },
): Promise<string[]> {
  const now = await draftNow(trx, projectId, [...p.state.files.keys()]);
  const conflicts = conflictsOf(p.state, now, site);
  if (conflicts.length && !opts.force)
    throw conflict(
      `the draft changed since the proposal was made: ${conflicts.join(", ")}; nothing was applied ` +
        "(review with get_proposal, or apply with force: true to overwrite)",
      { files: conflicts },
    );
  await overlay(trx, projectId, p.state);
  const quota = platform.config.siteQuotaBytes;
  const total = await draftBytes(trx, projectId);
  if (total > quota)
    throw new BosunError("payload_too_large", `the site would hold ${total} bytes, over its quota of ${quota}`, {
      quota,
    });
  await touchSite(trx, projectId);
  await trx
    .updateTable("site_proposals")
    .set({ status: "applied", decided_at: new Date(), decided_by: opts.by, updated_at: new Date() })
    .where("id", "=", p.state.id)
    .execute();
  const project = await trx.selectFrom("projects").select("slug").where("id", "=", projectId).executeTakeFirstOrThrow();
  await publishEvent(trx, {
    type: "proposal.applied",
    account: opts.by,
    project: { id: projectId, slug: project.slug },
    data: {
      proposal_id: p.state.id,
      run_id: p.row.run_id,
      conversation_id: p.row.conversation_id,
      files: p.state.files.size,
      settings: !!p.state.settings,
    },
  });
  return conflicts;
}

export const listProposals = defineOperation({
  id: "list_proposals",
  summary: "List a site's AI proposals",
  description: "Changesets site-editor runs proposed over the draft, newest first; `status` filters.",
  tags: ["sites", "proposals"],
  scope: "files:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/proposals" },
  input: z.object({
    project: ProjectRef,
    status: z.enum(["pending", "applied", "discarded"]).optional(),
    limit: z.number().int().min(1).max(200).default(50),
  }),
  output: z.object({ proposals: z.array(Proposal) }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    let q = ctx.db
      .selectFrom("site_proposals")
      .select("id")
      .where("project_id", "=", project.id)
      .orderBy("created_at", "desc")
      .limit(input.limit);
    if (input.status) q = q.where("status", "=", input.status);
    const out: z.input<typeof Proposal>[] = [];
    for (const r of await q.execute()) {
      const p = await loadProposal(ctx.db, { id: r.id, projectId: project.id });
      if (p) out.push(proposalView(p));
    }
    return { proposals: out };
  },
});

/** Past this a file's diff is cut (the whole change is still applied). */
const MAX_DIFF_CHARS = 100_000;

export const getProposal = defineOperation({
  id: "get_proposal",
  summary: "Get an AI proposal with its diff",
  description:
    "Each file with a unified diff against the draft as it is now; `conflict` marks files changed in the draft since " +
    "the change was proposed (apply_proposal refuses those unless force).",
  tags: ["sites", "proposals"],
  scope: "files:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/proposals/{proposal_id}" },
  input: z.object({ project: ProjectRef, proposal_id: ProposalId }),
  output: Proposal.extend({
    files: z.array(
      ProposalFile.extend({
        draft_sha256: z.string().nullable().meta({ description: "The draft's hash now (null: absent)" }),
        conflict: z.boolean(),
        diff: z.string().nullable().meta({ description: "Unified diff, draft now → proposed; null for binary files" }),
      }),
    ),
    settings: z
      .array(z.string())
      .meta({ description: 'Setting keys ("password" included) the proposal changes relative to the draft now' }),
    conflicts: z.array(z.string()),
  }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const p = await requireProposal(ctx.db, project.id, input.proposal_id);
    const now = await draftNow(ctx.db, project.id, [...p.state.files.keys()]);
    const site = await loadSite(ctx.db, project.id);
    const conflicts = conflictsOf(p.state, now, site);
    const body = async (sha: string | null) => (sha === null ? null : await getBlob(ctx.db, sha));
    const files = [];
    for (const f of p.state.files.values()) {
      const cur = now.get(f.path) ?? null;
      const [a, b] = [await body(cur), await body(f.sha256)];
      let diff: string | null = null;
      if ((a === null || isText(a)) && (b === null || isText(b))) {
        diff = cur === f.sha256 ? "" : unifiedDiff(f.path, a?.toString("utf8") ?? null, b?.toString("utf8") ?? null);
        if (diff.length > MAX_DIFF_CHARS) diff = `${diff.slice(0, MAX_DIFF_CHARS)}\n… (diff cut)\n`;
      }
      files.push({
        ...f,
        change: f.sha256 === null ? ("delete" as const) : ("write" as const),
        draft_sha256: cur,
        conflict: conflicts.includes(f.path),
        diff,
      });
    }
    return {
      ...proposalView(p),
      files,
      settings: p.state.settings ? unpublishedSettings(p.state.settings.to, site) : [],
      conflicts,
    };
  },
});

export const applyProposal = defineOperation({
  id: "apply_proposal",
  summary: "Apply an AI proposal to the draft",
  description:
    "All or nothing, in one transaction. A file changed in the draft since it was proposed is a 409 conflict naming " +
    "the files (nothing applied); `force: true` applies anyway, overwriting those changes.",
  tags: ["sites", "proposals"],
  scope: "files:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/proposals/{proposal_id}/apply" },
  input: z.object({
    project: ProjectRef,
    proposal_id: ProposalId,
    force: z.boolean().default(false).meta({ description: "Overwrite draft changes made since the proposal" }),
  }),
  output: z.object({ proposal: Proposal, applied: z.number().int(), overwritten: z.array(z.string()) }),
  errors: ["conflict"],
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const result = await ctx.tx(async (trx) => {
      const site = await lockSite(trx, project.id);
      const p = await requireProposal(trx, project.id, input.proposal_id);
      if (p.state.status !== "pending") throw conflict(`the proposal is already ${p.state.status}`);
      if (p.state.settings) {
        // Settings (and business data) are written with settings:write; files:write alone does not change them.
        for (const caps of [ctx.principal.scopes, roleCaps[ctx.project.role]])
          if (!hasScope(caps, "settings:write"))
            throw insufficientScope("settings:write", "the proposal changes settings");
      }
      const conflicts = await applyPending(trx, ctx.platform, project.id, p, site, {
        force: input.force,
        by: ctx.principal.account.id,
      });
      return { applied: p.state.files.size, overwritten: conflicts };
    });
    return { proposal: proposalView(await requireProposal(ctx.db, project.id, input.proposal_id)), ...result };
  },
});

export const discardProposal = defineOperation({
  id: "discard_proposal",
  summary: "Discard an AI proposal",
  description: "The draft is left as it is; the proposal stays listed as discarded.",
  tags: ["sites", "proposals"],
  scope: "files:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/proposals/{proposal_id}/discard" },
  input: z.object({ project: ProjectRef, proposal_id: ProposalId }),
  output: z.object({ proposal: Proposal }),
  errors: ["conflict"],
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    await ctx.tx(async (trx) => {
      const row = await trx
        .selectFrom("site_proposals")
        .select("status")
        .where("id", "=", input.proposal_id)
        .where("project_id", "=", project.id)
        .forUpdate()
        .executeTakeFirst();
      if (!row) throw notFound("proposal", input.proposal_id);
      if (row.status !== "pending") throw conflict(`the proposal is already ${row.status}`);
      await trx
        .updateTable("site_proposals")
        .set({
          status: "discarded",
          decided_at: new Date(),
          decided_by: ctx.principal.account.id,
          updated_at: new Date(),
        })
        .where("id", "=", input.proposal_id)
        .execute();
    });
    return { proposal: proposalView(await requireProposal(ctx.db, project.id, input.proposal_id)) };
  },
});

export const proposalOperations = [listProposals, getProposal, applyProposal, discardProposal];
