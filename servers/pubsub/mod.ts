/**
 * The pub/sub server: speaks the fastapi_websocket_pubsub protocol (fastapi_websocket_rpc frames
 * over WebSocket), so Python `fastapi_websocket_pubsub` clients and eventhive's fastapi
 * connectors connect to it unchanged; `--redis URL` makes several instances act as one.
 *
 * Differences from the Python server (same wire):
 * - notifications go out concurrently through a bounded queue per subscriber; one slow
 *   subscriber never delays the others, and one over its limit (`maxQueue`) is disconnected with
 *   1013 and a reason;
 * - a sync publish whose publisher gets its own notification (`notifier_id` not its own id) does
 *   not deadlock; a sync publish waits at most `notifyTimeoutMs` for answers;
 * - a malformed or binary frame is ignored and counted instead of ending the connection; an
 *   unknown method still closes it with 1000, as the original, with the method in the reason;
 * - one notification per subscriber and topic.
 *
 * `syft pubsub serve` uses {@linkcode startPubSubServer}; running this file starts it:
 *
 * ```sh
 * deno run -P servers/pubsub/mod.ts --port 8085 --path /pubsub [--redis redis://127.0.0.1:6379] [--token T]
 * ```
 *
 * @module
 */
import { type HardenedServer, serveHardened } from "../_serve.ts";
import { registerServeMetrics } from "../_serve_metrics.ts";
import type { ServeLimits } from "../_limits.ts";
import { parseArgs } from "node:util";
import { PubSubServerError } from "../../lib/pubsub/fastapi_errors.ts";
import { createPubSubApp, DEFAULT_PUBSUB_PATH } from "./app.ts";
import type { PubSubLiveSource, PubSubLiveState } from "../../lib/live/mod.ts";
import type { PubSubClock } from "../../lib/pubsub/mod.ts";

export { PubSubServerError, type PubSubServerErrorCode } from "../../lib/pubsub/fastapi_errors.ts";
export { DEFAULT_PUBSUB_PATH } from "./app.ts";
export type { ServeLimits } from "../_limits.ts";

/** The default port (eventhive's and fastapi_websocket_pubsub's examples use 8085). */
export const DEFAULT_PUBSUB_PORT = 8085;

/**
 * Options of {@linkcode startPubSubServer}.
 *
 * @example Two instances acting as one, with a token
 * ```ts ignore
 * import { startPubSubServer } from "@syft/syft/pubsub/server";
 * const options = { redisUrl: "redis://127.0.0.1:6379", token: "s3cret", maxQueue: 5_000 };
 * await using a = await startPubSubServer({ ...options, port: 8085 });
 * await using b = await startPubSubServer({ ...options, port: 8086 });
 * ```
 */
export interface PubSubServerOptions {
  /**
   * Connection limit and headers/body/idle timeouts (defaults: 10,000 connections, 10 s, 30 s,
   * 60 s; see docs/reliability.md).
   */
  limits?: ServeLimits;
  /** Bind address (default 127.0.0.1). */
  hostname?: string;
  /** Port (default 8085; 0 picks a free one). */
  port?: number;
  /** WebSocket path (default `/pubsub`). */
  path?: string;
  /** A Redis URL: instances sharing it (and `redisPrefix`) act as one server. */
  redisUrl?: string;
  /** Channel prefix in Redis (default `syft:pubsub`). */
  redisPrefix?: string;
  /** A token required on upgrade (`Authorization: Bearer` or `?token=`); others get 401. */
  token?: string;
  /** Notifications that may wait for one slow subscriber before it is disconnected (default 1,000). */
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
  clock?: PubSubClock;
}

/**
 * A running pub/sub server.
 *
 * @example Restart-friendly shutdown
 * ```ts ignore
 * import { startPubSubServer } from "@syft/syft/pubsub/server";
 * const server = await startPubSubServer();
 * Deno.addSignalListener("SIGTERM", () => server.close({ code: 1012 }));
 * ```
 */
