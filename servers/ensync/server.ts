/**
 * Starting the engine: the WebSocket dialect (with `/health` and `/discarded` over plain HTTP) on
 * one port, gRPC on another, one {@linkcode EnSyncBroker} behind both, and the app configuration reloaded
 * when its file changes.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../../lib/_clock.ts";
import { type GrpcListener, listenGrpc } from "../_grpc_listen.ts";
import { serveHardened } from "../_serve.ts";
import { registerServeMetrics, type ServeStatsSources } from "../_serve_metrics.ts";
import { Registry } from "prom-client";
import type { ServeLimits } from "../_limits.ts";
import * as grpc from "@grpc/grpc-js";
import { getLogger } from "../../lib/_log.ts";
import { SyftError } from "../../lib/errors.ts";
import { EnSyncBroker } from "./broker.ts";
import {
  AppRegistry,
  type EnSyncConfig,
  EnSyncConfigError,
  type GrpcStreamMode,
  loadEnSyncConfig,
} from "./config.ts";
import { EnSyncGrpcService } from "./grpc.ts";
import type { GrpcWorkerCommand, GrpcWorkerStatus } from "./grpc_worker.ts";
import { hostPort } from "./_grpc_ipc.ts";
import { GrpcBindError, GrpcWorkerSupervisor, warnInProcessGrpc } from "./_grpc_supervisor.ts";
import type { EnSyncStore } from "./store.ts";
import { MemoryEventStore } from "./store_memory.ts";
import { acceptEnSyncWebSocket } from "./ws.ts";
import { createEnSyncLive } from "./live.ts";
import {
  type EnSyncLiveSource,
  isLoopbackPeer,
  type LiveHandler,
  liveHandler,
} from "../../lib/live/mod.ts";

const log = getLogger(["ensync", "server"]);

/**
 * The engine's default ports: 8082 for WebSocket, 50051 for gRPC.
 *
 * @example
 * ```ts
 * import { ENSYNC_DEFAULT_PORTS } from "@syft/syft/ensync/engine";
 * console.log(ENSYNC_DEFAULT_PORTS.ws, ENSYNC_DEFAULT_PORTS.grpc); // 8082 50051
 * ```
 */
export const ENSYNC_DEFAULT_PORTS: { ws: number; grpc: number } = { ws: 8082, grpc: 50051 };

/** Options of {@linkcode startEnSyncServer}. */
export interface EnSyncServerOptions {
  /**
   * Connection limit and headers/body/idle timeouts (defaults: 10,000 connections, 10 s, 30 s,
   * 60 s; see docs/reliability.md).
   */
  limits?: ServeLimits;
  /** The app configuration, or the path of its YAML file (reloaded when it changes). */
  config: EnSyncConfig | string;
  /** Where events are kept (default: a new {@linkcode MemoryEventStore}). */
  store?: EnSyncStore;
  /** Bind address (default `127.0.0.1`). */
  host?: string;
  /** WebSocket port (default 8082; 0 picks a free port; `false` disables it). */
  wsPort?: number | false;
  /** gRPC port (default 50051; 0 picks a free port; `false` disables it). */
  grpcPort?: number | false;
  /** Redeliver an event not acked within this time (default 30 000 ms). */
  ackTimeoutMs?: number;
  /** Keep events this long (default 7 days). */
  retentionMs?: number;
  /**
   * The clock the engine's timers run on (default the system clock): the broker's ack timeouts,
   * defer due times and event times, the store's deferral timer, the gRPC session timeout, the
   * gRPC worker's restart backoff and the config file's change check. Tests pass a fake one and
   * advance it instead of sleeping.
   */
  clock?: Clock;
  /**
   * Called after each reload of the configuration file (when it changed, or on `reload()`): with
   * no argument when the new configuration is in use, with the error when it could not be read
   * and the previous one stays.
   */
  onConfigReload?: (error?: Error) => void;
  /** Forces the gRPC subscription-stream mode (default: the config's `grpc_streams`). */
  grpcStreams?: GrpcStreamMode;
  /** A gRPC client id with no call and no open stream for this long ends (default 90 000 ms). */
  grpcSessionTimeoutMs?: number;
  /**
   * Runs the gRPC front end (HTTP/2) in a worker process started with this command, which calls
   * `runEnSyncGrpcWorker()`; a worker that dies is replaced on the same port at once. Without it
   * gRPC runs in this process, where Deno 2.9.6 can abort the whole process when a client closes
   * a connection that carried many calls (denoland/deno#36788).
   */
  grpcWorker?: GrpcWorkerCommand;
  /**
   * With `grpcWorker`: when the worker cannot be started (not when its port is taken), serve gRPC
   * in this process instead, with a warning, rather than failing (`syft ensync serve` does).
   */
  grpcWorkerFallback?: boolean;
  /** Stops the engine when aborted. */
  signal?: AbortSignal;
}

