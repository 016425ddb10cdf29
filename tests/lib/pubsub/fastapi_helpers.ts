/**
 * Helpers of the fastapi_websocket_pubsub tests: a manual clock.
 *
 * @module
 */
import type { FastApiClock } from "../../../lib/pubsub/_fastapi_clock.ts";
import type { TimerHandle } from "../../../lib/_clock.ts";
import { FakeClock } from "../../_helpers/clock.ts";

/**
 * The project's {@linkcode FakeClock} with what the client also reads (a fixed `random()`) and
 * what its tests look at (the delays of the waiting timers); `advance(ms)` is `tick(ms)`.
 */
export class ManualClock extends FakeClock implements FastApiClock {
  readonly #due = new Map<TimerHandle, number>();
  /** What `random()` returns (default 0.5). */
  randomValue = 0.5;

  constructor() {
    super(0);
  }

  /** Registers a timer (and remembers when it falls due). */
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = super.setTimeout(() => {
      this.#due.delete(handle);
      fn();
    }, ms);
    this.#due.set(handle, this.now() + (Number.isFinite(ms) && ms > 0 ? ms : 0));
    return handle;
  }

  /** Cancels a timer. */
  override clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.#due.delete(handle);
    super.clearTimeout(handle);
  }

  /** The configured value. */
  random(): number {
    return this.randomValue;
  }

  /** Delays of the waiting timers from now, soonest first. */
  delays(): number[] {
    return [...this.#due.values()].map((at) => at - this.now()).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running each timer that falls due (and those they set). */
  advance(ms: number): Promise<void> {
    return this.tick(ms);
  }
}
