/**
 * The proxy's Hono app: both HTTP APIs (the seed's `/rpc/send`, `/rpc/broadcast`,
 * `/rpc/status/{id}`, `/rpc/schema/{app}`, and the real syft-proxy package's `POST /rpc` and
 * `GET /info`), plus `/`, `/health` and `/metrics`, with validation, API key, rate limit, CORS,
 * request ids, an access log and Prometheus metrics.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { getConnInfo } from "hono/deno";
import { HTTPException } from "hono/http-exception";
import type { RequestIdVariables } from "hono/request-id";
import { timingSafeEqual } from "hono/utils/buffer";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { zValidator } from "@hono/zod-validator";
import { rateLimiter, RedisStore } from "hono-rate-limiter";
import type { z } from "zod";
import { createHash } from "node:crypto";
import { getLogger } from "../../lib/_log.ts";
import { SyftError } from "../../lib/errors.ts";
import { VERSION } from "../../lib/version.ts";
import { paramsToBody, rpcBodyToBytes, wireBodyValue } from "./_body.ts";
import { type ProxyGateway, rpcUrlParts } from "./_gateway.ts";
import {
  type ProxyInfo,
  type RequestRecord,
  type RpcStatus,
  type SendResult,
  type StatusResult,
  StoreError,
} from "../../lib/proxy/mod.ts";
import { createMetrics, type HttpRecorder, type ProxyMetrics } from "./_metrics.ts";
import { type DetailItem, detailItems, jsonInvalidItem } from "./_fastapi.ts";
import { createProxyLive } from "./live.ts";
import { liveHandler, type ProxyLiveSource } from "../../lib/live/mod.ts";
import { WriteProbe } from "./_health.ts";
import type { Clock } from "../../lib/_clock.ts";
import { buildSchemas, DEFAULT_EXPIRY_MS, type FieldError, fieldErrors } from "./_schemas.ts";

const accessLog = getLogger(["proxy", "access"]);
const NEVER = new AbortController().signal;
const log = getLogger(["proxy", "server"]);

/** The default body limit: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** The default longest blocking wait, in seconds. */
export const DEFAULT_MAX_TIMEOUT_S = 300;

/** A per-client rate limit: `limit` requests per `windowMs`. */
export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  /** The window in milliseconds. */
  windowMs: number;
}

/**
 * The HTTP behaviour of a proxy: auth, limits, CORS and the access log.
 *
 * @example
 * ```ts
 * import type { ProxyHttpOptions } from "@syft/syft/proxy/server";
 * const http: ProxyHttpOptions = { apiKey: "s3cret", rateLimit: { limit: 600, windowMs: 60_000 } };
 * ```
 */
export interface ProxyHttpOptions {
  /** Require this key (`X-API-Key` or `Authorization: Bearer`) on all but `/health`. */
  apiKey?: string;
  /** Per-client rate limit (by API key, else by remote address); none when absent. */
  rateLimit?: RateLimit;
  /** The largest request body in bytes (default 1 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /** The largest encoded params/body in bytes (default `maxBodyBytes`); larger get 422. */
  maxParamsBytes?: number;
  /** The longest blocking wait in seconds (default 300). */
  maxTimeoutS?: number;
  /** Allowed CORS origins (`*` for any); no CORS headers when absent. */
  cors?: string[];
  /** Whether to log one line per request (default true). */
  accessLog?: boolean;
  /**
   * The least time between two write probes of `/health` (a tiny write to the store and the data
   * dir), in ms (default 5000); within it `/health` answers from the last probe.
   */
  healthIntervalMs?: number;
}

/** Options for {@linkcode createProxyApp}. */
export interface ProxyAppOptions extends ProxyHttpOptions {
  /** The gateway that sends requests and tracks them. */
  gateway: ProxyGateway;
  /** Aborted when the server stops: blocking waits and long-polls answer at once. */
  shutdown?: AbortSignal;
  /** The clock of the health probe's rate limit (default the system clock). */
  clock?: Clock;
}

type Env = { Variables: RequestIdVariables & { replied?: Response } };

