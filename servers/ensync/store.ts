/**
 * The storage interface of the engine. Events are kept in one durable queue per (recipient app,
 * event name); the store hands out ("claims") the next ready event of a queue, takes it back
 * ("releases" it) for redelivery, and records the outcome (ack, defer, discard). Implementations:
 * {@linkcode MemoryEventStore} (tests), {@linkcode KvEventStore} (Deno KV, the default) and
 * {@linkcode RedisEventStore} (several engines share one state).
 *
 * @module
 */
import type { Clock } from "../../lib/_clock.ts";
import { SyftError } from "../../lib/errors.ts";

/** A queue: the events of one event name addressed to one app. */
export interface QueueRef {
  /** The recipient app id. */
  app: string;
  /** The concrete event name. */
  name: string;
}

/** An event as a publisher hands it to the engine (one per recipient). */
export interface NewEvent {
  /** The recipient app id (`DELIVERY_TO`). */
  app: string;
  /** The concrete event name. */
  name: string;
  /** The base64 encrypted envelope; the engine never decrypts it. */
  payload: string;
  /** The publisher's metadata: JSON text of an object. */
  metadata: string;
  /** The publisher's plaintext payload description (JSON text), when sent. */
  payloadMetadata?: string;
  /** The sender app id. */
  sender: string;
  /** When the engine accepted it (ms since the epoch). */
  loggedAt: number;
  /** False when the publisher's metadata says `"persist": false` (no replay after ack). */
  persist: boolean;
}

/** A stored event: a {@linkcode NewEvent} with its id and position. */
export interface StoredEvent extends NewEvent {
  /** The unique id of this delivery (per recipient). */
  idem: string;
  /** The position in its queue; starts at 1. */
  block: number;
}

/** Where an event is in its life. */
export type EventState = "ready" | "inflight" | "deferred" | "acked" | "discarded";

/** An event with its state, as {@linkcode EnSyncStore.lookup} returns it. */
export interface EventRecord {
  /** The event. */
  event: StoredEvent;
  /** Its state. */
  state: EventState;
  /** For a deferred event: when it becomes ready again (ms). */
  dueAt?: number;
}

/** A discarded event kept for inspection. */
export interface DiscardedEvent {
  /** The event id. */
  idem: string;
  /** The event name. */
  name: string;
  /** Its block. */
  block: number;
  /** The sender app id. */
  sender: string;
  /** The reason the client gave (may be empty). */
  reason: string;
  /** When it was discarded (ms). */
  discardedAt: number;
}

/** The outcome a client reports for an event it holds (or that is queued for its app). */
export type Settlement =
  | { kind: "ack" }
  | { kind: "defer"; dueAt: number; reason: string }
  | { kind: "discard"; reason: string };

/** How many events of one queue are in each live state (for dashboards). */
export interface QueueCounts {
  /** The recipient app id. */
  app: string;
  /** The event name. */
  name: string;
  /** Ready to deliver. */
  ready: number;
  /** Delivered and not settled. */
  inflight: number;
  /** Deferred. */
  deferred: number;
}

/** Called when a queue may have events ready (published, released, deferred and now due). */
export type ReadyListener = (queue: QueueRef, count: number) => void;

/** Options every store receives from the engine. */
export interface StoreOptions {
  /** How long events are kept (ms): for delivery when nobody subscribes, and for replay. */
  retentionMs: number;
  /** Redelivery of events held by a consumer that stopped answering (ms); used by shared stores. */
  ackTimeoutMs: number;
  /**
   * The clock the store's deferral timer (and the shared stores' reclaim timer) runs on and reads
   * time from (default the system clock). The engine passes its own, so tests that give the
   * engine a fake clock advance deferrals with it instead of sleeping.
   */
  clock?: Clock;
}

/**
 * The storage contract of the engine. All methods are safe to call concurrently; mutations are
 * applied in call order.
 */
export interface EnSyncStore {
  /** A short description, such as `kv /path/ensync.kv`. */
  readonly description: string;
  /**
   * Opens the store: recovers state, starts timers.
   *
   * @param options Retention and ack timeout.
   */
  open(options: StoreOptions): Promise<void>;
  /**
   * Stores events durably (one per recipient) and resolves once they are durable. Assigns each its
   * idem and block, then makes them ready and notifies the ready listeners.
   */
  append(events: NewEvent[]): Promise<StoredEvent[]>;
  /** Registers the listener told when a queue may have ready events. */
  onReady(listener: ReadyListener): void;
  /** The names of the queues an app has (for wildcard subscriptions). */
  queueNames(app: string): Promise<string[]>;
  /** Takes the next ready event of `queue` for `consumer`, or `undefined` when none is ready. */
  claim(queue: QueueRef, consumer: string): Promise<StoredEvent | undefined>;
  /**
   * Returns an in-flight event to the front of its queue for redelivery, if `consumer` still holds
   * it (an event already reclaimed after an ack timeout is left alone).
   */
  release(event: StoredEvent, consumer: string): Promise<void>;
  /**
   * Records an outcome for an event that is in flight, ready or deferred. Resolves with the state
   * it was in, or `undefined` when the event is unknown (or already settled), once durable.
   */
  settle(event: StoredEvent, outcome: Settlement): Promise<EventState | undefined>;
  /** Finds an event by idem within retention. */
  lookup(idem: string): Promise<EventRecord | undefined>;
  /** Puts an acked or discarded event back in its queue (rollback); resolves with whether it did. */
  requeue(event: StoredEvent): Promise<boolean>;
  /** Lists an app's discarded events, newest first. */
  discarded(app: string, limit: number): Promise<DiscardedEvent[]>;
  /**
   * Drops an app's discarded events from the listing (all, or those named); the events stay
   * replayable within retention. Resolves with how many were dropped. Optional.
   */
  purgeDiscarded?(app: string, idems?: readonly string[]): Promise<number>;
  /** Counts the live events of every queue (ready, in flight, deferred). Optional. */
  queueCounts?(): Promise<QueueCounts[]>;
  /** Flushes pending writes and releases resources. */
  close(): Promise<void>;
}

/**
 * A store failed (I/O, Redis unreachable, corrupt data). The engine answers the affected command
 * with `-FAIL:STORE_ERROR` and keeps running.
 *
 * @example
 * ```ts
 * import { EnSyncStoreError } from "@syft/syft/ensync/engine";
 * const err = new EnSyncStoreError("Cannot write to Deno KV: disk full");
 * console.log(err.code); // ENSYNC_STORE
 * ```
 */
export class EnSyncStoreError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "ENSYNC_STORE" });
    this.name = "EnSyncStoreError";
  }
}
