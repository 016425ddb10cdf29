/**
 * The hub's core, apart from its adapters: the sessions of upgraded sockets, their ordering,
 * limits, handlers and counters. `ZapHub` (`_hub.ts`) is the public facade over it; the
 * `Deno.serve` adapter (`hub.fetch`) and the Hono adapter (`hono.ts`) feed it sockets and frames.
 *
 * @module
 */
import {
  CLOSE_GOING_AWAY,
  CLOSE_TOO_LARGE,
  CLOSE_TRY_AGAIN_LATER,
  ConnectionImpl,
  newConnectionId,
} from "./_connection.ts";
import { type Connection, DEFAULT_SEND_BUFFER_LIMIT } from "./connection.ts";
import { FrameError, HubError } from "./errors.ts";
import {
  decodeFrame,
  DEFAULT_MAX_FRAME_BYTES,
  type EventData,
  exceedsBytes,
  utf8Length,
} from "./frame.ts";
import type { AuthResult, HubStats, ZapHubOptions } from "./hub.ts";
import type { DisconnectInfo, EventContext, EventRegister, HubErrorInfo } from "./register.ts";
import type { ConnectionRouter } from "./router.ts";
import { Fifo } from "./_queue.ts";
import { deadline } from "../_async.ts";
import { type Clock, systemClock } from "../_clock.ts";
import { getLogger } from "../_log.ts";

const log = getLogger(["hub", "server"]);

const DISCONNECT = Symbol("disconnect");

/** The hub-side state of one connection. */
export class Session {
  readonly conn: ConnectionImpl;
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

  constructor(conn: ConnectionImpl) {
    this.conn = conn;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

export function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function jsonResponse(status: number, error: string, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The core of one hub (see the module doc). */
export class HubEngine {
  /** The handlers. */
  readonly register: EventRegister;
  /** The router connections are added to, if one was given. */
  readonly router: ConnectionRouter | undefined;
  /** For `fetch`: the only path that upgrades. */
  readonly path: string | undefined;
  readonly #maxFrame: number;
  readonly #sendLimit: number;
  /** Heartbeat, in seconds (Deno's `idleTimeout`). */
  readonly idleTimeout: number;
  readonly #authenticate: ((request: Request) => AuthResult | Promise<AuthResult>) | undefined;
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #createId: () => string;
  readonly #replyUnknown: boolean;
  readonly #clock: Clock;
  readonly #live = new Set<Session>();
  readonly #stats: Omit<HubStats, "connections"> = {
    connectionsTotal: 0,
    authRefused: 0,
    eventsReceived: 0,
    framesRejected: 0,
    handlerErrors: 0,
    overflows: 0,
  };
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  /**
   * Reads and checks the options.
   *
   * @throws {HubError} When a limit is not a positive number.
   */
  constructor(register: EventRegister, options: ZapHubOptions = {}) {
    this.register = register;
    this.router = options.router;
    this.path = options.path;
    this.#maxFrame = positive(options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, "maxFrameBytes");
    this.#sendLimit = positive(
      options.sendBufferLimit,
      DEFAULT_SEND_BUFFER_LIMIT,
      "sendBufferLimit",
    );
    this.idleTimeout = options.idleTimeout ?? 30;
    if (!(this.idleTimeout >= 0)) {
      throw new HubError(`Cannot use idleTimeout ${options.idleTimeout}: expected seconds >= 0`, {
        code: "HUB_OPTIONS",
      });
    }
    this.#authenticate = options.authenticate;
    const c = options.concurrent ?? false;
    this.#concurrency = c === true ? Infinity : c === false ? 1 : positive(c, 1, "concurrent");
    this.#maxQueued = positive(options.maxQueuedEvents, 1024, "maxQueuedEvents");
    this.#createId = options.createId ?? newConnectionId;
    this.#clock = options.clock ?? systemClock;
    this.#replyUnknown = (options.unknownEvents ?? "error") === "error";
  }

  /** Open connections now. */
  get size(): number {
    return this.#live.size;
  }

  /** Counters since the hub was created. */
  get stats(): HubStats {
    return { connections: this.#live.size, ...this.#stats };
  }

  /** `true` once {@linkcode HubEngine.closeAll} was called: new upgrades get 503. */
  get shuttingDown(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Closes every connection and waits until their `disconnected` handlers ran, or `timeoutMs`
   * passed on the clock. Later calls return the first call's promise.
   */
  closeAll(options: { code?: number; reason?: string; timeoutMs?: number }): Promise<void> {
    this.#closing ??= (async () => {
      const { code = CLOSE_GOING_AWAY, reason = "server shutting down", timeoutMs = 3_000 } =
        options;
      if (this.#live.size === 0) return;
      const drained = new Promise<void>((resolve) => this.#drained = resolve);
      for (const session of this.#live) session.conn.close(code, reason);
      await deadline(drained, timeoutMs, { clock: this.#clock }).catch(() => {});
    })();
    return this.#closing;
  }

  /** Runs `authenticate`: the connection data, `undefined` (accepted, no data) or `false` (refused). */
  async authorize(request: Request): Promise<Record<string, unknown> | undefined | false> {
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

  /** Makes the session of an upgraded socket. */
  session(
    socket: WebSocket,
    request: Request,
    data: Record<string, unknown> | undefined,
    remoteAddress?: string,
  ): Session {
    socket.binaryType = "arraybuffer";
    let session: Session | undefined = undefined;
    const conn = new ConnectionImpl(socket, request, {
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

  /** The socket opened. */
  open(s: Session): void {
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

  /** A frame arrived. */
  message(s: Session, data: unknown): void {
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

  /** The socket closed. */
  close(s: Session, code: number, reason: string): void {
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

/** The core behind each hub `createZapHub()` made, for the adapters. */
export const engines: WeakMap<object, HubEngine> = new WeakMap();

export function socketErrorText(evt: Event): string {
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
