import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ProjectRef, Slug } from "../core/kernel/common.ts";
import { defineOperation, type Operation } from "../core/kernel/operation.ts";
import { allOperations, OperationRegistry } from "../core/kernel/registry.ts";
import { getProject, listProjects } from "../core/projects/projects.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";

let t: TestPlatform;
let doc31: any;
let doc30: any;
beforeAll(async () => {
  t = await startTestPlatform();
  doc31 = (await t.request("GET", "/openapi.json")).body;
  doc30 = (await t.request("GET", "/openapi.json?version=3.0")).body;
});
afterAll(() => t?.close());

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** Every operation object of a document, with its path and method. */
function operationsOf(doc: any): { path: string; method: string; op: any }[] {
  return Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );
}

/** The operations REST serves (routes.ts mounts exactly these). */
const restOperations = () =>
  t.platform.operations.operations.filter((op) => !op.surfaces || op.surfaces.includes("rest"));

/** Whether a zod schema, or anything nested in it (optional, pipe, default, object shape, ...), coerces. */
function usesCoercion(schema: unknown, seen = new Set<unknown>()): boolean {
  if (!schema || typeof schema !== "object" || seen.has(schema)) return false;
  seen.add(schema);
  const def = (schema as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  if (!def) return false;
  if (def.coerce === true) return true;
  return Object.entries(def).some(([key, value]) => {
    if (key === "shape" && value && typeof value === "object")
      return Object.values(value).some((v) => usesCoercion(v, seen));
    if (Array.isArray(value)) return value.some((v) => usesCoercion(v, seen));
    return usesCoercion(value, seen);
  });
}

/** Every JSON-Schema-ish object in a document, with a path for messages. */
function* nodes(value: unknown, at = "#"): Generator<[string, Record<string, unknown>]> {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* nodes(v, `${at}/${i}`);
  } else if (value && typeof value === "object") {
    yield [at, value as Record<string, unknown>];
    for (const [k, v] of Object.entries(value)) yield* nodes(v, `${at}/${k}`);
  }
}

