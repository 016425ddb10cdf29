/**
 * A Deno client for fastapi_websocket_pubsub servers (Python's `PubSubEndpoint`, eventhive's
 * fastapi server, `syft pubsub serve`): subscribe to topics, receive notifications, publish.
 *
 * It speaks the frames of fastapi_websocket_rpc exactly as Python writes them and keeps ONE
 * persistent connection for publishing and subscribing (eventhive opens one per message):
 * - readiness: `_ping_` up to 5 times (1 s each) after every connect, then the subscribed topics
 *   are sent again, then queued publishes go out in order;
 * - the server's `notify` is answered `"None"` / `"str"` and `_ping_` `"pong"` / `"str"`, as a
 *   Python client answers; other `_`-methods get no answer (as in Python) and unknown public
 *   methods an answer of `null`, so the caller never waits and the connection stays up;
 * - reconnect with exponential backoff and jitter, forever, except after HTTP 401/403 (then the
 *   client closes with a {@linkcode FastApiPubSubError} `FASTAPI_AUTH` saying a token is needed);
 * - keep-alive: a connection silent for `keepAliveMs` gets a `_ping_`; no answer within another
 *   `keepAliveMs` drops it and reconnects.
 *
 * Delivery is at most once, as with the original: what the server publishes while the client is
 * away is lost; a publish whose connection drops before the server answered rejects with
 * `FASTAPI_CONNECTION_LOST` (it may or may not have been delivered) and is never sent twice.
 *
 * @module
 */
import { getLogger } from "../_log.ts";
import { type FastApiClock as Clock, realClock, type TimerId } from "./_fastapi_clock.ts";
import { FastApiPubSubError } from "./fastapi_errors.ts";
import {
  ALL_TOPICS,
  callIdFactory,
  decodeRpcMessage,
  encodeResponse,
  pyJson,
  pyString,
  randomHexId,
  type RpcRequest,
  type RpcResponse,
} from "./rpc_frames.ts";

export { FastApiPubSubError, type FastApiPubSubErrorCode } from "./fastapi_errors.ts";
export { ALL_TOPICS } from "./rpc_frames.ts";

const log = getLogger(["pubsub", "fastapi-client"]);

/** Readiness pings after each connect, and how long each waits (as the Python client). */
const READY_PINGS = 5;
const READY_PING_MS = 1_000;
/** How long `close()` waits for publishes already sent to be answered. */
const CLOSE_GRACE_MS = 2_000;
/** Publishes that may wait for a connection. */
const MAX_QUEUED_PUBLISHES = 10_000;

/**
 * Options of {@linkcode connectFastApiPubSub}.
 *
 * @example A server with a token, quick reconnects
 * ```ts ignore
 * import { connectFastApiPubSub } from "@syft/syft/pubsub";
 * const client = connectFastApiPubSub("ws://127.0.0.1:8085/pubsub", {
 *   token: Deno.env.get("PUBSUB_TOKEN"),
 *   minBackoffMs: 50,
 *   maxBackoffMs: 5_000,
 * });
 * await client.close();
 * ```
 */
export interface FastApiPubSubClientOptions {
  /** Sent as `Authorization: Bearer <token>` on every connect (`syft pubsub serve --token`). */
  token?: string;
  /** More HTTP headers for the WebSocket upgrade. */
  headers?: Record<string, string>;
  /** Shortest wait before a reconnect (default 100 ms). */
  minBackoffMs?: number;
  /** Longest wait before a reconnect (default 15,000 ms); waits double up to it, with jitter. */
  maxBackoffMs?: number;
  /** Ping a connection silent for this long and drop it if the ping is not answered within as long again (default 20,000 ms; 0 turns it off). */
  keepAliveMs?: number;
  /** How long `ready()`, and `subscribe()` while disconnected, wait (default 15,000 ms). */
  readyTimeoutMs?: number;
}

