/**
 * The hub's public shape: {@linkcode ZapHub} runs an {@linkcode EventRegister}'s handlers for
 * WebSocket peers, with per-connection ordering, limits, heartbeats and authentication, behind a
 * plain `Deno.serve` handler (the Hono adapter is `honoHandler`, in `@syft/syft/hub/hono`).
 * {@linkcode createZapHub} makes one (the implementation is internal, as in nats.js).
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { EventRegister } from "./register.ts";
import type { ConnectionRouter } from "./router.ts";
import type { Clock } from "../_clock.ts";
import { ZapHubImpl } from "./_hub.ts";

/**
 * What `authenticate` returns: `true` or an object (which becomes the connection's initial
 * `data`) accepts the upgrade; anything else refuses it with 401.
 *
 * @example
 * ```ts
 * import type { AuthResult } from "@syft/syft/hub";
 * const authenticate = (req: Request): AuthResult =>
 *   req.headers.get("authorization") === "Bearer s3cret" ? { user: "ada" } : false;
 * console.log(authenticate(new Request("http://127.0.0.1/ws"))); // false
 * ```
 */
export type AuthResult = boolean | Record<string, unknown> | null | undefined;

/**
 * Options of {@linkcode createZapHub}.
 *
 * @example
 * ```ts
 * import type { ZapHubOptions } from "@syft/syft/hub";
 * const options: ZapHubOptions = { path: "/ws", idleTimeout: 60, concurrent: 4 };
 * console.log(options.path); // /ws
 * ```
 */
export interface ZapHubOptions {
  /** Connections are added to it on connect and removed on disconnect. */
  router?: ConnectionRouter;
  /** For `hub.fetch`: the only path that upgrades (others get 404). Default: any path. */
  path?: string;
  /** Frames larger than this many UTF-8 bytes close the connection with 1009 (default 1 MiB). */
  maxFrameBytes?: number;
  /** A peer with more than this many bytes waiting to be sent is closed with 1013 (default 4 MiB). */
  sendBufferLimit?: number;
  /**
   * Heartbeat, in seconds (default 30; 0 turns it off). A peer silent for half of it gets a ping;
   * one that does not answer within the other half is closed with 1001, so dead peers are found
   * within this time. (Deno's `idleTimeout`.)
   */
  idleTimeout?: number;
  /** Decides whether an upgrade request may connect; refusals get 401. */
  authenticate?: (request: Request) => AuthResult | Promise<AuthResult>;
  /**
   * `false` (default): a connection's events run one after another, each awaiting the previous
   * handler. `true`: they run as they arrive. A number: at most that many at once per connection.
   * Either way a slow handler never delays other connections.
   */
  concurrent?: boolean | number;
  /** Events waiting for a busy connection's handlers; past it the connection closes with 1013 (default 1024). */
  maxQueuedEvents?: number;
  /** Makes connection ids (default `"zpt-" + crypto.randomUUID()`). */
  createId?: () => string;
  /** An event with no handler (and no `onAny`): `"error"` (default) raises `error` and tells the sender; `"ignore"` drops it, as zaptools does. */
  unknownEvents?: "error" | "ignore";
  /** The clock `close()`'s `timeoutMs` runs on (default the system clock; tests pass a fake one). */
  clock?: Clock;
}

/**
 * Counters of a hub since it was created.
 *
 * @example
 * ```ts
 * import { createEventRegister, createZapHub, type HubStats } from "@syft/syft/hub";
 * const stats: HubStats = createZapHub(createEventRegister()).stats;
 * console.log(stats.connections); // 0
 * ```
 */
export interface HubStats {
  /** Open connections now. */
  connections: number;
  /** Connections accepted in total. */
  connectionsTotal: number;
  /** Upgrade requests refused by `authenticate`. */
  authRefused: number;
  /** Well-formed events received. */
  eventsReceived: number;
  /** Frames refused as malformed, binary or too large. */
  framesRejected: number;
  /** Handlers (lifecycle ones included) that threw or rejected. */
  handlerErrors: number;
  /** Connections closed for a full send buffer or event queue. */
  overflows: number;
}

/**
 * Options of {@linkcode ZapHub.close}.
 *
 * @example
 * ```ts
 * import type { HubCloseOptions } from "@syft/syft/hub";
 * const options: HubCloseOptions = { code: 1012, reason: "restarting", timeoutMs: 1_000 };
 * console.log(options.code); // 1012
 * ```
 */