describe("the OpenAPI document", () => {
  it("3.1 is served without a token and validates cleanly", async () => {
    const res = await t.request("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(doc31.openapi).toBe("3.1.0");
    await expect(SwaggerParser.validate(structuredClone(doc31))).resolves.toBeTruthy();
  });

  it("3.0 (?version=3.0) is served without a token and validates cleanly", async () => {
    const res = await t.request("GET", "/openapi.json?version=3.0");
    expect(res.status).toBe(200);
    expect(doc30.openapi).toBe("3.0.3");
    await expect(SwaggerParser.validate(structuredClone(doc30))).resolves.toBeTruthy();
  });

  it("is public even when a bad credential is sent", async () => {
    const res = await t.request("GET", "/openapi.json", { token: "bsn_not-a-real-token" });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
  });

  it("names the origin it was asked on as the server, for any number of origins", async () => {
    for (let i = 0; i < 40; i++) {
      const res = await t.app.request(`http://host-${i % 20}.example:8787/openapi.json${i % 2 ? "?version=3.0" : ""}`);
      const doc = await res.json();
      expect(doc.servers).toEqual([{ url: `http://host-${i % 20}.example:8787` }]);
      expect(doc.openapi).toBe(i % 2 ? "3.0.3" : "3.1.0");
    }
  });

  it("has one operation per REST operation, with operationId = operation id", () => {
    for (const doc of [doc31, doc30]) {
      const documented = operationsOf(doc);
      const ids = documented.map((d) => d.op.operationId);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual(
        restOperations()
          .map((op) => op.id)
          .sort(),
      );
      for (const { path, method, op } of documented) {
        expect(op.operationId).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
        const defined = t.platform.operations.get(op.operationId);
        expect(`${method} ${path}`).toBe(`${defined.http.method} /v1${defined.http.path}`);
      }
    }
  });

  it("gives every operation a tag, a summary, and 4xx responses with the Error schema", () => {
    for (const doc of [doc31, doc30]) {
      expect(doc.components.schemas.Error).toBeTruthy();
      for (const { op } of operationsOf(doc)) {
        expect(op.tags?.length, op.operationId).toBeGreaterThan(0);
        expect(op.summary?.trim(), op.operationId).toBeTruthy();
        const errors = Object.entries(op.responses as Record<string, any>).filter(([status]) => /^4\d\d$/.test(status));
        expect(errors.length, op.operationId).toBeGreaterThan(0);
        expect(
          errors.map(([s]) => s),
          op.operationId,
        ).toContain("400");
        for (const [status, response] of errors) {
          expect(response.content?.["application/json"]?.schema, `${op.operationId} ${status}`).toEqual({
            $ref: "#/components/schemas/Error",
          });
        }
      }
    }
  });

  it("documents the errors of what reaches outside Bosun: a server's 502/504, the agent's 402/503, a provider's 501", () => {
    const statuses = (id: string) =>
      Object.keys(operationsOf(doc31).find((x) => x.op.operationId === id)!.op.responses);
    expect(statuses("run_command")).toEqual(expect.arrayContaining(["502", "504"]));
    expect(statuses("start_agent_chat")).toEqual(expect.arrayContaining(["402", "503"]));
    expect(statuses("reinstall_instance")).toContain("501");
    expect(statuses("list_projects")).not.toContain("502");
  });

  it("declares bearer security on every non-public operation and none on public ones", () => {
    for (const doc of [doc31, doc30]) {
      expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
      for (const { op } of operationsOf(doc)) {
        const defined = t.platform.operations.get(op.operationId);
        if (defined.public) {
          expect(op.security, op.operationId).toEqual([]);
        } else {
          expect(op.security, op.operationId).toEqual([{ bearerAuth: [] }]);
          expect(Object.keys(op.responses), op.operationId).toEqual(expect.arrayContaining(["401", "403"]));
        }
      }
    }
  });

  it("the 3.0 document has no 3.1-only schema constructs (type arrays, const, $defs, prefixItems)", () => {
    let schemas = 0;
    for (const [at, node] of nodes(doc30)) {
      if (!("type" in node) && !("properties" in node) && !("items" in node)) continue;
      schemas++;
      expect(Array.isArray(node.type), `${at}: type is an array`).toBe(false);
      for (const key of ["const", "$defs", "prefixItems", "examples", "$schema"])
        expect(node, `${at}: has ${key}`).not.toHaveProperty(key);
      for (const key of ["exclusiveMinimum", "exclusiveMaximum"]) {
        if (key in node) expect(typeof node[key], `${at}: numeric ${key}`).toBe("boolean");
      }
    }
    expect(schemas).toBeGreaterThan(50);
  });
});

describe("@hono/zod-openapi pitfalls", () => {
  it("(a) the coercion detector finds z.coerce wherever it hides", () => {
    expect(usesCoercion(z.coerce.number())).toBe(true);
    expect(usesCoercion(z.coerce.number().int().min(1).optional())).toBe(true);
    expect(usesCoercion(z.string().pipe(z.coerce.number()).default(1))).toBe(true);
    expect(usesCoercion(z.object({ id: z.coerce.string() }))).toBe(true);
    expect(usesCoercion(z.string().min(1))).toBe(false);
    expect(usesCoercion(ProjectRef)).toBe(false);
  });

  it("(a) no path param is a coerced schema (zod-openapi emits invalid documents for them)", () => {
    let params = 0;
    for (const op of t.platform.operations.operations) {
      for (const [, name] of op.http.path.matchAll(/\{(\w+)\}/g)) {
        params++;
        const field = op.input.shape[name!];
        expect(field, `${op.id}: {${name}}`).toBeTruthy();
        expect(usesCoercion(field), `${op.id}: path param {${name}} uses z.coerce`).toBe(false);
      }
    }
    expect(params).toBeGreaterThan(0);
  });

  it("(a) every path param is documented in: path, required, with one plain type", () => {
    for (const doc of [doc31, doc30]) {
      for (const { path, op } of operationsOf(doc)) {
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const params = (op.parameters ?? []).filter((p: any) => p.in === "path");
        expect(params.map((p: any) => p.name).sort(), `${op.operationId}`).toEqual([...names].sort());
        for (const p of params) {
          expect(p.required, `${op.operationId} ${p.name}`).toBe(true);
          expect(["string", "integer", "number"], `${op.operationId} ${p.name}`).toContain(p.schema?.type);
          for (const key of ["anyOf", "oneOf", "allOf", "nullable"])
            expect(p.schema, `${op.operationId} ${p.name}`).not.toHaveProperty(key);
        }
      }
    }
  });

  it("(b) the registry refuses a duplicate operation id", () => {
    expect(() => new OperationRegistry(allOperations)).not.toThrow();
    const dup: Operation = { ...listProjects, http: { method: "get", path: "/projects-again" } };
    expect(() => new OperationRegistry([...allOperations, dup])).toThrow(/duplicate operation id 'list_projects'/);
  });

  it("(b) the registry refuses a duplicate route, whatever its param is called", () => {
    const sameRoute: Operation = { ...getProject, id: "get_project_again" };
    expect(() => new OperationRegistry([...allOperations, sameRoute])).toThrow(
      /duplicate route 'get \/projects\/\{\}'/,
    );
    const renamedParam = defineOperation({
      id: "get_project_by_slug",
      summary: "Same route, other param name",
      tags: ["projects"],
      scope: "projects:read",
      effect: "read",
      level: "any",
      http: { method: "get", path: "/projects/{slug}" },
      input: z.object({ slug: Slug }),
      output: z.object({}),
      handler: async () => ({}),
    });
    expect(() => new OperationRegistry([...allOperations, renamedParam])).toThrow(/duplicate route/);
    const otherMethod: Operation = {
      ...getProject,
      id: "put_project_again",
      http: { method: "put", path: "/projects/{project}" },
    };
    expect(() => new OperationRegistry([...allOperations, otherMethod])).not.toThrow();
  });

  it("(c) a POST with Content-Type: text/plain gets a JSON 415, not the library's plain-text one", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    const body = JSON.stringify({ slug: "media-type", name: "M", kind: "site" });
    for (const headers of [{ "Content-Type": "text/plain" }, { "Content-Type": "application/x-www-form-urlencoded" }]) {
      const res = await t.request("POST", "/v1/projects", { token, body, headers });
      expect(res.status).toBe(415);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.code).toBe("unsupported_media_type");
      expect(res.body.error.message).toContain("application/json");
    }
    // Bytes with no Content-Type at all (a string body would get text/plain from fetch).
    const raw = await t.app.request("/v1/projects", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      body: new TextEncoder().encode(body),
    });
    expect(raw.status).toBe(415);
    expect((await raw.json()).error.code).toBe("unsupported_media_type");
    // Nothing was created by the refused requests; the same body as JSON goes through.
    const ok = await t.request("POST", "/v1/projects", { token, body });
    expect(ok.status).toBe(201);
    expect(ok.body.slug).toBe("media-type");
  });
});
