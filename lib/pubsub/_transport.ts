/**
 * The one interface every backend (Redis, fastapi_websocket_pubsub, NATS) implements for the
 * hive. A transport moves wire texts (the eventhive envelope) on channels named by full event
 * names; it knows nothing of secrets, metadata or handlers.
 *
 * @module
 */

/** A transport's connection state. */
export type TransportState = "connecting" | "open" | "reconnecting" | "closed";

/** What a transport reports to the hive. */
export interface TransportSink {
  /** A message arrived on `channel` (a full event name). */
  message(channel: string, data: string): void;
  /** The connection state changed. */
  state(state: TransportState, error?: Error): void;
}

/** What a transport subscribes to. */
export interface TransportInput {
  /** `<network>/<input_channel>/`: every channel under it (Redis, NATS). */
  prefix: string;
  /** The input channel alone. */
  inputChannel: string;
  /** Exact channels to subscribe to now (fastapi); more come through `addTopics`. */
  topics: readonly string[];
  /**
   * Receive every channel under the input even without a defined event: fastapi subscribes to
   * its all-topics topic (Redis and NATS already do with the prefix).
   */
  all: boolean;
}

/** A backend connection of one connector. */
export interface Transport {
  /** The backend. */
  readonly kind: "redis" | "fastapi" | "nats";
  /** Where it connects (credentials redacted). */
  readonly where: string;
  /** The connection state. */
  readonly state: TransportState;
  /** Whether this process's own publishes come back through its subscription. */
  readonly echoesOwn: boolean;
  /** Events waiting to be sent. */
  readonly queued: number;
  /**
   * Connects (and subscribes to `input` when given).
   *
   * @throws {PubSubError} `PUBSUB_CONNECT` when the backend cannot be reached at start.
   */
  start(sink: TransportSink, input: TransportInput | undefined): Promise<void>;
  /** Adds exact channels (fastapi); the pattern transports already receive them. */
  addTopics(topics: readonly string[]): Promise<void>;
  /**
   * Publishes one wire text; resolves when the backend took it.
   *
   * @throws {PublishError} When it cannot be published (queue full, timeout, closed).
   */
  publish(channel: string, data: string): Promise<void>;
  /** Disconnects; what is still queued fails with `PUBSUB_CLOSED`. */
  close(): Promise<void>;
}

/** Hides the password of a URL for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    if (u.searchParams.has("token")) u.searchParams.set("token", "***");
    return u.toString();
  } catch {
    return "<invalid URL>";
  }
}
