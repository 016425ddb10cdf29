/**
 * A fake {@linkcode Clock} for tests: time stands still until the test advances it, and timers
 * fire in due order as it does. Use it wherever a unit takes a `clock` option instead of sleeping.
 *
 * ```ts ignore
 * const clock = new FakeClock();
 * const unit = new Thing({ clock });
 * await clock.tick(1_000); // fires every timer due in the next second, in order
 * ```
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../lib/_clock.ts";

interface Pending {
  id: number;
  due: number;
  fn: () => void;
}

/** A clock whose time moves only when {@linkcode FakeClock.tick} is called. */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<number, Pending>();

  /** @param start The wall-clock time to start at (default 2026-01-01T00:00:00Z). */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  /** The fake wall-clock time in ms since the epoch. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + ms. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#timers.set(id, { id, due: this.#now + delay, fn });
    return id;
  }

  /** Cancels a timer. */
  clearTimeout(handle: TimerHandle | undefined): void {
    if (typeof handle === "number") this.#timers.delete(handle);
  }

  /** How many timers are waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Lets promise callbacks and other macrotasks already queued run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setTimeout(r, 0));
  }

  /**
   * Advances time by `ms`, firing each timer that falls due in order (timers scheduled by a
   * firing timer fire too if they fall due within the step), letting queued work run between.
   */
  async tick(ms: number): Promise<void> {
    const end = this.#now + ms;
    await this.settle();
    for (;;) {
      let next: Pending | undefined;
      for (const t of this.#timers.values()) {
        if (t.due <= end && (next === undefined || t.due < next.due)) next = t;
      }
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
      await this.settle();
    }
    this.#now = end;
    await this.settle();
  }
}
