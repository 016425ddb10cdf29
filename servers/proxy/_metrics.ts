// deno-lint-ignore-file camelcase -- the JSON wire shapes of both proxy APIs are snake_case
/**
 * Prometheus metrics of one proxy: the HTTP metrics `@hono/prometheus` defines (same names,
 * labels and buckets; recorded here with one cached label object per method, route and status
 * instead of a timer closure and two label objects per request) plus the RPC ones, in a registry
 * of its own so that several proxies can live in one process (private).
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RequestRecord } from "../../lib/proxy/mod.ts";

/** Distinct app/function label pairs kept before further ones are counted as `_other`. */
const MAX_LABEL_PAIRS = 500;
/** Label sets of the HTTP metrics found through the nested maps (methods come from clients). */
const MAX_HTTP_LABEL_SETS = 1000;

type HttpLabels = { method: string; route: string; status: string; ok: string };
/** One label set of the HTTP metrics and its request count. */
type Series = { labels: HttpLabels; count: number };

/** Records one HTTP request: its method, route, status and seconds. */
export type HttpRecorder = (method: string, route: string, status: number, seconds: number) => void;

/**
 * The HTTP metrics of `@hono/prometheus` (its `http_request_duration_seconds` histogram and
 * `http_requests_total` counter, with the same labels in the same order), recorded by the app's
 * one front middleware (a middleware of its own would be one more async layer per request).
 */
function httpMetrics(registry: Registry): HttpRecorder {
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "Duration of HTTP requests in seconds",
    labelNames: ["method", "status", "ok", "route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    registers: [registry],
  });
  // The counter is counted here, per label set, and written into prom-client when scraped: a
  // prom-client `inc()` per request validates and hashes the labels every time.
  const series: Series[] = [];
  new Counter({
    name: "http_requests_total",
    help: "Total number of HTTP requests",
    labelNames: ["method", "status", "ok", "route"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of series) this.inc(s.labels, s.count);
    },
  });
  // method -> route -> status -> series (beyond MAX_HTTP_LABEL_SETS: by their joined labels)
  const cache = new Map<string, Map<string, Map<number, Series>>>();
  const overflow = new Map<string, Series>();
  const seriesOf = (method: string, route: string, status: number): Series => {
    let routes = cache.get(method);
    let statuses = routes?.get(route);
    let found = statuses?.get(status);
    if (found !== undefined) return found;
    const key = `${method}\n${route}\n${status}`;
    found = overflow.get(key);
    if (found !== undefined) return found;
    // `ok` as `Response.ok` reads it.
    const labels = {
      method,
      route,
      status: status.toString(),
      ok: String(status >= 200 && status < 300),
    };
    found = { labels, count: 0 };
    series.push(found);
    if (series.length <= MAX_HTTP_LABEL_SETS) {
      if (routes === undefined) cache.set(method, routes = new Map());
      if (statuses === undefined) routes.set(route, statuses = new Map());
      statuses.set(status, found);
    } else overflow.set(key, found);
    return found;
  };
  return (method, route, status, seconds) => {
    const s = seriesOf(method, route, status);
    s.count++;
    duration.observe(s.labels, seconds);
  };
}

/** The metrics of one proxy server. */
export interface ProxyMetrics {
  /** The registry (`GET /metrics` prints it). */
  registry: Registry;
  /** Records one HTTP request (the app's front middleware calls it once per request). */
  http: HttpRecorder;
  /** Records a finished RPC. */
  finished(record: RequestRecord, seconds: number): void;
  /** Records a request refused by the rate limit. */
  rateLimited(): void;
  /** Prints the metrics in the Prometheus text format. */
  text(): Promise<string>;
}

/** Creates the metrics; `inFlight` reports the requests waiting for a response. */
export function createMetrics(inFlight: () => number): ProxyMetrics {
  const registry = new Registry();
  const http = httpMetrics(registry);
  const total = new Counter({
    name: "rpc_requests_total",
    help: "RPC requests finished by this proxy, by app, function and final status",
    labelNames: ["app_name", "func_name", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "rpc_request_duration_seconds",
    help: "Seconds from accepting an RPC request to its response",
    labelNames: ["app_name", "func_name", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  new Gauge({
    name: "rpc_requests_in_flight",
    help: "RPC requests this proxy is waiting on",
    registers: [registry],
    collect() {
      this.set(inFlight());
    },
  });
  const limited = new Counter({
    name: "rpc_rate_limited_total",
    help: "Requests refused by the rate limit (429)",
    registers: [registry],
  });
  const pairs = new Set<string>();
  return {
    registry,
    http,
    finished(record, seconds) {
      let app = record.app_name;
      let func = record.func_name;
      const pair = `${app}\n${func}`;
      if (!pairs.has(pair)) {
        if (pairs.size >= MAX_LABEL_PAIRS) app = func = "_other";
        else pairs.add(pair);
      }
      const labels = { app_name: app, func_name: func, status: record.status };
      total.inc(labels);
      duration.observe(labels, seconds);
    },
    rateLimited: () => limited.inc(),
    text: () => registry.metrics(),
  };
}
