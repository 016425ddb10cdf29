/**
 * The hub: runs an {@linkcode EventRegister}'s handlers for WebSocket peers, with per-connection
 * ordering, limits, heartbeats and authentication, behind a plain `Deno.serve` handler (the Hono
 * adapter is {@linkcode honoHandler}, in `hono.ts`).
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { EventRegister } from "./register.ts";
import type { ConnectionRouter } from "./router.ts";
import { engines, errorText, HubEngine, isUpgrade, jsonResponse } from "./_engine.ts";
import type { Clock } from "../_clock.ts";

/**
 * What `authenticate` returns: `true` or an object (which becomes the connection's initial
 * `data`) accepts the upgrade; anything else refuses it with 401.
 */
export type AuthResult = boolean | Record<string, unknown> | null | undefined;

/** Options of {@linkcode ZapHub}. */
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

/** Counters of a hub since it was created. */
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
 * Serves an {@linkcode EventRegister} over WebSocket. One hub can sit behind `Deno.serve`
 * (`hub.fetch`) or a Hono route ({@linkcode honoHandler}, built on `upgradeWebSocket` from
 * `hono/deno`).
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
 * import { ConnectionRouter, EventRegister, ZapHub } from "@syft/syft/hub";
 * const router = new ConnectionRouter();
 * const register = new EventRegister()
 *   .on("connected", ({ connection }) => connection.send("welcome", { id: connection.id }))
 *   .on("chat", ({ connection, payload }) => {
 *     router.broadcast("chat", payload, { exclude: connection });
 *   });
 * const hub = new ZapHub(register, { router, path: "/ws" });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hub.fetch);
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * @example Hono
 * ```ts
 * import { Hono } from "hono";
 * import { EventRegister, ZapHub } from "@syft/syft/hub";
 * import { honoHandler } from "@syft/syft/hub/hono";
 * const register = new EventRegister().on("ping", ({ connection }) => connection.send("pong"));
 * const hub = new ZapHub(register, {
 *   authenticate: (req) => req.headers.get("authorization") === "Bearer s3cret",
 * });
 * const app = new Hono();
 * app.get("/ws", honoHandler(hub));
 * ```
 */
export class ZapHub implements AsyncDisposable {
  /** The handlers. */
  readonly register: EventRegister;
  /** The router connections are added to, if one was given. */
  readonly router: ConnectionRouter | undefined;
  readonly #engine: HubEngine;

  /**
   * Creates a hub.
   *
   * @param register The handlers.
   * @param options Router, limits, heartbeat, authentication, concurrency and clock.
   * @throws {HubError} When a limit is not a positive number.
   */
  constructor(register: EventRegister, options: ZapHubOptions = {}) {
    this.register = register;
    this.router = options.router;
    this.#engine = new HubEngine(register, options);
    engines.set(this, this.#engine);
  }

  /** Counters since the hub was created. */
  get stats(): HubStats {
    return this.#engine.stats;
  }

  /** Open connections now. */
  get connections(): number {
    return this.#engine.size;
  }

  /**
   * The plain `Deno.serve` adapter: upgrades WebSocket requests (on `path`, when set), answers
   * 426 to other requests, 404 to other paths and 401 when `authenticate` refuses.
   *
   * @param request The HTTP request.
   * @param info What `Deno.serve` passes with it (the peer's address is kept on the connection).
   * @returns The upgrade response, or the refusal.
   */
  readonly fetch = async (request: Request, info?: Deno.ServeHandlerInfo): Promise<Response> => {
    // Read before any await: Deno's getter throws once the request is gone.
    const remoteAddress = peer(info);
    if (this.#engine.path !== undefined && new URL(request.url).pathname !== this.#engine.path) {
      return jsonResponse(404, `Not found: the WebSocket endpoint is ${this.#engine.path}`);
    }
    if (!isUpgrade(request)) {
      return jsonResponse(426, "Expected a WebSocket upgrade request", { upgrade: "websocket" });
    }
    if (this.#engine.shuttingDown) return jsonResponse(503, "The hub is shutting down");
    const data = await this.#engine.authorize(request);
    if (data === false) return jsonResponse(401, "Unauthorized: the hub refused the credentials");
    let upgraded: { socket: WebSocket; response: Response };
    try {
      const protocol = request.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
      upgraded = Deno.upgradeWebSocket(request, {
        idleTimeout: this.#engine.idleTimeout,
        ...(protocol ? { protocol } : {}),
      });
    } catch (err) {
      return jsonResponse(400, `Cannot upgrade to WebSocket: ${errorText(err)}`);
    }
    this.attach(upgraded.socket, request, data, { remoteAddress });
    return upgraded.response;
  };

  /**
   * Serves a WebSocket you upgraded yourself (the building block of the adapters).
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
    options: { remoteAddress?: string | undefined } = {},
  ): Connection {
    const session = this.#engine.session(socket, request, data, options.remoteAddress);
    // Few listeners, and `onopen` dropped once used: each costs memory on every idle connection.
    // Socket errors need no listener: Deno follows each with a close event.
    socket.onmessage = (evt) => this.#engine.message(session, evt.data);
    socket.onclose = (evt) => this.#engine.close(session, evt.code, evt.reason);
    if (socket.readyState === 1) this.#engine.open(session);
    else {
      socket.onopen = () => {
        socket.onopen = null;
        this.#engine.open(session);
      };
    }
    return session.conn;
  }

  /**
   * Closes every connection (1001 by default) and waits until their `disconnected` handlers ran,
   * or `timeoutMs` passed. New upgrades get 503 from then on.
   *
   * @param options Close code, reason and how long to wait.
   */
  close(
    options: { code?: number; reason?: string; timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#engine.closeAll(options);
  }
  /** Same as {@linkcode ZapHub.close} with the defaults. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function peer(info: Deno.ServeHandlerInfo | undefined): string | undefined {
  let addr: Partial<Deno.NetAddr> | undefined;
  try {
    addr = info?.remoteAddr as Partial<Deno.NetAddr> | undefined;
  } catch {
    return undefined; // the request is already closed
  }
  if (addr?.hostname === undefined) return undefined;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
