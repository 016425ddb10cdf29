/**
 * Helpers of the hive tests: the fake clock, unique network names, collecting handlers.
 *
 * @module
 */
import { FakeClock } from "../../_helpers/clock.ts";

/**
 * The project's {@linkcode FakeClock} (time moves only when told), started at a fixed time;
 * `advance(ms)` is its `tick(ms)`.
 */
export class ManualHiveClock extends FakeClock {
  constructor(start = 1_700_000_000_000) {
    super(start);
  }

  /** Moves time by `ms`, running due timers in order (queued work runs in between). */
  advance(ms: number): Promise<void> {
    return this.tick(ms);
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
