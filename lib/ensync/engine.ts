/**
 * The two ways to reach an EnSync engine, with the same client API: {@linkcode EnSyncEngine}
 * (gRPC `ensync.EnSyncService`) and {@linkcode EnSyncWebSocketEngine} (the `/message` text
 * protocol).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { type Clock, systemClock } from "../_clock.ts";
import { VERSION } from "../version.ts";
import type { EnSyncClient } from "./client.ts";
import { type ClientContext, ClientImpl } from "./_client.ts";
import { EnSyncAuthError, EnSyncConnectionError } from "./errors.ts";
import { openGrpcSession } from "./_grpc_session.ts";
import { openWebSocketSession } from "./_ws_session.ts";
import type {
  ClientOptions,
  EngineOptions,
  GrpcEngineOptions,
  WebSocketEngineOptions,
} from "./types.ts";

/** The user agent prefix this client sends over gRPC (grpc-js appends its own). */
export const USER_AGENT = `syft-ensync/${VERSION}`;

/** The gRPC target a URL resolves to. */
export interface GrpcTarget {
  /** `host:port` for grpc-js. */
  target: string;
  /** Whether TLS is used. */
  secure: boolean;
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

/**
 * Resolves a gRPC engine URL by the SDKs' rules: `grpcs://host[:port]` is TLS (default port 443),
 * `grpc://host[:port]` plaintext (default 50051); `https://` and `http://` likewise; a bare
 * `host[:port]` is plaintext on 50051 for localhost / 127.0.0.1 / ::1 and TLS on 443 otherwise.
 * `disableTls` forces plaintext (the port still follows the rules above).
 *
 * @param url The engine URL.
 * @param options `disableTls`.
 * @returns The grpc-js target and whether it uses TLS.
 * @throws {EnSyncConnectionError} `INVALID_URL` for an unusable URL.
 *
 * @example Resolve engine URLs
 * ```ts
 * import { resolveGrpcTarget } from "@syft/syft/ensync";
 * resolveGrpcTarget("localhost"); // { target: "localhost:50051", secure: false }
 * resolveGrpcTarget("grpcs://engine.example.com"); // { target: "engine.example.com:443", secure: true }
 * ```
 */
export function resolveGrpcTarget(url: string, options: { disableTls?: boolean } = {}): GrpcTarget {
  const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\[[^\]]+\]|[^:/?#]+)(?::(\d+))?\/?$/i.exec(url.trim());
  if (!m) throw new EnSyncConnectionError(`Invalid engine URL "${url}"`, { code: "INVALID_URL" });
  const scheme = m[1]?.toLowerCase();
  const host = m[2]!;
  let secure: boolean;
  if (scheme === "grpcs" || scheme === "https") secure = true;
  else if (scheme === "grpc" || scheme === "http") secure = false;
  else if (scheme === undefined) secure = !LOCAL_HOSTS.has(host.toLowerCase());
  else {throw new EnSyncConnectionError(
      `Unsupported scheme "${scheme}://" in "${url}" (use grpc:// or grpcs://)`,
      { code: "INVALID_URL" },
    );}
  const port = m[3] ? Number(m[3]) : secure ? 443 : 50051;
  if (options.disableTls) secure = false;
  if (!(port > 0 && port < 65536)) {
    throw new EnSyncConnectionError(`Invalid port in "${url}"`, { code: "INVALID_URL" });
  }
  return { target: `${host}:${port}`, secure };
}

/**
 * Resolves a WebSocket engine URL as the Node and Python SDKs do: `http(s)://` becomes `ws(s)://`,
 * a bare `host:port` gets `ws://`, and `/message` is appended unless the path already ends with it.
 *
 * @param url The engine URL.
 * @returns The WebSocket URL.
 * @throws {EnSyncConnectionError} `INVALID_URL` for an unusable URL.
 *
 * @example Resolve engine URLs
 * ```ts
 * import { resolveWebSocketUrl } from "@syft/syft/ensync";
 * resolveWebSocketUrl("http://127.0.0.1:8082"); // "ws://127.0.0.1:8082/message"
 * resolveWebSocketUrl("wss://engine.example.com/message"); // unchanged
 * ```
 */
export function resolveWebSocketUrl(url: string): string {
  let text = url.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `ws://${text}`;
  let parsed: URL;
  try {
    parsed = new URL(text.replace(/^http(s?):/i, "ws$1:"));
  } catch (cause) {
    throw new EnSyncConnectionError(`Invalid engine URL "${url}"`, { cause, code: "INVALID_URL" });
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new EnSyncConnectionError(
      `Unsupported scheme "${parsed.protocol}//" in "${url}" (use ws:// or wss://)`,
      {
        code: "INVALID_URL",
      },
    );
  }
  const path = parsed.pathname.replace(/\/+$/, "");
  if (!path.endsWith("/message")) parsed.pathname = `${path}/message`;
  return parsed.toString();
}

function checkAppKey(appKey: unknown): asserts appKey is string {
  if (typeof appKey !== "string" || appKey.length === 0 || /[;\s]/.test(appKey)) {
    throw new EnSyncAuthError(
      "The access key must be a non-empty string without ';' or whitespace",
      {
        code: "INVALID_ACCESS_KEY",
      },
    );
  }
}

function numberOption(value: number | undefined, fallback: number, min: number): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.max(min, value) : fallback;
}