export interface HubCloseOptions {
  /** The close code sent to every connection (default 1001, going away). */
  code?: number;
  /** The close reason (default `"server shutting down"`). */
  reason?: string;
  /** How long to wait for the `disconnected` handlers, in ms (default 3,000). */
  timeoutMs?: number;
}

/**
 * A hub serving an {@linkcode EventRegister} over WebSocket; make one with
 * {@linkcode createZapHub}. One hub can sit behind `Deno.serve` (`hub.fetch`) or a Hono route
 * (`honoHandler` from `@syft/syft/hub/hono`, built on `upgradeWebSocket` from `hono/deno`).
 *
 * What it guarantees:
 * - the events of one connection run in order (each awaits the previous handler) unless
 *   `concurrent` is set, and a slow handler never blocks other connections;
 * - a handler that throws raises `error`; the connection stays up;
 * - malformed JSON, a missing or non-string `eventName`, bad `headers` and binary frames raise
 *   `error` and answer the sender with an `error` event `{code, message}`;
 * - frames over `maxFrameBytes` close with 1009; a peer whose send buffer passes
 *   `sendBufferLimit` (or whose waiting events pass `maxQueuedEvents`) closes with 1013;
 * - dead peers are found by heartbeat pings (`idleTimeout`);
 * - `authenticate(request)` refuses an upgrade with 401.
 *
 * @example Plain Deno.serve
 * ```ts
 * import { createConnectionRouter, createEventRegister, createZapHub } from "@syft/syft/hub";
 * const router = createConnectionRouter();
 * const register = createEventRegister()
 *   .on("connected", ({ connection }) => connection.send("welcome", { id: connection.id }))
 *   .on("chat", ({ connection, payload }) => {
 *     router.broadcast("chat", payload, { exclude: connection });
 *   });
 * await using hub = createZapHub(register, { router, path: "/ws" });
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hub.fetch);
 * console.log(hub.connections); // 0
 * ```
 */
export interface ZapHub extends AsyncDisposable {
  /** The handlers. */
  readonly register: EventRegister;
  /** The router connections are added to, if one was given. */
  readonly router: ConnectionRouter | undefined;
  /** Counters since the hub was created. */
  readonly stats: HubStats;
  /** Open connections now. */
  readonly connections: number;
  /**
   * The plain `Deno.serve` adapter (a bound function: pass `hub.fetch` as it is): upgrades
   * WebSocket requests (on `path`, when set), answers 426 to other requests, 404 to other paths,
   * 401 when `authenticate` refuses and 503 after `close()`.
   *
   * @param request The HTTP request.
   * @param info What `Deno.serve` passes with it (the peer's address is kept on the connection).
   * @returns The upgrade response, or the refusal.
   */
  readonly fetch: (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;
  /**
   * Serves a WebSocket you upgraded yourself (the building block of other adapters).
   *
   * @param socket The server side of an upgraded WebSocket (open or still opening).
   * @param request The upgrade request.
   * @param data Initial per-connection state.
   * @param options The peer's address (`host:port`), when known.
   * @returns The connection (its `connected` event fires when the socket opens).
   */
  attach(
    socket: WebSocket,
    request: Request,
    data?: Record<string, unknown>,
    options?: { remoteAddress?: string | undefined },
  ): Connection;
  /**
   * Closes every connection (1001 by default) and waits until their `disconnected` handlers ran,
   * or `timeoutMs` passed. New upgrades get 503 from then on. `await using` calls it with the
   * defaults.
   *
   * @param options Close code, reason and how long to wait.
   */
  close(options?: HubCloseOptions): Promise<void>;
}

/**
 * Creates a hub that serves `register`'s handlers over WebSocket.
 *
 * @param register The handlers (see {@linkcode createEventRegister}).
 * @param options Router, limits, heartbeat, authentication, concurrency and clock.
 * @returns The hub; serve `hub.fetch` with `Deno.serve`, or mount `honoHandler(hub)` on Hono.
 * @throws {HubError} `HUB_OPTIONS` when a limit is not a positive number.
 *
 * @example An echo hub
 * ```ts
 * import { createEventRegister, createZapHub } from "@syft/syft/hub";
 * const register = createEventRegister()
 *   .on("echo", ({ connection, payload, headers }) => connection.send("echo", payload, headers));
 * const hub = createZapHub(register, { maxFrameBytes: 64 * 1024 });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hub.fetch);
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export function createZapHub(register: EventRegister, options: ZapHubOptions = {}): ZapHub {
  return new ZapHubImpl(register, options);
}