/** A running engine. */
export interface EnSyncServer extends AsyncDisposable {
  /** The WebSocket URL (`ws://host:port`), or `undefined` when disabled. */
  wsUrl: string | undefined;
  /** The gRPC URL (`grpc://host:port`), or `undefined` when disabled. */
  grpcUrl: string | undefined;
  /** The bound WebSocket port (0 when disabled). */
  wsPort: number;
  /** The bound gRPC port (0 when disabled). */
  grpcPort: number;
  /** The delivery core. */
  broker: EnSyncBroker;
  /** Live state (`@syft/syft/live`): apps, queues, clients, a feed, admin actions. */
  live: EnSyncLiveSource;
  /** The gRPC worker process (`undefined` when gRPC runs in this process or is disabled). */
  readonly grpcWorker: GrpcWorkerStatus | undefined;
  /** Re-reads the configuration file (when started with a path). */
  reload(): Promise<void>;
  /** Stops accepting, disconnects clients, flushes and closes the store. */
  close(): Promise<void>;
  /** Resolves when the engine has stopped. */
  finished: Promise<void>;
}

/**
 * The engine could not start (port in use, bad configuration, store unavailable).
 *
 * @example
 * ```ts
 * import { EnSyncServerError } from "@syft/syft/ensync/engine";
 * console.log(new EnSyncServerError("Cannot bind 127.0.0.1:8082: address in use").code);
 * ```
 */
export class EnSyncServerError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "ENSYNC_SERVER" });
    this.name = "EnSyncServerError";
  }
}

/** How long a stop waits for WebSocket clients to answer the close handshake. */
const WS_CLOSE_GRACE_MS = 1_000;

/** The largest gRPC message either way (16 MiB). */
const MAX_GRPC_MESSAGE_BYTES = 16 * 1024 * 1024;

