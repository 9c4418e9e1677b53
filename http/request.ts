// Reading a REST request into an operation's input and a principal.
import type { IncomingMessage } from "node:http";
import net from "node:net";
import { Readable } from "node:stream";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import ipaddr from "ipaddr.js";
import proxyAddr from "proxy-addr";
import type { TrustProxy } from "../core/config.ts";
import { BosunError, unauthorized, validationError } from "../core/kernel/errors.ts";
import { toolJsonSchema } from "../core/kernel/json-schema.ts";
import { anonymous, type Operation, type Principal, type Surface } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";

export const MAX_JSON_BODY = 1024 * 1024;

/**
 * hono's bodyLimit, without its cost on the common case: it asks for `raw.body`, which makes @hono/node-server
 * build a full WHATWG Request and stream for every request (most of an MCP POST's own time under load, and of a
 * page view's). GET and HEAD carry no body to bound; a declared Content-Length is checked here; only a chunked
 * body goes through bodyLimit. Every listener bounds bodies with this.
 */
export function boundedBody(options: {
  maxSize: number;
  onError: (c: Context) => Response | Promise<Response>;
}): MiddlewareHandler {
  const counting = bodyLimit(options);
  return (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) return counting(c, next);
    return Number.parseInt(length, 10) > options.maxSize ? Promise.resolve(options.onError(c)) : next();
  };
}
/** A multipart upload: one file of up to 10 MB plus form fields and multipart framing. */
export const MAX_UPLOAD_BODY = 10 * 1024 * 1024 + 64 * 1024;

export const isMultipart = (type: string | undefined) => /^multipart\/form-data\b/i.test(type ?? "");

/** The media type of a Content-Type header, lowercased, without parameters. */
const mediaType = (type: string | undefined) => (type ?? "").split(";")[0]!.trim().toLowerCase();

/**
 * Bodies some operation takes raw and streamed (`http.rawBody`: archives). The JSON body limit does not apply
 * to them: only such an operation reads them, counting against its own limit; any other refuses them unread.
 */
export const RAW_BODY_TYPES = [
  "application/zip",
  "application/gzip",
  "application/x-gzip",
  "application/x-tar",
  // put_bucket_object: any object's bytes (its own type goes in the `content_type` query field).
  "application/octet-stream",
];
export const isRawBody = (type: string | undefined) => RAW_BODY_TYPES.includes(mediaType(type));

/** The request body as a Node stream, for an operation that takes it raw; null when it sends something else. */
export function rawBodyFor(op: Operation, c: Context): NodeJS.ReadableStream | null {
  const raw = op.http.rawBody;
  const type = mediaType(c.req.header("content-type"));
  if (!raw?.types.includes(type) || !c.req.raw.body) return null;
  return Readable.fromWeb(c.req.raw.body as import("node:stream/web").ReadableStream<Uint8Array>);
}

/**
 * Multipart, for operations that take a file (an input field `content_base64`, e.g. upload_asset): the part
 * named `file` becomes `content_base64` (and `filename`, unless a field gives one); text parts are fields.
 */
async function fromMultipart(op: Operation, c: Context): Promise<Record<string, unknown>> {
  if (!("content_base64" in op.input.shape)) {
    throw new BosunError("unsupported_media_type", "send the body as JSON with Content-Type: application/json", {
      content_type: c.req.header("content-type") ?? null,
    });
  }
  let form: FormData;
  try {
    form = await c.req.formData();
  } catch {
    throw validationError([{ path: "", message: "malformed multipart body" }], "the multipart body is malformed");
  }
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of form) {
    if (typeof value === "string") out[key] = value;
    else if (key === "file") {
      out.content_base64 = Buffer.from(await value.arrayBuffer()).toString("base64");
      out.filename ??= value.name;
    } else {
      throw validationError(
        [{ path: key, message: "unexpected file part" }],
        `part '${key}' is a file; send the file as the part named 'file'`,
      );
    }
  }
  return out;
}

type TrustFn = (addr: string, i: number) => boolean;
const trustFns = new WeakMap<object, TrustFn>();
const hopFns = new Map<number, TrustFn>();

/** The compiled trust function of BOSUN_TRUST_PROXY (compiled once per config: the same function each call). */
function trustOf(trust: TrustProxy): TrustFn | null {
  if (trust === false || trust === 0 || (Array.isArray(trust) && !trust.length)) return null;
  const hops = trust === true ? 1 : trust;
  if (typeof hops === "number") {
    let fn = hopFns.get(hops);
    if (!fn) hopFns.set(hops, (fn = (_addr, i) => i < hops));
    return fn;
  }
  let fn = trustFns.get(hops);
  if (!fn) trustFns.set(hops, (fn = proxyAddr.compile(hops)));
  return fn;
}

/**
 * The client's address, for every HTTP surface (REST, MCP, the sites listener): the socket's peer, or with
 * BOSUN_TRUST_PROXY the first address that is not a trusted proxy, walking X-Forwarded-For from the right
 * (proxy-addr, as Express does). Entries a client wrote itself sit left of that and are never believed.
 */
