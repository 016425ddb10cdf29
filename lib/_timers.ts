/**
 * Timers for delays longer than `setTimeout` honours.
 *
 * @module
 */

/** The longest delay `setTimeout` and `setInterval` honour (about 24.8 days); longer fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` after `ms` milliseconds, however long: delays over {@linkcode MAX_TIMER_MS} are
 * chained instead of firing at once.
 *
 * @param fn What to call.
 * @param ms The delay.
 * @returns A function that cancels the timer.
 */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  if (ms <= MAX_TIMER_MS) {
    const once = setTimeout(fn, ms);
    return () => clearTimeout(once);
  }
  let timer: ReturnType<typeof setTimeout>;
  const due = Date.now() + ms;
  const arm = (): void => {
    const left = due - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
