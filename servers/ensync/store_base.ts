/**
 * The base of the in-process stores (socket.io's in-memory adapter is the model): one class holds
 * the queue logic shared by {@linkcode MemoryEventStore} and {@linkcode KvEventStore}: ready
 * queues, in-flight and deferred states, the deferral timer and the retention sweep. A subclass
 * says how events are appended and how state changes become durable by overriding the persistence
 * hooks (`persist`, `loadSettled`, `forgetSettled`, `expired`, `swept`).
 *
 * @module
 */
import { LocalQueues } from "./_local.ts";
import type {
  DiscardedEvent,
  EnSyncStore,
  EventRecord,
  EventState,
  NewEvent,
  QueueCounts,
  QueueRef,
  ReadyListener,
  Settlement,
  StoredEvent,
  StoreOptions,
} from "./store.ts";

/**
 * A live event as the base keeps it in memory (handed to the persistence hooks).
 *
 * @example
 * ```ts
 * import type { LocalEntry } from "@syft/syft/ensync/engine";
 * const show = (e: LocalEntry): string => `${e.event.idem} is ${e.state}`;
 * console.log(typeof show); // function
 * ```
 */
export interface LocalEntry {
  /** The event. */
  event: StoredEvent;
  /** Its state. */
  state: EventState;
  /** When a deferred event is due (ms). */
  dueAt?: number;
  /** Position in the deferral heap while deferred. */
  heapIndex?: number | undefined;
  /** Bumped on every state change, so stale queue references are skipped. */
  version: number;
  /** Where the store keeps it (the KV store's segment and slot). */
  loc?: unknown;
}

/**
 * An event handed to {@linkcode LocalQueueState.admit}: stored, and ready or deferred.
 *
 * @example
 * ```ts
 * import type { LocalAdmission } from "@syft/syft/ensync/engine";
 * const ready = (a: LocalAdmission): boolean => a.state !== "deferred";
 * console.log(typeof ready); // function
 * ```
 */
export interface LocalAdmission {
  /** The stored event. */
  event: StoredEvent;
  /** Ready (default) or deferred. */
  state?: "ready" | "deferred";
  /** When a deferred event is due (ms). */
  dueAt?: number;
  /** Where the store keeps it. */
  loc?: unknown;
}

/**
 * What a {@linkcode LocalEventStore} subclass sees of the in-process queues.
 *
 * @example
 * ```ts
 * import type { LocalQueueState } from "@syft/syft/ensync/engine";
 * const next = (q: LocalQueueState): number => q.nextBlock("app", "orders/created");
 * console.log(typeof next); // function
 * ```
 */
export interface LocalQueueState {
  /** The options the store was opened with. */
  readonly options: StoreOptions;
  /** Whether the store is closed. */
  readonly closed: boolean;
  /** The live (and, for memory stores, settled) events by idem. */
  readonly entries: Map<string, LocalEntry>;
  /** Assigns the next block of a queue. */
  nextBlock(app: string, name: string): number;
  /** Raises a queue's last block (recovery). */
  seedBlock(app: string, name: string, block: number): void;
  /** The last block of a queue. */
  lastBlock(app: string, name: string): number;
  /** Adds stored events to memory and (unless `notify` is false) tells the ready listeners. */
  admit(items: readonly LocalAdmission[], notify?: boolean): void;
}

/**
 * The shared logic of the stores that keep their queues in this process. Subclasses implement
 * `append`, `discarded` and the persistence hooks; everything else is shared.
 *
 * @example A store that keeps nothing beyond memory
 * ```ts
 * import { LocalEventStore, type NewEvent, type StoredEvent } from "@syft/syft/ensync/engine";
 * class Scratch extends LocalEventStore {
 *   readonly description = "scratch";
 *   append(events: NewEvent[]): Promise<StoredEvent[]> {
 *     const stored = events.map((ev, i) => ({ ...ev, idem: `id${i}`, block: this.queues.nextBlock(ev.app, ev.name) }));
 *     this.queues.admit(stored.map((event) => ({ event })));
 *     return Promise.resolve(stored);
 *   }
 *   discarded(): Promise<never[]> {
 *     return Promise.resolve([]);
 *   }
 * }
 * const store = new Scratch();
 * await store.open({ retentionMs: 60_000, ackTimeoutMs: 30_000 });
 * await store.close();
 * ```
 */
