/**
 * The implementation of {@linkcode ZapClient} (internal): the socket, its reconnects with backoff,
 * the offline queue and the event and state channels.
 *
 * @module
 */
import { FrameError, ZapClientError } from "./errors.ts";
import { decodeFrame, encodeFrame, type EventData, type EventHeaders } from "./frame.ts";
import type {
  ClientEventHandler,
  ReconnectOptions,
  ZapClient,
  ZapClientOptions,
  ZapClientState,
} from "./client.ts";
import { Channel } from "./_channel.ts";
import { deadline, delay } from "../_async.ts";
import { type Clock, systemClock, type TimerHandle } from "../_clock.ts";
import { getLogger } from "../_log.ts";

const log = getLogger(["hub", "client"]);

/** A client (see {@linkcode ZapClient}); made by `createZapClient()`. */
export class ZapClientImpl implements ZapClient {
  readonly #reconnect: Required<ReconnectOptions> | undefined;
  readonly #queueLimit: number;
  readonly #protocols: string | string[] | undefined;
  readonly #onOnline: ((client: ZapClient) => void) | undefined;
  readonly #onProtocolError: ((error: FrameError) => void) | undefined;
  readonly #closeTimeoutMs: number;
  readonly #clock: Clock;
  readonly #handlers = new Map<string, Set<ClientEventHandler>>();
  readonly #events = new Channel<EventData>();
  readonly #states = new Channel<ZapClientState>();
  readonly #queue: string[] = [];
  #state: ZapClientState = "OFFLINE";
  #url: string | undefined;
  #socket: WebSocket | undefined;
  #attempts = 0;
  #timer: TimerHandle | undefined;
  #lastError: string | undefined;
  #closing = false;
  #done = false;
  #connectWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(options: ZapClientOptions = {}) {
    const r = options.reconnect ?? true;
    this.#reconnect = r === false ? undefined : {
      initialDelayMs: 250,
      maxDelayMs: 10_000,
      factor: 2,
      jitter: 0.5,
      maxAttempts: Infinity,
      ...(r === true ? {} : r),
    };
    this.#queueLimit = options.queueLimit ?? 1024;
    this.#protocols = options.protocols;
    this.#onOnline = options.onOnline;
    this.#onProtocolError = options.onProtocolError;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** The current state. */
  get state(): ZapClientState {
    return this.#state;
  }

  /** The URL given to `connect()`. */
  get url(): string | undefined {
    return this.#url;
  }

  /** How many sends wait for the client to come online. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Connects (and, unless reconnect is off, stays connected).
   *
   * @param url The `ws:` or `wss:` URL of the hub.
   * @returns Resolves when the client is online.
   * @throws {ZapClientError} `CONNECT_FAILED` when reconnect is off and the attempt fails, when
   * `maxAttempts` is used up, or when the URL is invalid; `UNAUTHORIZED` when the hub refuses the
   * upgrade with 401 or 403 (no retry: a token is needed); `CLIENT_CLOSED` after `close()`.
   */
  connect(url: string | URL): Promise<void> {
    if (this.#done) {
      return Promise.reject(
        new ZapClientError("Cannot connect: the client is closed", { code: "CLIENT_CLOSED" }),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    if (this.#state === "ONLINE" && this.#url === String(url)) return Promise.resolve();
    this.#connectWaiters.push({ resolve, reject });
    if (this.#url !== String(url) || this.#socket === undefined && this.#timer === undefined) {
      this.#url = String(url);
      this.#attempts = 0;
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      const old = this.#socket;
      this.#socket = undefined;
      if (old !== undefined) detachAndClose(old);
      this.#open();
    }
    return promise;
  }

  /**
   * Sends one event; while not connected it waits in the offline queue.
   *
   * @param eventName The event name.
   * @param payload Any JSON value (default `null`).
   * @param headers Headers (default `{}`; always sent, as old peers require).
   * @throws {FrameEncodeError} When the payload or headers cannot be encoded.
   * @throws {ZapClientError} `QUEUE_FULL` when offline with a full queue; `CLIENT_CLOSED` after
   * `close()` or once reconnecting has stopped.
   */
  send(eventName: string, payload: unknown = null, headers: EventHeaders | null = null): void {
    if (this.#done) {
      throw new ZapClientError(
        `Cannot send "${eventName}": the client is closed${
          this.#lastError ? ` (${this.#lastError})` : ""
        }`,
        { code: "CLIENT_CLOSED" },
      );
    }
    const frame = encodeFrame(eventName, payload, headers);
    const socket = this.#socket;
    if (this.#state === "ONLINE" && socket !== undefined && socket.readyState === 1) {
      socket.send(frame);
      return;
    }
    if (this.#queue.length >= this.#queueLimit) {
      throw new ZapClientError(
        `Cannot send "${eventName}": offline and the queue already holds ${this.#queueLimit} events`,
        { code: "QUEUE_FULL" },
      );
    }
    this.#queue.push(frame);
  }

  /**
   * Calls `handler` for every received event of that name (server-sent `error` events included).
   *
   * @param eventName The event name.
   * @param handler Called with the event; exceptions are logged and do not stop the client.
   * @returns A function that removes the handler.
   */
  on(eventName: string, handler: ClientEventHandler): () => void {
    let set = this.#handlers.get(eventName);
    if (set === undefined) {
      set = new Set();
      this.#handlers.set(eventName, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /**
   * Returns an async iterator of every event received from now on, across reconnects; it ends
   * when the client closes. Break out of the loop to stop it.
   *
   * @returns The iterator.
   */
  events(): AsyncIterableIterator<EventData> {
    return this.#events.subscribe();
  }

  /**
   * Returns an async iterator of states: the current one first, then each change; it ends when
   * the client closes (after yielding the final state).
   *
   * @returns The iterator.
   */
  states(): AsyncIterableIterator<ZapClientState> {
    return this.#states.subscribe([this.#state]);
  }

  /**
   * Stops reconnecting, waits (up to `closeTimeoutMs`) for sent bytes to be written, closes the
   * socket and ends the iterators. Events still in the offline queue are dropped (and logged).
   *
   * @param code The close code (1000 or 3000-4999; default 1000).
   * @param reason A short reason.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#done || this.#closing) return;
    this.#closing = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const socket = this.#socket;
    if (socket !== undefined) {
      const clock = this.#clock;
      if (socket.readyState === 1) {
        // The socket has no event for "written": poll its buffer (a real OS event).
        const until = clock.now() + this.#closeTimeoutMs;
        while (socket.bufferedAmount > 0 && socket.readyState === 1 && clock.now() < until) {
          await delay(5, { clock });
        }
      }
      const closed = new Promise<void>((resolve) => {
        socket.addEventListener("close", () => resolve(), { once: true });
      });
      if (socket.readyState <= 1) socket.close(code, reason);
      if (socket.readyState !== 3) {
        await deadline(closed, this.#closeTimeoutMs, { clock }).catch(() => {});
      }
    }
    this.#finish("OFFLINE", undefined);
  }

  /** Same as `close()` with the defaults. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #setState(state: ZapClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#states.publish(state);
  }

  #open(): void {
    this.#timer = undefined;
    if (this.#done || this.#closing || this.#url === undefined) return;
    this.#setState("CONNECTING");
    let socket: WebSocket;
    try {
      socket = this.#protocols === undefined
        ? new WebSocket(this.#url)
        : new WebSocket(this.#url, this.#protocols);
    } catch (err) {
      // An invalid URL does not get better by retrying.
      this.#lastError = err instanceof Error ? err.message : String(err);
      this.#finish("ERROR", err);
      return;
    }
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      opened = true;
      this.#attempts = 0;
      this.#lastError = undefined;
      this.#setState("ONLINE");
      try {
        this.#onOnline?.(this);
      } catch (err) {
        log.error("onOnline threw: {error}", { error: String(err) });
      }
      this.#flush(socket);
      for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve();
    };
    socket.onmessage = (evt) => {
      if (this.#socket === socket) this.#receive(evt.data);
    };
    socket.onerror = (evt) => {
      const message = (evt as ErrorEvent).message;
      this.#lastError = typeof message === "string" && message !== "" ? message : "socket error";
    };
    socket.onclose = (evt) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      if (this.#closing) return;
      if (opened && evt.code !== 1006) {
        this.#lastError = `closed by the server (${evt.code}${evt.reason ? ` ${evt.reason}` : ""})`;
        this.#setState("OFFLINE");
      } else {
        this.#lastError ??= `connection failed (${evt.code})`;
        this.#setState("ERROR");
        // A hub that refuses the upgrade with 401/403 (a token is needed, or another one) will
        // refuse every retry: stop, with an error that says so.
        const status = /status code:? (\d{3})/i.exec(this.#lastError)?.[1];
        if (!opened && (status === "401" || status === "403")) {
          this.#finish(
            "ERROR",
            new ZapClientError(
              `Cannot connect to ${this.#url}: the hub refused the connection (HTTP ${status}): ` +
                "it requires a token, or another one",
              { code: "UNAUTHORIZED" },
            ),
          );
          return;
        }
      }
      this.#retry();
    };
  }

  #retry(): void {
    const policy = this.#reconnect;
    if (policy === undefined || this.#attempts >= policy.maxAttempts) {
      const why = policy === undefined
        ? "reconnect is off"
        : `gave up after ${this.#attempts} attempts`;
      this.#finish(this.#state, new Error(`${this.#lastError ?? "disconnected"}; ${why}`));
      return;
    }
    const base = Math.min(
      policy.maxDelayMs,
      policy.initialDelayMs * Math.pow(policy.factor, this.#attempts),
    );
    const wait = base * (1 - Math.min(Math.max(policy.jitter, 0), 1) * Math.random());
    this.#attempts++;
    log.debug("Reconnecting to {url} in {delay} ms (attempt {attempt})", {
      url: this.#url,
      delay: Math.round(wait),
      attempt: this.#attempts,
    });
    this.#timer = this.#clock.setTimeout(() => this.#open(), wait);
  }

  #flush(socket: WebSocket): void {
    if (this.#queue.length === 0) return;
    const frames = this.#queue.splice(0);
    for (const frame of frames) socket.send(frame);
  }

  #receive(data: unknown): void {
    if (typeof data !== "string") {
      this.#protocolError(
        new FrameError("BINARY_FRAME", "Cannot use frame from the server: it is binary"),
      );
      return;
    }
    let event: EventData;
    try {
      event = decodeFrame(data);
    } catch (err) {
      this.#protocolError(err as FrameError);
      return;
    }
    const handlers = this.#handlers.get(event.eventName);
    if (handlers !== undefined) {
      for (const handler of handlers) {
        try {
          handler(event);
        } catch (err) {
          log.error("Handler of {event} threw: {error}", {
            event: event.eventName,
            error: String(err),
          });
        }
      }
    }
    this.#events.publish(event);
  }

  #protocolError(err: FrameError): void {
    if (this.#onProtocolError !== undefined) this.#onProtocolError(err);
    else log.warn("Ignoring a frame from {url}: {error}", { url: this.#url, error: err.message });
  }

  #finish(state: ZapClientState, cause: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#setState(state);
    const dropped = this.#queue.length;
    if (dropped > 0) {
      log.warn("Dropping {count} queued events: the client is closed", { count: dropped });
      this.#queue.length = 0;
    }
    const waiters = this.#connectWaiters.splice(0);
    if (waiters.length > 0) {
      const err = this.#closing
        ? new ZapClientError("Cannot connect: the client was closed", { code: "CLIENT_CLOSED" })
        : cause instanceof ZapClientError
        ? cause
        : new ZapClientError(
          `Cannot connect to ${this.#url}: ${
            cause instanceof Error ? cause.message : this.#lastError ?? "failed"
          }`,
          { code: "CONNECT_FAILED", cause },
        );
      for (const waiter of waiters) waiter.reject(err);
    }
    this.#states.end();
    this.#events.end();
  }
}

function detachAndClose(socket: WebSocket): void {
  socket.onopen =
    socket.onmessage =
    socket.onerror =
    socket.onclose =
      null;
  try {
    socket.close();
  } catch {
    // Already closed.
  }
}
