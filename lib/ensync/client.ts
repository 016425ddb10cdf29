/**
 * The EnSync client's public shape: {@linkcode EnSyncClient} (publishing, subscribing, replay,
 * reconnects) and {@linkcode Subscription} (handlers, iteration, ack/defer/discard/replay,
 * pause/continue). Engines create the implementations (internal, as in nats.js).
 *
 * @module
 */
import type { EnSyncError } from "./errors.ts";
import type { CloseOptions, DeferResult, EnSyncEvent, SubscribeOptions } from "./types.ts";

/**
 * A subscription's handler: return (or resolve) when the event is processed.
 *
 * @example
 * ```ts
 * import type { EventHandler } from "@syft/syft/ensync";
 * const handler: EventHandler<{ orderId: number }> = (event) => console.log(event.payload.orderId);
 * console.log(typeof handler); // function
 * ```
 */
export type EventHandler<T = unknown> = (event: EnSyncEvent<T>) => void | Promise<void>;

/**
 * A client of an EnSync engine, bound to one app (access key). Create it with
 * `engine.createClient()`; `await using` closes it.
 *
 * @example Publish to two apps and subscribe
 * ```ts
 * import { EnSyncWebSocketEngine } from "@syft/syft/ensync";
 * const engine = new EnSyncWebSocketEngine("ws://127.0.0.1:8082");
 * const client = await engine.createClient("access-key", { appSecretKey: "<base64 secret>" });
 * const ids = await client.publish("orders/created", ["<app id 1>", "<app id 2>"], { orderId: 7 });
 * console.log(ids.length); // 2
 * await client.close({ closeEngine: true });
 * ```
 */