/** Options of {@linkcode FastApiPubSubClient.publish}. */
export interface FastApiPublishOptions {
  /** `true` (default, as in Python): the server answers after every subscriber was notified. */
  sync?: boolean;
  /**
   * Who publishes: `null` (default) lets the server use this connection's id, so this client
   * does not receive its own event; any other string makes it receive it.
   */
  notifierId?: string | null;
  /** How long to wait for the server's answer, queueing included (default 30,000 ms). */
  timeoutMs?: number;
  /**
   * After an outage, wait for subscribers (what hives do): a publish that waited for the
   * connection, or was sent within 5 s after a reconnect, and that a syft server answers as
   * having reached nobody (its `syft_receivers` extension) is sent again every 50 ms until a
   * subscriber got it or `timeoutMs` passed, then rejects with `FASTAPI_NO_SUBSCRIBER`: the
   * subscribers re-subscribe at their own pace after a restart. Python servers do not report
   * receivers, so nothing changes with them. Default `false` (at most once, as the original).
   */
  retryUnheard?: boolean;
}

/** A connection state. */
export type FastApiPubSubState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * A client of a fastapi_websocket_pubsub server. Create it with
 * {@linkcode connectFastApiPubSub}; it connects in the background and reconnects by itself.
 *
 * @example Follow the connection state
 * ```ts ignore
 * import { connectFastApiPubSub } from "@syft/syft/pubsub";
 * await using client = connectFastApiPubSub("ws://127.0.0.1:8085/pubsub");
 * client.onState((state, error) => console.log(state, error?.message ?? ""));
 * await client.ready();
 * ```
 */
export interface FastApiPubSubClient extends AsyncDisposable {
  /** The server URL. */
  readonly url: string;
  /** `connecting` (first attempt), `open`, `reconnecting` (after a loss or failed attempt) or `closed`. */
  readonly state: FastApiPubSubState;
  /**
   * Resolves when connected and the readiness `_ping_` was answered (and topics re-sent).
   *
   * @throws {FastApiPubSubError} `FASTAPI_TIMEOUT` after `readyTimeoutMs`, `FASTAPI_AUTH` when
   *   the server wants a token, `FASTAPI_CLOSED` after `close()`.
   */
  ready(): Promise<void>;
  /**
   * Adds topics (additive; `ALL_TOPICS` means every topic). They are sent again after every
   * reconnect. Resolves when the server confirmed them.
   *
   * @throws {FastApiPubSubError} `FASTAPI_REFUSED` when the server answers false,
   *   `FASTAPI_TIMEOUT` when no connection comes up within `readyTimeoutMs` (the topics stay
   *   recorded and are subscribed on connect).
   */
  subscribe(topics: readonly string[]): Promise<void>;
  /**
   * Removes topics; their notifications stop at once, locally, and the server is told (servers
   * without `unsubscribe`, such as fastapi_websocket_pubsub 0.3.1, close the connection instead;
   * the client then reconnects without those topics).
   */
  unsubscribe(topics: readonly string[]): Promise<void>;
  /**
   * Calls `listener(topic, data)` for each notification of a subscribed topic. A listener that
   * throws is logged and never stops the others.
   *
   * @returns A function that removes the listener.
   */
  onNotify(listener: (topic: string, data: unknown) => void): () => void;
  /**
   * Calls `listener(state, error?)` on each state change; `error` says why a connection was lost
   * or refused.
   *
   * @returns A function that removes the listener.
   */
  onState(listener: (state: FastApiPubSubState, error?: Error) => void): () => void;
  /**
   * Publishes `data` on `topics`. Publishes go out in call order on the one connection; while
   * disconnected they wait (in order) for the next one.
   *
   * @returns The server's answer (`true` when it accepted the publish).
   * @throws {FastApiPubSubError} `FASTAPI_TIMEOUT`, `FASTAPI_CONNECTION_LOST`, `FASTAPI_CLOSED`,
   *   `FASTAPI_QUEUE_FULL`, `FASTAPI_ENCODE`, `FASTAPI_AUTH`.
   */
  publish(
    topics: readonly string[],
    data: unknown,
    options?: FastApiPublishOptions,
  ): Promise<boolean>;
  /** Waits (up to 2 s) for publishes already sent to be answered, then closes (1000). */
  close(): Promise<void>;
}

/** Internal options (tests inject a clock). */
export interface FastApiClientInternals {
  /** Time, timers and jitter. */
  clock?: Clock;
}

