/**
 * The clock the fastapi_websocket_pubsub client reads and sets timers on: the real one by
 * default; tests pass a manual one and advance it.
 *
 * @module
 */

/** A timer handle of a {@linkcode Clock} (opaque). */
export type TimerId = unknown;

/** Time and timers. */
export interface Clock {
  /** Milliseconds since some fixed point. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer (unknown ids are ignored). */
  clearTimeout(id: TimerId | undefined): void;
  /** A number in [0, 1) for jitter. */
  random(): number;
}

/** The real clock: `performance.now()`, the global timers and `Math.random()`. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout> | undefined),
  random: () => Math.random(),
};