export interface PubSubServer extends AsyncDisposable {
  /** The WebSocket URL, such as `ws://127.0.0.1:8085/pubsub`. */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** Open connections now. */
  readonly connections: number;
  /** Its live state for a dashboard (`syft up` shows it), also served at `GET /live`. */
  readonly live: PubSubLiveSource;
  /**
   * Drains every subscriber's queue (up to 2 s), closes the sockets (1001, or 1012 with
   * `{ code: 1012 }` for a restart), Redis, then the listener.
   */
  close(options?: { code?: 1001 | 1012 }): Promise<void>;
}

function hostForUrl(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "::") return "127.0.0.1";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/**
 * Starts the pub/sub server.
 *
 * @param options Bind address, port, path, Redis, token and limits.
 * @returns The running server; `close()` or `await using` stops it.
 * @throws {PubSubServerError} `PUBSUB_ADDR_IN_USE` (with `host`, `port`, and Deno's `AddrInUse`
 *   as `cause`), `PUBSUB_LISTEN`, `PUBSUB_REDIS`, `PUBSUB_OPTIONS`.
 *
 * @example Start one on a free port
 * ```ts
 * import { startPubSubServer } from "./mod.ts";
 * await using server = await startPubSubServer({ port: 0 });
 * console.log(server.url); // ws://127.0.0.1:<port>/pubsub
 * ```
 */
export async function startPubSubServer(options: PubSubServerOptions = {}): Promise<PubSubServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? DEFAULT_PUBSUB_PORT;
  const path = options.path ?? DEFAULT_PUBSUB_PATH;
  const pubsub = createPubSubApp({ ...options, path });
  if (options.redisUrl !== undefined) {
    await pubsub.connectRedis(options.redisUrl, options.redisPrefix);
  }
  let server: HardenedServer;
  try {
    server = serveHardened(
      { ...options.limits, name: "the pub/sub server", websocket: true, hostname, port },
      pubsub.app.fetch,
    );
  } catch (err) {
    await pubsub.close({ drainMs: 0 });
    if (err instanceof Deno.errors.AddrInUse) {
      throw new PubSubServerError(
        "PUBSUB_ADDR_IN_USE",
        `Cannot start the pub/sub server: ${
          hostForUrl(hostname)
        }:${port} is already in use (choose another port or stop the process using it)`,
        { cause: err, host: hostname, port },
      );
    }
    throw new PubSubServerError(
      "PUBSUB_LISTEN",
      `Cannot start the pub/sub server on ${hostname}:${port}: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err, host: hostname, port },
    );
  }
  const served = server;
  registerServeMetrics(pubsub.metrics, { http: () => served.stats });
  const bound = server.addr.port;
  const url = `ws://${hostForUrl(hostname)}:${bound}${path}`;
  let stopping: Promise<void> | undefined;
  const close = (closeOptions: { code?: 1001 | 1012 } = {}): Promise<void> => {
    stopping ??= (async () => {
      await pubsub.close(closeOptions);
      await server.shutdown();
    })();
    return stopping;
  };
  const live: PubSubLiveSource = {
    ...pubsub.live,
    state: async (): Promise<PubSubLiveState> => ({ ...await pubsub.live.state(), name: url }),
  };
  return {
    url,
    port: bound,
    live,
    get connections() {
      return pubsub.connections;
    },
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: String(DEFAULT_PUBSUB_PORT) },
      path: { type: "string", default: DEFAULT_PUBSUB_PATH },
      redis: { type: "string" },
      token: { type: "string" },
      "max-queue": { type: "string" },
    },
  });
  const server = await startPubSubServer({
    hostname: values.host,
    port: Number(values.port),
    path: values.path,
    ...(values.redis === undefined ? {} : { redisUrl: values.redis }),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values["max-queue"] === undefined ? {} : { maxQueue: Number(values["max-queue"]) }),
  });
  Deno.stdout.writeSync(new TextEncoder().encode(`pubsub listening on ${server.url}\n`));
  const stop = async (): Promise<void> => {
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
