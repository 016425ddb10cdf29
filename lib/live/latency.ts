/**
 * Latency histograms with fixed bucket bounds: recording is one array increment, and two
 * snapshots taken a minute apart give that minute's p50/p99 ({@linkcode diffLatency},
 * {@linkcode quantile}), as Prometheus histograms do.
 *
 * @module
 */

/**
 * A histogram as numbers: `counts[i]` observations at or below `boundsMs[i]` (and above the bound
 * before); the last entry of `counts` holds those above every bound.
 *
 * @example
 * ```ts
 * import type { LatencySnapshot } from "@syft/syft/live";
 * const h: LatencySnapshot = { boundsMs: [1, 10], counts: [3, 1, 0], count: 4, sumMs: 9 };
 * ```
 */
export interface LatencySnapshot {
  /** Upper bounds of the buckets, in ms, ascending. */
  boundsMs: readonly number[];
  /** Observations per bucket (`boundsMs.length + 1` entries: the last is the overflow). */
  counts: number[];
  /** Observations in total. */
  count: number;
  /** Sum of the observations, in ms. */
  sumMs: number;
}

/**
 * Records durations.
 *
 * @example
 * ```ts
 * import { createLatency, quantile } from "@syft/syft/live";
 * const h = createLatency();
 * h.record(1.5);
 * console.log((quantile(h.snapshot(), 0.5) ?? 0) > 0);
 * ```
 */
export interface Latency {
  /**
   * Adds one observation.
   *
   * @param ms The duration in ms.
   */
  record(ms: number): void;
  /** Observations so far. */
  readonly count: number;
  /** A copy of the histogram. */
  snapshot(): LatencySnapshot;
}

/** Default bounds: 25 µs to 10 min, each about 26 % above the one before (75 buckets). */
export const DEFAULT_LATENCY_BOUNDS_MS: readonly number[] = Object.freeze(
  Array.from({ length: 75 }, (_, i) => Number((0.025 * 2 ** (i / 3)).toPrecision(3))),
);

class Histogram implements Latency {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #count = 0;
  #sum = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  get count(): number {
    return this.#count;
  }

  record(ms: number): void {
    if (!(ms >= 0)) ms = 0;
    const b = this.#bounds;
    // Binary search for the first bound >= ms.
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid]! < ms) lo = mid + 1;
      else hi = mid;
    }
    this.#counts[lo]!++;
    this.#count++;
    this.#sum += ms;
  }

  snapshot(): LatencySnapshot {
    return {
      boundsMs: this.#bounds,
      counts: [...this.#counts],
      count: this.#count,
      sumMs: this.#sum,
    };
  }
}

/**
 * Creates a latency histogram.
 *
 * @param boundsMs Bucket upper bounds in ms, ascending (default {@linkcode DEFAULT_LATENCY_BOUNDS_MS}).
 * @returns The histogram.
 * @throws {RangeError} When the bounds are empty or not ascending.
 *
 * @example
 * ```ts
 * import { createLatency } from "@syft/syft/live";
 * const h = createLatency([1, 5, 10]);
 * h.record(3);
 * console.log(h.snapshot().counts); // [0, 1, 0, 0]
 * ```
 */
export function createLatency(boundsMs: readonly number[] = DEFAULT_LATENCY_BOUNDS_MS): Latency {
  if (boundsMs.length === 0 || boundsMs.some((b, i) => i > 0 && !(b > boundsMs[i - 1]!))) {
    throw new RangeError("Cannot make a histogram: bounds must be non-empty and ascending");
  }
  return new Histogram(boundsMs);
}

/**
 * The observations of `now` that are not in `before` (same bounds): the histogram of a window.
 *
 * @param now The later snapshot.
 * @param before The earlier snapshot, or `undefined` for everything so far.
 * @returns The difference.
 *
 * @example
 * ```ts
 * import { createLatency, diffLatency } from "@syft/syft/live";
 * const h = createLatency([1, 10]);
 * h.record(0.5);
 * const a = h.snapshot();
 * h.record(5);
 * console.log(diffLatency(h.snapshot(), a).counts); // [0, 1, 0]
 * ```
 */
export function diffLatency(
  now: LatencySnapshot,
  before: LatencySnapshot | undefined,
): LatencySnapshot {
  if (
    before === undefined || before.counts.length !== now.counts.length || before.count > now.count
  ) {
    return { ...now, counts: [...now.counts] };
  }
  return {
    boundsMs: now.boundsMs,
    counts: now.counts.map((c, i) => Math.max(0, c - before.counts[i]!)),
    count: now.count - before.count,
    sumMs: Math.max(0, now.sumMs - before.sumMs),
  };
}

/**
 * Estimates a quantile, interpolating inside the bucket it falls in (as Prometheus'
 * `histogram_quantile`); observations above the last bound count as the last bound.
 *
 * @param h The histogram.
 * @param q The quantile, 0 to 1 (0.5 for the median, 0.99 for p99).
 * @returns The estimate in ms, or `null` when there are no observations.
 *
 * @example
 * ```ts
 * import { quantile } from "@syft/syft/live";
 * console.log(quantile({ boundsMs: [1, 2], counts: [0, 2, 0], count: 2, sumMs: 3 }, 0.5)); // 1.5
 * ```
 */
export function quantile(h: LatencySnapshot, q: number): number | null {
  if (h.count <= 0) return null;
  const rank = Math.min(1, Math.max(0, q)) * h.count;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c > 0 && seen + c >= rank) {
      if (i >= h.boundsMs.length) return h.boundsMs[h.boundsMs.length - 1]!;
      const lower = i === 0 ? 0 : h.boundsMs[i - 1]!;
      const upper = h.boundsMs[i]!;
      return lower + (upper - lower) * ((rank - seen) / c);
    }
    seen += c;
  }
  return h.boundsMs[h.boundsMs.length - 1]!;
}
