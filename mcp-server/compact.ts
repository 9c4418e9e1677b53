// Compact mode: two tools instead of one per operation, for clients with small context windows.
// search_operations finds operations (ids, summaries, input schemas); call_operation runs one by id through
// the same path as a full-mode tool call, so scopes, pins and the invoker apply unchanged.
import { z } from "zod";
import { validationError } from "../core/kernel/errors.ts";
import { zodIssues } from "../core/kernel/invoker.ts";
import type { Operation } from "../core/kernel/operation.ts";
import { searchOperations, type ToolDef, toolFor } from "./tools.ts";

export const SEARCH = "search_operations";
export const CALL = "call_operation";

const SearchInput = z.object({ query: z.string().max(200) }).strict();
const CallInput = z
  .object({ id: z.string().min(1).max(64), input: z.record(z.string(), z.unknown()).default({}) })
  .strict();

/** The two tools. call_operation can do whatever the visible operations can, so its hints are theirs combined. */
export function compactTools(visible: readonly Operation[]): ToolDef[] {
  const readOnly = visible.every((op) => op.effect === "read");
  return [
    {
      name: SEARCH,
      title: "Find Bosun operations",
      description:
        "Search the operations you can call, by words such as 'project', 'token', 'audit' (an empty query lists the first ones). " +
        "Returns their ids, summaries and input schemas; then run one with call_operation. Read-only.",
      inputSchema: {
        type: "object",
        properties: { query: { type: "string", maxLength: 200 } },
        required: ["query"],
        additionalProperties: false,
      },
      outputSchema: {
        type: "object",
        properties: {
          operations: {
            type: "array",
            items: {
              type: "object",
              properties: {
                id: { type: "string" },
                summary: { type: "string" },
                effect: { type: "string", enum: ["read", "write", "destructive"] },
                input_schema: { type: "object" },
              },
              required: ["id", "summary", "effect", "input_schema"],
            },
          },
        },
        required: ["operations"],
      },
      annotations: {
        title: "Find Bosun operations",
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    {
      name: CALL,
      title: "Call a Bosun operation",
      description:
        "Run an operation found with search_operations: `id` is its id, `input` an object matching its input schema. " +
        "Returns the operation's result; errors come back as {error:{code,message}}.",
      inputSchema: {
        type: "object",
        properties: { id: { type: "string", maxLength: 64 }, input: { type: "object" } },
        required: ["id"],
        additionalProperties: false,
      },
      outputSchema: { type: "object" },
      annotations: {
        title: "Call a Bosun operation",
        readOnlyHint: readOnly,
        destructiveHint: visible.some((op) => op.effect === "destructive"),
        idempotentHint: readOnly,
        openWorldHint: visible.some((op) => !!op.openWorld),
      },
    },
  ];
}

export function searchResult(visible: readonly Operation[], args: unknown, pinned: boolean) {
  const parsed = SearchInput.safeParse(args);
  if (!parsed.success) throw validationError(zodIssues(parsed.error));
  const operations = searchOperations(visible, parsed.data.query).map((op) => ({
    id: op.id,
    summary: op.summary,
    effect: op.effect,
    input_schema: toolFor(op, pinned, "detailed").inputSchema,
  }));
  return { operations };
}

export function parseCall(args: unknown): { id: string; input: Record<string, unknown> } {
  const parsed = CallInput.safeParse(args);
  if (!parsed.success) throw validationError(zodIssues(parsed.error));
  return parsed.data;
}
