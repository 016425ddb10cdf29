/**
 * The dashboard's Hono app: the page, its script and style, `GET /api/state` (JSON snapshot),
 * `GET /api/events` (Server-Sent Events: the snapshot, then coalesced updates), request details,
 * admin actions (`POST /api/actions/<service>/<action>`) and the File RPC "try it" call
 * (`POST /api/rpc/call`).
 *
 * Security: when a token is set every route needs it (`Authorization: Bearer`, or the cookie the
 * page sets after `/?token=...`); a loopback-bound dashboard answers only requests whose `Host`
 * is loopback (against DNS rebinding); every POST needs the page's CSRF token in
 * `X-CSRF-Token` and a same-origin `Origin` when one is sent; actions from a peer off loopback
 * always need the token.
 *
 * @module
 */
import { Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import { createHash, timingSafeEqual } from "node:crypto";
import { isLoopbackHost, isLoopbackPeer, runAction } from "../../lib/live/mod.ts";
import type { DashboardCore, DashboardUpdate } from "./core.ts";
import { renderPage } from "./page.tsx";
import { APP_CSS, APP_JS } from "./static/bundle.ts";

/** What the "try it" form sends. */
export interface RpcCallInput {
  /** The endpoint's `syft://` URL. */
  url: string;
  /** The method (default POST). */
  method?: string;
  /** The body text (sent as is), or `null`. */
  body?: string | null;
  /** Headers. */
  headers?: Record<string, string>;
  /** How long to wait, in seconds (default 10, at most 60). */
  timeoutS?: number;
}

/** What the "try it" call answers. */
export interface RpcCallResult {
  /** The request id. */
  id: string;
  /** The response status. */
  status: number;
  /** Response headers. */
  headers: Record<string, string>;
  /** The body as text when it is UTF-8, else `null`. */
  bodyText: string | null;
  /** The body as base64 when it is not text. */
  bodyBase64: string | null;
  /** From sending to the response, in ms. */
  durationMs: number;
}

/** Options of {@linkcode createDashboardApp}. */
export interface DashboardAppOptions {
  /** The model. */
  core: DashboardCore;
  /** A token every request must carry (required when not bound to loopback). */
  token?: string;
  /** Bound to loopback: `Host` headers must be loopback too. */
  loopback: boolean;
  /** Sends a "try it" request (`undefined`: the form is off). */
  rpcCall?: (input: RpcCallInput) => Promise<RpcCallResult>;
  /** The CSRF token (default: random). */
  csrfToken?: string;
}

const COOKIE = "syft_dashboard";

function digest(v: string): Uint8Array {
  return createHash("sha256").update(v).digest();
}

function same(a: string | undefined | null, b: string): boolean {
  return a != null && timingSafeEqual(digest(a), digest(b));
}

function hostOf(hostHeader: string): string {
  const h = hostHeader.trim();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  return h.split(":")[0]!;
}

type Env = { Bindings: Deno.ServeHandlerInfo };

/**
 * Builds the dashboard app.
 *
 * @param options The model, token, binding and "try it" caller.
 * @returns The Hono app.
 */
export function createDashboardApp(options: DashboardAppOptions): Hono<Env> {
  const { core, token } = options;
  const csrf = options.csrfToken ?? crypto.randomUUID();
  const app = new Hono<Env>();

  app.use(async (c, next) => {
    if (options.loopback) {
      const host = c.req.header("host");
      if (host !== undefined && !isLoopbackHost(hostOf(host))) {
        return c.text(`Refusing Host "${host}": this dashboard answers on loopback only`, 403);
      }
    }
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
    c.header("x-frame-options", "DENY");
    if (token !== undefined) {
      const given = c.req.query("token");
      if (c.req.method === "GET" && c.req.path === "/" && given !== undefined) {
        if (!same(given, token)) return c.text("Wrong token", 401);
        setCookie(c, COOKIE, token, { httpOnly: true, sameSite: "Strict", path: "/" });
        return c.redirect("/", 303);
      }
      const auth = c.req.header("authorization");
      const bearer = auth?.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : undefined;
      if (!same(bearer, token) && !same(getCookie(c, COOKIE), token)) {
        return c.json({
          error:
            "This dashboard needs its token: open /?token=<token>, or send Authorization: Bearer <token>",
        }, 401);
      }
    }
    if (c.req.method === "POST") {
      if (!same(c.req.header("x-csrf-token"), csrf)) {
        return c.json({ error: "Missing or wrong X-CSRF-Token (reload the page)" }, 403);
      }
      const origin = c.req.header("origin");
      if (origin !== undefined && origin !== "null") {
        const host = c.req.header("host");
        let ok = false;
        try {
          ok = host !== undefined && new URL(origin).host === host;
        } catch { /* not a URL */ }
        if (!ok) return c.json({ error: `Refusing a cross-origin POST from ${origin}` }, 403);
      }
      if (token === undefined && !isLoopbackPeer(c.env)) {
        return c.json({ error: "Admin actions from off this machine need --dashboard-token" }, 403);
      }
    }
    await next();
  });

  app.get("/", (c) => {
    c.header(
      "content-security-policy",
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    c.header("cache-control", "no-store");
    return c.html(renderPage({ csrf, version: core.snapshot().version }));
  });
  app.get("/static/app.js", (c) => {
    c.header("cache-control", "no-cache");
    return c.body(APP_JS, 200, { "content-type": "text/javascript; charset=utf-8" });
  });
  app.get("/static/app.css", (c) => {
    c.header("cache-control", "no-cache");
    return c.body(APP_CSS, 200, { "content-type": "text/css; charset=utf-8" });
  });
  app.get("/health", (c) => c.json({ status: "ok" }));

  app.get("/api/state", (c) => {
    c.header("cache-control", "no-store");
    return c.json(core.snapshot());
  });

  app.get("/api/events", (c) => {
    c.header("cache-control", "no-store");
    c.header("x-accel-buffering", "no");
    return streamSSE(c, async (stream) => {
      let chain: Promise<void> = Promise.resolve();
      let queued = 0;
      const push = (event: string, data: unknown): void => {
        // A client that does not keep up loses feed batches, never ticks.
        if (queued > 64 && event === "events") return;
        queued++;
        chain = chain.then(() => stream.writeSSE({ event, data: JSON.stringify(data) }))
          .catch(() => {})
          .finally(() => queued--);
      };
      const { promise: closed, resolve: onClosed } = Promise.withResolvers<void>();
      stream.onAbort(() => onClosed());
      push("snapshot", core.snapshot());
      const unwatch = core.watch((u: DashboardUpdate) => push(u.type, u));
      const keepAlive = setInterval(() => push("ping", { now: Date.now() }), 15_000);
      try {
        await closed;
      } finally {
        clearInterval(keepAlive);
        unwatch();
      }
    });
  });

  app.get("/api/rpc/requests/:service/:id", async (c) => {
    const source = core.source(c.req.param("service"));
    if (source === undefined || source.part !== "rpc") {
      return c.json(
        { error: `No file-RPC app "${c.req.param("service")}" on this dashboard` },
        404,
      );
    }
    return await runAction(source, "request", { id: c.req.param("id") });
  });

  app.post("/api/actions/:service/:action", async (c) => {
    const source = core.source(c.req.param("service"));
    if (source === undefined) {
      return c.json({
        error: `No service "${c.req.param("service")}" with live state on this dashboard`,
      }, 404);
    }
    let args: unknown;
    try {
      args = await c.req.json();
    } catch {
      return c.json({ error: "The body must be a JSON object of arguments" }, 400);
    }
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      return c.json({ error: "The body must be a JSON object of arguments" }, 400);
    }
    const res = await runAction(source, c.req.param("action"), args as Record<string, unknown>);
    // The panels show the change at once instead of at the next sample.
    if (res.ok) queueMicrotask(() => void core.sample());
    return res;
  });

  app.post("/api/rpc/call", async (c) => {
    if (options.rpcCall === undefined) {
      return c.json(
        { error: "This dashboard has no workspace to send file-RPC requests from" },
        400,
      );
    }
    let input: RpcCallInput;
    try {
      input = await c.req.json();
    } catch {
      return c.json(
        { error: "The body must be JSON: {url, method?, body?, headers?, timeoutS?}" },
        400,
      );
    }
    if (typeof input?.url !== "string" || !input.url.startsWith("syft://")) {
      return c.json({ error: "url must be a syft:// URL of an endpoint" }, 400);
    }
    if (input.body !== undefined && input.body !== null && typeof input.body !== "string") {
      return c.json({ error: "body must be a string (the request body as text) or null" }, 400);
    }
    try {
      return c.json(await options.rpcCall(input));
    } catch (err) {
      return c.json({ error: err instanceof Error ? err.message : String(err) }, 502);
    }
  });

  app.notFound((c) => c.json({ error: `No route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => c.json({ error: err.message }, 500));
  return app;
}
