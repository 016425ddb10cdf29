/**
 * Logs a repeating event once per burst: the first occurrence in full, then one summary line per
 * window while it keeps happening ("… 1,234 more in the last 10 s"), then nothing until it starts
 * again. Accept errors and refused connections come in thousands; the log keeps one line each.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/_clock.ts";

/** Where a burst is written (a LogTape logger's `warn` fits). */
export type BurstSink = (message: string, properties: Record<string, unknown>) => void;

/** One kind of event, logged once per burst. */
export class BurstLog {
  readonly #sink: BurstSink;
  readonly #clock: Clock;
  readonly #windowMs: number;
  #more = 0;
  #timer: TimerHandle | undefined;

  /**
   * @param sink Where lines go.
   * @param clock The timers' clock.
   * @param windowMs How long a burst window lasts.
   */
  constructor(sink: BurstSink, clock: Clock, windowMs = 10_000) {
    this.#sink = sink;
    this.#clock = clock;
    this.#windowMs = windowMs;
  }

  /**
   * Records one occurrence; logs it when no burst is under way.
   *
   * @param message The line (LogTape placeholders allowed).
   * @param properties Its values.
   */
  note(message: string, properties: Record<string, unknown> = {}): void {
    if (this.#timer !== undefined) {
      this.#more++;
      return;
    }
    this.#sink(message, properties);
    this.#arm(message, properties);
  }

  #arm(message: string, properties: Record<string, unknown>): void {
    this.#timer = this.#clock.setTimeout(() => {
      const more = this.#more;
      this.#more = 0;
      this.#timer = undefined;
      if (more === 0) return;
      this.#sink(`${message} ({more} more in the last {seconds} s)`, {
        ...properties,
        more,
        seconds: this.#windowMs / 1000,
      });
      this.#arm(message, properties);
    }, this.#windowMs);
  }

  /** Stops the window timer (the server is closing). */
  close(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#more = 0;
  }
}