interface PendingCall {
  /** The answer; `receivers` is syft's `syft_receivers` (absent from Python servers). */
  resolve(result: unknown, receivers?: number): void;
  reject(err: FastApiPubSubError): void;
  kind: "publish" | "subscribe" | "unsubscribe" | "ping";
  timer: TimerId | undefined;
}

interface QueuedPublish {
  callId: string;
  frame: string;
  call: PendingCall;
  /** Queued while there was no connection (an outage, or before the first connect). */
  held: boolean;
}

/** After a reconnect, publishes that reached nobody are sent again for this long. */
const RECOVERY_MS = 5_000;
/** How often such a publish is sent again. */
const RETRY_UNHEARD_MS = 50;
/** The upgrade header asking a syft server for `syft_receivers` (Python servers ignore it). */
const RECEIVERS_HEADER = "x-syft-pubsub";

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    if (u.searchParams.has("token")) u.searchParams.set("token", "***");
    return u.toString();
  } catch {
    return url;
  }
}

function checkTopics(topics: readonly string[], what: string): void {
  if (!Array.isArray(topics) || topics.some((t) => typeof t !== "string")) {
    throw new FastApiPubSubError(
      "FASTAPI_OPTIONS",
      `Cannot ${what}: topics must be an array of strings`,
    );
  }
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(typeof value === "number" && value >= 0 && Number.isFinite(value))) {
    throw new FastApiPubSubError(
      "FASTAPI_OPTIONS",
      `Cannot use ${name} ${value}: expected milliseconds >= 0`,
    );
  }
  return value;
}

class Client implements FastApiPubSubClient {
  readonly url: string;
  readonly #headers: Record<string, string>;
  readonly #minBackoff: number;
  readonly #maxBackoff: number;
  readonly #keepAlive: number;
  readonly #readyTimeout: number;
  readonly #clock: Clock;
  readonly #nextId = callIdFactory();
  /** Answer to `_get_channel_id_`. */
  readonly #channelId = randomHexId();
  readonly #topics = new Set<string>();
  readonly #notifyListeners = new Set<(topic: string, data: unknown) => void>();
  readonly #stateListeners = new Set<(state: FastApiPubSubState, error?: Error) => void>();
  readonly #pending = new Map<string, PendingCall>();
  readonly #queue: QueuedPublish[] = [];
  readonly #readyWaiters = new Set<{ resolve(): void; reject(err: Error): void }>();
  readonly #warned = new Set<string>();
  #state: FastApiPubSubState = "connecting";
  #socket: WebSocket | undefined;
  /** Increments per connection attempt; events of older sockets are ignored. */
  #gen = 0;
  #attempt = 0;
  #reconnectTimer: TimerId | undefined;
  #connectTimer: TimerId | undefined;
  #keepAliveTimer: TimerId | undefined;
  #lastReceived = 0;
  #lastError: Error | undefined;
  #fatal: FastApiPubSubError | undefined;
  #closing: Promise<void> | undefined;
  /** Whether a connection was ever open (the next one is a reconnect). */
  #everOpened = false;
  /** Until then (after a reconnect), publishes that reached nobody are sent again. */
  #recoverUntil = 0;