type OpenSession = ClientContext["open"];

/** What both engines share: option defaults and the set of live clients. */
class EngineCore {
  readonly clients = new Set<EnSyncClient>();
  readonly options: Required<EngineOptions>;
  closed = false;

  constructor(options: EngineOptions) {
    this.options = {
      reconnectInterval: numberOption(options.reconnectInterval, 5000, 1),
      maxReconnectAttempts: numberOption(options.maxReconnectAttempts, 10, 0),
      requestTimeout: numberOption(options.requestTimeout, 30_000, 1),
      maxInFlight: numberOption(options.maxInFlight, 1024, 1),
      clock: options.clock ?? systemClock,
    };
  }

  get clock(): Clock {
    return this.options.clock;
  }

  async createClient(
    appKey: string,
    options: ClientOptions,
    open: OpenSession,
    closeEngine: () => Promise<void>,
  ): Promise<EnSyncClient> {
    checkAppKey(appKey);
    if (this.closed) {
      throw new EnSyncConnectionError("The engine object is closed", { code: "CLOSED" });
    }
    const ctx: ClientContext = {
      open,
      reconnectInterval: this.options.reconnectInterval,
      maxReconnectAttempts: this.options.maxReconnectAttempts,
      requestTimeout: this.options.requestTimeout,
      clock: this.options.clock,
      release: (client) => {
        this.clients.delete(client);
      },
      closeEngine,
    };
    const client = new ClientImpl(ctx, appKey, options);
    await client.connect();
    this.clients.add(client);
    return client;
  }

  /** Closes every client; returns false when already closed. */
  async close(): Promise<boolean> {
    if (this.closed) return false;
    this.closed = true;
    await Promise.all([...this.clients].map((c) => c.close()));
    this.clients.clear();
    return true;
  }
}

/**
 * An EnSync engine reached over gRPC (`ensync.EnSyncService`). URL rules as in
 * {@linkcode resolveGrpcTarget}.
 *
 * @example Connect, subscribe and publish over gRPC
 * ```ts
 * import { EnSyncEngine } from "@syft/syft/ensync";
 * const engine = new EnSyncEngine("grpc://127.0.0.1:50051", { reconnectInterval: 1000 });
 * const client = await engine.createClient("access-key", { appSecretKey: "<base64 secret>" });
 * const sub = await client.subscribe("orders/created");
 * sub.on((event) => console.log(event.idem, event.payload));
 * await client.publish("orders/created", [client.getClientPublicKey()], { orderId: 7 });
 * await client.close({ closeEngine: true });
 * ```
 */
export class EnSyncEngine {
  /** The resolved `host:port`. */
  readonly target: string;
  /** Whether TLS is used. */
  readonly secure: boolean;
  readonly #heartbeatInterval: number;
  readonly #core: EngineCore;
  #client: grpc.Client | undefined;

  /**
   * Creates the engine object (nothing connects until `createClient()`).
   *
   * @param url `grpc://host:port`, `grpcs://host`, or a bare host.
   * @param options Reconnects, timeouts, TLS, heartbeat, the clock they run on.
   * @throws {EnSyncConnectionError} `INVALID_URL`.
   */
  constructor(url: string, options: GrpcEngineOptions = {}) {
    this.#core = new EngineCore(options);
    const { target, secure } = resolveGrpcTarget(
      url,
      options.disableTls ? { disableTls: true } : {},
    );
    this.target = target;
    this.secure = secure;
    this.#heartbeatInterval = numberOption(options.heartbeatInterval, 30_000, 0);
  }

