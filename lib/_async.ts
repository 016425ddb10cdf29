/**
 * Waiting helpers on an injectable {@linkcode Clock}, in the manner of Deno std's
 * `async/delay.ts`, `async/deadline.ts` and `async/abortable.ts` (std is on JSR, which these
 * machines cannot reach). Every helper removes its listeners and timers when it settles, so long
 * runs do not accumulate them.
 *
 * @module
 */
import { type Clock, systemClock } from "./_clock.ts";

/** Options shared by the helpers. */
export interface WaitOptions {
  /** Aborting rejects the wait with the signal's reason. */
  signal?: AbortSignal;
  /** The clock to wait on (default the system clock). */
  clock?: Clock;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The wait was aborted", "AbortError");
}

/**
 * Resolves after `ms` milliseconds on the clock; rejects with the signal's reason when aborted.
 *
 * @param ms How long to wait.
 * @param options Signal and clock.
 */
export function delay(ms: number, options: WaitOptions = {}): Promise<void> {
  const { signal, clock = systemClock } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles as `promise` does, or rejects with the signal's reason when it is aborted first. The
 * promise itself keeps running (a promise cannot be cancelled); its late rejection is ignored.
 *
 * @param promise What to wait for.
 * @param signal Aborting rejects at once.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => {});
      reject(abortReason(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** Options of {@linkcode deadline}. */
export interface DeadlineOptions extends WaitOptions {
  /** What to reject with when the time runs out (default a `DOMException` named `TimeoutError`). */
  onTimeout?: () => unknown;
}

/**
 * Settles as `promise` does, or rejects when `ms` milliseconds pass first (or the signal aborts).
 * `ms` of `Infinity` waits without a timer.
 *
 * @param promise What to wait for.
 * @param ms The time allowed.
 * @param options The timeout error, a signal and the clock.
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  options: DeadlineOptions = {},
): Promise<T> {
  const { signal, clock = systemClock, onTimeout } = options;
  if (ms === Infinity) return abortable(promise, signal);
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (): void => {
      settled = true;
      clock.clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => {
      if (settled) return;
      finish();
      promise.catch(() => {});
      reject(abortReason(signal!));
    };
    const timer = clock.setTimeout(() => {
      if (settled) return;
      finish();
      promise.catch(() => {});
      reject(
        onTimeout?.() ?? new DOMException(`Timed out after ${ms} ms`, "TimeoutError"),
      );
    }, ms);
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (err) => {
        if (settled) return;
        finish();
        reject(err);
      },
    );
  });
}
