/**
 * The pub/sub server's Hono app: the fastapi_websocket_pubsub endpoint (default `/pubsub`),
 * `GET /health` and `GET /metrics` (Prometheus).
 *
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { Registry } from "prom-client";
import { createHash, timingSafeEqual } from "node:crypto";
import { VERSION } from "../../lib/version.ts";
import type { Clock } from "../../lib/_clock.ts";
import { PubSubServerError } from "../../lib/pubsub/fastapi_errors.ts";
import { Broker } from "./_broker.ts";
import { createPubSubMetrics } from "./_metrics.ts";
import { RedisBridge } from "./_redis.ts";
import { RECEIVERS_HEADER, Session, type SessionLimits } from "./_session.ts";
import { PubSubStats } from "./_stats.ts";
import { isLoopbackPeer, liveHandler, type PubSubLiveSource } from "../../lib/live/mod.ts";
import { createPubSubLive } from "./live.ts";

/** The default WebSocket path. */
export const DEFAULT_PUBSUB_PATH = "/pubsub";

/** Options of {@linkcode createPubSubApp}. */
export interface PubSubAppOptions {
  /** The WebSocket path (default `/pubsub`). */
  path?: string;
  /** A token required on upgrade (`Authorization: Bearer <token>` or `?token=`); refusals get 401. */
  token?: string;
  /** Notifications that may wait for one slow subscriber; one more disconnects it (default 1,000). */
  maxQueue?: number;
  /** Bytes in a subscriber's socket buffer above which notifications wait in its queue (default 1 MiB). */
  sendBufferBytes?: number;
  /** Longest frame accepted from a client, in characters (default 16 Mi); longer ones are ignored and counted. */
  maxFrameChars?: number;
  /** How long a sync publish waits for subscribers' notify answers (default 30,000 ms). */
  notifyTimeoutMs?: number;
  /** WebSocket heartbeat in seconds: a silent peer is pinged after half of it and dropped after all of it (default 40). */
  idleTimeout?: number;
  /** The clock of `notifyTimeoutMs` (default the system's; tests inject a fake one). */
  clock?: Clock;
}

/** A pub/sub app and its parts. */
export interface PubSubApp {
  /** The Hono app. */
  app: Hono;
  /** The Prometheus registry behind `/metrics`. */
  metrics: Registry;
  /** Its live state (connections, topics, rates, drops), also served at `GET /live`. */
  live: PubSubLiveSource;
  /** Open connections now. */
  readonly connections: number;
  /**
   * Connects to Redis: instances sharing `url` and `prefix` (default `syft:pubsub`) act as one.
   *
   * @throws {PubSubServerError} `PUBSUB_REDIS` when Redis cannot be reached within 5 s.
   */
  connectRedis(url: string, prefix?: string): Promise<void>;
  /**
   * Refuses new upgrades (503), lets every subscriber's queue drain (at most `drainMs`, default
   * 2,000), closes the sockets with `code` (1001 going away, or 1012 service restart) and Redis.
   */
  close(options?: { code?: 1001 | 1012; drainMs?: number }): Promise<void>;
}

function digest(value: string): Uint8Array {
  return createHash("sha256").update(value).digest();
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new PubSubServerError(
      "PUBSUB_OPTIONS",
      `Cannot use ${name} ${value}: expected a number > 0`,
    );
  }
  return value;
}

/**
 * Builds the pub/sub app. Serve `app.fetch` with `Deno.serve` (or use `startPubSubServer`).
 *
 * @param options Path, token and limits.
 * @returns The app, its metrics and `close()`.
 * @throws {PubSubServerError} `PUBSUB_OPTIONS` for a limit that is not a positive number.
 *
 * @example Serve it yourself
 * ```ts
 * import { createPubSubApp } from "./app.ts";
 * const pubsub = createPubSubApp({ path: "/pubsub" });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, pubsub.app.fetch);
 * await pubsub.close();
 * await server.shutdown();
 * ```
 */
