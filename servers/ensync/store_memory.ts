/**
 * The in-memory store: everything is lost when the process ends. For tests and throw-away engines.
 *
 * @module
 */
import { discardedEvent } from "./_local.ts";
import { type LocalEntry, LocalEventStore } from "./store_base.ts";
import type { DiscardedEvent, NewEvent, Settlement, StoredEvent } from "./store.ts";
import { EnSyncStoreError } from "./store.ts";
import { randomBase62 } from "./_ids.ts";

/**
 * Keeps queues, settled events (for replay) and discarded events in memory, within retention.
 *
 * @example
 * ```ts
 * import { MemoryEventStore } from "@syft/syft/ensync/engine";
 * const store = new MemoryEventStore();
 * await store.open({ retentionMs: 60_000, ackTimeoutMs: 30_000 });
 * const [event] = await store.append([{
 *   app: "recipient-app-id", name: "orders/created", payload: "e30=", metadata: "{}",
 *   sender: "sender-app-id", loggedAt: Date.now(), persist: true,
 * }]);
 * console.log(event!.block); // 1
 * await store.close();
 * ```
 */
export class MemoryEventStore extends LocalEventStore {
  /** Always `memory`. */
  readonly description: string = "memory";
  #discarded = new Map<string, DiscardedEvent[]>();

  /**
   * Records discards for the listing (settled events stay in memory for replay until the sweep).
   *
   * @param entry The entry whose state changed.
   * @param outcome The settlement, when the change is one.
   * @returns Resolves at once.
   */
  protected override persist(entry: LocalEntry, outcome?: Settlement): Promise<void> {
    if (outcome?.kind === "discard") {
      const list = this.#discarded.get(entry.event.app) ?? [];
      list.push(discardedEvent(entry.event, outcome.reason));
      this.#discarded.set(entry.event.app, list);
    }
    return Promise.resolve();
  }

  /**
   * Drops discard records older than the retention period.
   *
   * @param now The sweep time (ms).
   */
  protected override swept(now: number): void {
    const cutoff = now - this.queues.options.retentionMs;
    for (const [app, list] of this.#discarded) {
      const kept = list.filter((d) => d.discardedAt >= cutoff);
      if (kept.length === 0) this.#discarded.delete(app);
      else this.#discarded.set(app, kept);
    }
  }

  /**
   * Stores events in memory and makes them ready at once.
   *
   * @param events The events, one per recipient.
   * @returns The stored events with idem and block.
   */
  append(events: NewEvent[]): Promise<StoredEvent[]> {
    if (this.queues.closed) return Promise.reject(new EnSyncStoreError("The store is closed"));
    const stored = events.map((ev): StoredEvent => ({
      ...ev,
      idem: randomBase62(16),
      block: this.queues.nextBlock(ev.app, ev.name),
    }));
    this.queues.admit(stored.map((event) => ({ event })));
    return Promise.resolve(stored);
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
}
