/**
 * The clock every unit that waits reads time and sets timers on. Production code uses
 * {@linkcode systemClock}; tests pass a fake one (`tests/_helpers/clock.ts`) and advance it instead
 * of sleeping. Delays longer than `setTimeout` honours are chained (see {@linkcode MAX_TIMER_MS}).
 *
 * @module
 */
import { MAX_TIMER_MS } from "./_timers.ts";

/** An opaque timer handle of a {@linkcode Clock}. */
export type TimerHandle = { readonly __timer: unique symbol } | number | object;

/** Time and timers, injectable. */
export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch (as `Date.now()`). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds (any length; negative or NaN means 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or already-fired handles are ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

interface LongTimer {
  id: ReturnType<typeof setTimeout>;
}

/** The real clock: `Date.now()` and the global timers (long delays chained). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    if (delay <= MAX_TIMER_MS) return setTimeout(fn, delay);
    const timer: LongTimer = { id: 0 as unknown as ReturnType<typeof setTimeout> };
    const due = Date.now() + delay;
    const arm = (): void => {
      const left = due - Date.now();
      timer.id = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, left);
    };
    arm();
    return timer;
  },
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    if (typeof handle === "object" && handle !== null && "id" in handle) {
      clearTimeout((handle as LongTimer).id);
    } else {
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    }
  },
};

/**
 * Lets a timer of the {@linkcode systemClock} not keep the process alive (`Deno.unrefTimer`);
 * timers of any other clock are left alone, since their handles are not the runtime's.
 *
 * @param clock The clock the timer was set on.
 * @param handle The timer.
 */
export function unrefTimer(clock: Clock, handle: TimerHandle | undefined): void {
  if (clock === systemClock && typeof handle === "number") Deno.unrefTimer(handle);
}
