/**
 * What the EnSync benchmark measures beside its rates: publish-to-delivery latency over time (per
 * 100 ms bucket of the send time: count, p50, p99, max), so a stall shows as the buckets it hit
 * instead of vanishing in one p99, and the resident memory of a process (Linux `/proc`, read with
 * `cat`, since Deno wants --allow-all for `/proc`).
 *
 * @module
 */

/** One bucket of the latency timeline. */
export interface LatencyBucket {
  /** The bucket's start, ms after the workload started. */
  atMs: number;
  /** Messages sent in it that arrived. */
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/** A summary of a timeline: where the tail comes from. */
export interface TimelineSummary {
  /** Buckets in the run. */
  buckets: number;
  /** The worst bucket's p99 and max, and when it started. */
  worstP99Ms: number;
  worstMaxMs: number;
  worstAtMs: number;
  /** Buckets whose p99 exceeds 5× the overall p50 (and 10 ms): the stalls. */
  stallBuckets: number;
  /** The share of all messages above the overall p99 that fall into the stall buckets. */
  tailInStalls: number;
  /** The median of the buckets' p99: the tail without the stalls. */
  medianBucketP99Ms: number;
  /**
   * The p50 of the last bucket minus that of the first: near 0 when the rate is sustained, growing
   * with the run when the system cannot keep up and a backlog builds (then the p99 is queueing,
   * not a stall).
   */
  backlogGrowthMs: number;
  /**
   * Buckets holding fewer than half the median bucket's messages: the sender fell behind its rate
   * there (its process got no CPU) and then sent the missed messages in one burst, which queues
   * behind each subscriber's one event in flight.
   */
  senderGaps: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[
    Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Latency samples keyed by send time. */
export class LatencyTimeline {
  readonly bucketMs: number;
  readonly #start: number;
  readonly #buckets: number[][] = [];
  readonly all: number[] = [];

  /**
   * @param start `performance.now()` when the workload started.
   * @param bucketMs The bucket width (default 100 ms).
   */
  constructor(start: number, bucketMs = 100) {
    this.#start = start;
    this.bucketMs = bucketMs;
  }

  /** Adds one message sent at `sentAt` (`performance.now()`) that took `latencyMs`. */
  add(sentAt: number, latencyMs: number): void {
    const i = Math.max(0, Math.floor((sentAt - this.#start) / this.bucketMs));
    (this.#buckets[i] ??= []).push(latencyMs);
    this.all.push(latencyMs);
  }

  /** The buckets, in time order (empty ones left out). */
  buckets(): LatencyBucket[] {
    const out: LatencyBucket[] = [];
    this.#buckets.forEach((xs, i) => {
      if (!xs || xs.length === 0) return;
      const s = xs.toSorted((a, b) => a - b);
      out.push({
        atMs: i * this.bucketMs,
        n: s.length,
        p50: r3(pct(s, 50)),
        p99: r3(pct(s, 99)),
        max: r3(s[s.length - 1]!),
      });
    });
    return out;
  }

  /** Where the tail is: the worst bucket, the stall buckets and their share of the tail. */
  summary(): TimelineSummary {
    const buckets = this.buckets();
    const all = this.all.toSorted((a, b) => a - b);
    const p50 = pct(all, 50);
    const p99 = pct(all, 99);
    const stallAt = Math.max(10, 5 * p50);
    const stalls = new Set<number>();
    let worst: LatencyBucket | undefined;
    for (const b of buckets) {
      if (b.p99 > stallAt) stalls.add(b.atMs);
      if (worst === undefined || b.p99 > worst.p99) worst = b;
    }
    let tail = 0;
    let tailInStalls = 0;
    this.#buckets.forEach((xs, i) => {
      for (const x of xs ?? []) {
        if (x <= p99) continue;
        tail++;
        if (stalls.has(i * this.bucketMs)) tailInStalls++;
      }
    });
    const bucketP99 = buckets.map((b) => b.p99).sort((a, b) => a - b);
    return {
      buckets: buckets.length,
      worstP99Ms: worst?.p99 ?? NaN,
      worstMaxMs: worst?.max ?? NaN,
      worstAtMs: worst?.atMs ?? NaN,
      stallBuckets: stalls.size,
      tailInStalls: tail === 0 ? 0 : r3(tailInStalls / tail),
      medianBucketP99Ms: bucketP99.length ? bucketP99[bucketP99.length >> 1]! : NaN,
      backlogGrowthMs: buckets.length ? r3(buckets.at(-1)!.p50 - buckets[0]!.p50) : NaN,
      senderGaps: ((): number => {
        const ns = buckets.map((b) => b.n).sort((a, b) => a - b);
        const half = (ns[ns.length >> 1] ?? 0) / 2;
        // Empty buckets inside the run count too.
        const span = buckets.length ? buckets.at(-1)!.atMs / this.bucketMs + 1 : 0;
        return span - buckets.length + buckets.filter((b) => b.n < half).length;
      })(),
    };
  }
}

/** A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`, `RssAnon`, `RssFile`), or `undefined` if it cannot be read. */
export async function procKb(
  pid: number,
  field: "VmRSS" | "VmHWM" | "RssAnon" | "RssFile",
): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's VmRSS every `everyMs` until stopped; `stop()` gives the highest (KiB). */
export function sampleRss(pid: number, everyMs = 100): { stop(): Promise<number | undefined> } {
  let peak: number | undefined;
  let running = true;
  const loop = (async () => {
    while (running) {
      const kb = await procKb(pid, "VmRSS");
      if (kb !== undefined) peak = Math.max(peak ?? 0, kb);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** The pid of the process listening on a local TCP port (from `ss -ltnpH`), if visible. */
export async function listenerPid(port: number): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("ss", {
      args: ["-ltnpH", `sport = :${port}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = /pid=(\d+)/.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
