/**
 * The hub: runs an {@linkcode EventRegister}'s handlers for WebSocket peers, with per-connection
 * ordering, limits, heartbeats and authentication, behind a plain `Deno.serve` handler or a Hono
 * middleware.
 *
 * @module
 */
import type { Context } from "hono";
import { upgradeWebSocket } from "hono/deno";
import {
  CLOSE_GOING_AWAY,
  CLOSE_TOO_LARGE,
  CLOSE_TRY_AGAIN_LATER,
  Connection,
  DEFAULT_SEND_BUFFER_LIMIT,
  newConnectionId,
} from "./connection.ts";
import { FrameError, HubError } from "./errors.ts";
import {
  decodeFrame,
  DEFAULT_MAX_FRAME_BYTES,
  type EventData,
  exceedsBytes,
  utf8Length,
} from "./frame.ts";
import type { DisconnectInfo, EventContext, EventRegister, HubErrorInfo } from "./register.ts";
import type { ConnectionRouter } from "./router.ts";
import { Fifo } from "./_queue.ts";
import { getLogger } from "../_log.ts";

const log = getLogger(["hub", "server"]);

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
}

/** The part of a Hono `Context` the hub's middleware reads. */
export interface HonoContextLike {
  /** The request. */
  req: { raw: Request };
}

/**
 * A Hono middleware (structurally Hono's `MiddlewareHandler`): mount it with
 * `app.get(path, hub.hono())`.
 */
export type HonoWebSocketHandler = (
  c: HonoContextLike,
  next: () => Promise<void>,
) => Promise<Response | void>;

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

const DISCONNECT = Symbol("disconnect");

/** The hub-side state of one connection. */
class Session {
  readonly conn: Connection;
  /** Handlers running now (the `connected` handler included). */
  busy = 0;
  /** `false` until the `connected` handler finished. */
  ready = false;
  closed = false;
  /** Frames received (for `Connection.close()` to find a quiet moment). */
  frames = 0;
  queue: Fifo<EventData | typeof DISCONNECT> | undefined;
  closeInfo: DisconnectInfo | undefined;
  socketError: string | undefined;

