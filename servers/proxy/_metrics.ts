// deno-lint-ignore-file camelcase -- the JSON wire shapes of both proxy APIs are snake_case
/**
 * Prometheus metrics of one proxy: Hono's HTTP metrics (`@hono/prometheus`) plus the RPC ones,
 * in a registry of its own so that several proxies can live in one process (private).
 *
 * @module
 */
import { prometheus } from "@hono/prometheus";
import type { MiddlewareHandler } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RequestRecord } from "../../lib/proxy/mod.ts";

/** Distinct app/function label pairs kept before further ones are counted as `_other`. */
const MAX_LABEL_PAIRS = 500;

/** The metrics of one proxy server. */
export interface ProxyMetrics {
  /** The registry (`GET /metrics` prints it). */
  registry: Registry;
  /** Hono middleware recording HTTP metrics. */
  http: MiddlewareHandler;
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
  const { registerMetrics } = prometheus({ registry });
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
    http: registerMetrics,
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
