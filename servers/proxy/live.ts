/**
 * The proxy's live state ({@linkcode ProxyLiveSource}), read from the same Prometheus registry
 * `/metrics` prints (requests by status, latency histogram, HTTP responses, rate-limit
 * rejections) plus the gateway's pending requests; its feed carries finished requests and
 * rate-limit rejections.
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { ProxyGateway } from "./_gateway.ts";
import {
  createLiveFeed,
  type LatencySnapshot,
  type LiveFeedWriter,
  type ProxyLiveEvent,
  type ProxyLiveSource,
  type ProxyLiveState,
} from "../../lib/live/mod.ts";

const PENDING_LISTED = 100;

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

async function values(registry: Registry, name: string): Promise<MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return (await metric.get()).values as MetricValue[];
}

function sumBy(list: MetricValue[], label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of list) {
    const key = String(v.labels[label] ?? "");
    out[key] = (out[key] ?? 0) + v.value;
  }
  return out;
}

/** Folds a Prometheus histogram (cumulative `le` buckets, any labels) into one snapshot in ms. */
function histogram(list: MetricValue[]): LatencySnapshot {
  const cumulative = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const v of list) {
    if (v.metricName?.endsWith("_bucket")) {
      const le = v.labels.le === "+Inf" ? Infinity : Number(v.labels.le);
      cumulative.set(le, (cumulative.get(le) ?? 0) + v.value);
    } else if (v.metricName?.endsWith("_count")) count += v.value;
    else if (v.metricName?.endsWith("_sum")) sum += v.value;
  }
  const bounds = [...cumulative.keys()].filter(Number.isFinite).sort((a, b) => a - b);
  const counts: number[] = [];
  let below = 0;
  for (const b of bounds) {
    const c = cumulative.get(b)!;
    counts.push(c - below);
    below = c;
  }
  counts.push(Math.max(0, count - below));
  return { boundsMs: bounds.map((b) => b * 1000), counts, count, sumMs: sum * 1000 };
}

/** The proxy's live source plus the hook its rate limiter calls. */
export interface ProxyLive {
  /** The live source. */
  source: ProxyLiveSource;
  /** Records a rate-limit rejection in the feed (the counter is in the registry). */
  rateLimited(client: string): void;
}

/**
 * Builds the proxy's live source.
 *
 * @param options The gateway, the metrics registry, when the app started and its store.
 * @returns The source and the rate-limit hook.
 *
 * @example
 * ```ts ignore
 * const live = createProxyLive({ gateway, registry: metrics.registry, startedAt: Date.now() });
 * console.log((await live.source.state()).gauges.pending);
 * ```
 */
export function createProxyLive(
  options: { gateway: ProxyGateway; registry: Registry; startedAt: number },
): ProxyLive {
  const { gateway, registry } = options;
  const feed: LiveFeedWriter<ProxyLiveEvent> = createLiveFeed();
  gateway.addFinishListener((record, seconds) => {
    if (!feed.active) return;
    feed.publish({
      type: "finished",
      at: Date.now(),
      id: record.id,
      endpoint: `${record.app_name}/${record.func_name}`,
      status: record.status,
      statusCode: record.status_code,
      seconds: Math.round(seconds * 1e6) / 1e6,
    });
  });
  const state = async (): Promise<ProxyLiveState> => {
    const [finished, duration, http, limited] = await Promise.all([
      values(registry, "rpc_requests_total"),
      values(registry, "rpc_request_duration_seconds"),
      values(registry, "http_requests_total"),
      values(registry, "rpc_rate_limited_total"),
    ]);
    const byStatus = sumBy(finished, "status");
    const byHttpStatus = sumBy(http, "status");
    const counts = gateway.counts;
    const now = Date.now();
    return {
      part: "proxy",
      name: gateway.backend.email,
      startedAt: options.startedAt,
      store: gateway.store.description,
      counters: {
        requests: counts.total,
        completed: counts.completed,
        failed: counts.failed,
        rateLimited: limited.reduce((n, v) => n + v.value, 0),
        http: Object.values(byHttpStatus).reduce((n, v) => n + v, 0),
      },
      gauges: { pending: counts.pending },
      latency: { all: histogram(duration) },
      byStatus,
      byHttpStatus,
      pending: gateway.pendingRecords(PENDING_LISTED).map((r) => {
        const createdAt = Date.parse(r.created_at);
        return {
          id: r.id,
          app: r.app_name,
          func: r.func_name,
          destination: r.destination,
          createdAt,
          ageMs: Math.max(0, now - createdAt),
        };
      }),
      pendingTotal: counts.pending,
    };
  };
  return {
    source: { part: "proxy", feed, actions: [], state },
    rateLimited(client) {
      if (feed.active) feed.publish({ type: "rate_limited", at: Date.now(), client });
    },
  };
}