/**
 * A JSON answer that carries its request id itself, built without Hono's `Headers` object (two
 * headers through it cost more than the rest of a send's answer): for apps with no middleware
 * that adds headers (CORS, rate limit), which the front middleware knows (`plain`). Anywhere else,
 * and for answers built otherwise, the front middleware adds the header.
 */
function reply(c: Context<Env>, body: unknown, status: ContentfulStatusCode): Response {
  if (c.get("replied") === undefined) return c.json(body, status);
  const res = new Response(JSON.stringify(body), {
    status,
    headers: [["content-type", "application/json"], ["x-request-id", c.get("requestId")]],
  });
  c.set("replied", res);
  return res;
}

/** The placeholder `replied` of a request whose answer is not built yet (plain apps only). */
const NOT_YET = Response.error();

/** The app and its metrics. */
export interface ProxyApp {
  /** The Hono app (serve it with `Deno.serve(app.fetch)` or test it with `app.request()`). */
  app: Hono<Env>;
  /** Its metrics. */
  metrics: ProxyMetrics;
  /** Live state, read from the same metrics (plus pending requests and a feed). */
  live: ProxyLiveSource;
}

/** Statuses whose HTTP responses cannot have a body. */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * An error answer: `detail` as FastAPI writes it (the text, or for 422 the list of items), so
 * clients of the real syft-proxy read it; `error` (a code), `message` and more for everyone else.
 */
function errorBody(
  c: Context<Env>,
  error: string,
  message: string,
  extra: object = {},
  detail: string | DetailItem[] = message,
) {
  return { detail, error, message, ...extra, request_id: c.get("requestId") };
}

/** A 422 answer naming every failing field, in both forms (`fields` and FastAPI's `detail`). */
function invalid(
  c: Context<Env>,
  what: string,
  fields: FieldError[],
  detail: DetailItem[],
): Response {
  return c.json(
    errorBody(
      c,
      "validation_failed",
      `Invalid ${what}: ${fields.map((f) => `${f.field} ${f.message}`).join("; ")}`,
      { fields },
      detail,
    ),
    422,
  );
}

/** 404 for a send to an endpoint that is not in the local datasites (checked before sending). */
function endpointNotFound(
  c: Context<Env>,
  missing: { missing: string; path: string; message: string },
  extra: object,
): Response {
  return c.json(
    errorBody(c, "endpoint_not_found", missing.message, {
      missing: missing.missing,
      path: missing.path,
      ...extra,
    }),
    404,
  );
}

/**
 * Checks the API key a request presents, once per request: the rate limit (which runs first, so
 * that wrong keys count against the caller) and the auth check share the answer.
 */
function apiKeyChecker(key: string): (c: Context<Env>) => Promise<boolean> {
  const checked = new WeakMap<Request, Promise<boolean>>();
  return (c) => {
    let ok = checked.get(c.req.raw);
    if (ok === undefined) {
      const presented = c.req.header("x-api-key") ?? bearer(c.req.header("authorization"));
      ok = presented === undefined ? Promise.resolve(false) : timingSafeEqual(presented, key);
      checked.set(c.req.raw, ok);
    }
    return ok;
  };
}

function clientAddress(c: Context<Env>): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return m?.[1]?.trim();
}

function apiKeyAuth(keyOk: (c: Context<Env>) => Promise<boolean>): MiddlewareHandler<Env> {
  return async function apiKeyAuth(c, next) {
    if (c.req.path === "/health" || c.req.method === "OPTIONS") return await next();
    const presented = c.req.header("x-api-key") ?? bearer(c.req.header("authorization"));
    if (!(await keyOk(c))) {
      c.header("WWW-Authenticate", 'Bearer realm="syft-proxy"');
      return c.json(
        errorBody(
          c,
          "unauthorized",
          presented === undefined
            ? "Missing API key: send X-API-Key or Authorization: Bearer"
            : "Invalid API key",
        ),
        401,
      );
    }
    await next();
  };
}

/** Characters a client's request id may not hold (as Hono's `requestId` middleware checks). */
const BAD_REQUEST_ID_RE = /[^\w\-=]/;