  constructor(conn: Connection) {
    this.conn = conn;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function jsonResponse(status: number, error: string, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Serves an {@linkcode EventRegister} over WebSocket. One hub can sit behind `Deno.serve`
 * (`hub.fetch`) or a Hono route (`hub.hono()`, built on `upgradeWebSocket` from `hono/deno`).
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
 * const register = new EventRegister().on("ping", ({ connection }) => connection.send("pong"));
 * const hub = new ZapHub(register, {
 *   authenticate: (req) => req.headers.get("authorization") === "Bearer s3cret",
 * });
 * const app = new Hono();
 * app.get("/ws", hub.hono());
 * ```
 */
export class ZapHub implements AsyncDisposable {
  /** The handlers. */
  readonly register: EventRegister;
  /** The router connections are added to, if one was given. */
  readonly router: ConnectionRouter | undefined;
  readonly #path: string | undefined;
  readonly #maxFrame: number;
  readonly #sendLimit: number;
  readonly #idleTimeout: number;
  readonly #authenticate: ((request: Request) => AuthResult | Promise<AuthResult>) | undefined;
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #createId: () => string;
  readonly #replyUnknown: boolean;
  readonly #live = new Set<Session>();
  readonly #stats: Omit<HubStats, "connections"> = {
    connectionsTotal: 0,
    authRefused: 0,
    eventsReceived: 0,
    framesRejected: 0,
    handlerErrors: 0,
    overflows: 0,
  };
  #closed: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  /**
   * Creates a hub.
   *
   * @param register The handlers.
   * @param options Router, limits, heartbeat, authentication and concurrency.
   * @throws {HubError} When a limit is not a positive number.
   */
  constructor(register: EventRegister, options: ZapHubOptions = {}) {
    this.register = register;
    this.router = options.router;
    this.#path = options.path;
    this.#maxFrame = positive(options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, "maxFrameBytes");
    this.#sendLimit = positive(
      options.sendBufferLimit,
      DEFAULT_SEND_BUFFER_LIMIT,
      "sendBufferLimit",
    );
    this.#idleTimeout = options.idleTimeout ?? 30;
    if (!(this.#idleTimeout >= 0)) {
      throw new HubError(`Cannot use idleTimeout ${options.idleTimeout}: expected seconds >= 0`, {
        code: "HUB_OPTIONS",
      });
    }
    this.#authenticate = options.authenticate;
    const c = options.concurrent ?? false;
    this.#concurrency = c === true ? Infinity : c === false ? 1 : positive(c, 1, "concurrent");
    this.#maxQueued = positive(options.maxQueuedEvents, 1024, "maxQueuedEvents");
    this.#createId = options.createId ?? newConnectionId;
    this.#replyUnknown = (options.unknownEvents ?? "error") === "error";
  }

  /** Counters since the hub was created. */
  get stats(): HubStats {
    return { connections: this.#live.size, ...this.#stats };
  }

  /** Open connections now. */
  get connections(): number {
    return this.#live.size;
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
    if (this.#path !== undefined && new URL(request.url).pathname !== this.#path) {
      return jsonResponse(404, `Not found: the WebSocket endpoint is ${this.#path}`);
    }
    if (!isUpgrade(request)) {
      return jsonResponse(426, "Expected a WebSocket upgrade request", { upgrade: "websocket" });
    }
    if (this.#closed) return jsonResponse(503, "The hub is shutting down");
    const data = await this.#authorize(request);
    if (data === false) return jsonResponse(401, "Unauthorized: the hub refused the credentials");
    let upgraded: { socket: WebSocket; response: Response };
    try {
      const protocol = request.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
      upgraded = Deno.upgradeWebSocket(request, {
        idleTimeout: this.#idleTimeout,
        ...(protocol ? { protocol } : {}),
      });
    } catch (err) {
      return jsonResponse(400, `Cannot upgrade to WebSocket: ${errorText(err)}`);
    }
    this.attach(upgraded.socket, request, data, { remoteAddress });
    return upgraded.response;
  };

  /**
   * The Hono adapter: a middleware built on `upgradeWebSocket` from `hono/deno`. Mount it on the
   * WebSocket route; non-upgrade requests get 426 and refused credentials 401.
   *
   * @returns The middleware.
   */
  hono(): HonoWebSocketHandler {
    return async (c) => {
      const request = c.req.raw;
      if (!isUpgrade(request)) {
        return jsonResponse(426, "Expected a WebSocket upgrade request", { upgrade: "websocket" });
      }
      if (this.#closed) return jsonResponse(503, "The hub is shutting down");
      const data = await this.#authorize(request);
      if (data === false) return jsonResponse(401, "Unauthorized: the hub refused the credentials");
      let session: Session | undefined;
      return await upgradeWebSocket(c as unknown as Context, {
        onOpen: (_evt, ws) => {
          session = this.#session(ws.raw!, request, data);
          this.#open(session);
        },
        onMessage: (evt) => {
          if (session !== undefined) this.#message(session, evt.data);
        },
        onClose: (evt) => {
          if (session !== undefined) this.#close(session, evt.code, evt.reason);
        },
        onError: (evt) => {
          if (session !== undefined) session.socketError = socketErrorText(evt);
        },
      }, { idleTimeout: this.#idleTimeout });
    };
  }

  /**
   * Serves a WebSocket you upgraded yourself (the building block of both adapters).
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
    const session = this.#session(socket, request, data, options.remoteAddress);
    // Few listeners, and `onopen` dropped once used: each costs memory on every idle connection.
    // Socket errors need no listener: Deno follows each with a close event.
    socket.onmessage = (evt) => this.#message(session, evt.data);
    socket.onclose = (evt) => this.#close(session, evt.code, evt.reason);
    if (socket.readyState === 1) this.#open(session);
    else {
      socket.onopen = () => {
        socket.onopen = null;
        this.#open(session);
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
    this.#closed ??= (async () => {
      const { code = CLOSE_GOING_AWAY, reason = "server shutting down", timeoutMs = 3_000 } =
        options;
      if (this.#live.size === 0) return;
      const drained = new Promise<void>((resolve) => this.#drained = resolve);
      for (const session of this.#live) session.conn.close(code, reason);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        drained,
        new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
      ]);
      clearTimeout(timer);
    })();
    return this.#closed;
  }

  /** Same as {@linkcode ZapHub.close} with the defaults. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #authorize(request: Request): Promise<Record<string, unknown> | undefined | false> {
    if (this.#authenticate === undefined) return undefined;
    let result: AuthResult;
    try {
      result = await this.#authenticate(request);
    } catch (err) {
      log.error("authenticate() threw; refusing the upgrade: {error}", { error: errorText(err) });
      result = false;
    }
    if (result === true) return undefined;
    if (typeof result === "object" && result !== null) return { ...result };
    this.#stats.authRefused++;
    return false;
  }

  #session(
    socket: WebSocket,
    request: Request,
    data: Record<string, unknown> | undefined,
    remoteAddress?: string,
  ): Session {
    socket.binaryType = "arraybuffer";
    let session: Session | undefined = undefined;
    const conn = new Connection(socket, request, {
      id: this.#createId(),
      ...(remoteAddress === undefined ? {} : { remoteAddress }),
      ...(data === undefined ? {} : { data }),
      sendBufferLimit: this.#sendLimit,
      incomingFrames: () => session!.frames,
      onOverflow: (_conn, bytes) => {
        this.#stats.overflows++;
        this.#raise(session!, {
          code: "SEND_BUFFER_OVERFLOW",
          message:
            `Closing the connection: ${bytes} bytes wait to be sent, over the ${this.#sendLimit}-byte limit`,
          error: new HubError("Send buffer over its limit", { code: "SEND_BUFFER_OVERFLOW" }),
        }, false);
      },
    });
    session = new Session(conn);
    return session;
  }

  #open(s: Session): void {
    if (this.#live.has(s) || s.closed) return;
    this.#live.add(s);
    this.#stats.connectionsTotal++;
    this.router?.add(s.conn);
    const handler = this.register.lifecycle("connected");
    if (handler === undefined) {
      s.ready = true;
      return;
    }
    let result: unknown;
    try {
      result = handler({ eventName: "connected", payload: null, headers: {}, connection: s.conn });
    } catch (err) {
      this.#handlerError(s, "connected", err);
    }
    if (isThenable(result)) {
      s.busy++;
      result.then(
        () => this.#connectedDone(s),
        (err) => {
          this.#handlerError(s, "connected", err);
          this.#connectedDone(s);
        },
      );
    } else {
      s.ready = true;
    }
  }

  #connectedDone(s: Session): void {
    s.busy--;
    s.ready = true;
    this.#drain(s);
  }

  #message(s: Session, data: unknown): void {
    s.frames++;
    // Once a connection is closing (a limit, or a handler closed it), its frames are dropped.
    if (s.closed || s.conn.closing) return;
    if (typeof data !== "string") {
      const size = data instanceof ArrayBuffer ? data.byteLength : 0;
      if (size > this.#maxFrame) this.#tooLarge(s, size);
      else {
        this.#reject(
          s,
          new FrameError(
            "BINARY_FRAME",
            "Cannot use frame: binary frames are not supported; send each event as a JSON text frame",
          ),
        );
      }
      return;
    }
    if (exceedsBytes(data, this.#maxFrame)) {
      this.#tooLarge(s, utf8Length(data));
      return;
    }
    let event: EventData;
    try {
      event = decodeFrame(data);
    } catch (err) {
      this.#reject(s, err as FrameError);
      return;
    }
    this.#stats.eventsReceived++;
    if (s.ready && s.busy < this.#concurrency) this.#run(s, event);
    else this.#enqueue(s, event);
  }

  #enqueue(s: Session, item: EventData | typeof DISCONNECT): void {
    const queue = s.queue ??= new Fifo();
    if (item !== DISCONNECT && queue.length >= this.#maxQueued) {
      this.#stats.overflows++;
      const message =
        `Closing the connection: more than ${this.#maxQueued} events wait for its handlers`;
      this.#raise(s, {
        code: "EVENT_QUEUE_OVERFLOW",
        message,
        eventName: item.eventName,
        error: new HubError(message, { code: "EVENT_QUEUE_OVERFLOW" }),
      }, false);
      s.conn.close(CLOSE_TRY_AGAIN_LATER, "too many events waiting for handlers");
      return;
    }
    queue.push(item);
  }

  #run(s: Session, event: EventData): void {
    const handler = this.register.handlerFor(event.eventName);
    if (handler === undefined) {
      if (this.#replyUnknown) {
        const message = `No handler for event "${event.eventName}"`;
        this.#raise(s, {
          code: "UNKNOWN_EVENT",
          message,
          eventName: event.eventName,
          error: new HubError(message, { code: "UNKNOWN_EVENT" }),
        }, true);
      }
      return;
    }
    const ctx: EventContext = {
      eventName: event.eventName,
      payload: event.payload,
      headers: event.headers,
      connection: s.conn,
    };
    let result: unknown;
    try {
      result = handler(ctx);
    } catch (err) {
      this.#handlerError(s, event.eventName, err);
      return;
    }
    if (isThenable(result)) {
      s.busy++;
      result.then(
        () => this.#settle(s),
        (err) => {
          this.#handlerError(s, event.eventName, err);
          this.#settle(s);
        },
      );
    }
  }

  #settle(s: Session): void {
    s.busy--;
    this.#drain(s);
  }

  #drain(s: Session): void {
    const queue = s.queue;
    if (queue === undefined) return;
    while (queue.length > 0 && s.busy < this.#concurrency) {
      const item = queue.shift()!;
      if (item === DISCONNECT) this.#disconnected(s);
      else this.#run(s, item);
    }
  }

  #close(s: Session, code: number, reason: string): void {
    if (s.closed) return;
    s.closed = true;
    this.router?.remove(s.conn);
    s.closeInfo = {
      code,
      reason: reason || s.socketError || (code === 1006 || code === 0 ? "connection lost" : ""),
    };
    if (s.busy > 0 || !s.ready || (s.queue !== undefined && s.queue.length > 0)) {
      (s.queue ??= new Fifo()).push(DISCONNECT);
    } else {
      this.#disconnected(s);
    }
  }

  #disconnected(s: Session): void {
    const handler = this.register.lifecycle("disconnected");
    const finish = (): void => {
      this.#live.delete(s);
      if (this.#live.size === 0) this.#drained?.();
    };
    if (handler === undefined) return finish();
    let result: unknown;
    try {
      result = handler({
        eventName: "disconnected",
        payload: s.closeInfo ?? { code: 1005, reason: "" },
        headers: {},
        connection: s.conn,
      });
    } catch (err) {
      this.#handlerError(s, "disconnected", err);
    }
    if (isThenable(result)) {
      result.then(finish, (err) => {
        this.#handlerError(s, "disconnected", err);
        finish();
      });
    } else finish();
  }

  #tooLarge(s: Session, bytes: number): void {
    const message = `Cannot accept frame: ${bytes} bytes is over the ${this.#maxFrame}-byte limit`;
    this.#stats.framesRejected++;
    this.#raise(s, {
      code: "FRAME_TOO_LARGE",
      message,
      error: new FrameError("FRAME_TOO_LARGE", message),
    }, false);
    s.conn.close(CLOSE_TOO_LARGE, `frame over the ${this.#maxFrame}-byte limit`);
  }

  #reject(s: Session, err: FrameError): void {
    this.#stats.framesRejected++;
    this.#raise(s, { code: err.code, message: err.message, error: err }, true);
  }

  #handlerError(s: Session, eventName: string, err: unknown): void {
    this.#stats.handlerErrors++;
    this.#raise(s, {
      code: "HANDLER_ERROR",
      message: `The handler of event "${eventName}" failed: ${errorText(err)}`,
      eventName,
      error: err,
    }, false);
  }

  /** Raises the `error` lifecycle event; `reply` also sends `error` `{code, message}` to the peer. */
  #raise(s: Session, info: HubErrorInfo, reply: boolean): void {
    if (reply) s.conn.send("error", { code: info.code, message: info.message });
    const handler = this.register.lifecycle("error");
    if (handler === undefined) {
      logUnhandled(s.conn, info);
      return;
    }
    try {
      const result = handler({
        eventName: "error",
        payload: info,
        headers: {},
        connection: s.conn,
      });
      if (isThenable(result)) {
        result.then(undefined, (err) => logErrorHandlerFailure(err));
      }
    } catch (err) {
      logErrorHandlerFailure(err);
    }
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

function socketErrorText(evt: Event): string {
  const message = (evt as ErrorEvent).message;
  return typeof message === "string" && message !== "" ? message : "socket error";
}

function logUnhandled(conn: Connection, info: HubErrorInfo): void {
  const props = { id: conn.id, code: info.code, message: info.message };
  if (info.code === "HANDLER_ERROR") {
    log.error("Connection {id}: {message}", { ...props, error: info.error });
  } else log.warn("Connection {id}: {code}: {message}", props);
}

function logErrorHandlerFailure(err: unknown): void {
  log.error("The error handler itself failed: {error}", { error: errorText(err) });
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(typeof value === "number" && value > 0)) {
    throw new HubError(`Cannot use ${name} ${value}: expected a positive number`, {
      code: "HUB_OPTIONS",
    });
  }
  return value;
}
