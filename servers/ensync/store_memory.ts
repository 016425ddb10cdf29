/**
 * The in-memory store: everything is lost when the process ends. For tests and throw-away engines.
 *
 * @module
 */
import { discardedEvent, LocalQueues } from "./_local.ts";
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
import { randomBase62 } from "./_ids.ts";

/**
 * Keeps queues, settled events (for replay) and discarded events in memory, within retention.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "@syft/syft/ensync/engine";
 * const store = new MemoryStore();
 * await store.open({ retentionMs: 60_000, ackTimeoutMs: 30_000 });
 * const [event] = await store.append([{
 *   app: "recipient-app-id", name: "orders/created", payload: "e30=", metadata: "{}",
 *   sender: "sender-app-id", loggedAt: Date.now(), persist: true,
 * }]);
 * console.log(event!.block); // 1
 * await store.close();
 * ```
 */
export class MemoryStore implements EnSyncStore {
  /** Always `memory`. */
  readonly description: string = "memory";
  #discarded = new Map<string, DiscardedEvent[]>();
  #q: LocalQueues = new LocalQueues({
    persist: (entry, outcome) => {
      if (outcome?.kind === "discard") {
        const list = this.#discarded.get(entry.event.app) ?? [];
        list.push(discardedEvent(entry.event, outcome.reason));
        this.#discarded.set(entry.event.app, list);
      }
      return Promise.resolve();
    },
    // Settled events stay in memory for replay until the retention sweep.
    loadSettled: () => Promise.resolve(undefined),
    forget: () => {},
    afterSweep: (now) => {
      const cutoff = now - this.#q.options.retentionMs;
      for (const [app, list] of this.#discarded) {
        const kept = list.filter((d) => d.discardedAt >= cutoff);
        if (kept.length === 0) this.#discarded.delete(app);
        else this.#discarded.set(app, kept);
      }
    },
  });

  /**
   * Starts the retention sweep.
   *
   * @param options Retention and ack timeout.
   * @returns Resolves at once.
   */
  open(options: StoreOptions): Promise<void> {
    return this.#q.open(options);
  }

  /**
   * Stores events in memory and makes them ready at once.
   *
   * @param events The events, one per recipient.
   * @returns The stored events with idem and block.
   */
  append(events: NewEvent[]): Promise<StoredEvent[]> {
    if (this.#q.closed) return Promise.reject(new Error("The store is closed"));
    const stored = events.map((ev): StoredEvent => ({
      ...ev,
      idem: randomBase62(16),
      block: this.#q.nextBlock(ev.app, ev.name),
    }));
    this.#q.admit(stored.map((event) => ({ event })));
    return Promise.resolve(stored);
  }

  /**
   * Registers the listener told when a queue may have ready events.
   *
   * @param listener The listener.
   */
  onReady(listener: ReadyListener): void {
    this.#q.onReady(listener);
  }

  /**
   * The names of an app's queues.
   *
   * @param app The app id.
   * @returns The event names.
   */
  queueNames(app: string): Promise<string[]> {
    return this.#q.queueNames(app);
  }

  /**
   * Takes the next ready event of a queue.
   *
   * @param queue The queue.
   * @param consumer The claiming client id.
   * @returns The event, or `undefined`.
   */
  claim(queue: QueueRef, consumer: string): Promise<StoredEvent | undefined> {
    return this.#q.claim(queue, consumer);
  }

  /**
   * Returns an in-flight event to the front of its queue.
   *
   * @param event The event.
   * @param consumer The client id that held it.
   * @returns Resolves when done.
   */
  release(event: StoredEvent, consumer: string): Promise<void> {
    return this.#q.release(event, consumer);
  }

  /**
   * Records an ack, defer or discard.
   *
   * @param event The event.
   * @param outcome The outcome.
   * @returns The state it was in, or `undefined`.
   */
  settle(event: StoredEvent, outcome: Settlement): Promise<EventState | undefined> {
    return this.#q.settle(event, outcome);
  }

  /**
   * Finds an event by idem.
   *
   * @param idem The event id.
   * @returns The event and its state, or `undefined`.
   */
  lookup(idem: string): Promise<EventRecord | undefined> {
    return this.#q.lookup(idem);
  }

  /**
   * Queues an acked or discarded event again.
   *
   * @param event The event.
   * @returns Whether it was queued.
   */
  requeue(event: StoredEvent): Promise<boolean> {
    return this.#q.requeue(event);
  }

  /**
   * Lists an app's discarded events, newest first.
   *
   * @param app The app id.
   * @param limit The most to return.
   * @returns The discarded events.
   */
  discarded(app: string, limit: number): Promise<DiscardedEvent[]> {
    return Promise.resolve((this.#discarded.get(app) ?? []).toReversed().slice(0, limit));
  }

  /**
   * Drops an app's discarded events from the listing (all, or those named).
   *
   * @param app The app id.
   * @param idems Only these (default all).
   * @returns How many were dropped.
   */
  purgeDiscarded(app: string, idems?: readonly string[]): Promise<number> {
    const list = this.#discarded.get(app) ?? [];
    const drop = idems === undefined ? undefined : new Set(idems);
    const kept = drop === undefined ? [] : list.filter((d) => !drop.has(d.idem));
    if (kept.length === 0) this.#discarded.delete(app);
    else this.#discarded.set(app, kept);
    return Promise.resolve(list.length - kept.length);
  }

  /**
   * Counts the live events of every queue.
   *
   * @returns Ready, in-flight and deferred counts per queue.
   */
  queueCounts(): Promise<QueueCounts[]> {
    return this.#q.counts();
  }

  /**
   * Stops the timers.
   *
   * @returns Resolves when done.
   */
  close(): Promise<void> {
    return this.#q.close();
  }
}