/**
 * The one middleware in front of every route: the request id (the client's `X-Request-Id` when it
 * is at most 255 word characters, `-` and `=`, else a new UUID; as Hono's `requestId` middleware
 * does), the HTTP metrics and the access log. One layer instead of three: every middleware is one
 * more async step and closure per request.
 */
function front(
  record: HttpRecorder,
  logAccess: boolean,
  plain: boolean,
): MiddlewareHandler<Env> {
  return async function front(c, next) {
    const start = performance.now();
    let id = c.req.header("x-request-id");
    if (!id || id.length > 255 || BAD_REQUEST_ID_RE.test(id)) id = crypto.randomUUID();
    c.set("requestId", id);
    if (plain) c.set("replied", NOT_YET);
    else c.header("X-Request-Id", id);
    try {
      await next();
    } finally {
      const ms = performance.now() - start;
      const res = c.res;
      if (plain && c.get("replied") !== res) {
        try {
          res.headers.set("X-Request-Id", id);
        } catch { /* an answer with immutable headers goes without */ }
      }
      const status = res.status;
      record(c.req.method, c.req.routePath, status, ms / 1000);
      if (logAccess && accessLog.isEnabledFor("info")) {
        accessLog.info("{method} {path} {status} {duration_ms} ms", {
          method: c.req.method,
          path: c.req.path,
          status,
          duration_ms: Math.round(ms * 100) / 100,
          request_id: id,
          client: clientAddress(c),
        });
      }
    }
  };
}

const JSON_TYPE_RE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a JSON body as FastAPI does: a JSON `Content-Type` or none at all; an empty body is a
 * missing one (`undefined`); text that is not JSON is a 422 `json_invalid` item at Python's
 * position. Another `Content-Type` is 415 (FastAPI would try to validate the raw bytes and
 * answer 422). Body-limit errors propagate to the limit middleware.
 */
async function readJson(
  c: Context<Env>,
): Promise<{ value: unknown; response?: undefined } | { response: Response }> {
  const type = c.req.header("content-type");
  if (type !== undefined && type !== "" && !JSON_TYPE_RE.test(type)) {
    return {
      response: c.json(
        errorBody(
          c,
          "unsupported_media_type",
          `Expected Content-Type: application/json, got "${type}"`,
        ),
        415,
      ),
    };
  }
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length === 0) return { value: undefined };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return {
      response: c.json(
        // FastAPI's text for a body its JSON decoder cannot even read.
        errorBody(
          c,
          "bad_request",
          "The body is not UTF-8 text",
          {},
          "There was an error parsing the body",
        ),
        400,
      ),
    };
  }
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      response: invalid(c, "body", [{ field: "(body)", message: `is not JSON: ${reason}` }], [
        jsonInvalidItem(text),
      ]),
    };
  }
}

/**
 * Reads and validates a JSON body (and, for the real package's `POST /rpc`, the query with it:
 * FastAPI reports the failures of both in one answer, the query's first), after the body limit.
 * A function the route calls, not middleware: two fewer async layers per send.
 *
 * @returns The validated values, or the answer to give instead (413, 415, 400 or 422).
 */
async function jsonInput<B extends z.ZodType, Q extends z.ZodType = z.ZodNever>(
  c: Context<Env>,
  limit: (c: Context<Env>) => Promise<Response | undefined> | Response | undefined,
  body: B,
  query?: Q,
): Promise<{ json: z.output<B>; query: z.output<Q> } | Response> {
  const refused = await limit(c);
  if (refused !== undefined) return refused;
  const fields: FieldError[] = [];
  const detail: DetailItem[] = [];
  let q: unknown;
  if (query !== undefined) {
    const raw = c.req.query();
    const parsed = query.safeParse(raw);
    if (parsed.success) q = parsed.data;
    else {
      fields.push(...fieldErrors(parsed.error));
      detail.push(...detailItems(parsed.error.issues, "query", raw));
    }
  }
  const read = await readJson(c);
  if (read.response !== undefined) {
    // A body that cannot be read at all is answered alone (FastAPI does the same).
    return read.response;
  }
  const parsed = body.safeParse(read.value);
  if (!parsed.success) {
    fields.push(...fieldErrors(parsed.error));
    detail.push(...detailItems(parsed.error.issues, "body", read.value));
  }
  if (fields.length > 0) {
    return invalid(c, query === undefined ? "body" : "request", fields, detail);
  }
  return { json: parsed.data as z.output<B>, query: q as z.output<Q> };
}