  #channel(): grpc.Client {
    this.#client ??= new grpc.Client(
      this.target,
      this.secure ? grpc.credentials.createSsl() : grpc.credentials.createInsecure(),
      {
        "grpc.primary_user_agent": USER_AGENT,
        "grpc.max_receive_message_length": 6 * 1024 * 1024,
        "grpc.max_send_message_length": 6 * 1024 * 1024,
        // reconnect quickly after an engine restart
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 5000,
      },
    );
    return this.#client;
  }

  /**
   * Connects and authenticates a client for one app. The first connection is not retried, so a
   * wrong URL or key fails fast; later connection losses are retried with backoff.
   *
   * @param appKey The app's access key.
   * @param options The app's secret key (to decrypt deliveries) and callbacks.
   * @returns The connected client.
   * @throws {EnSyncAuthError} When the engine refuses the key.
   * @throws {EnSyncConnectionError} When the engine cannot be reached.
   */
  createClient(appKey: string, options: ClientOptions = {}): Promise<EnSyncClient> {
    return this.#core.createClient(
      appKey,
      options,
      (key, handlers) =>
        openGrpcSession(this.#channel(), key, handlers, {
          requestTimeout: this.#core.options.requestTimeout,
          maxInFlight: this.#core.options.maxInFlight,
          heartbeatInterval: this.#heartbeatInterval,
          clock: this.#core.clock,
        }),
      () => this.close(),
    );
  }

  /** Closes every client this engine object created and its gRPC channel. */
  async close(): Promise<void> {
    if (await this.#core.close()) {
      this.#client?.close();
      this.#client = undefined;
    }
  }
}

/**
 * An EnSync engine reached over the WebSocket text protocol (`/message`). URL rules as in
 * {@linkcode resolveWebSocketUrl}. Each client has its own socket.
 *
 * @example Connect over WebSocket
 * ```ts
 * import { EnSyncWebSocketEngine } from "@syft/syft/ensync";
 * const engine = new EnSyncWebSocketEngine("ws://127.0.0.1:8082");
 * const client = await engine.createClient("access-key", { appSecretKey: "<base64 secret>" });
 * for await (const event of await client.subscribe("orders/*")) {
 *   console.log(event.eventName, event.payload); // acknowledged when the loop continues
 * }
 * ```
 */
export class EnSyncWebSocketEngine {
  /** The resolved WebSocket URL (ending in `/message`). */
  readonly url: string;
  readonly #core: EngineCore;

  /**
   * Creates the engine object (nothing connects until `createClient()`).
   *
   * @param url `ws://host:port`, `wss://host`, `http(s)://...` or `host:port`.
   * @param options Reconnects, timeouts, the clock they run on.
   * @throws {EnSyncConnectionError} `INVALID_URL`.
   */
  constructor(url: string, options: WebSocketEngineOptions = {}) {
    this.url = resolveWebSocketUrl(url);
    this.#core = new EngineCore(options);
  }

  /**
   * Connects and authenticates a client for one app over its own socket. The first connection is
   * not retried, so a wrong URL or key fails fast; later connection losses are retried with backoff.
   *
   * @param appKey The app's access key.
   * @param options The app's secret key (to decrypt deliveries) and callbacks.
   * @returns The connected client.
   * @throws {EnSyncAuthError} When the engine refuses the key.
   * @throws {EnSyncConnectionError} When the engine cannot be reached.
   */
  createClient(appKey: string, options: ClientOptions = {}): Promise<EnSyncClient> {
    return this.#core.createClient(
      appKey,
      options,
      (key, handlers) =>
        openWebSocketSession(this.url, key, handlers, {
          requestTimeout: this.#core.options.requestTimeout,
          maxInFlight: this.#core.options.maxInFlight,
          clock: this.#core.clock,
        }),
      () => this.close(),
    );
  }

  /** Closes every client this engine object created. */
  async close(): Promise<void> {
    await this.#core.close();
  }
}
