/**
 * The clock the hive and its transports read, injectable so that time-dependent behaviour
 * (publish deadlines, request timeouts, maximum message age) is tested without sleeping.
 *
 * @module
 */

/** Wall-clock time and timers. */
export interface PubSubClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

/** The real clock. */
export const REAL_CLOCK: PubSubClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};
