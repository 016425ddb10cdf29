/**
 * The client's public shape: {@linkcode ZapClient}, a zaptools client on the standard `WebSocket`
 * only, so it runs in Deno and in browsers. It reconnects with exponential backoff and jitter,
 * queues sends made while offline (bounded), and exposes events and connection states as async
 * iterators. {@linkcode createZapClient} makes one (the implementation is internal).
 *
 * @module
 */
import type { FrameError } from "./errors.ts";
import type { EventData, EventHeaders } from "./frame.ts";
import type { Clock } from "../_clock.ts";
import { ZapClientImpl } from "./_client.ts";

/**
 * The connection state of a {@linkcode ZapClient}:
 * - `CONNECTING`: an attempt is under way;
 * - `ONLINE`: connected; sends go out at once;
 * - `OFFLINE`: not connected (before `connect()`, after a clean close, after `close()`);
 * - `ERROR`: the last attempt failed or the connection broke; a retry follows unless reconnect is
 *   off or exhausted.
 *
 * @example
 * ```ts
 * import { createZapClient, type ZapClientState } from "@syft/syft/hub";
 * await using client = createZapClient();
 * const state: ZapClientState = client.state;
 * console.log(state); // OFFLINE
 * ```
 */
export type ZapClientState = "CONNECTING" | "ONLINE" | "OFFLINE" | "ERROR";

/**
 * Reconnect policy: exponential backoff with jitter.
 *
 * @example
 * ```ts
 * import { createZapClient, type ReconnectOptions } from "@syft/syft/hub";
 * const reconnect: ReconnectOptions = { initialDelayMs: 100, maxDelayMs: 2_000, maxAttempts: 20 };
 * await using client = createZapClient({ reconnect });
 * ```
 */
export interface ReconnectOptions {
  /** The first delay in ms (default 250). */
  initialDelayMs?: number;
  /** The largest delay in ms (default 10,000). */
  maxDelayMs?: number;
  /** Each failed attempt multiplies the delay by this (default 2). */
  factor?: number;
  /** Each delay is reduced by a random share of up to this fraction, 0 to 1 (default 0.5). */
  jitter?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

/**
 * Options of {@linkcode createZapClient}.
 *
 * @example
 * ```ts
 * import { createZapClient, type ZapClientOptions } from "@syft/syft/hub";
 * const options: ZapClientOptions = {
 *   queueLimit: 100,
 *   onOnline: (client) => client.send("$join", { room: "ops" }),
 * };
 * await using client = createZapClient(options);
 * ```
 */
export interface ZapClientOptions {
  /** Reconnect automatically (default `true`, with the defaults of {@linkcode ReconnectOptions}); `false` turns it off. */
  reconnect?: boolean | ReconnectOptions;
  /** Sends made while not connected wait in a queue of at most this many events (default 1,024). */
  queueLimit?: number;
  /** WebSocket subprotocols to offer. */
  protocols?: string | string[];
  /** Runs each time the client comes online, before queued sends go out (re-join rooms here). */
  onOnline?: (client: ZapClient) => void;
  /** Receives frames from the server that are not valid zaptools events (default: logged). */
  onProtocolError?: (error: FrameError) => void;
  /** How long `close()` waits for queued bytes to be written before closing (default 5,000 ms). */
  closeTimeoutMs?: number;
  /** The clock reconnect delays and `close()`'s timeout run on (default the system clock; tests pass a fake one). */
  clock?: Clock;
}

/**
 * A handler of received events.
 *
 * @example
 * ```ts
 * import { type ClientEventHandler, createZapClient } from "@syft/syft/hub";
 * const show: ClientEventHandler = (event) => console.log(event.eventName, event.payload);
 * await using client = createZapClient();
 * const off = client.on("chat", show);
 * off();
 * ```
 */
export type ClientEventHandler = (event: EventData) => void;

/**
 * A zaptools client for Deno and browsers (standard `WebSocket` only); make one with
 * {@linkcode createZapClient}.
 *
 * - `connect(url)` resolves once online; later drops reconnect on their own (exponential backoff
 *   with jitter) unless `reconnect: false`.
 * - `send()` while not connected queues the event (at most `queueLimit`); the queue goes out in
 *   order as soon as the client is online again.
 * - `on(name, fn)`, `events()` and `states()` observe received events and state changes; any
 *   number of observers each see everything.
 *
 * @example Connect, listen, send, close
 * ```ts ignore
 * import { createZapClient } from "@syft/syft/hub";
 * const client = createZapClient({ reconnect: { initialDelayMs: 100, maxDelayMs: 5_000 } });
 * client.on("chat", (event) => console.log(event.payload));
 * await client.connect("ws://127.0.0.1:8765/ws");
 * client.send("chat", { text: "hello" }, { room: "lobby" });
 * for await (const state of client.states()) {
 *   console.log(state); // ONLINE, then OFFLINE / CONNECTING / ERROR / ONLINE as the link changes
 *   if (state === "OFFLINE") break;
 * }
 * await client.close();
 * ```
 */
export interface ZapClient extends AsyncDisposable {
  /** The current state. */
  readonly state: ZapClientState;
  /** The URL given to `connect()`. */
  readonly url: string | undefined;
  /** How many sends wait for the client to come online. */
  readonly queued: number;
  /**
   * Connects (and, unless reconnect is off, stays connected).
   *
   * @param url The `ws:` or `wss:` URL of the hub.
   * @returns Resolves when the client is online.
   * @throws {ZapClientError} `CONNECT_FAILED` when reconnect is off and the attempt fails, when
   * `maxAttempts` is used up, or when the URL is invalid; `UNAUTHORIZED` when the hub refuses the
   * upgrade with 401 or 403 (no retry: a token is needed); `CLIENT_CLOSED` after `close()`.
   */
  connect(url: string | URL): Promise<void>;
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
  send(eventName: string, payload?: unknown, headers?: EventHeaders | null): void;
  /**
   * Calls `handler` for every received event of that name (server-sent `error` events included).
   *
   * @param eventName The event name.
   * @param handler Called with the event; exceptions are logged and do not stop the client.
   * @returns A function that removes the handler.
   */
  on(eventName: string, handler: ClientEventHandler): () => void;
  /**
   * Returns an async iterator of every event received from now on, across reconnects; it ends
   * when the client closes. Break out of the loop to stop it.
   *
   * @returns The iterator.
   */
  events(): AsyncIterableIterator<EventData>;
  /**
   * Returns an async iterator of states: the current one first, then each change; it ends when
   * the client closes (after yielding the final state).
   *
   * @returns The iterator.
   */
  states(): AsyncIterableIterator<ZapClientState>;
  /**
   * Stops reconnecting, waits (up to `closeTimeoutMs`) for sent bytes to be written, closes the
   * socket and ends the iterators. Events still in the offline queue are dropped (and logged).
   *
   * @param code The close code (1000 or 3000-4999; default 1000).
   * @param reason A short reason.
   */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * Creates a client (not connected yet: call `connect(url)`).
 *
 * @param options Reconnect policy, offline queue size, subprotocols, hooks and clock.
 * @returns The client; `await using` (or `close()`) closes it.
 *
 * @example Sends made before `connect()` wait in the offline queue
 * ```ts
 * import { createZapClient } from "@syft/syft/hub";
 * await using client = createZapClient({ reconnect: false, queueLimit: 10 });
 * client.send("hello", { from: "ada" });
 * console.log(client.state, client.queued); // OFFLINE 1
 * ```
 */
export function createZapClient(options: ZapClientOptions = {}): ZapClient {
  return new ZapClientImpl(options);
}
