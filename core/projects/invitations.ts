// Invitations: the only way into a project. An owner or maintainer invites an email address with a role; the
// person joins by following the one-time link (accept_invitation), creating their account there if they have none.
// Nobody is added without their consent, and the inviter learns nothing about whether the address has an account:
// the answer, the email and the stored rows are the same either way.
import crypto from "node:crypto";
import { z } from "zod";
import { AccountView, accountView, createAccount, markEmailVerified } from "../identity/accounts.ts";
import { LinkToken } from "../identity/onboarding.ts";
import { consumeLinkToken, deliverLink, invalidLink, issueLinkToken, peekLinkToken } from "../identity/one-time.ts";
import { Password } from "../identity/passwords.ts";
import { displayName, Email, iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, insufficientScope, notFound, present, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Role } from "./projects.ts";

const Status = z.enum(["pending", "accepted", "revoked", "expired"]);

const Invitation = z
  .object({
    id: z.string(),
    email: z.string(),
    role: Role,
    status: Status,
    invited_by: z.string().nullable().meta({ description: "Account id of the inviter" }),
    expires_at: Timestamp,
    created_at: Timestamp,
  })
  .meta({ id: "ProjectInvitation" });

type InvitationRow = {
  id: string;
  email: string;
  role: z.infer<typeof Role>;
  invited_by: string | null;
  expires_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
};
const statusOf = (r: InvitationRow): z.infer<typeof Status> =>
  r.accepted_at ? "accepted" : r.revoked_at ? "revoked" : new Date(r.expires_at) <= new Date() ? "expired" : "pending";
const invitationView = (r: InvitationRow): z.input<typeof Invitation> => ({
  id: r.id,
  email: r.email,
  role: r.role,
  status: statusOf(r),
  invited_by: r.invited_by,
  expires_at: iso(r.expires_at),
  created_at: iso(r.created_at),
});

/** Only owners hand out (or take back) the owner role. */
function requireOwnerFor(ctx: ProjectContext, role: string) {
  if (role === "owner" && ctx.project.role !== "owner")
    throw insufficientScope("members:write", "only owners can invite owners");
}