export interface EnSyncClient extends AsyncDisposable {
  /** The client id the engine assigned to the current connection (changes on every reconnect). */
  readonly clientId: string;
  /** Resolves when the client is closed: `undefined` after `close()`, the error after reconnecting failed. */
  readonly closed: Promise<EnSyncError | undefined>;
  /**
   * The app's public key (its app id, standard base64): derived from `appSecretKey` when one was
   * given, otherwise the engine's `clientHash` (as the SDKs return it; hex and unpadded base64 forms
   * of a 32-byte key are normalised to padded base64).
   *
   * @returns The base64 public key.
   */
  getClientPublicKey(): string;
  /**
   * Publishes an event to each recipient: the payload is encrypted separately for every recipient
   * (the single-recipient envelope every SDK reads) and sent as one `PUB` per recipient.
   *
   * @param eventName The event name, such as `orders/created`.
   * @param recipients The recipients' app ids (base64 Ed25519 public keys).
   * @param payload Any JSON-serialisable value.
   * @param metadata Plaintext metadata (default `{ persist: true, headers: {} }`).
   * @returns One event id per recipient, in the order of `recipients`.
   * @throws {EnSyncPublishError} With the engine's code (`PERMISSION_DENIED`, ...) or the cause.
   */
  publish(
    eventName: string,
    recipients: readonly string[],
    payload: unknown,
    metadata?: Record<string, unknown>,
  ): Promise<string[]>;
  /**
   * Subscribes to an event name (or a wildcard such as `orders/*`). Deliveries are decrypted with
   * the subscription's or the client's `appSecretKey`.
   *
   * @param eventName The event name or pattern.
   * @param options Auto-ack (default true), a per-subscription secret key, the buffer size.
   * @returns The subscription; attach handlers with `on()` or iterate it.
   * @throws {EnSyncSubscriptionError} `MISSING_SECRET_KEY`, `ALREADY_SUBSCRIBED`, or the engine's code.
   */
  subscribe(eventName: string, options?: SubscribeOptions): Promise<Subscription>;
  /**
   * Fetches a stored event by id (acknowledged or not, within retention) and returns it decrypted,
   * without subscribing: nothing else is pulled into this client.
   *
   * @param idem The event id.
   * @param eventName The event's name.
   * @param options The secret key to decrypt with (default: the client's `appSecretKey`).
   * @returns The event.
   * @throws {EnSyncGenericError} `NOT_FOUND` (or the engine's code), `MISSING_SECRET_KEY`,
   *   `DECRYPTION_FAILED`.
   */
  replay<T = unknown>(
    idem: string,
    eventName: string,
    options?: { appSecretKey?: string },
  ): Promise<EnSyncEvent<T>>;
  /**
   * Closes the connection. Subscriptions end (iterators finish); unacked deliveries return to the
   * engine's queue.
   *
   * @param options `closeEngine: true` also closes the engine and its other clients.
   */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * One subscription: attach handlers with {@linkcode Subscription.on} or iterate it with
 * `for await`; acknowledge, defer, discard and replay events; pause and continue delivery.
 *
 * Deliveries are processed one at a time, in order. With `autoAck` (the default) an event is
 * acknowledged after every handler settled without throwing, or, when iterating, when the loop asks
 * for the next event. A handler that throws leaves its event unacknowledged, so the engine
 * redelivers it after its ack timeout; leaving a `for await` loop early leaves the current event
 * unacknowledged too. `await using` unsubscribes.
 *
 * @example Handle events, acknowledging by hand
 * ```ts
 * import type { EnSyncClient } from "@syft/syft/ensync";
 * declare const client: EnSyncClient;
 * const sub = await client.subscribe("orders/*", { autoAck: false });
 * const off = sub.on(async (event) => {
 *   if (event.payload === null) await sub.discard(event.idem, "empty");
 *   else await sub.ack(event.idem, event.block);
 * });
 * // later: off(); await sub.unsubscribe();
 * ```
 */
export interface Subscription extends AsyncIterable<EnSyncEvent>, AsyncDisposable {
  /** The subscribed event name or pattern. */
  readonly eventName: string;
  /** Whether `pause()` is in effect (restored after reconnects). */
  readonly paused: boolean;
  /** Whether the subscription ended (unsubscribed, or its client closed). */
  readonly ended: boolean;
  /**
   * Adds a handler; every event goes to every handler. The event counts as processed when the
   * handler returns (or its promise settles) without throwing.
   *
   * @param handler Called with each decrypted event.
   * @returns A function that removes the handler.
   */
  on<T = unknown>(handler: EventHandler<T>): () => void;
  /**
   * Iterates the events. The loop ends when the subscription ends (`unsubscribe()`, `close()`) and
   * throws when the client gave up reconnecting.
   *
   * @returns An async iterator of events.
   */
  [Symbol.asyncIterator](): AsyncIterator<EnSyncEvent>;
  /**
   * Acknowledges an event: the engine forgets it and delivers the next one.
   *
   * @param idem The event id.
   * @param block The event's block.
   * @throws {EnSyncGenericError} With the engine's code when it refuses.
   */
  ack(idem: string, block: number): Promise<void>;
  /**
   * Asks the engine to deliver the event again after `delayMs` (1 s to 24 h).
   *
   * @param idem The event id.
   * @param delayMs The delay in ms, 1000 to 86,400,000.
   * @param reason Why (free text, kept by the engine).
   * @returns When the event will come back.
   * @throws {EnSyncGenericError} `INVALID_DELAY`, or the engine's code.
   */
  defer(idem: string, delayMs: number, reason?: string): Promise<DeferResult>;
  /**
   * Removes the event from processing for good (the engine keeps it, with the reason, for
   * inspection).
   *
   * @param idem The event id.
   * @param reason Why (free text).
   * @throws {EnSyncGenericError} With the engine's code when it refuses.
   */
  discard(idem: string, reason?: string): Promise<void>;
  /**
   * Fetches a stored event by id (acknowledged or not, within retention) and returns it decrypted.
   * It is not passed to handlers.
   *
   * @param idem The event id.
   * @returns The event.
   * @throws {EnSyncGenericError} `NOT_FOUND` (or the engine's code), or `DECRYPTION_FAILED`.
   */
  replay<T = unknown>(idem: string): Promise<EnSyncEvent<T>>;
  /**
   * Stops deliveries to this client (others of the same app keep receiving); events wait in the
   * queue. Restored after a reconnect.
   *
   * @param reason Why (free text).
   * @throws {EnSyncGenericError} With the engine's code (`ALREADY_PAUSED`, ...).
   */
  pause(reason?: string): Promise<void>;
  /**
   * Resumes deliveries after `pause()`.
   *
   * @throws {EnSyncGenericError} With the engine's code (`NOT_PAUSED`, ...).
   */
  continue(): Promise<void>;
  /**
   * Alias of {@linkcode Subscription.continue}.
   *
   * @throws {EnSyncGenericError} With the engine's code.
   */
  resume(): Promise<void>;
  /**
   * Unsubscribes: handlers are removed, iterators finish, and unacknowledged events return to the
   * engine's queue.
   *
   * @throws {EnSyncSubscriptionError} With the engine's code when it refuses.
   */
  unsubscribe(): Promise<void>;
}
