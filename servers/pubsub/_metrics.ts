/**
 * Prometheus metrics of one pub/sub server, in a registry of its own (private).
 *
 * @module
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { Broker } from "./_broker.ts";
import { DROP_REASONS, type PubSubStats } from "./_stats.ts";

/** Builds the registry; values are read from `stats` and `broker` when scraped. */
export function createPubSubMetrics(stats: PubSubStats, broker: Broker): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, pick: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick());
      },
    });
  };
  const counter = (name: string, help: string, pick: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick());
      },
    });
  };
  gauge("syft_pubsub_connections", "Open WebSocket connections", () => broker.sessions.size);
  gauge(
    "syft_pubsub_topics",
    "Distinct topics with at least one subscriber on this instance",
    () => broker.topicCount,
  );
  gauge(
    "syft_pubsub_subscriptions",
    "Subscriptions (connection x topic) on this instance",
    () => broker.subscriptionCount,
  );
  counter(
    "syft_pubsub_connections_total",
    "WebSocket connections accepted",
    () => stats.connectionsTotal,
  );
  counter(
    "syft_pubsub_published_total",
    "Publishes received from this instance's clients",
    () => stats.published,
  );
  counter(
    "syft_pubsub_published_remote_total",
    "Publishes received from other instances through Redis",
    () => stats.publishedRemote,
  );
  counter(
    "syft_pubsub_delivered_total",
    "Notifications written to subscriber sockets",
    () => stats.delivered,
  );
  counter(
    "syft_pubsub_slow_disconnects_total",
    "Subscribers disconnected for being over their queue limit",
    () => stats.slowDisconnects,
  );
  counter(
    "syft_pubsub_auth_refused_total",
    "Upgrades refused for a missing or wrong token",
    () => stats.authRefused,
  );
  counter(
    "syft_pubsub_unknown_methods_total",
    "Calls of unknown methods (the connection is closed, as the original does)",
    () => stats.unknownMethods,
  );
  new Counter({
    name: "syft_pubsub_dropped_total",
    help: "Notifications and frames dropped, by reason",
    labelNames: ["reason"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const reason of DROP_REASONS) this.inc({ reason }, stats.dropped[reason]);
    },
  });
  return registry;
}