function bearer(request: Request): string {
  const auth = request.headers.get("authorization") ?? "";
  return auth.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : "";
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * Starts the engine.
 *
 * @param options Configuration, store, addresses and timeouts.
 * @returns The running engine; close it with `close()` (or `await using`).
 * @throws {EnSyncServerError} When a port cannot be bound.
 * @throws {EnSyncConfigError} When the configuration is invalid.
 *
 * @example An engine on free ports with an in-memory store
 * ```ts
 * import { startEnSyncServer } from "@syft/syft/ensync/engine";
 * await using engine = await startEnSyncServer({
 *   config: { apps: [], grpcStreams: "auto" },
 *   wsPort: 0,
 *   grpcPort: 0,
 * });
 * console.log(engine.wsUrl, engine.grpcUrl);
 * ```
 */
export async function startEnSyncServer(options: EnSyncServerOptions): Promise<EnSyncServer> {
  const host = options.host ?? "127.0.0.1";
  const configPath = typeof options.config === "string" ? options.config : undefined;
  const initial = typeof options.config === "string"
    ? await loadEnSyncConfig(options.config)
    : options.config;
  const store = options.store ?? new MemoryEventStore();
  const broker = new EnSyncBroker(store, new AppRegistry(initial), {
    ...(options.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: options.ackTimeoutMs }),
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  await broker.start();
  const live = createEnSyncLive(broker);
  const liveRoutes = liveHandler(live);

  const cleanups: (() => Promise<void> | void)[] = [async () => await broker.close()];
  const fail = async (err: unknown, what: string): Promise<never> => {
    for (const c of cleanups.toReversed()) await Promise.resolve(c()).catch(() => {});
    throw new EnSyncServerError(
      `Cannot start the EnSync ${what}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  };

  // Declared before the HTTP server starts: /health may be asked while gRPC is still starting.
  let supervisor: GrpcWorkerSupervisor | undefined;
  const grpcHealth = (): Record<string, unknown> =>
    supervisor !== undefined
      ? { ...supervisor.status }
      : { process: options.grpcPort === false ? "off" : "engine" };

  // The serving layer's counts, on GET /metrics (each listener adds its getter once listening).
  const metrics = new Registry();
  const served: ServeStatsSources = {};
  registerServeMetrics(metrics, served);

  // WebSocket (and a little HTTP).
  let wsPort = 0;
  let wsUrl: string | undefined;
  const sockets = new Set<WebSocket>();
  if (options.wsPort !== false) {
    try {
      const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
      const server = serveHardened(
        {
          ...options.limits,
          name: "the EnSync engine (WebSocket)",
          websocket: true,
          hostname: host,
          port: options.wsPort ?? ENSYNC_DEFAULT_PORTS.ws,
          onListen: (addr) => resolve(addr as Deno.NetAddr),
          onError: (err) => {
            log.error("HTTP error: {error}", { error: String(err) });
            return new Response("Internal error", { status: 500 });
          },
        },
        (request, info) =>
          handleHttp(broker, request, sockets, () => grpcHealth(), liveRoutes, info, metrics),
      );
      const addr = await listening;
      served.http = () => server.stats;
      wsPort = addr.port;
      wsUrl = `ws://${hostPort(host, wsPort)}`;
      cleanups.push(async () => {
        const closed: Promise<unknown>[] = [];
        for (const socket of sockets) {
          closed.push(new Promise((resolve) => socket.addEventListener("close", resolve)));
          try {
            // 1012 "service restart": come back (the SDKs reconnect on any close; 1001 "going
            // away" reads as a client leaving a page).
            socket.close(1012, "engine stopping");
          } catch { /* already closing */ }
        }
        // The closing handshakes first: shutting the server down sooner replaces them with 1001.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(closed),
          new Promise((resolve) => timer = setTimeout(resolve, WS_CLOSE_GRACE_MS)),
        ]);
        clearTimeout(timer);
        await server.shutdown();
      });
    } catch (err) {
      await fail(err, `WebSocket server on ${hostPort(host, options.wsPort || 0)}`);
    }
  }

  // gRPC.
  let grpcPort = 0;
  let grpcUrl: string | undefined;
  let grpcService: EnSyncGrpcService | undefined;
  if (options.grpcPort !== false) {
    const forced = options.grpcStreams;
    grpcService = new EnSyncGrpcService(broker, {
      streams: () => forced ?? broker.registry.config.grpcStreams,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.grpcSessionTimeoutMs === undefined
        ? {}
        : { sessionTimeoutMs: options.grpcSessionTimeoutMs }),
    });
    const service = grpcService;
    const target = hostPort(host, options.grpcPort ?? ENSYNC_DEFAULT_PORTS.grpc);
    const grpcPortOption = options.grpcPort ?? ENSYNC_DEFAULT_PORTS.grpc;
    const inProcess = async (): Promise<void> => {
      const server = new grpc.Server({
        "grpc.max_receive_message_length": MAX_GRPC_MESSAGE_BYTES,
        "grpc.max_send_message_length": MAX_GRPC_MESSAGE_BYTES,
      });
      service.addTo(server);
      let listener: GrpcListener | undefined;
      try {
        listener = await listenGrpc(server, host, grpcPortOption, {
          ...options.limits,
          name: "the EnSync engine (gRPC)",
        });
        grpcPort = listener.port;
        const grpcListener = listener;
        served.grpc = () => grpcListener.stats;
      } catch (err) {
        server.forceShutdown();
        await service.close();
        await fail(err, `gRPC server on ${target}`);
      }
      cleanups.push(async () => {
        await service.close();
        await listener?.close();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2_000);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      });
    };
    if (options.grpcWorker !== undefined) {
      const worker = new GrpcWorkerSupervisor(options.grpcWorker, {
        host,
        port: options.grpcPort ?? ENSYNC_DEFAULT_PORTS.grpc,
        maxMessageBytes: MAX_GRPC_MESSAGE_BYTES,
        ...(options.limits === undefined ? {} : { limits: options.limits }),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      });
      service.addTo(worker);
      let started = false;
      try {
        grpcPort = await worker.start();
        started = true;
      } catch (err) {
        if (!options.grpcWorkerFallback || err instanceof GrpcBindError) {
          await service.close();
          await fail(err, `gRPC server on ${target}`);
        }
        warnInProcessGrpc(err instanceof Error ? err.message : String(err));
        await inProcess();
      }
      if (started) {
        supervisor = worker;
        cleanups.push(async () => {
          await service.close();
          await worker.close();
        });
      }
    } else await inProcess();
    grpcUrl = `grpc://${hostPort(host, grpcPort)}`;
  }

  // Config reload.
  const reload = async (): Promise<void> => {
    if (configPath === undefined) return;
    try {
      const config = await loadEnSyncConfig(configPath);
      broker.setRegistry(new AppRegistry(config));
      log.info("Reloaded {path}: {count} apps", { path: configPath, count: config.apps.length });
      options.onConfigReload?.();
    } catch (err) {
      log.error("Keeping the previous configuration: {error}", {
        error: err instanceof EnSyncConfigError ? err.message : String(err),
      });
      options.onConfigReload?.(err instanceof Error ? err : new Error(String(err)));
    }
  };
  if (configPath !== undefined) {
    const watcher = watchConfig(configPath, reload, options.clock ?? systemClock);
    cleanups.push(() => watcher.close());
  }

  const { promise: finished, resolve: done } = Promise.withResolvers<void>();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // Stop front ends first, then the broker (releases, flush, store close).
      for (const c of cleanups.toReversed()) {
        try {
          await c();
        } catch (err) {
          log.warn("Shutdown step failed: {error}", { error: String(err) });
        }
      }
      done();
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });
  log.info("EnSync engine: ws {ws}, grpc {grpc} in {grpcProcess}, store {store}", {
    ws: wsUrl ?? "off",
    grpc: grpcUrl ?? "off",
    grpcProcess: supervisor === undefined ? "this process" : `worker ${supervisor.status.pid}`,
    store: store.description,
  });
  return {
    wsUrl,
    grpcUrl,
    wsPort,
    grpcPort,
    broker,
    live,
    get grpcWorker(): GrpcWorkerStatus | undefined {
      return supervisor?.status;
    },
    reload,
    close,
    finished,
    [Symbol.asyncDispose]: close,
  };
}

