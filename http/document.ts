// The OpenAPI document, generated from the operation registry: 3.1 by default, 3.0.3 for importers that
// handle 3.1 poorly. operationId = operation id, so LLM tool-calling and n8n get the same names as MCP.
import { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { envelopeSchema, eventKinds } from "../core/events/catalog.ts";
import { type ErrorCode, errorStatus } from "../core/kernel/errors.ts";
import { isProjectScoped, levelOf, type Operation } from "../core/kernel/operation.ts";

const ErrorBody = z
  .object({
    error: z
      .object({
        code: z.string().meta({ description: "Stable machine-readable code", example: "not_found" }),
        message: z.string(),
        required_scope: z.string().optional(),
        issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
        retry_after: z.number().optional(),
      })
      .catchall(z.unknown()),
  })
  .meta({ id: "Error" });

const errorDescriptions: Partial<Record<ErrorCode, string>> = {
  validation_error: "Invalid input; `issues` names each field",
  unauthorized: "Missing, invalid, expired or revoked credential",
  insufficient_scope: "The credential lacks `required_scope`",
  restricted_credential: "The operation acts on the whole account; the credential is restricted to projects",
  not_found: "No such resource, or not yours",
  conflict: "Conflicts with the current state (or an Idempotency-Key reused with other input)",
  payload_too_large: "The body is over 1 MB",
  unsupported_media_type: "The body must be JSON",
  rate_limited: "Too many requests; see Retry-After",
  payment_required: "Not enough credit (or a spend cap reached: spend_cap_reached)",
  unreachable: "The customer's server could not be reached, or refused Bosun's key (auth_failed)",
  timeout: "The customer's server (or a model) did not answer in time",
  not_supported: "Not supported by this provider",
  not_configured: "The operator has not configured what this needs; the message names the setting",
  internal: "A bug on our side; the request id identifies it in our logs",
};

function errorCodesFor(op: Operation): ErrorCode[] {
  // A public operation still answers 401 to a bearer token that is malformed, expired or revoked.
  const codes: ErrorCode[] = ["validation_error", "unauthorized"];
  if (!op.public) codes.push("insufficient_scope");
  if (levelOf(op) === "account") codes.push("restricted_credential");
  if (isProjectScoped(op) || op.http.path.includes("{")) codes.push("not_found");
  if (op.effect !== "read") codes.push("conflict");
  if (!["get", "delete"].includes(op.http.method)) codes.push("payload_too_large", "unsupported_media_type");
  // It reaches a customer's server: that server can be down, refuse the key, or hang.
  if (op.openWorld) codes.push("unreachable", "timeout");
  codes.push(...(op.errors ?? []), "rate_limited", "internal");
  return codes;
}

function pathParams(op: Operation): string[] {
  return [...op.http.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}

/** Registers every operation on an OpenAPIHono's registry (the handlers themselves are mounted in routes.ts). */
function documented(operations: readonly Operation[]): OpenAPIHono {
  const app = new OpenAPIHono();
  const registry = app.openAPIRegistry;
  registry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API token (`bsn_…`) or a session token from `login`",
  });
  registry.register("Error", ErrorBody);
  // An operation taking a file (content_base64, e.g. upload_asset) also takes it as multipart (http/request.ts).
  const multipartBody = (rest: z.ZodObject<z.ZodRawShape>) =>
    "content_base64" in rest.shape
      ? {
          "multipart/form-data": {
            schema: rest
              .omit({ content_base64: true })
              .partial()
              .extend({
                file: z.string().meta({ format: "binary", description: "The file; its name is the default filename" }),
              }),
          },
        }
      : {};
  for (const op of operations) {
    const params = pathParams(op);
    const mask = Object.fromEntries(params.map((p) => [p, true as const]));
    const rest = op.input.omit(mask);
    const hasRest = Object.keys(rest.shape).length > 0;
    const readsBody = op.http.method !== "get" && op.http.method !== "delete";
    const { rawBody, produces } = op.http;
    const answer = produces
      ? {
          [produces.type]: {
            schema: z.string().meta({
              description: `The \`${produces.field}\` of the answer`,
              ...(produces.base64 ? { format: "binary" } : {}),
            }),
          },
        }
      : { "application/json": { schema: op.output } };
    const responses: Record<string, unknown> = {
      [op.http.status ?? 200]: { description: op.summary, content: answer },
    };
    // The same bytes as the raw body, streamed; the other inputs then go in the query string (http/request.ts).
    const rawContent = rawBody
      ? Object.fromEntries(rawBody.types.map((t) => [t, { schema: z.string().meta({ format: "binary" }) }]))
      : {};
    for (const code of errorCodesFor(op)) {
      const status = errorStatus[code];
      responses[status] ??= {
        description: errorDescriptions[code] ?? code,
        content: { "application/json": { schema: ErrorBody } },
      };
    }
    const scopeNote = op.public ? "Public: no token needed." : `Requires scope \`${op.scope}\`.`;
    registry.registerPath({
      method: op.http.method,
      path: `/v1${op.http.path}`,
      operationId: op.id,
      summary: op.summary,
      description: [op.description, scopeNote, op.effect === "destructive" ? "Destructive." : ""]
        .filter(Boolean)
        .join("\n\n"),
      tags: op.tags,
      security: op.public ? [] : [{ bearerAuth: [] }],
      request: {
        params: params.length ? op.input.pick(mask) : undefined,
        query:
          !readsBody && hasRest ? rest : rawBody ? rest.omit({ [rawBody.field]: true } as never).partial() : undefined,
        body:
          readsBody && hasRest
            ? {
                required: true,
                content: { "application/json": { schema: rest }, ...multipartBody(rest), ...rawContent },
              }
            : undefined,
        headers:
          op.effect !== "read"
            ? z.object({
                "Idempotency-Key": z.string().max(255).optional().meta({
                  description: "Retry safely: the same key and input within 24 hours returns the first response",
                }),
              })
            : undefined,
      },
      responses: responses as never,
    });
  }
  // The event catalog as OpenAPI 3.1 `webhooks` (what Bosun POSTs to an endpoint); the 3.0 generator has no
  // such section and leaves them out (3.0 callbacks hang off one operation, which these do not).
  const signature = z.object({
    "webhook-id": z.string().meta({ description: "Stable across retries of one delivery: deduplicate on it" }),
    "webhook-timestamp": z.string().meta({ description: "Unix seconds when this attempt was signed" }),
    "webhook-signature": z.string().meta({ description: "`v1,<base64 HMAC-SHA256>` by the Standard Webhooks scheme" }),
  });
  for (const kind of eventKinds) {
    registry.registerWebhook({
      method: "post",
      path: kind.type,
      operationId: `event_${kind.type.replace(/\W/g, "_")}`,
      summary: kind.summary,
      tags: ["events"],
      request: {
        headers: signature,
        body: { required: true, content: { "application/json": { schema: envelopeSchema(kind) } } },
      },
      responses: { 200: { description: "Any 2xx acknowledges the delivery; anything else is retried" } },
    });
  }
  return app;
}

const info = {
  title: "Bosun API",
  version: "0.1.0",
  description:
    "The agent-first control plane for hosting platforms. Every operation here is also an MCP tool of the same name.",
};

export function openApiDocument(operations: readonly Operation[], version: "3.1" | "3.0", serverUrl = "/"): object {
  const app = documented(operations);
  const servers = [{ url: serverUrl }];
  return version === "3.0"
    ? app.getOpenAPIDocument({ openapi: "3.0.3", info, servers })
    : app.getOpenAPI31Document({ openapi: "3.1.0", info, servers });
}
