// Model transcripts for replay: the model's side of a conversation (its replies, in order), stored as JSON next
// to each scenario and served by the testkit fake model server, so the harness, the verifiers and the scoring
// run in CI without a model. `scripted` transcripts were written by hand and say nothing about any model's
// quality; `recorded` ones were saved from a real provider's run (`bosun eval --record`).
//
// What differs per trial is written as placeholders: {{home}} (the server user's home), {{project}} (the site's
// slug), and {{match:REGEX}}, the first group of REGEX in the latest tool result the model was sent, which is how
// a scripted reply can quote a value only the world knows (the server's memory) without knowing it in advance.
import fs from "node:fs";
import path from "node:path";
import type { ModelProvider } from "../agent-runner/providers/provider.ts";
import type { TokenUsage } from "../core/billing/prices.ts";
import type { RecordedRequest, ScriptedReply, ScriptStep } from "../testkit/fake-model.ts";

export type TranscriptLabel = "scripted" | "recorded";

export interface Transcript {
  label: TranscriptLabel;
  scenario: string;
  /** What the transcript is meant to show: a passing or a failing run (scripted), or unknown (recorded). */
  expect?: "pass" | "fail";
  /** Recorded: which model produced it. */
  model?: string;
  note?: string;
  replies: TranscriptReply[];
}

export interface TranscriptReply {
  text?: string;
  toolUse?: { name: string; input: Record<string, unknown> }[];
  /** Recorded: the usage the provider reported, replayed so a replay costs what the run cost. */
  usage?: TokenUsage;
}

export const SCENARIOS_DIR = path.join(import.meta.dirname, "scenarios");

export const transcriptPath = (scenario: string, name: string, dir = SCENARIOS_DIR) =>
  path.join(dir, scenario, `${name}.json`);

export function loadTranscript(file: string): Transcript {
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Transcript;
  if (parsed.label !== "scripted" && parsed.label !== "recorded")
    throw new Error(`${file}: label must be "scripted" or "recorded"`);
  if (!Array.isArray(parsed.replies)) throw new Error(`${file}: replies must be an array`);
  return parsed;
}

export function saveTranscript(file: string, transcript: Transcript): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(transcript, null, 2)}\n`);
}

/** Every string in a request's latest message (the tool results the model is answering). */
function latestMessageText(request: RecordedRequest): string {
  const last = request.body?.messages?.at(-1);
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(last);
  return out.join("\n");
}

export function fillPlaceholders(text: string, values: Record<string, string>, request?: RecordedRequest): string {
  return text.replace(
    /\{\{(match:)?([^}]*(?:\}(?!\})[^}]*)*)\}\}/g,
    (whole, match: string | undefined, name: string) => {
      if (match) {
        const found = request ? new RegExp(name).exec(latestMessageText(request)) : null;
        return found?.[1] ?? "(no match)";
      }
      return values[name] ?? whole;
    },
  );
}

function fillDeep<T>(value: T, fill: (s: string) => string): T {
  if (typeof value === "string") return fill(value) as T;
  if (Array.isArray(value)) return value.map((v) => fillDeep(v, fill)) as T;
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillDeep(v, fill)])) as T;
  return value;
}

/** The fake model server's script for a transcript in one world. */
export function scriptOf(transcript: Transcript, values: Record<string, string>): ScriptStep<ScriptedReply>[] {
  return transcript.replies.map((reply) => (request: RecordedRequest) => {
    const filled = fillDeep(reply, (s) => fillPlaceholders(s, values, request));
    return { text: filled.text, toolUse: filled.toolUse, usage: filled.usage };
  });
}

/** Writes a world's values back as placeholders, so a recorded transcript replays in another world. */
function generalise<T>(value: T, values: Record<string, string>): T {
  // Longest first: the home path contains nothing else, but keep it safe if values ever nest.
  const pairs = Object.entries(values)
    .filter(([, v]) => v.length >= 4)
    .sort((a, b) => b[1].length - a[1].length);
  return fillDeep(value, (s) => pairs.reduce((acc, [k, v]) => acc.split(v).join(`{{${k}}}`), s));
}

/** Wraps a provider so every reply it gives is also appended to `into` (a transcript being recorded). */
export function recordingProvider(
  inner: ModelProvider,
  into: TranscriptReply[],
  values: Record<string, string>,
): ModelProvider {
  return {
    name: inner.name,
    async complete(request) {
      const response = await inner.complete(request);
      const text = response.content
        .filter((b) => b.type === "text")
        .map((b) => (b as { text: string }).text)
        .join("\n");
      const toolUse = response.content
        .filter((b) => b.type === "tool_use")
        .map((b) => ({ name: (b as { name: string }).name, input: (b as { input: Record<string, unknown> }).input }));
      into.push(
        generalise(
          { ...(text ? { text } : {}), ...(toolUse.length ? { toolUse } : {}), usage: response.usage },
          values,
        ),
      );
      return response;
    },
  };
}
