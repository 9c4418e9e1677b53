// Which scope shows a tool's result, and how a transcript is redacted for a reader who lacks it.
import { describe, expect, it } from "vitest";
import { OperationRegistry } from "../kernel/registry.ts";
import { readerOf, redactEvents, redactMessages, resultScope } from "./redaction.ts";

const platform = { operations: OperationRegistry.default() };

describe("resultScope", () => {
  it("follows the operation: a read's own scope, a write's read side, nothing for the web bridges", () => {
    expect(resultScope(platform, "read_remote_file")).toBe("instances:files");
    expect(resultScope(platform, "tail_log")).toBe("instances:files");
    expect(resultScope(platform, "run_command")).toBe("instances:files");
    expect(resultScope(platform, "write_remote_file")).toBe("instances:files");
    expect(resultScope(platform, "update_site_settings")).toBe("settings:read");
    expect(resultScope(platform, "write_file")).toBe("files:read");
    expect(resultScope(platform, "publish_site")).toBe("publish:trigger");
    expect(resultScope(platform, "fetch_url")).toBeNull();
  });

  it("a reader's scopes are capped by their role; instances:exec reads what instances:files does", () => {
    expect(readerOf(["*"], "viewer").can("instances:files")).toBe(false);
    expect(readerOf(["*"], "developer").can("instances:files")).toBe(true);
    expect(readerOf(["agent:read", "instances:exec"], "developer").can("instances:files")).toBe(true);
    expect(readerOf(["agent:read"], "owner").can("instances:files")).toBe(false);
  });
});

describe("redaction", () => {
  const messages = [
    { role: "user" as const, content: [{ type: "text", text: "what is in the file?" }] },
    {
      role: "assistant" as const,
      content: [
        { type: "text", text: "Looking." },
        { type: "tool_use", id: "t1", name: "read_remote_file", input: { path: "/etc/app" } },
      ],
    },
    { role: "user" as const, content: [{ type: "tool_result", toolUseId: "t1", content: "SECRET" }] },
    {
      role: "assistant" as const,
      content: [
        { type: "text", text: "It says SECRET" },
        { type: "tool_use", id: "t2", name: "run_command", input: { command: "echo SECRET" } },
      ],
    },
    {
      role: "user" as const,
      content: [
        { type: "tool_result", toolUseId: "t2", content: "SECRET" },
        { type: "text", text: "thanks" },
      ],
    },
  ];

  it("hides results the reader may not read, and what the model wrote after them, saying why", () => {
    const out = redactMessages(platform, readerOf(["agent:read"], "viewer"), messages);
    expect(JSON.stringify(out.messages)).not.toContain("SECRET");
    expect(out.messages[1]).toEqual(messages[1]); // before anything hidden: as it was
    expect(out.messages[2]!.content[0]).toMatchObject({ hidden: { required_scope: "instances:files" } });
    expect(out.messages[3]!.content[1]).toMatchObject({ type: "tool_use", name: "run_command", input: {} });
    expect(out.messages[4]!.content[1]).toEqual({ type: "text", text: "thanks" }); // the person's own words
    expect([...out.inputs.keys()]).toEqual(["t2"]);
    expect([...out.results.keys()]).toEqual(["t1", "t2"]);
  });

  it("leaves everything to a reader who holds the scope", () => {
    const out = redactMessages(platform, readerOf(["agent:read", "instances:files"], "developer"), messages);
    expect(out.messages).toEqual(messages);
  });

  it("events after the cutoff lose model text and tool inputs", () => {
    const events = [
      { id: "5", type: "text", data: { text: "before" } },
      { id: "7", type: "tool_result", data: { tool: "read_remote_file", bytes: 6 } },
      { id: "8", type: "text", data: { text: "SECRET" } },
      {
        id: "9",
        type: "approval_requested",
        data: { approval_id: "a", tool: "run_command", input: { command: "echo SECRET" }, reason: "runs echo SECRET" },
      },
    ];
    const out = redactEvents(events, { id: "7", tool: "read_remote_file", scope: "instances:files" });
    expect(out.slice(0, 2)).toEqual(events.slice(0, 2));
    expect(JSON.stringify(out)).not.toContain("SECRET");
    expect(out[3]!.data).toMatchObject({ approval_id: "a", tool: "run_command", input: {} });
    expect(redactEvents(events, null)).toBe(events);
  });
});
