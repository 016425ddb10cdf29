/**
 * Starts the relay hub on `Deno.serve` (defaults 127.0.0.1:8765, path `/ws`), optionally fanned
 * out through Redis. `syft hub serve` and `syft up` use {@linkcode serveHub}; running this file
 * directly starts it with the same flags:
 *
 * ```sh
 * deno run -P servers/hub/main.ts --port 8765 --path /ws [--redis redis://127.0.0.1:6379] [--token T]
 * ```
 *
 * @module
 */
import { type HardenedServer, serveHardened } from "../_serve.ts";
import { registerServeMetrics } from "../_serve_metrics.ts";
import type { ServeLimits } from "../_limits.ts";
import { parseArgs } from "node:util";
import { connectRedisAdapter } from "../../lib/hub/mod.ts";
import { createHubApp, DEFAULT_HUB_PATH, type HubApp, type HubAppOptions } from "./app.ts";

/** The default port of the relay hub. */
export const DEFAULT_HUB_PORT = 8765;

/** Options of {@linkcode serveHub}. */
export interface ServeHubOptions extends Omit<HubAppOptions, "adapter"> {
  /**
   * Connection limit and headers/body/idle timeouts (defaults: 10,000 connections, 10 s, 30 s,
   * 60 s; see docs/reliability.md).
   */
  limits?: ServeLimits;
  /** Bind address (default 127.0.0.1). */
  hostname?: string;
  /** Port (default 8765; 0 picks a free one). */
  port?: number;
  /** A Redis URL: instances sharing it (and `redisPrefix`) act as one hub. */
  redisUrl?: string;
  /** Channel and key prefix in Redis (default `syft:hub`). */
  redisPrefix?: string;
}

/** A running relay hub. */
export interface RunningHub {
  /** The HTTP base URL, such as `http://127.0.0.1:8765`. */
  url: string;
  /** The WebSocket URL, such as `ws://127.0.0.1:8765/ws`. */
  wsUrl: string;
  /** The bound port. */
  port: number;
  /** The app, hub and router. */
  relay: HubApp;
  /** Closes every connection (1001), the Redis adapter, then the HTTP server. */
  shutdown(): Promise<void>;
}

function hostForUrl(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "::") return "127.0.0.1";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/**
 * Starts the relay hub.
 *
 * @param options Bind address, port, path, token, limits and Redis.
 * @returns The running hub; call `shutdown()` to stop it.
 * @throws {RedisAdapterError} When `redisUrl` is given and Redis cannot be reached.
 *
 * @example
 * ```ts
 * import { serveHub } from "./main.ts";
 * const running = await serveHub({ port: 0 });
 * console.log(running.wsUrl);
 * await running.shutdown();
 * ```
 */
export async function serveHub(options: ServeHubOptions = {}): Promise<RunningHub> {
  const hostname = options.hostname ?? "127.0.0.1";
  const adapter = options.redisUrl === undefined
    ? undefined
    : await connectRedisAdapter(options.redisUrl, {
      ...(options.redisPrefix === undefined ? {} : { prefix: options.redisPrefix }),
    });
  const relay = createHubApp({ ...options, ...(adapter === undefined ? {} : { adapter }) });
  let server: HardenedServer;
  try {
    server = serveHardened(
      {
        ...options.limits,
        name: "the hub",
        websocket: true,
        hostname,
        port: options.port ?? DEFAULT_HUB_PORT,
      },
      relay.app.fetch,
    );
  } catch (err) {
    await relay.close();
    throw err;
  }
  const served = server;
  registerServeMetrics(relay.metrics, { http: () => served.stats });
  const port = server.addr.port;
  const base = `${hostForUrl(hostname)}:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${base}`,
    wsUrl: `ws://${base}${options.path ?? DEFAULT_HUB_PATH}`,
    port,
    relay,
    shutdown(): Promise<void> {
      stopping ??= (async () => {
        await relay.close();
        await server.shutdown();
      })();
      return stopping;
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: String(DEFAULT_HUB_PORT) },
      path: { type: "string", default: DEFAULT_HUB_PATH },
      redis: { type: "string" },
      token: { type: "string" },
      "max-frame": { type: "string" },
    },
  });
  const running = await serveHub({
    hostname: values.host,
    port: Number(values.port),
    path: values.path,
    ...(values.redis === undefined ? {} : { redisUrl: values.redis }),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values["max-frame"] === undefined ? {} : { maxFrameBytes: Number(values["max-frame"]) }),
  });
  Deno.stdout.writeSync(new TextEncoder().encode(`hub listening on ${running.wsUrl}\n`));
  const stop = async (): Promise<void> => {
    await running.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
