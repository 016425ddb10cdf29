/**
 * Request files that do not decode yet: a writer that is not atomic (Python) may still be
 * writing. Each gets a grace period from when it was first seen (or from its last change, when
 * that is older), on an injected clock; after it the request is answered 400.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../_clock.ts";

/** What to do with a request file that does not decode. */
export type HalfWrittenVerdict =
  /** The grace period is over: answer 400. */
  | "give-up"
  /** Still within it: a retry is scheduled. */
  | "wait";

/** The half-written request files of one app. */
export class HalfWritten {
  #clock: Clock;
  #graceMs: number;
  #retry: (path: string) => void;
  #files = new Map<string, { first: number; timer?: TimerHandle }>();

  /**
   * @param options The clock, the grace period and what to call when a file should be retried.
   */
  constructor(options: { clock: Clock; graceMs: number; retry: (path: string) => void }) {
    this.#clock = options.clock;
    this.#graceMs = options.graceMs;
    this.#retry = options.retry;
  }

  /** Decides about a request file at `path` that did not decode. */
  async check(path: string): Promise<HalfWrittenVerdict> {
    const now = this.#clock.now();
    let entry = this.#files.get(path);
    if (entry === undefined) {
      entry = { first: now };
      // A file that has not changed for the whole grace period is not being written any more.
      try {
        const info = await Deno.stat(path);
        const mtime = info.mtime?.getTime();
        if (mtime !== undefined && now - mtime >= this.#graceMs) entry.first = mtime;
      } catch { /* gone */ }
      this.#files.set(path, entry);
    }
    const age = now - entry.first;
    if (age >= this.#graceMs) {
      this.forget(path);
      return "give-up";
    }
    this.#clock.clearTimeout(entry.timer);
    entry.timer = this.#clock.setTimeout(() => this.#retry(path), this.#graceMs - age + 5);
    return "wait";
  }

  /** The file decoded, was answered or is gone. */
  forget(path: string): void {
    const entry = this.#files.get(path);
    if (entry !== undefined) {
      this.#clock.clearTimeout(entry.timer);
      this.#files.delete(path);
    }
  }

  /** Cancels every retry. */
  clear(): void {
    for (const entry of this.#files.values()) this.#clock.clearTimeout(entry.timer);
    this.#files.clear();
  }
}