export const inviteMember = defineOperation({
  id: "invite_member",
  summary: "Invite someone to a project by email",
  description:
    "Emails a one-time link (valid 7 days); the person joins on accepting it, creating an account if they have none (the answer is the same either way). A new invitation to the same address replaces a pending one. When the server sends no email, the link is in the answer for you to pass on.",
  tags: ["projects"],
  scope: "members:write",
  // Each invitation may send an email: limited per client like password entry, so it cannot be used to spam.
  rateLimit: "auth",
  effect: "write",
  secretOutput: true,
  http: { method: "post", path: "/projects/{project}/invitations", status: 201 },
  input: z.object({ project: ProjectRef, email: Email, role: Role }),
  output: z.object({
    invitation: Invitation,
    emailed: z.boolean(),
    invitation_link: z
      .string()
      .nullable()
      .meta({ description: "Only when this server sends no email: the link to pass on" }),
  }),
  handler: async (ctx, input) => {
    requireOwnerFor(ctx, input.role);
    const project = ctx.project;
    const id = crypto.randomUUID();
    const row = await ctx.tx(async (trx) => {
      await trx
        .updateTable("project_invitations")
        .set({ revoked_at: new Date() })
        .where("project_id", "=", project.id)
        .where("email", "=", input.email)
        .where("accepted_at", "is", null)
        .where("revoked_at", "is", null)
        .execute();
      return trx
        .insertInto("project_invitations")
        .values({
          id,
          project_id: project.id,
          email: input.email,
          role: input.role,
          invited_by: ctx.principal.account.id,
          expires_at: new Date(Date.now() + 7 * 86_400_000),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    const { token, expiresAt } = await issueLinkToken(ctx.db, {
      purpose: "invitation",
      email: input.email,
      invitationId: id,
    });
    try {
      const delivery = await deliverLink(ctx.platform, {
        to: input.email,
        purpose: "invitation",
        token,
        expiresAt,
        subject: `You are invited to ${project.name} on Bosun`,
        intro: `${ctx.principal.account.email} invited you to the project "${project.name}" (${project.slug}) on Bosun as ${input.role}. Follow this link to accept:`,
      });
      return { invitation: invitationView(row), emailed: delivery.emailed, invitation_link: delivery.link };
    } catch (err) {
      // Not sent: the invitation must not stay pending with a link nobody received.
      await ctx.db.updateTable("project_invitations").set({ revoked_at: new Date() }).where("id", "=", id).execute();
      throw err;
    }
  },
});

export const listInvitations = defineOperation({
  id: "list_invitations",
  summary: "List a project's invitations",
  tags: ["projects"],
  scope: "members:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/invitations" },
  input: z.object({
    project: ProjectRef,
    status: Status.optional().meta({ description: "Only invitations in this state (default: all)" }),
  }),
  output: z.object({ invitations: z.array(Invitation) }),
  handler: async (ctx, input) => {
    const rows = await ctx.db
      .selectFrom("project_invitations")
      .selectAll()
      .where("project_id", "=", ctx.project.id)
      .orderBy("created_at", "desc")
      .limit(500)
      .execute();
    const views = rows.map(invitationView);
    return { invitations: input.status ? views.filter((v) => v.status === input.status) : views };
  },
});

export const revokeInvitation = defineOperation({
  id: "revoke_invitation",
  summary: "Revoke a pending invitation",
  description: "Its link stops working at once. An accepted invitation cannot be revoked: remove the member instead.",
  tags: ["projects"],
  scope: "members:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/invitations/{invitation_id}" },
  input: z.object({ project: ProjectRef, invitation_id: z.uuid() }),
  output: Invitation,
  handler: async (ctx, input) => {
    const current = await ctx.db
      .selectFrom("project_invitations")
      .selectAll()
      .where("id", "=", input.invitation_id)
      .where("project_id", "=", ctx.project.id)
      .executeTakeFirst();
    if (!current) throw notFound("invitation", input.invitation_id);
    requireOwnerFor(ctx, current.role);
    if (current.accepted_at)
      throw new BosunError("conflict", "this invitation was already accepted; remove the member instead");
    const row = await ctx.tx(async (trx) => {
      await trx
        .updateTable("one_time_tokens")
        .set({ used_at: new Date() })
        .where("invitation_id", "=", current.id)
        .where("used_at", "is", null)
        .execute();
      return trx
        .updateTable("project_invitations")
        .set((eb) => ({ revoked_at: eb.fn.coalesce("revoked_at", eb.val(new Date())) }))
        .where("id", "=", current.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    return invitationView(row);
  },
});

export const acceptInvitation = defineOperation({
  id: "accept_invitation",
  summary: "Accept a project invitation",
  description:
    "Joins the project with the invitation's role. Logged in, your account's email must be the invited address. Not " +
    "logged in: the invited address's account joins, or, when the address has none yet, give `name` and `password` to " +
    "create it. Following the link proves the address, so it is verified.",
  tags: ["projects", "identity"],
  public: true,
  level: "account",
  rateLimit: "auth",
  surfaces: ["rest", "cli"],
  effect: "write",
  http: { method: "post", path: "/auth/accept-invitation" },
  input: z.object({
    token: LinkToken,
    name: displayName(100).optional().meta({ description: "Your name, when the invitation creates your account" }),
    password: Password.optional().meta({ description: "Your password, when the invitation creates your account" }),
  }),
  output: z.object({ project: z.string(), role: Role, account: AccountView, account_created: z.boolean() }),
  handler: async (ctx, input) => {
    const link = await peekLinkToken(ctx.db, ["invitation"], input.token);
    const invitation = await ctx.db
      .selectFrom("project_invitations")
      .innerJoin("projects", "projects.id", "project_invitations.project_id")
      .select([
        "project_invitations.id",
        "project_invitations.project_id",
        "project_invitations.email",
        "project_invitations.role",
        "projects.slug",
      ])
      .where("project_invitations.id", "=", present(link.invitation_id, "the invitation of an invitation link"))
      .where("project_invitations.accepted_at", "is", null)
      .where("project_invitations.revoked_at", "is", null)
      .where("project_invitations.expires_at", ">", new Date())
      .executeTakeFirst();
    if (!invitation) throw invalidLink();
    // Logged in as someone else: the link is not theirs to use (and says nothing about the address).
    if (ctx.principal.account && ctx.principal.account.email !== invitation.email) throw invalidLink();

    const account = await ctx.db
      .selectFrom("accounts")
      .select("id")
      .where("email", "=", invitation.email)
      .executeTakeFirst();
    const create = !account;
    const { name, password } = input;
    const newAccount = name && password ? { email: invitation.email, name, password } : null;
    if (create && !newAccount) {
      throw validationError([
        { path: "password", message: "this address has no account yet: give a name and a password to create it" },
      ]);
    }
    // Spent before anything else changes, in one guarded UPDATE: two concurrent accepts cannot both go through.
    await consumeLinkToken(ctx.db, ["invitation"], input.token);
    const accountId =
      account?.id ?? (await createAccount(ctx.db, present(newAccount, "the new account's name and password"))).id;
    const role = await ctx.tx(async (trx) => {
      // Already a member: the current role stays (an invitation never demotes, and a re-invite is not a role change).
      const existing = await trx
        .selectFrom("project_members")
        .select("role")
        .where("project_id", "=", invitation.project_id)
        .where("account_id", "=", accountId)
        .executeTakeFirst();
      if (!existing) {
        await trx
          .insertInto("project_members")
          .values({ project_id: invitation.project_id, account_id: accountId, role: invitation.role })
          .execute();
      }
      await trx
        .updateTable("project_invitations")
        .set({ accepted_at: new Date(), accepted_by: accountId })
        .where("id", "=", invitation.id)
        .execute();
      return (existing?.role ?? invitation.role) as z.infer<typeof Role>;
    });
    ctx.auditProject(invitation.slug);
    const row = await markEmailVerified(ctx.db, accountId, ctx.platform.config.trialCreditMicros);
    return { project: invitation.slug, role, account: accountView(row), account_created: create };
  },
});

export const invitationOperations = [inviteMember, listInvitations, revokeInvitation, acceptInvitation];
