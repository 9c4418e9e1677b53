import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { connectMcp } from "../testkit/mcp-client.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

it("lists tools filtered by scope and calls one through the invoker", async () => {
  const user = await t.account();
  const client = await connectMcp(t.app, await user.token(["projects:read", "projects:write"]));
  const { tools } = await client.listTools();
  const names = tools.map((x) => x.name);
  expect(names).toContain("create_project");
  expect(names).not.toContain("create_api_token");
  const created = await client.callTool({
    name: "create_project",
    arguments: { slug: "mcp-site", name: "M", kind: "site" },
  });
  expect(created.isError).toBeFalsy();
  expect(created.structuredContent).toMatchObject({ slug: "mcp-site", role: "owner" });
  const dup = await client.callTool({
    name: "create_project",
    arguments: { slug: "mcp-site", name: "M", kind: "site" },
  });
  expect(dup.isError).toBe(true);
  expect(JSON.parse((dup.content as { text: string }[])[0]!.text).error.code).toBe("conflict");
  await client.close();
});