export abstract class LocalEventStore implements EnSyncStore, AsyncDisposable {
  /** A short description, such as `memory`. */
  abstract readonly description: string;
  readonly #local: LocalQueues = new LocalQueues({
    persist: (entry, outcome) => this.persist(entry, outcome),
    loadSettled: (idem) => this.loadSettled(idem),
    forget: (entry) => this.forgetSettled(entry),
    onExpired: (entry) => this.expired(entry),
    afterSweep: (now) => this.swept(now),
  });

  /** The in-process queues (ready deques, deferral heap, retention sweep). */
  protected readonly queues: LocalQueueState = this.#local;

  /**
   * Makes a state change durable (hook; default: nothing to write).
   *
   * @param _entry The entry whose state changed.
   * @param _outcome The settlement, when the change is one.
   * @returns Resolves once durable.
   */
  protected persist(_entry: LocalEntry, _outcome?: Settlement): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Loads a settled event that left memory (hook; default: none left memory).
   *
   * @param _idem The event id.
   * @returns The event and its state, or `undefined`.
   */
  protected loadSettled(_idem: string): Promise<EventRecord | undefined> {
    return Promise.resolve(undefined);
  }

  /**
   * Called when an entry settled (hook; default: keep it in memory for replay).
   *
   * @param _entry The settled entry.
   */
  protected forgetSettled(_entry: LocalEntry): void {}

  /**
   * Called for each event the retention sweep drops from memory (hook).
   *
   * @param _entry The dropped entry.
   */
  protected expired(_entry: LocalEntry): void {}

  /**
   * Called after each retention sweep (hook).
   *
   * @param _now The sweep time (ms).
   */
  protected swept(_now: number): void {}

  /**
   * Starts the retention sweep.
   *
   * @param options Retention and ack timeout.
   * @returns Resolves when open.
   */
  open(options: StoreOptions): Promise<void> {
    return this.#local.open(options);
  }

  /**
   * Stores events, one per recipient.
   *
   * @param events The events.
   * @returns The stored events with idem and block.
   */
  abstract append(events: NewEvent[]): Promise<StoredEvent[]>;

  /**
   * Lists an app's discarded events, newest first.
   *
   * @param app The app id.
   * @param limit The most to return.
   * @returns The discarded events.
   */
  abstract discarded(app: string, limit: number): Promise<DiscardedEvent[]>;

  /**
   * Registers the listener told when a queue may have ready events.
   *
   * @param listener The listener.
   */
  onReady(listener: ReadyListener): void {
    this.#local.onReady(listener);
  }

  /**
   * The names of an app's queues.
   *
   * @param app The app id.
   * @returns The event names.
   */
  queueNames(app: string): Promise<string[]> {
    return this.#local.queueNames(app);
  }

  /**
   * Takes the next ready event of a queue (in memory).
   *
   * @param queue The queue.
   * @param consumer The claiming client id.
   * @returns The event, or `undefined`.
   */
  claim(queue: QueueRef, consumer: string): Promise<StoredEvent | undefined> {
    return this.#local.claim(queue, consumer);
  }

  /**
   * Returns an in-flight event to the front of its queue.
   *
   * @param event The event.
   * @param consumer The client id that held it.
   * @returns Resolves when done.
   */
  release(event: StoredEvent, consumer: string): Promise<void> {
    return this.#local.release(event, consumer);
  }

  /**
   * Records an ack, defer or discard; resolves once durable.
   *
   * @param event The event.
   * @param outcome The outcome.
   * @returns The state it was in, or `undefined`.
   */
  settle(event: StoredEvent, outcome: Settlement): Promise<EventState | undefined> {
    return this.#local.settle(event, outcome);
  }

  /**
   * Finds an event by idem: in memory when live, else through `loadSettled`.
   *
   * @param idem The event id.
   * @returns The event and its state, or `undefined`.
   */
  lookup(idem: string): Promise<EventRecord | undefined> {
    return this.#local.lookup(idem);
  }

  /**
   * Queues an acked or discarded event again.
   *
   * @param event The event.
   * @returns Whether it was queued.
   */
  requeue(event: StoredEvent): Promise<boolean> {
    return this.#local.requeue(event);
  }

  /**
   * Counts the live events of every queue.
   *
   * @returns Ready, in-flight and deferred counts per queue.
   */
  queueCounts(): Promise<QueueCounts[]> {
    return this.#local.counts();
  }

  /**
   * Stops the timers.
   *
   * @returns Resolves when done.
   */
  close(): Promise<void> {
    return this.#local.close();
  }

  /**
   * Closes the store (`await using`).
   *
   * @returns Resolves when closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
