/**
 * Checks the deadlines of a server's connections a few times per shortest timeout (every quarter
 * of it, between 10 ms and 1 s), so that a timeout closes a slow client at most a quarter late,
 * with one timer per server instead of one per request.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/_clock.ts";
import type { ConnectionGuard } from "./_conn_guard.ts";

/** The sweep period for the given timeouts. */
export function sweepPeriodMs(...timeoutsMs: number[]): number {
  return Math.min(1_000, Math.max(10, Math.floor(Math.min(...timeoutsMs) / 4)));
}

/** The connections of one server, swept on a timer while there are any. */
export class Sweeper {
  readonly #clock: Clock;
  readonly #periodMs: number;
  readonly #guards = new Set<ConnectionGuard>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  /**
   * @param clock The clock of the guards.
   * @param periodMs How often to look.
   */
  constructor(clock: Clock, periodMs: number) {
    this.#clock = clock;
    this.#periodMs = periodMs;
  }

  /** Watches a connection. */
  add(guard: ConnectionGuard): void {
    this.#guards.add(guard);
    if (this.#timer === undefined && !this.#stopped) this.#arm();
  }

  /** Stops watching it. */
  delete(guard: ConnectionGuard): void {
    this.#guards.delete(guard);
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      const now = this.#clock.now();
      for (const guard of this.#guards) {
        if (guard.closed) this.#guards.delete(guard);
        else guard.check(now);
      }
      if (this.#guards.size > 0 && !this.#stopped) this.#arm();
    }, this.#periodMs);
  }

  /** Sweeps no more (the server is closed). */
  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
