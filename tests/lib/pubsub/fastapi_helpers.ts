/**
 * Helpers of the fastapi_websocket_pubsub tests: a manual clock.
 *
 * @module
 */
import type { Clock, TimerId } from "../../../lib/pubsub/_fastapi_clock.ts";

/**
 * A clock for tests: `advance(ms)` moves time and runs the timers that fall due, in order,
 * letting promise callbacks run between them.
 */
export class ManualClock implements Clock {
  #now = 0;
  #next = 1;
  readonly #timers = new Map<TimerId, { at: number; fn: () => void }>();
  /** What `random()` returns (default 0.5). */
  randomValue = 0.5;

  /** Milliseconds since the clock was created (plus advances). */
  now(): number {
    return this.#now;
  }

  /** Registers a timer. */
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** Cancels a timer. */
  clearTimeout(id: TimerId | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  /** The configured value. */
  random(): number {
    return this.randomValue;
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Delays of the waiting timers from now, soonest first. */
  delays(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, running each timer that falls due (and those they set) in order.
   *
   * @param ms How far to move.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    while (true) {
      await flush();
      let dueId: TimerId | undefined;
      let due: { at: number; fn: () => void } | undefined;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= end && (due === undefined || timer.at < due.at)) {
          dueId = id;
          due = timer;
        }
      }
      if (due === undefined || dueId === undefined) break;
      this.#timers.delete(dueId);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = end;
    await flush();
  }
}

/** Lets pending promise callbacks and a macrotask run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
}
