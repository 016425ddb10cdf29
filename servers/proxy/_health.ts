/**
 * The write probe behind `/health`: a tiny write to the store and to the data dir, at most once
 * per interval (concurrent and later calls within it share the last answer), so a load balancer
 * polling `/health` costs the disk nothing (private).
 *
 * @module
 */
import { type Clock, systemClock } from "../../lib/_clock.ts";

/** Why each part does not accept writes, `"ok"` for those that do. */
export interface WriteHealth {
  /** The request store. */
  store: string;
  /** The data dir (where request files are written). */
  data: string;
}

/** The default interval between two probes: 5 s. */
export const DEFAULT_HEALTH_INTERVAL_MS = 5_000;

/** Runs `probe` at most once per `intervalMs` on the clock and hands out its last answer. */
export class WriteProbe {
  #probe: () => Promise<WriteHealth>;
  #intervalMs: number;
  #clock: Clock;
  #last: { at: number; value: WriteHealth } | undefined;
  #running: Promise<WriteHealth> | undefined;

  constructor(
    probe: () => Promise<WriteHealth>,
    options: { intervalMs?: number; clock?: Clock } = {},
  ) {
    this.#probe = probe;
    this.#intervalMs = options.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    this.#clock = options.clock ?? systemClock;
  }

  /** The last answer if it is recent enough, else a new probe's. */
  check(): Promise<WriteHealth> {
    const last = this.#last;
    if (last !== undefined && this.#clock.now() - last.at < this.#intervalMs) {
      return Promise.resolve(last.value);
    }
    return this.#running ??= this.#probe().then((value) => {
      this.#last = { at: this.#clock.now(), value };
      return value;
    }).finally(() => {
      this.#running = undefined;
    });
  }
}
