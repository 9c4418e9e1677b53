// The tool list's size is model context every conversation pays: bounded here in cl100k tokens, so a
// regression (a new operation's long description, output schemas creeping back into the default) fails CI.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { measureAppToolList, TOOL_LIST_GOALS } from "../testkit/tool-list-size.ts";

let t: TestPlatform;
let full: string;

beforeAll(async () => {
  t = await startTestPlatform();
  // The operator's full token: the largest list there is.
  full = await t.operator.token(["*"]);
});
afterAll(async () => {
  await t?.close();
});

describe("tool list size", () => {
  it("a full token's default list stays within its token budget", async () => {
    const size = await measureAppToolList(t.app, full);
    console.log(`full token default tools/list: ${size.tools} tools, ${size.bytes} bytes, ${size.tokens} tokens`);
    expect(size.tokens).toBeLessThanOrEqual(TOOL_LIST_GOALS.full);
  });

  it("a full token's read-only list stays within its token budget", async () => {
    const size = await measureAppToolList(t.app, full, "read_only=true");
    console.log(`full token read-only tools/list: ${size.tools} tools, ${size.bytes} bytes, ${size.tokens} tokens`);
    expect(size.tokens).toBeLessThanOrEqual(TOOL_LIST_GOALS.readOnly);
  });
});
