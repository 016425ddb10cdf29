/**
 * The clock the hive and its transports read: the project's one clock (`lib/_clock.ts`),
 * injectable so that time-dependent behaviour (publish deadlines, request timeouts, maximum
 * message age) is tested by advancing a fake one (`tests/_helpers/clock.ts`) instead of sleeping.
 *
 * @module
 */
import { type Clock, systemClock } from "../_clock.ts";

/**
 * Wall-clock time and timers, as the hive reads them: the project's `Clock` (`now()`,
 * `setTimeout()` returning a handle, `clearTimeout()`).
 */
export type PubSubClock = Clock;

/** The real clock. */
export const REAL_CLOCK: PubSubClock = systemClock;