export function createPubSubApp(options: PubSubAppOptions = {}): PubSubApp {
  const path = options.path ?? DEFAULT_PUBSUB_PATH;
  if (!path.startsWith("/")) {
    throw new PubSubServerError(
      "PUBSUB_OPTIONS",
      `Cannot serve path ${JSON.stringify(path)}: it must start with "/"`,
    );
  }
  const limits: SessionLimits = {
    maxQueue: positive(options.maxQueue, 1_000, "maxQueue"),
    sendBufferBytes: positive(options.sendBufferBytes, 1024 * 1024, "sendBufferBytes"),
    maxFrameChars: positive(options.maxFrameChars, 16 * 1024 * 1024, "maxFrameChars"),
  };
  const idleTimeout = options.idleTimeout ?? 40;
  const stats = new PubSubStats();
  const broker = new Broker(
    stats,
    positive(options.notifyTimeoutMs, 30_000, "notifyTimeoutMs"),
    options.clock,
  );
  const metrics = createPubSubMetrics(stats, broker);
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);
  const startedAt = Date.now();
  const live = createPubSubLive({ broker, stats, startedAt, name: () => path });
  let redis: RedisBridge | undefined;
  let closing: Promise<void> | undefined;
  /** Sockets whose close event has not come yet (close() waits for them). */
  let openSockets = 0;

  const app = new Hono();
  app.get("/health", (c) => {
    const redisState = redis === undefined ? "off" : redis.healthy ? "ok" : "down";
    const ok = closing === undefined && redisState !== "down";
    return c.json({
      status: closing !== undefined ? "closing" : ok ? "ok" : "degraded",
      service: "syft-pubsub",
      version: VERSION,
      path,
      auth: tokenDigest !== undefined,
      redis: redisState,
      connections: broker.sessions.size,
      topics: broker.topicCount,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    }, ok ? 200 : 503);
  });
  app.get(
    "/metrics",
    async (c) => c.body(await metrics.metrics(), 200, { "content-type": metrics.contentType }),
  );
  // Live state for a dashboard in another process (`syft dashboard --url`). With a token every
  // /live route needs it; without one, only loopback peers may read it.
  const liveRoutes = liveHandler(live);
  app.on(["GET", "POST"], ["/live", "/live/*"], async (c) => {
    const info = c.env as Deno.ServeHandlerInfo | undefined;
    if (tokenDigest !== undefined) {
      const auth = c.req.header("authorization");
      const given = auth?.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : undefined;
      if (given === undefined || !timingSafeEqual(digest(given), tokenDigest)) {
        return c.json({ error: "Unauthorized: send Authorization: Bearer <token>" }, 401);
      }
    } else if (info !== undefined && !isLoopbackPeer(info)) {
      return c.json(
        { error: "The live state is served to loopback peers only (or with --token)" },
        403,
      );
    }
    return (await liveRoutes(c.req.raw, info)) ?? c.notFound();
  });
  app.get(
    path,
    async (c, next) => {
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        return c.json(
          {
            error:
              `Expected a WebSocket upgrade: connect a fastapi_websocket_pubsub client to ${path}`,
          },
          426,
          {
            upgrade: "websocket",
          },
        );
      }
      if (closing !== undefined) {
        return c.json({ error: "The pub/sub server is shutting down" }, 503);
      }
      if (tokenDigest !== undefined) {
        const auth = c.req.header("authorization");
        const given = auth?.toLowerCase().startsWith("bearer ")
          ? auth.slice(7).trim()
          : c.req.query("token");
        if (given === undefined || !timingSafeEqual(digest(given), tokenDigest)) {
          stats.authRefused++;
          return c.json({
            error: given === undefined
              ? "Unauthorized: this server needs a token (Authorization: Bearer <token> or ?token=<token>)"
              : "Unauthorized: wrong token",
          }, 401);
        }
      }
      await next();
    },
    upgradeWebSocket((c) => {
      let session: Session | undefined;
      const reportsReceivers = c.req.header(RECEIVERS_HEADER)?.includes("receivers") === true;
      return {
        onOpen(_evt, ws) {
          openSockets++;
          session = new Session(ws.raw!, broker, stats, limits, reportsReceivers);
          stats.connectionsTotal++;
          broker.add(session);
        },
        onMessage(evt) {
          session?.onFrame(evt.data);
        },
        onClose() {
          if (session !== undefined) openSockets--;
          session?.onClose();
        },
      };
    }, { idleTimeout }),
  );

  return {
    app,
    metrics,
    live,
    get connections() {
      return broker.sessions.size;
    },
    async connectRedis(url, prefix = "syft:pubsub") {
      if (redis !== undefined) {
        throw new PubSubServerError(
          "PUBSUB_OPTIONS",
          "Cannot connect Redis twice to one pub/sub app",
        );
      }
      redis = await RedisBridge.connect(url, prefix, broker, stats);
      broker.forwarder = redis;
    },
    close({ code = 1001, drainMs = 2_000 } = {}) {
      closing ??= (async () => {
        const deadline = Date.now() + drainMs;
        while (Date.now() < deadline && [...broker.sessions].some((s) => !s.drained)) {
          await new Promise((r) => setTimeout(r, 10));
        }
        const reason = code === 1012 ? "server restarting" : "server shutting down";
        for (const session of [...broker.sessions]) session.close(code, reason);
        // Let the close handshakes finish (at most 1 s) before the listener goes away.
        const closedBy = Date.now() + 1_000;
        while (openSockets > 0 && Date.now() < closedBy) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await redis?.close();
      })();
      return closing;
    },
  };
}
