import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { RecordedRequest } from "../testkit/fake-server.ts";
import { fillPlaceholders, loadTranscript, SCENARIOS_DIR, scriptOf } from "./transcript.ts";

const request = (lastMessage: unknown): RecordedRequest => ({
  method: "POST",
  path: "/v1/messages",
  headers: {},
  body: { messages: [{ role: "user", content: "hi" }, lastMessage] },
  rawBody: "",
});

describe("transcripts", () => {
  it("fill {{home}}, {{project}} and {{match:…}} from the world and the latest tool result; leave unknown names", () => {
    const req = request({
      role: "user",
      content: [
        {
          type: "tool_result",
          tool_use_id: "t1",
          content: '{"stdout":"MemTotal:       24684096 kB\\nMemAvailable:   22724664 kB"}',
        },
      ],
    });
    expect(fillPlaceholders("cat {{home}}/a {{project}} {{other}}", { home: "/tmp/h", project: "p1" })).toBe(
      "cat /tmp/h/a p1 {{other}}",
    );
    expect(fillPlaceholders("{{match:MemTotal:\\s+(\\d+) kB}} / {{match:MemAvailable:\\s+(\\d+) kB}}", {}, req)).toBe(
      "24684096 / 22724664",
    );
    expect(fillPlaceholders("{{match:Swap:\\s+(\\d+)}}", {}, req)).toBe("(no match)");
  });

  it("serve a transcript's replies in order, filled per request", () => {
    const steps = scriptOf(
      {
        label: "scripted",
        scenario: "s",
        replies: [{ toolUse: [{ name: "read_remote_file", input: { path: "{{home}}/x" } }] }, { text: "done" }],
      },
      { home: "/h" },
    );
    expect(steps).toHaveLength(2);
    const first = (steps[0] as (r: RecordedRequest) => { toolUse: unknown })(request({ role: "user", content: "go" }));
    expect(first.toolUse).toEqual([{ name: "read_remote_file", input: { path: "/h/x" } }]);
  });

  it("every scenario has a scripted passing and failing transcript that load", () => {
    const dirs = fs
      .readdirSync(SCENARIOS_DIR, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(dirs.length).toBeGreaterThanOrEqual(12);
    for (const dir of dirs) {
      for (const name of ["pass", "fail"]) {
        const t = loadTranscript(path.join(SCENARIOS_DIR, dir, `${name}.json`));
        expect([t.label, t.scenario, t.expect]).toEqual(["scripted", dir, name]);
        expect(t.replies.length).toBeGreaterThan(0);
      }
    }
  });
});