/** A zod validator of the query or path whose failures answer 422 naming every failing field. */
function valid<T extends "query" | "param", S extends z.ZodType>(target: T, schema: S) {
  return zValidator(target, schema, (result, c) => {
    if (!result.success) {
      return invalid(
        c as Context<Env>,
        target,
        fieldErrors(result.error),
        detailItems(result.error.issues, target === "param" ? "path" : "query", result.data),
      );
    }
  });
}

function seedResult(record: RequestRecord): SendResult {
  if (record.status === "completed" || record.status === "failed") {
    return {
      id: record.id,
      status: record.status,
      result: record.status === "completed" ? wireBodyValue(record.response?.body) : null,
      error: record.error,
      status_code: record.status_code,
    };
  }
  return { id: record.id, status: record.status };
}

function seedStatus(record: RequestRecord): StatusResult {
  return {
    id: record.id,
    app_name: record.app_name,
    func_name: record.func_name,
    destination: record.destination,
    status: record.status,
    result: record.status === "completed" ? wireBodyValue(record.response?.body) : null,
    error: record.error,
    status_code: record.status_code,
    created_at: record.created_at,
    completed_at: record.completed_at,
  };
}

const SKIP_HEADERS = new Set([
  "content-length",
  "content-type",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "set-cookie",
  "upgrade",
  "x-request-id",
]);

