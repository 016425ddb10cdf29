/**
 * Starting and stopping a proxy server: store, file-RPC backend (one shared watcher), gateway
 * (re-attaches to pending requests), Hono app and `Deno.serve`.
 *
 * @module
 */
import { serveHardened } from "../_serve.ts";
import { registerServeMetrics } from "../_serve_metrics.ts";
import type { ServeLimits } from "../_limits.ts";
import { getLogger } from "../../lib/_log.ts";
import { createFileBackend } from "./_file_backend.ts";
import { ProxyGateway, type RpcBackend } from "./_gateway.ts";
import { openRequestStore, type RequestStore } from "../../lib/proxy/mod.ts";
import { createProxyApp, type ProxyHttpOptions } from "./app.ts";
import type { ProxyLiveSource } from "../../lib/live/mod.ts";

const log = getLogger(["proxy", "server"]);

/** The default port of the proxy. */
export const DEFAULT_PROXY_PORT = 8000;

/** Options for {@linkcode startProxyServer} (plus the HTTP ones: auth, limits, CORS, access log). */
export interface ProxyServerOptions extends ProxyHttpOptions {
  /**
   * Connection limit and headers/body/idle timeouts (defaults: 10,000 connections, 10 s, 30 s,
   * 60 s; see docs/reliability.md).
   */
  limits?: ServeLimits;
  /** Where requests are written and responses arrive: the datasite owner and the SyftBox data dir. */
  workspace: { email: string; dataDir: string };
  /** Bind address (default `127.0.0.1`; `0.0.0.0` exposes the proxy). */
  hostname?: string;
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /**
   * The request store: a `--store` value (`memory`, `kv`, `kv:PATH`, `redis://...`; default
   * `kv`) or an open store (left open on close).
   */
  store?: string | RequestStore;
  /** The KV file for the `kv` store (default: none, so `kv` needs this or `kv`). */
  kvPath?: string;
  /** An open Deno KV database for the `kv` store (left open on close). */
  kv?: Deno.Kv;
  /** How long finished entries are kept, in ms (default one hour). */
  storeTtlMs?: number;
  /** The Redis key prefix (default `"syft-proxy:"`). */
  redisPrefix?: string;
  /**
   * With Redis: how long this proxy's lease on its pending requests lasts without renewal, in ms
   * (default 10 000); after that another proxy sharing the store takes them over.
   */
  leaseMs?: number;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /**
   * Answer a send at once (404 `endpoint_not_found`) when the endpoint's folder (datasite, app or
   * endpoint) is not in the local datasites, instead of waiting for a response that cannot come.
   * Default false here (the library keeps waiting, for setups where sync creates the folder
   * later); `syft proxy serve` and `syft up` turn it on (`--no-endpoint-check` turns it off).
   */
  checkEndpoints?: boolean;
  /**
   * The file-RPC side the proxy sends through (default: the file backend over `workspace`, with one
   * shared watcher). Pass your own to carry the proxy's HTTP API over another transport, or, as
   * `bench:proxy` does, to measure the proxy with a backend that writes nothing. The server closes
   * it when it stops.
   */
  backend?: RpcBackend;
}

/**
 * A running proxy server.
 */
export interface ProxyServer extends AsyncDisposable {
  /** The base URL, such as `http://127.0.0.1:8000`. */
  url: string;
  /** The bound address. */
  hostname: string;
  /** The bound port. */
  port: number;
  /** The request store. */
  store: RequestStore;
  /** How many pending requests were re-attached at start. */
  resumed: number;
  /** Live state (`@syft/syft/live`): what `/metrics` reads, pending requests, a feed. */
  live: ProxyLiveSource;
  /** Stops accepting, answers waiting requests, stops the watcher and closes the store. */
  close(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/**
 * Starts a proxy server.
 *
 * @param options Workspace, address, store, auth, limits.
 * @returns The running server.
 * @throws {StoreError} When the store cannot be opened.
 *
 * @example Serve on a free port with an in-memory store
 * ```ts ignore
 * import { startProxyServer } from "@syft/syft/proxy/server";
 * const dir = await Deno.makeTempDir();
 * await using server = await startProxyServer({
 *   workspace: { email: "me@example.org", dataDir: dir },
 *   port: 0,
 *   store: "memory",
 * });
 * console.log(server.url);
 * ```
 */
export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
  const storeSpec = options.store ?? "kv";
  const ownsStore = typeof storeSpec === "string";
  const store = typeof storeSpec === "string"
    ? await openRequestStore(storeSpec, {
      ...(options.kvPath === undefined ? {} : { kvPath: options.kvPath }),
      ...(options.kv === undefined ? {} : { kv: options.kv }),
      ...(options.storeTtlMs === undefined ? {} : { ttlMs: options.storeTtlMs }),
      ...(options.redisPrefix === undefined ? {} : { redisPrefix: options.redisPrefix }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    })
    : storeSpec;
  let gateway: ProxyGateway | undefined;
  try {
    const backend: RpcBackend = options.backend ?? await createFileBackend(options.workspace);
    gateway = new ProxyGateway({ backend, store, checkEndpoints: options.checkEndpoints ?? false });
    const resumed = await gateway.start();
    const stopping = new AbortController();
    // The HTTP options pass through (the others are ignored by the app).
    const { app, live, metrics } = createProxyApp({
      ...options,
      gateway,
      shutdown: stopping.signal,
    });
    const { promise: listening, resolve: onListen } = Promise.withResolvers<Deno.NetAddr>();
    const server = serveHardened({
      ...options.limits,
      name: "the proxy",
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 8000,
      onListen: (addr) => onListen(addr as Deno.NetAddr),
      onError: (err) => {
        log.error("Unhandled server error: {error}", { error: err });
        return new Response(JSON.stringify({ error: "internal", message: "Internal error" }), {
          status: 500,
          headers: { "content-type": "application/json" },
        });
      },
    }, app.fetch);
    registerServeMetrics(metrics.registry, { http: () => server.stats });
    const addr = await listening;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    const gw = gateway;
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      closing ??= (async () => {
        stopping.abort();
        await server.shutdown();
        await gw.close();
        if (ownsStore) await store.close();
      })();
    options.signal?.addEventListener("abort", () => void close(), { once: true });
    return {
      url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${addr.port}`,
      hostname: addr.hostname,
      port: addr.port,
      store,
      resumed,
      live,
      close,
      finished: server.finished,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    await gateway?.close().catch(() => {});
    if (ownsStore) await store.close().catch(() => {});
    throw err;
  }
}