  constructor(url: string, options: FastApiPubSubClientOptions, internals: FastApiClientInternals) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      throw new FastApiPubSubError(
        "FASTAPI_OPTIONS",
        `Cannot connect to ${JSON.stringify(url)}: not a URL`,
        {
          cause: err,
        },
      );
    }
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new FastApiPubSubError(
        "FASTAPI_OPTIONS",
        `Cannot connect to ${
          redact(url)
        }: expected a ws:// or wss:// URL, such as ws://127.0.0.1:8085/pubsub`,
      );
    }
    this.url = url;
    this.#headers = { ...options.headers };
    if (options.token !== undefined) this.#headers.authorization = `Bearer ${options.token}`;
    this.#headers[RECEIVERS_HEADER] = "receivers";
    this.#minBackoff = nonNegative(options.minBackoffMs, 100, "minBackoffMs");
    this.#maxBackoff = Math.max(
      this.#minBackoff,
      nonNegative(options.maxBackoffMs, 15_000, "maxBackoffMs"),
    );
    this.#keepAlive = nonNegative(options.keepAliveMs, 20_000, "keepAliveMs");
    this.#readyTimeout = nonNegative(options.readyTimeoutMs, 15_000, "readyTimeoutMs");
    this.#clock = internals.clock ?? realClock;
    this.#connect();
  }

  get state(): FastApiPubSubState {
    return this.#state;
  }

  ready(): Promise<void> {
    if (this.#state === "open") return Promise.resolve();
    if (this.#state === "closed") return Promise.reject(this.#closedError());
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          this.#clock.clearTimeout(timer);
          this.#readyWaiters.delete(waiter);
          resolve();
        },
        reject: (err: Error) => {
          this.#clock.clearTimeout(timer);
          this.#readyWaiters.delete(waiter);
          reject(err);
        },
      };
      const timer = this.#clock.setTimeout(() => {
        const last = this.#lastError ? ` (last error: ${this.#lastError.message})` : "";
        waiter.reject(
          new FastApiPubSubError(
            "FASTAPI_TIMEOUT",
            `No connection to the pub/sub server at ${
              redact(this.url)
            } within ${this.#readyTimeout} ms${last}; still retrying`,
            { cause: this.#lastError },
          ),
        );
      }, this.#readyTimeout);
      this.#readyWaiters.add(waiter);
    });
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    checkTopics(topics, "subscribe");
    if (this.#state === "closed") throw this.#closedError();
    const fresh = [...new Set(topics)].filter((t) => !this.#topics.has(t));
    for (const topic of fresh) this.#topics.add(topic);
    if (fresh.length === 0) return;
    if (this.#state === "open") {
      try {
        const ok = await this.#call("subscribe", { topics: fresh }, this.#readyTimeout);
        if (ok !== true) {
          throw new FastApiPubSubError(
            "FASTAPI_REFUSED",
            `The pub/sub server refused the subscription to ${JSON.stringify(fresh)}`,
          );
        }
        return;
      } catch (err) {
        if (!(err instanceof FastApiPubSubError) || err.code !== "FASTAPI_CONNECTION_LOST") {
          throw err;
        }
      }
    }
    // The next readiness sends every recorded topic.
    await this.ready();
  }

  async unsubscribe(topics: readonly string[]): Promise<void> {
    checkTopics(topics, "unsubscribe");
    const gone = [...new Set(topics)].filter((t) => this.#topics.delete(t));
    if (gone.length === 0 || this.#state !== "open") return;
    try {
      await this.#call("unsubscribe", { topics: gone }, this.#readyTimeout);
    } catch (err) {
      // A lost connection comes back without these topics.
      if (!(err instanceof FastApiPubSubError) || err.code !== "FASTAPI_CONNECTION_LOST") throw err;
    }
  }

  onNotify(listener: (topic: string, data: unknown) => void): () => void {
    this.#notifyListeners.add(listener);
    return () => this.#notifyListeners.delete(listener);
  }

  onState(listener: (state: FastApiPubSubState, error?: Error) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  publish(
    topics: readonly string[],
    data: unknown,
    options: FastApiPublishOptions = {},
  ): Promise<boolean> {
    try {
      checkTopics(topics, "publish");
      if (topics.length === 0) {
        throw new FastApiPubSubError("FASTAPI_OPTIONS", "Cannot publish: no topics given");
      }
      if (this.#state === "closed" || this.#closing) throw this.#closedError();
      if (this.#queue.length >= MAX_QUEUED_PUBLISHES) {
        throw new FastApiPubSubError(
          "FASTAPI_QUEUE_FULL",
          `Cannot publish: ${MAX_QUEUED_PUBLISHES} publishes already wait for a connection to ${
            redact(this.url)
          }`,
        );
      }
      let dataJson: string;
      try {
        dataJson = pyJson(data);
      } catch (err) {
        throw new FastApiPubSubError("FASTAPI_ENCODE", `Cannot publish: ${errorText(err)}`, {
          cause: err,
        });
      }
      const timeoutMs = nonNegative(options.timeoutMs, 30_000, "timeoutMs");
      const notifier = options.notifierId ?? null;
      const deadline = this.#clock.now() + timeoutMs;
      const frameFor = (callId: string): string =>
        `{"request": {"method": "publish", "arguments": {"topics": ${
          pyJson(topics)
        }, "data": ${dataJson}, "sync": ${
          options.sync === false ? "false" : "true"
        }, "notifier_id": ${
          notifier === null ? "null" : pyString(notifier)
        }}, "call_id": "${callId}"}, "response": null}`;
      return new Promise<boolean>((resolve, reject) => {
        // One attempt; a publish held through an outage (or sent just after a reconnect) that a
        // syft server says reached nobody goes again until the subscribers are back or the time
        // is up: after a restart the subscribers re-subscribe at their own pace.
        const attempt = (held: boolean): void => {
          if (this.#state === "closed" || this.#closing) return reject(this.#closedError());
          const callId = this.#nextId();
          const call: PendingCall = {
            kind: "publish",
            resolve: (result, receivers) => {
              const ok = result === true || result === "True";
              if (
                ok && receivers === 0 && options.retryUnheard === true &&
                (entry.held || this.#clock.now() < this.#recoverUntil)
              ) {
                if (this.#clock.now() + RETRY_UNHEARD_MS < deadline) {
                  this.#clock.setTimeout(() => attempt(true), RETRY_UNHEARD_MS);
                } else {
                  reject(
                    new FastApiPubSubError(
                      "FASTAPI_NO_SUBSCRIBER",
                      `Cannot publish: after the connection to ${
                        redact(this.url)
                      } came back, no subscriber was there within ${timeoutMs} ms`,
                    ),
                  );
                }
                return;
              }
              resolve(ok);
            },
            reject,
            timer: undefined,
          };
          const entry: QueuedPublish = { callId, frame: frameFor(callId), call, held };
          call.timer = this.#clock.setTimeout(() => {
            const queued = this.#queue.indexOf(entry);
            if (queued >= 0) this.#queue.splice(queued, 1);
            this.#pending.delete(callId);
            reject(
              new FastApiPubSubError(
                "FASTAPI_TIMEOUT",
                queued >= 0
                  ? `Cannot publish: no connection to ${
                    redact(this.url)
                  } within ${timeoutMs} ms (not sent)`
                  : `The pub/sub server did not answer the publish within ${timeoutMs} ms`,
              ),
            );
          }, Math.max(0, deadline - this.#clock.now()));
          if (this.#state === "open" && this.#queue.length === 0) this.#sendPublish(entry);
          else {
            if (this.#state !== "open") entry.held = true;
            this.#queue.push(entry);
          }
        };
        attempt(false);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#clock.clearTimeout(this.#reconnectTimer);
      if (this.#state === "open" && [...this.#pending.values()].some((c) => c.kind === "publish")) {
        await new Promise<void>((resolve) => {
          const timer = this.#clock.setTimeout(resolve, CLOSE_GRACE_MS);
          const check = (): void => {
            if (
              this.#state !== "open" ||
              ![...this.#pending.values()].some((c) => c.kind === "publish")
            ) {
              this.#clock.clearTimeout(timer);
              resolve();
            } else this.#clock.setTimeout(check, 5);
          };
          check();
        });
      }
      this.#shutdown(this.#closedError(), 1000, "client closing");
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // -- connection lifecycle ------------------------------------------------------------------

  #connect(): void {
    this.#reconnectTimer = undefined;
    if (this.#state === "closed") return;
    const gen = ++this.#gen;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url, { headers: this.#headers });
    } catch (err) {
      this.#lost(
        gen,
        new Error(`Cannot open a WebSocket to ${redact(this.url)}: ${errorText(err)}`),
      );
      return;
    }
    this.#socket = socket;
    let failure: string | undefined;
    socket.onopen = () => {
      if (gen === this.#gen) this.#onOpen(gen, socket);
    };
    socket.onmessage = (evt) => {
      if (gen === this.#gen) this.#onFrame(socket, evt.data);
    };
    socket.onerror = (evt) => {
      failure = (evt as ErrorEvent).message || "WebSocket error";
    };
    socket.onclose = (evt) => {
      if (gen !== this.#gen) return;
      const status = /Invalid status code:? (\d{3})/.exec(failure ?? "")?.[1];
      if (status === "401" || status === "403") {
        const auth = new FastApiPubSubError(
          "FASTAPI_AUTH",
          this.#headers.authorization === undefined
            ? `The pub/sub server at ${
              redact(this.url)
            } refused the connection (HTTP ${status}): it needs a token. Pass { token } to connectFastApiPubSub (syft: --token) with the server's token`
            : `The pub/sub server at ${
              redact(this.url)
            } refused the token (HTTP ${status}): pass the server's token as { token } (syft: --token)`,
        );
        this.#shutdown(auth, 1000, "");
        return;
      }
      const why = failure !== undefined
        ? failure
        : `connection closed by the server (${evt.code}${evt.reason ? ` ${evt.reason}` : ""})`;
      this.#lost(gen, new Error(`${why} [${redact(this.url)}]`));
    };
    this.#connectTimer = this.#clock.setTimeout(() => {
      if (gen === this.#gen && this.#state !== "open") {
        this.#lost(
          gen,
          new Error(`No connection to ${redact(this.url)} within ${this.#readyTimeout} ms`),
        );
      }
    }, Math.max(this.#readyTimeout, READY_PINGS * READY_PING_MS + 1_000));
  }

  async #onOpen(gen: number, socket: WebSocket): Promise<void> {
    this.#lastReceived = this.#clock.now();
    let answered = false;
    for (let i = 0; i < READY_PINGS && gen === this.#gen; i++) {
      try {
        await this.#call("_ping_", {}, READY_PING_MS);
        answered = true;
        break;
      } catch (err) {
        if (!(err instanceof FastApiPubSubError) || err.code !== "FASTAPI_TIMEOUT") return;
      }
    }
    if (gen !== this.#gen) return;
    if (!answered) {
      this.#lost(
        gen,
        new Error(
          `No answer to the readiness _ping_ from ${redact(this.url)} (${READY_PINGS} tries)`,
        ),
      );
      return;
    }
    // Send the recorded topics; repeat for topics added meanwhile.
    const sent = new Set<string>();
    while (gen === this.#gen) {
      const todo = [...this.#topics].filter((t) => !sent.has(t));
      if (todo.length === 0) break;
      for (const t of todo) sent.add(t);
      try {
        const ok = await this.#call("subscribe", { topics: todo }, this.#readyTimeout);
        if (ok !== true) {
          log.warn("The pub/sub server refused the subscription to {topics}", { topics: todo });
        }
      } catch {
        return; // lost or timed out: the close handler reconnects
      }
    }
    if (gen !== this.#gen) return;
    const stale = [...sent].filter((t) => !this.#topics.has(t));
    if (stale.length > 0) {
      this.#call("unsubscribe", { topics: stale }, this.#readyTimeout).catch(() => {});
    }
    this.#clock.clearTimeout(this.#connectTimer);
    this.#attempt = 0;
    this.#lastError = undefined;
    if (this.#everOpened) this.#recoverUntil = this.#clock.now() + RECOVERY_MS;
    this.#everOpened = true;
    this.#setState("open");
    for (const waiter of [...this.#readyWaiters]) waiter.resolve();
    while (this.#queue.length > 0 && gen === this.#gen && socket.readyState === WebSocket.OPEN) {
      this.#sendPublish(this.#queue.shift()!);
    }
    this.#armKeepAlive(gen);
  }

  /** The connection `gen` is gone: fail its calls and schedule the next attempt. */
  #lost(gen: number, error: Error): void {
    if (gen !== this.#gen || this.#state === "closed") return;
    this.#gen++;
    this.#detach(4000, "dropped");
    this.#lastError = error;
    this.#failPending(
      (call) =>
        call.kind === "unsubscribe" ? call.resolve(true) : call.reject(
          new FastApiPubSubError(
            "FASTAPI_CONNECTION_LOST",
            call.kind === "publish"
              ? `The connection to ${
                redact(this.url)
              } dropped before the server answered the publish (it may or may not have been delivered): ${error.message}`
              : `The connection to ${redact(this.url)} dropped: ${error.message}`,
            { cause: error },
          ),
        ),
    );
    this.#attempt++;
    const cap = Math.min(this.#maxBackoff, this.#minBackoff * 2 ** Math.min(this.#attempt - 1, 30));
    const delay = this.#minBackoff + this.#clock.random() * (cap - this.#minBackoff);
    log.info("Lost {url}: {error}; reconnecting in {delay} ms", {
      url: redact(this.url),
      error: error.message,
      delay: Math.round(delay),
    });
    this.#setState("reconnecting", error);
    this.#reconnectTimer = this.#clock.setTimeout(() => this.#connect(), delay);
  }

  /** Final: closes the socket, fails everything with `error`. */
  #shutdown(error: FastApiPubSubError, code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#gen++;
    this.#fatal = error;
    this.#clock.clearTimeout(this.#reconnectTimer);
    this.#detach(code, reason);
    this.#failPending((call) => call.reject(error));
    for (const entry of this.#queue.splice(0)) {
      this.#clock.clearTimeout(entry.call.timer);
      entry.call.reject(error);
    }
    for (const waiter of [...this.#readyWaiters]) waiter.reject(error);
    this.#setState("closed", error.code === "FASTAPI_CLOSED" ? undefined : error);
  }

  #detach(code: number, reason: string): void {
    this.#clock.clearTimeout(this.#keepAliveTimer);
    this.#clock.clearTimeout(this.#connectTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined) return;
    socket.onopen =
      socket.onmessage =
      socket.onerror =
      socket.onclose =
        null;
    try {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(code, reason);
      }
    } catch {
      // already closing
    }
  }

  #failPending(settle: (call: PendingCall) => void): void {
    const calls = [...this.#pending.values()];
    this.#pending.clear();
    for (const call of calls) {
      this.#clock.clearTimeout(call.timer);
      settle(call);
    }
  }

  #closedError(): FastApiPubSubError {
    return this.#fatal ??
      new FastApiPubSubError(
        "FASTAPI_CLOSED",
        `The pub/sub client of ${redact(this.url)} is closed`,
      );
  }

  #setState(state: FastApiPubSubState, error?: Error): void {
    if (this.#state === state && error === undefined) return;
    this.#state = state;
    for (const listener of [...this.#stateListeners]) {
      try {
        listener(state, error);
      } catch (err) {
        log.error("An onState listener threw: {error}", { error: errorText(err) });
      }
    }
  }

  #armKeepAlive(gen: number): void {
    if (this.#keepAlive === 0) return;
    const tick = (): void => {
      if (gen !== this.#gen) return;
      const idle = this.#clock.now() - this.#lastReceived;
      if (idle < this.#keepAlive) {
        this.#keepAliveTimer = this.#clock.setTimeout(tick, this.#keepAlive - idle);
        return;
      }
      this.#call("_ping_", {}, this.#keepAlive).then(
        () => {
          if (gen === this.#gen) {
            this.#keepAliveTimer = this.#clock.setTimeout(tick, this.#keepAlive);
          }
        },
        (err) => {
          if (
            gen === this.#gen && err instanceof FastApiPubSubError && err.code === "FASTAPI_TIMEOUT"
          ) {
            this.#lost(
              gen,
              new Error(`keep-alive: no answer to _ping_ within ${this.#keepAlive} ms`),
            );
          }
        },
      );
    };
    this.#keepAliveTimer = this.#clock.setTimeout(tick, this.#keepAlive);
  }

  // -- frames --------------------------------------------------------------------------------

  #send(text: string): boolean {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(text);
    return true;
  }

  #sendPublish(entry: QueuedPublish): void {
    this.#pending.set(entry.callId, entry.call);
    this.#send(entry.frame);
  }

  #call(method: string, args: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const callId = this.#nextId();
    return new Promise<unknown>((resolve, reject) => {
      const call: PendingCall = {
        kind: method === "subscribe"
          ? "subscribe"
          : method === "unsubscribe"
          ? "unsubscribe"
          : "ping",
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          this.#pending.delete(callId);
          reject(
            new FastApiPubSubError(
              "FASTAPI_TIMEOUT",
              `The pub/sub server did not answer ${method} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs),
      };
      this.#pending.set(callId, call);
      const frame = `{"request": {"method": ${pyString(method)}, "arguments": ${
        pyJson(args)
      }, "call_id": "${callId}"}, "response": null}`;
      if (!this.#send(frame)) {
        this.#pending.delete(callId);
        this.#clock.clearTimeout(call.timer);
        reject(
          new FastApiPubSubError("FASTAPI_CONNECTION_LOST", `Cannot call ${method}: not connected`),
        );
      }
    });
  }

  #warnOnce(key: string, message: string, props: Record<string, unknown>): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    log.warn(message, props);
  }

  #onFrame(socket: WebSocket, data: unknown): void {
    this.#lastReceived = this.#clock.now();
    if (typeof data !== "string") {
      this.#warnOnce("binary", "Ignoring a binary frame from {url}", { url: redact(this.url) });
      return;
    }
    let message;
    try {
      message = decodeRpcMessage(data);
    } catch (err) {
      this.#warnOnce(
        `frame:${(err as { code?: string }).code}`,
        "Ignoring a frame from {url}: {error}",
        {
          url: redact(this.url),
          error: errorText(err),
        },
      );
      return;
    }
    if (message.response !== null) this.#onResponse(message.response);
    if (message.request !== null) this.#onRequest(socket, message.request);
  }

  #onResponse(response: RpcResponse): void {
    if (response.call_id === null) return;
    const call = this.#pending.get(response.call_id);
    if (call === undefined) return;
    this.#pending.delete(response.call_id);
    this.#clock.clearTimeout(call.timer);
    call.resolve(response.result, response.syft_receivers);
  }

  #onRequest(socket: WebSocket, request: RpcRequest): void {
    const answer = (result: unknown, type: string): void => {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(encodeResponse(request.call_id, result, type));
      }
    };
    switch (request.method) {
      case "notify": {
        answer("None", "str"); // Python's notify returns None, stringified
        const subscription = request.arguments.subscription as
          | { topic?: unknown }
          | null
          | undefined;
        const topic = subscription?.topic;
        if (typeof topic !== "string") {
          this.#warnOnce("notify", "Ignoring a notify without a topic from {url}", {
            url: redact(this.url),
          });
          return;
        }
        if (!this.#topics.has(topic) && !this.#topics.has(ALL_TOPICS)) return; // unsubscribed meanwhile
        const data = request.arguments.data ?? null;
        for (const listener of [...this.#notifyListeners]) {
          try {
            listener(topic, data);
          } catch (err) {
            log.error("An onNotify listener threw on {topic}: {error}", {
              topic,
              error: errorText(err),
            });
          }
        }
        return;
      }
      case "_ping_":
      case "ping":
        return answer("pong", "str");
      case "_get_channel_id_":
        return answer(this.#channelId, "str");
    }
    if (request.method.startsWith("_")) return; // protected, as in Python: no answer
    this.#warnOnce(
      `method:${request.method}`,
      "The pub/sub server called unknown method {method}; answering null",
      {
        method: request.method,
      },
    );
    answer(null, "NoneType");
  }
}

/**
 * Connects to a fastapi_websocket_pubsub server (in the background: the client is returned at
 * once and reconnects by itself). `await client.ready()` to wait for the connection.
 *
 * @param url The server's WebSocket URL, such as `ws://127.0.0.1:8085/pubsub`.
 * @param options Token, headers, backoff, keep-alive and ready timeout.
 * @returns The client; close it with `close()` or `await using`.
 * @throws {FastApiPubSubError} `FASTAPI_OPTIONS` for a URL that is not ws:// or wss://, or a
 *   negative time.
 *
 * @example Subscribe and publish on one connection
 * ```ts ignore
 * import { connectFastApiPubSub } from "@syft/syft/pubsub";
 * await using client = connectFastApiPubSub("ws://127.0.0.1:8085/pubsub");
 * client.onNotify((topic, data) => console.log(topic, data));
 * await client.subscribe(["net/worker/work"]);
 * // A Python client sees its own event only with a notifier id of its own:
 * await client.publish(["net/worker/work"], '{"job": 1}', { notifierId: "me" });
 * ```
 */
export function connectFastApiPubSub(
  url: string,
  options: FastApiPubSubClientOptions = {},
): FastApiPubSubClient {
  return new Client(url, options, {});
}

/**
 * {@linkcode connectFastApiPubSub} with internals (a clock) for tests. Not exported by mod.ts.
 *
 * @param url The server's WebSocket URL.
 * @param options The client options.
 * @param internals A clock.
 * @returns The client.
 */
export function connectFastApiPubSubWith(
  url: string,
  options: FastApiPubSubClientOptions,
  internals: FastApiClientInternals,
): FastApiPubSubClient {
  return new Client(url, options, internals);
}
