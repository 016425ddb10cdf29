/**
 * The in-memory store: everything is lost when the process ends. For tests and throw-away engines.
 *
 * @module
 */
import { type Entry, LocalQueues } from "./_local.ts";
import type { DiscardedEvent, EventRecord, NewEvent, Settlement, StoredEvent } from "./store.ts";
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
export class MemoryStore extends LocalQueues {
  /** Always `memory`. */
  readonly description: string = "memory";
  #discarded = new Map<string, DiscardedEvent[]>();

  /**
   * Stores events in memory and makes them ready at once.
   *
   * @param events The events, one per recipient.
   * @returns The stored events with idem and block.
   */
  append(events: NewEvent[]): Promise<StoredEvent[]> {
    if (this.closed) return Promise.reject(new Error("The store is closed"));
    const stored = events.map((ev): StoredEvent => ({
      ...ev,
      idem: randomBase62(16),
      block: this.nextBlock(ev.app, ev.name),
    }));
    this.admit(stored.map((event) => ({ event })));
    return Promise.resolve(stored);
  }

  protected persist(entry: Entry, outcome?: Settlement): Promise<void> {
    if (outcome?.kind === "discard") {
      const list = this.#discarded.get(entry.event.app) ?? [];
      list.push({
        idem: entry.event.idem,
        name: entry.event.name,
        block: entry.event.block,
        sender: entry.event.sender,
        reason: outcome.reason,
        discardedAt: Date.now(),
      });
      this.#discarded.set(entry.event.app, list);
    }
    return Promise.resolve();
  }

  protected loadSettled(_idem: string): Promise<EventRecord | undefined> {
    return Promise.resolve(undefined);
  }

  protected forget(_entry: Entry): void {
    // Settled events stay in memory for replay until the retention sweep.
  }

  protected override sweep(now: number): void {
    super.sweep(now);
    const cutoff = now - this.options.retentionMs;
    for (const [app, list] of this.#discarded) {
      const kept = list.filter((d) => d.discardedAt >= cutoff);
      if (kept.length === 0) this.#discarded.delete(app);
      else this.#discarded.set(app, kept);
    }
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
}
