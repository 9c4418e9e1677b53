// Which of an agent's tool calls run at once, which wait for a person, and which are refused — decided per
// call from the conversation's mode, the operation's effect and, for shell commands, what the command line
// does. A command is read-only only if every part of it is allowlisted (safety.ts): a deny list alone is
// always beaten (`find / -delete`), so in `ask` mode anything not provably read-only waits for approval.
import type { AgentMode } from "../../schema/database.ts";
import type { Effect } from "../operation.ts";
import { isReadOnlyCommand } from "./safety.ts";

export type Decision =
  /** `readOnly`: allowed only because the classifier judged the command read-only (no person, no rule, not `auto`). */
  | { action: "run"; readOnly?: boolean }
  | { action: "ask"; reason: string }
  | { action: "deny"; reason: string };

/** Refused even in `auto` mode: they destroy the server or cut the owner off it. */
const DENIED_IN_AUTO: RegExp[] = [
  /\brm\s+(-[a-zA-Z]*[rf][a-zA-Z]*\s+)+\/(\s|$|\*)/, // rm -rf /
  /\bmkfs(\.\w+)?\b/,
  /\bdd\b[^|;&]*\bof=\/dev\//,
  /:\(\)\s*\{\s*:\|:&\s*\};:/, // fork bomb
  /\b(shutdown|poweroff|halt|reboot)\b/,
  /\bchmod\s+(-R\s+)?[0-7]*\s+\/(\s|$)/,
  /\b(passwd|userdel|deluser)\b/,
  />\s*\/etc\/(passwd|shadow|sudoers)\b/,
];

export interface ToolCall {
  tool: string;
  effect: Effect;
  /** The operation's tags: `instances` marks what acts on a customer's server. */
  tags: readonly string[];
  input: Record<string, unknown>;
}

/**
 * In `ask` mode: a change to a server, going live, and what cannot be undone wait for a person. Draft edits of
 * a site do not (nothing is live until published, and the draft can be discarded).
 */
function needsApproval(call: ToolCall): string | null {
  if (call.effect === "read") return null;
  if (call.effect === "destructive") return `${call.tool} cannot be undone`;
  if (call.tags.includes("instances")) return `${call.tool} changes the server`;
  if (call.tool === "publish_site" || call.tool === "rollback_site") return `${call.tool} changes the live site`;
  return null;
}

/** The owner's command rules for one instance (update_instance `agent_command_rules`). */
export interface CommandRules {
  /** Run without approval in `ask` mode, e.g. `systemctl restart nginx`, `docker compose * restart`. */
  allow: string[];
  /** Refused in every mode, e.g. `*docker system prune*`. */
  deny: string[];
}

/**
 * A rule is a whole-command pattern where `*` stands for any text. In an allow rule `*` never spans a shell
 * operator or substitution, so `systemctl restart *` cannot also admit `systemctl restart x; rm -rf ~`.
 */
export function matchesRule(rule: string, command: string, kind: "allow" | "deny"): boolean {
  const any = kind === "allow" ? "[^;&|`$<>()\\n]*" : "[\\s\\S]*";
  const body = rule.trim().split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(any);
  return new RegExp(`^${body}$`).test(command.trim());
}

export function decide(mode: AgentMode, call: ToolCall, rules: CommandRules = { allow: [], deny: [] }): Decision {
  const command = call.tool === "run_command" && typeof call.input.command === "string" ? call.input.command : null;
  if (command !== null) {
    const denied = rules.deny.find((r) => matchesRule(r, command, "deny"));
    if (denied) return { action: "deny", reason: `the instance's owner refuses commands matching '${denied}'` };
    const readOnly = isReadOnlyCommand(command);
    if (readOnly) return { action: "run", readOnly: true };
    if (mode === "read_only") return { action: "deny", reason: "this conversation is read-only and the command may change the server" };
    if (mode === "auto") {
      const hit = DENIED_IN_AUTO.find((re) => re.test(command));
      return hit ? { action: "deny", reason: "this command is on the deny list" } : { action: "run" };
    }
    if (rules.allow.some((r) => matchesRule(r, command, "allow"))) return { action: "run" };
    return { action: "ask", reason: `runs a command that may change the server: ${command.slice(0, 200)}` };
  }
  if (call.effect === "read") return { action: "run" };
  if (mode === "read_only") return { action: "deny", reason: "this conversation is read-only" };
  if (mode === "auto") return { action: "run" };
  const reason = needsApproval(call);
  return reason ? { action: "ask", reason } : { action: "run" };
}