export function clientIp(c: Context, platform: Platform): string | null {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  const sock = incoming?.socket;
  const trust = trustOf(platform.config.trustProxy);
  const forwarded = trust ? c.req.header("x-forwarded-for") : undefined;
  // A keep-alive connection sends many requests from one peer: parse its address once, again only when what it
  // is derived from (the X-Forwarded-For a trusted proxy wrote, the trust setting) changes.
  const known = sock && lastIp.get(sock);
  if (known && known.forwarded === forwarded && known.trust === trust) return known.ip;
  const socket = sock?.remoteAddress;
  // In-process requests (tests, app.request) have no socket: only a hop count can reach past it.
  const found = trust
    ? proxyAddr(
        {
          headers: { "x-forwarded-for": forwarded },
          socket: { remoteAddress: socket },
        } as unknown as IncomingMessage,
        trust,
      )
    : socket;
  // One spelling per address, so `::ffff:1.2.3.4` and `1.2.3.4` share one rate-limit window.
  const ip = !found || !net.isIP(found) ? (socket ?? null) : ipaddr.process(found).toString();
  if (sock) lastIp.set(sock, { forwarded, trust, ip });
  return ip;
}

/** Per connection, the client address last derived for it and what it was derived from (see clientIp). */
const lastIp = new WeakMap<object, { forwarded: string | undefined; trust: unknown; ip: string | null }>();

export async function principalFor(c: Context, platform: Platform, surface: Surface): Promise<Principal> {
  const ip = clientIp(c, platform);
  // `bosun call` speaks REST; it says so, so the audit shows the CLI as the surface.
  if (surface === "rest" && c.req.header("x-bosun-client") === "cli") surface = "cli";
  const header = c.req.header("authorization");
  if (!header) return anonymous(surface, ip);
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw unauthorized("Authorization must be 'Bearer <token>'");
  const principal = await platform.auth.principal(match[1]!, surface, ip);
  // A token issued through OAuth is bound to the MCP endpoint (RFC 8707); http/mcp-route.ts checks it there.
  if (surface !== "mcp" && principal.credential?.kind === "token" && principal.credential.audience)
    throw unauthorized(`this token was issued for ${principal.credential.audience} only`);
  return principal;
}

type FieldKind = "number" | "integer" | "boolean" | "array" | "other";
const fieldKinds = new WeakMap<Operation, Map<string, FieldKind>>();

/** Query strings are text; the operation's schema says which fields are numbers, booleans or lists. */
function kindsOf(op: Operation): Map<string, FieldKind> {
  let kinds = fieldKinds.get(op);
  if (!kinds) {
    const schema = toolJsonSchema(op.input, "input") as {
      properties?: Record<string, { type?: string; anyOf?: { type?: string }[] }>;
    };
    kinds = new Map();
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const type = prop.type ?? prop.anyOf?.find((s) => s.type && s.type !== "null")?.type;
      kinds.set(name, (["number", "integer", "boolean", "array"].includes(type ?? "") ? type : "other") as FieldKind);
    }
    fieldKinds.set(op, kinds);
  }
  return kinds;
}

function fromQuery(op: Operation, c: Context): Record<string, unknown> {
  // No prototype: on a plain object `?__proto__=x` would vanish instead of being refused as an unknown field.
  const out: Record<string, unknown> = Object.create(null);
  if (!c.req.url.includes("?")) return out;
  const kinds = kindsOf(op);
  for (const [key, values] of Object.entries(c.req.queries())) {
    const kind = kinds.get(key);
    const last = values[values.length - 1]!;
    if (kind === "array") out[key] = values.flatMap((v) => v.split(",")).filter(Boolean);
    else if ((kind === "number" || kind === "integer") && last.trim() !== "" && !Number.isNaN(Number(last)))
      out[key] = Number(last);
    else if (kind === "boolean" && (last === "true" || last === "false")) out[key] = last === "true";
    else out[key] = last;
  }
  return out;
}

async function fromBody(op: Operation, c: Context): Promise<Record<string, unknown>> {
  if (isMultipart(c.req.header("content-type"))) return fromMultipart(op, c);
  // Unread: a raw type skipped the JSON body limit, so only an operation streaming it may touch it.
  if (isRawBody(c.req.header("content-type"))) {
    throw new BosunError(
      "unsupported_media_type",
      op.http.rawBody
        ? `send the body with Content-Type ${op.http.rawBody.types.join(" or ")}, or as JSON`
        : "send the body as JSON with Content-Type: application/json",
      { content_type: c.req.header("content-type") ?? null },
    );
  }
  const text = await c.req.text();
  if (text.trim() === "") return {};
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new BosunError("unsupported_media_type", "send the body as JSON with Content-Type: application/json", {
      content_type: type || null,
    });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw validationError([{ path: "", message: "invalid JSON" }], "the body is not valid JSON");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw validationError([{ path: "", message: "expected an object" }], "the body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/**
 * Path params win over body or query fields of the same name: the URL names the resource. With a raw body
 * (see rawBodyFor) the other inputs come from the query string.
 */
export async function inputFor(op: Operation, c: Context, raw = false): Promise<Record<string, unknown>> {
  if (raw) return { ...fromQuery(op, c), ...c.req.param() };
  const readsBody = op.http.method !== "get" && op.http.method !== "delete";
  const rest = readsBody ? await fromBody(op, c) : fromQuery(op, c);
  return { ...rest, ...c.req.param() };
}