async function handleHttp(
  broker: EnSyncBroker,
  request: Request,
  sockets: Set<WebSocket>,
  grpcHealth: () => Record<string, unknown>,
  liveRoutes: LiveHandler,
  info: Deno.ServeHandlerInfo,
  metrics: Registry,
): Promise<Response> {
  if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
    return acceptEnSyncWebSocket(broker, request, { sockets });
  }
  const url = new URL(request.url);
  // Live state (apps, queues, clients, admin actions) for a dashboard on this machine only.
  if (url.pathname === "/live" || url.pathname.startsWith("/live/")) {
    if (!isLoopbackPeer(info)) {
      return json({ error: "The engine's /live routes answer only on loopback" }, 403);
    }
    return (await liveRoutes(request, info)) ?? json({ error: "Not found" }, 404);
  }
  if (request.method === "GET" && url.pathname === "/health") {
    return json({
      status: "ok",
      sessions: broker.sessionCount,
      store: broker.store.description,
      grpc: grpcHealth(),
    });
  }
  if (request.method === "GET" && url.pathname === "/metrics") {
    return new Response(await metrics.metrics(), {
      headers: { "content-type": metrics.contentType },
    });
  }
  if (request.method === "GET" && url.pathname === "/discarded") {
    const app = broker.registry.byAccessKey(bearer(request));
    if (app === undefined) {
      return json({ error: "Send the app's access key as Authorization: Bearer <key>" }, 401);
    }
    const limit = Math.min(1_000, Math.max(1, Number(url.searchParams.get("limit") ?? 100) || 100));
    try {
      return json({ app: app.name, discarded: await broker.discarded(app.appId, limit) });
    } catch (err) {
      return json({ error: err instanceof Error ? err.message : String(err) }, 503);
    }
  }
  return new Response(
    "EnSync engine: connect with a WebSocket (ws://host:port/message or /), or GET /health\n",
    { status: 426, headers: { upgrade: "websocket" } },
  );
}

/** How often the config file is checked for changes (on the engine's clock). */
const CONFIG_POLL_MS = 250;

/**
 * Calls `onChange` when the config file changes: its size, modification time or inode (an editor
 * that saves by renaming) differ from the last check and then stay the same for one more check, so
 * a file caught half written is read once it is complete.
 *
 * A stat every 250 ms, not a `Deno.watchFs` on the file's directory: that directory often holds
 * the KV store too (`--store kv:./ensync.kv` next to `./ensync.yaml`), and inotify would wake the
 * engine on every database write (measured: a tenth of a core under load).
 */
function watchConfig(
  path: string,
  onChange: () => Promise<void>,
  clock: Clock,
): { close(): Promise<void> } {
  const signature = async (): Promise<string> => {
    try {
      const info = await Deno.stat(path);
      return `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    } catch {
      return "missing";
    }
  };
  let closed = false;
  let timer: TimerHandle | undefined;
  let seen: string | undefined; // the signature of the configuration in use
  let pending: string | undefined; // a new signature waiting one check to settle
  let running: Promise<void> = Promise.resolve();
  const check = async (): Promise<void> => {
    const now = await signature();
    if (closed) return;
    if (seen === undefined) seen = now;
    else if (now !== seen) {
      if (now === pending) {
        seen = now;
        pending = undefined;
        if (now !== "missing") await onChange();
      } else pending = now;
    } else pending = undefined;
    if (!closed) {
      timer = clock.setTimeout(() => {
        running = check();
      }, CONFIG_POLL_MS);
    }
  };
  running = check();
  return {
    async close() {
      closed = true;
      clock.clearTimeout(timer);
      await running;
    },
  };
}
