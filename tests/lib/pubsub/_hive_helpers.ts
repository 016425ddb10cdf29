/**
 * Helpers of the hive tests: a manual clock, unique network names, collecting handlers.
 *
 * @module
 */
import type { PubSubClock } from "../../../lib/pubsub/_clock.ts";

/** A {@linkcode PubSubClock} whose time moves only with `advance()`. */
export class ManualHiveClock implements PubSubClock {
  #now: number;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const id = this.#next++;
    this.#timers.push({ at: this.#now + Math.max(0, ms), fn, id });
    return () => {
      this.#timers = this.#timers.filter((t) => t.id !== id);
    };
  }

  /** Moves time by `ms`, running due timers in order (promise callbacks run in between). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers[0];
      if (next === undefined || next.at > target) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    this.#now = target;
  }
}

/** A network name no other test uses. */
export function uniqueNetwork(tag = "t"): string {
  return `${tag}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Collects what a handler receives; `next()` resolves with the next one. */
export class Inbox<T = Record<string, unknown>> {
  readonly items: T[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];

  push = (item: T): void => {
    this.items.push(item);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.items.length >= w.n) {
        w.resolve();
        return false;
      }
      return true;
    });
  };

  /** Resolves when `n` items arrived (rejects after `timeoutMs`). */
  async count(n: number, timeoutMs = 10_000): Promise<T[]> {
    if (this.items.length >= n) return this.items;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push({ n, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`got ${this.items.length} of ${n} within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return this.items;
  }
}
