/**
 * The serving layer's counts ({@linkcode ServeStats}: open, accepted, refused, timed out, accept
 * errors) as Prometheus metrics, registered in a server's own registry so that its `/metrics`
 * prints them. One function for every server (proxy, hub, pub/sub, EnSync engine); each metric
 * carries a `listener` label (`http`, `grpc`) since one process may run more than one listener.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { ServeStats } from "./_serve.ts";

/** Where the counts are read when scraped: listener name → its stats (undefined: not listening). */
export type ServeStatsSources = Record<string, () => Readonly<ServeStats> | undefined>;

const TIMEOUT_KINDS = ["headers", "body", "idle"] as const;

/**
 * Registers the serving layer's metrics in `registry`; values are read from `sources` at each
 * scrape, so a listener started later (or restarted) is picked up by its getter.
 *
 * Metrics: `syft_serve_connections_open`, `syft_serve_websockets_open` (gauges);
 * `syft_serve_connections_accepted_total`, `syft_serve_connections_refused_total`,
 * `syft_serve_connections_timed_out_total{timeout="headers|body|idle"}`,
 * `syft_serve_accept_errors_total` (counters). All are labelled `listener`.
 *
 * @param registry The server's registry (the one behind its `/metrics`).
 * @param sources Each listener's name and a getter of its stats.
 *
 * @example
 * ```ts ignore
 * import { Registry } from "prom-client";
 * import { serveHardened } from "./_serve.ts";
 * import { registerServeMetrics } from "./_serve_metrics.ts";
 * const registry = new Registry();
 * const server = serveHardened({ port: 0 }, () => new Response("hi"));
 * registerServeMetrics(registry, { http: () => server.stats });
 * console.log(await registry.metrics()); // syft_serve_connections_accepted_total{listener="http"} 0 …
 * ```
 */
export function registerServeMetrics(registry: Registry, sources: ServeStatsSources): void {
  // One helper for both kinds: a scrape resets the metric and writes each listener's count (a
  // gauge sets it, a counter adds it to zero).
  const metric = (
    Kind: typeof Gauge | typeof Counter,
    name: string,
    help: string,
    pick: (s: Readonly<ServeStats>) => number,
  ): void => {
    new Kind({
      name,
      help,
      labelNames: ["listener"] as const,
      registers: [registry],
      collect(this: Gauge<"listener"> | Counter<"listener">) {
        this.reset();
        for (const [listener, get] of Object.entries(sources)) {
          const stats = get();
          if (stats === undefined) continue;
          if (this instanceof Gauge) this.set({ listener }, pick(stats));
          else this.inc({ listener }, pick(stats));
        }
      },
    });
  };
  const gauge = (name: string, help: string, pick: (s: Readonly<ServeStats>) => number): void =>
    metric(Gauge, name, help, pick);
  const counter = (name: string, help: string, pick: (s: Readonly<ServeStats>) => number): void =>
    metric(Counter, name, help, pick);
  gauge("syft_serve_connections_open", "Connections open now (WebSockets included)", (s) => s.open);
  gauge("syft_serve_websockets_open", "WebSocket connections open now", (s) => s.websockets);
  counter(
    "syft_serve_connections_accepted_total",
    "Connections accepted since start",
    (s) => s.accepted,
  );
  counter(
    "syft_serve_connections_refused_total",
    "Connections refused at the connection limit (answered 503 and closed)",
    (s) => s.refused,
  );
  counter(
    "syft_serve_accept_errors_total",
    "Failed accepts (such as too many open files), each retried with backoff",
    (s) => s.acceptErrors,
  );
  new Counter({
    name: "syft_serve_connections_timed_out_total",
    help: "Connections closed by a timeout (headers, body or idle)",
    labelNames: ["listener", "timeout"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [listener, get] of Object.entries(sources)) {
        const stats = get();
        if (stats === undefined) continue;
        for (const timeout of TIMEOUT_KINDS) {
          this.inc({ listener, timeout }, stats.timedOut[timeout]);
        }
      }
    },
  });
}