/** Answers in the real package's `RPCStatus` shape; finished ones carry the RPC status code. */
function rpcStatusResponse(
  c: Context<Env>,
  record: RequestRecord,
  finishedName: "RPC_COMPLETED" | "by-status",
): Response {
  const finished = record.status === "completed" || record.status === "failed";
  const body: RpcStatus = {
    id: record.id,
    status: !finished
      ? "RPC_PENDING"
      : finishedName === "RPC_COMPLETED" || record.status === "completed"
      ? "RPC_COMPLETED"
      : "RPC_ERROR",
    request: record.request,
    response: record.response,
  };
  if (!finished) return reply(c, body, 200);
  for (const [name, value] of Object.entries(record.response?.headers ?? {})) {
    if (!SKIP_HEADERS.has(name.toLowerCase()) && /^[!#$%&'*+.^_`|~\w-]+$/.test(name)) {
      try {
        c.header(name, value);
      } catch { /* an invalid header value from the app is not forwarded */ }
    }
  }
  const code = record.status_code ?? 200;
  // The HTTP status mirrors the app's, except where HTTP forbids a body (204, 205, 304): the
  // answer carries the RPCStatus body, which names the app's status in `response.status_code`.
  const usable = code >= 200 && code <= 599 && !NULL_BODY_STATUSES.has(code);
  return c.json(body, (usable ? code : 200) as ContentfulStatusCode);
}

/**
 * Builds the proxy's Hono app around a started gateway.
 *
 * @param options The gateway, auth, limits and CORS.
 * @returns The app and its metrics.
 */
export function createProxyApp(options: ProxyAppOptions): ProxyApp {
  const gateway = options.gateway;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxTimeoutS = options.maxTimeoutS ?? DEFAULT_MAX_TIMEOUT_S;
  const schemas = buildSchemas({
    maxTimeoutS,
    maxParamsBytes: options.maxParamsBytes ?? maxBody,
  });
  const metrics = createMetrics(() => gateway.counts.pending);
  gateway.addFinishListener((record, seconds) => metrics.finished(record, seconds));
  const startedAt = Date.now();
  const live = createProxyLive({ gateway, registry: metrics.registry, startedAt });
  const shutdown = options.shutdown;
  // Not the request's own signal: Deno aborts it after every response (legacy behaviour) and
  // warns about listeners on it; a disconnected long-poll only holds a timer until it ends.
  const waitSignal = (_c: Context<Env>): AbortSignal => shutdown ?? NEVER;

  const app = new Hono<Env>();
  // Without CORS or a rate limit no middleware adds response headers: JSON answers then carry the
  // request id themselves (see reply()).
  const plain = !(options.cors && options.cors.length > 0) && !options.rateLimit;
  app.use(front(metrics.http, options.accessLog !== false, plain));
  if (options.cors && options.cors.length > 0) {
    const origins = options.cors;
    app.use(cors({
      origin: origins.includes("*") ? "*" : origins,
      allowHeaders: ["Content-Type", "Authorization", "X-API-Key", "X-Request-Id"],
      exposeHeaders: ["X-Request-Id", "Retry-After"],
      maxAge: 600,
    }));
  }
  const keyOk = options.apiKey === undefined ? undefined : apiKeyChecker(options.apiKey);
  if (options.rateLimit) {
    // The bucket of a request with the right key; a digest, not the key: with a Redis store the
    // counter's name is visible in Redis. Anything else counts against the client's address.
    const keyBucket = options.apiKey === undefined
      ? undefined
      : `key:${createHash("sha256").update(options.apiKey).digest("base64url")}`;
    // Proxies sharing a Redis request store share their counters as well.
    const backend = gateway.store.rateLimitBackend?.();
    app.use(rateLimiter<Env>({
      ...(backend === undefined ? {} : { store: new RedisStore<Env>(backend) }),
      windowMs: options.rateLimit.windowMs,
      limit: options.rateLimit.limit,
      standardHeaders: "draft-6",
      keyGenerator: async (c) =>
        keyBucket !== undefined && await keyOk!(c) ? keyBucket : `addr:${clientAddress(c)}`,
      // A dashboard reading /live (a few times a second) must not use up the clients' budget.
      skip: (c) =>
        c.req.path === "/health" || c.req.path === "/live" || c.req.path.startsWith("/live/"),
      handler: (c) => {
        metrics.rateLimited();
        live.rateLimited(clientAddress(c));
        return c.json(
          errorBody(
            c,
            "rate_limited",
            `Too many requests: at most ${options.rateLimit!.limit} per ${
              options.rateLimit!.windowMs / 1000
            } s; retry after the number of seconds in Retry-After`,
          ),
          429,
        );
      },
    }));
  }
  if (keyOk !== undefined) app.use(apiKeyAuth(keyOk));
  const tooLarge = (c: Context<Env>): Response =>
    c.json(errorBody(c, "payload_too_large", `Body exceeds ${maxBody} bytes`), 413);
  const chunkedLimit = bodyLimit({ maxSize: maxBody, onError: (c) => tooLarge(c as Context<Env>) });
  // Hono's bodyLimit touches `req.body` even when Content-Length settles it, which moves Deno off
  // its fast body path (a quarter of the send rate): check the header here, stream only when
  // there is none (chunked bodies).
  const limitBody = (c: Context<Env>): Promise<Response | undefined> | Response | undefined => {
    const length = c.req.raw.headers.get("content-length");
    if (length !== null && !c.req.raw.headers.has("transfer-encoding")) {
      return Number(length) > maxBody ? tooLarge(c) : undefined;
    }
    let passed = false;
    return Promise.resolve(chunkedLimit(c, () => {
      passed = true;
      return Promise.resolve();
    })).then((res) => passed ? undefined : (res as Response));
  };

  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      const status = err.status;
      return c.json(
        errorBody(c, status === 400 ? "bad_request" : "http_error", err.message || "Bad request"),
        status,
      );
    }
    if (err instanceof StoreError) {
      log.error("Store failure: {error}", { error: err });
      return c.json(errorBody(c, "store_unavailable", err.message), 503);
    }
    log.error("Unhandled error on {path}: {error}", { path: c.req.path, error: err });
    return c.json(
      errorBody(c, "internal", err instanceof SyftError ? err.message : "Internal server error"),
      500,
    );
  });
  app.notFound((c) =>
    c.json(
      // FastAPI's (Starlette's) text for an unknown route.
      errorBody(c, "not_found", `No route ${c.req.method} ${c.req.path}`, {}, "Not Found"),
      404,
    )
  );

  const info = (): ProxyInfo => ({
    name: "syft-proxy",
    description: "SyftBox HTTP Proxy",
    version: VERSION,
    uptime_s: Math.round((Date.now() - startedAt) / 100) / 10,
    store: gateway.store.description,
    email: gateway.backend.email,
    requests: gateway.counts,
  });

  app.get("/", (c) => c.json(info()));
  app.get("/info", (c) => c.json(info()));
  const writeProbe = new WriteProbe(() => gateway.checkWritable(), {
    ...(options.healthIntervalMs === undefined ? {} : { intervalMs: options.healthIntervalMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  app.get("/health", async (c) => {
    let store = "ok";
    try {
      await gateway.store.get("00000000-0000-4000-8000-000000000000");
    } catch (err) {
      store = err instanceof Error ? err.message : String(err);
    }
    const written = await writeProbe.check();
    if (store === "ok") store = written.store;
    const ok = store === "ok" && written.data === "ok";
    return c.json(
      { status: ok ? "ok" : "unhealthy", uptime_s: info().uptime_s, store, data: written.data },
      ok ? 200 : 503,
    );
  });
  app.get("/metrics", async (c) => {
    return c.text(await metrics.text(), 200, {
      "Content-Type": metrics.registry.contentType,
    });
  });

  // Live state for a dashboard in another process (behind the API key when one is set; actions:
  // none).
  const liveRoutes = liveHandler(live.source);
  app.on(["GET", "POST"], ["/live", "/live/*"], async (c) => {
    return (await liveRoutes(c.req.raw, c.env as Deno.ServeHandlerInfo | undefined)) ??
      c.notFound();
  });

  app.post(
    "/rpc/send",
    async (c) => {
      const input = await jsonInput(c, limitBody, schemas.send);
      if (input instanceof Response) return input;
      const body = input.json;
      const url = `syft://${body.destination}/app_data/${body.app_name}/rpc/${body.func_name}`;
      const missing = await gateway.missingEndpoint({
        destination: body.destination,
        appName: body.app_name,
        funcName: body.func_name,
      });
      if (missing) return endpointNotFound(c, missing, { id: null, status: "failed" });
      const record = await gateway.send("seed", {
        url,
        destination: body.destination,
        appName: body.app_name,
        funcName: body.func_name,
        method: body.method,
        body: paramsToBody(body.params),
        headers: body.headers,
        expiresAt: new Date(Date.now() + Math.max(DEFAULT_EXPIRY_MS, body.timeout * 1000)),
      }, { wait: body.blocking });
      if (!body.blocking || record.status !== "pending") return reply(c, seedResult(record), 200);
      // A result is answered once the store holds it (else 503 store_unavailable; the app's
      // answer stays in its response file, and is stored later or by a restart).
      const done = await gateway.waitFor(record.id, body.timeout * 1000, waitSignal(c), {
        stored: true,
      }) ?? record;
      // An answer is returned as soon as it is known; a pending one must be stored first (503).
      if (done.status === "pending") await gateway.accepted(record.id);
      return reply(c, seedResult(done), done.status === "pending" ? 202 : 200);
    },
  );

  app.post(
    "/rpc/broadcast",
    async (c) => {
      const input = await jsonInput(c, limitBody, schemas.broadcast);
      if (input instanceof Response) return input;
      const body = input.json;
      const payload = paramsToBody(body.params);
      const expiresAt = new Date(Date.now() + DEFAULT_EXPIRY_MS);
      const records = await Promise.all(body.destinations.map((d) => {
        const url = d.startsWith("syft://")
          ? d
          : `syft://${d}/app_data/${body.app_name}/rpc/${body.func_name}`;
        const parts = rpcUrlParts(url);
        return gateway.send("seed", {
          url,
          destination: parts.destination,
          appName: parts.app || (body.app_name ?? ""),
          funcName: parts.func || body.func_name,
          method: body.method,
          body: payload,
          headers: body.headers,
          expiresAt,
        });
      }));
      return c.json({ request_ids: records.map((r) => r.id) }, 200);
    },
  );

  app.get("/rpc/status/:id", valid("query", schemas.statusQuery), async (c) => {
    const asked = c.req.param("id");
    const id = asked.toLowerCase(); // ids are lowercase UUIDs; accept any case
    const { wait } = c.req.valid("query");
    const record = /^[0-9a-f-]{36}$/i.test(id)
      ? (wait ? await gateway.waitFor(id, wait * 1000, waitSignal(c)) : await gateway.get(id))
      : null;
    if (record === null) {
      return c.json(
        errorBody(c, "not_found", `No request with id "${asked}" (unknown or expired)`, {
          id: asked, // as the real package: the id as asked
          status: "RPC_NOT_FOUND",
          request: null,
          response: null,
        }),
        404,
      );
    }
    if (record.api === "rpc") return rpcStatusResponse(c, record, "by-status");
    return c.json(seedStatus(record), 200);
  });

  app.get(
    "/rpc/schema/:app",
    valid("param", schemas.appParam),
    valid("query", schemas.schemaQuery),
    async (c) => {
      const { app: appName } = c.req.valid("param");
      const datasite = c.req.valid("query").datasite ?? gateway.backend.email;
      const raw = await gateway.backend.readSchema(datasite, appName);
      if (raw === null || typeof raw !== "object") {
        return c.json(
          errorBody(c, "not_found", `No rpc.schema.json for app "${appName}" on ${datasite}`),
          404,
        );
      }
      const functions: Record<string, { params: unknown; returns: unknown; description: unknown }> =
        {};
      for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
        if (!key.startsWith("/")) continue; // endpoints are "/name"; anything else is not one
        const v = (value ?? {}) as Record<string, unknown>;
        functions[key.replace(/^\/+/, "")] = {
          params: v.args ?? {},
          returns: v.returns ?? "any",
          description: v.description ?? null,
        };
      }
      // The file as written, which is what the real package answers (its clients read the
      // "/endpoint" keys), and the seed's summary beside it under keys no endpoint can have.
      return c.json({ ...raw, app_name: appName, datasite, functions }, 200);
    },
  );

  app.post(
    "/rpc",
    async (c) => {
      const input = await jsonInput(c, limitBody, schemas.rpcSend, schemas.rpcQuery);
      if (input instanceof Response) return input;
      const { json: body, query } = input;
      const parts = rpcUrlParts(body.url);
      const missing = await gateway.missingEndpoint({
        destination: parts.destination,
        appName: parts.app,
        funcName: parts.func,
      });
      if (missing) {
        return endpointNotFound(c, missing, {
          id: null,
          status: "RPC_NOT_FOUND",
          request: null,
          response: null,
        });
      }
      const record = await gateway.send("rpc", {
        url: body.url,
        destination: parts.destination,
        appName: parts.app, // the schema made sure the URL names an app endpoint
        funcName: parts.func,
        method: body.method,
        body: rpcBodyToBytes(body.body),
        headers: body.headers,
        expiresAt: new Date(Date.now() + body.expiry),
      }, { wait: query.blocking });
      if (!query.blocking || record.status !== "pending") {
        return rpcStatusResponse(c, record, "RPC_COMPLETED");
      }
      const timeoutS = query.timeout ?? maxTimeoutS;
      const done = await gateway.waitFor(record.id, timeoutS * 1000, waitSignal(c), {
        stored: true,
      }) ?? record;
      if (done.status === "pending") {
        await gateway.accepted(record.id);
        return c.json(
          { id: done.id, status: "RPC_PENDING", request: done.request, response: null },
          202,
        );
      }
      return rpcStatusResponse(c, done, "RPC_COMPLETED");
    },
  );

  return { app, metrics, live: live.source };
}
