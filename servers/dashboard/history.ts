/**
 * Time series a dashboard keeps per live source: counter rates, gauge levels and per-key
 * request rates with p50/p99 latency over a sliding window, one point per sample (private to
 * the dashboard).
 *
 * @module
 */
import {
  diffLatency,
  type LatencySnapshot,
  type LiveStateBase,
  quantile,
} from "../../lib/live/mod.ts";

/** One point of a source's history (all values at time `t`). */
export interface HistoryPoint {
  /** Sample time (ms since the epoch). */
  t: number;
  /** Per second, from each counter's change since the previous sample. */
  rates: Record<string, number>;
  /** Gauge levels. */
  gauges: Record<string, number>;
  /** Per latency key: requests per second and p50/p99 (ms, `null` with no requests) over the window. */
  latency: Record<string, { rate: number; p50: number | null; p99: number | null }>;
}

/** A source's history in columns (as charts want it). */
export interface HistoryColumns {
  /** Sample times in seconds since the epoch. */
  t: number[];
  /** Counter rates per second. */
  rates: Record<string, (number | null)[]>;
  /** Gauge levels. */
  gauges: Record<string, (number | null)[]>;
  /** Per latency key. */
  latency: Record<
    string,
    { rate: (number | null)[]; p50: (number | null)[]; p99: (number | null)[] }
  >;
}

/** Options of {@linkcode History}. */
export interface HistoryOptions {
  /** Points kept (default 300: five minutes at one a second). */
  points?: number;
  /** The latency window in samples (default 10). */
  window?: number;
}

/** The history of one source. */
export class History {
  readonly #max: number;
  readonly #window: number;
  readonly #points: HistoryPoint[] = [];
  #prev: { t: number; counters: Record<string, number> } | undefined;
  readonly #latency: { t: number; snaps: Record<string, LatencySnapshot> }[] = [];

  constructor(options: HistoryOptions = {}) {
    this.#max = Math.max(2, options.points ?? 300);
    this.#window = Math.max(1, options.window ?? 10);
  }

  /** Adds the point for `state` taken at `t`; returns it. */
  add(t: number, state: LiveStateBase): HistoryPoint {
    const rates: Record<string, number> = {};
    const prev = this.#prev;
    for (const [k, v] of Object.entries(state.counters)) {
      const before = prev?.counters[k];
      const dt = prev === undefined ? 0 : (t - prev.t) / 1000;
      rates[k] = before === undefined || dt <= 0 || v < before ? 0 : (v - before) / dt;
    }
    this.#prev = { t, counters: { ...state.counters } };
    const snaps = state.latency ?? {};
    this.#latency.push({ t, snaps });
    if (this.#latency.length > this.#window + 1) this.#latency.shift();
    const oldest = this.#latency[0]!;
    const latency: HistoryPoint["latency"] = {};
    for (const [k, snap] of Object.entries(snaps)) {
      const window = diffLatency(
        snap,
        oldest === this.#latency.at(-1) ? undefined : oldest.snaps[k],
      );
      const dt = (t - oldest.t) / 1000;
      latency[k] = {
        rate: dt > 0 ? window.count / dt : 0,
        p50: round(quantile(window, 0.5)),
        p99: round(quantile(window, 0.99)),
      };
    }
    const point: HistoryPoint = { t, rates: round2(rates), gauges: { ...state.gauges }, latency };
    this.#points.push(point);
    if (this.#points.length > this.#max) this.#points.shift();
    return point;
  }

  /** The points kept, as columns. */
  columns(): HistoryColumns {
    return toColumns(this.#points);
  }
}

function round(x: number | null): number | null {
  return x === null ? null : Math.round(x * 1000) / 1000;
}

function round2(r: Record<string, number>): Record<string, number> {
  for (const k of Object.keys(r)) r[k] = Math.round(r[k]! * 100) / 100;
  return r;
}

/** Turns points into columns (a key missing from a point is `null` there). */
export function toColumns(points: readonly HistoryPoint[]): HistoryColumns {
  const cols: HistoryColumns = { t: [], rates: {}, gauges: {}, latency: {} };
  const n = points.length;
  const col = (table: Record<string, (number | null)[]>, key: string): (number | null)[] =>
    table[key] ??= new Array(n).fill(null);
  points.forEach((p, i) => {
    cols.t.push(p.t / 1000);
    for (const [k, v] of Object.entries(p.rates)) col(cols.rates, k)[i] = v;
    for (const [k, v] of Object.entries(p.gauges)) col(cols.gauges, k)[i] = v;
    for (const [k, v] of Object.entries(p.latency)) {
      const l = cols.latency[k] ??= {
        rate: new Array(n).fill(null),
        p50: new Array(n).fill(null),
        p99: new Array(n).fill(null),
      };
      l.rate[i] = v.rate;
      l.p50[i] = v.p50;
      l.p99[i] = v.p99;
    }
  });
  return cols;
}
