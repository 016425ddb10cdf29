/**
 * The clock the fastapi_websocket_pubsub client reads and sets timers on: the project's one clock
 * (`lib/_clock.ts`) plus a random source for reconnect jitter; tests pass a fake one
 * (`tests/_helpers/clock.ts`) and advance it.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../_clock.ts";

/** A timer handle of a {@linkcode FastApiClock} (opaque). */
export type TimerId = TimerHandle;

/** Time, timers and a random number in [0, 1) for jitter. */
export interface FastApiClock extends Clock {
  /** A number in [0, 1) for jitter. */
  random(): number;
}

/** The real clock: the system clock and `Math.random()`. */
export const realClock: FastApiClock = {
  now: systemClock.now,
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
  random: () => Math.random(),
};
