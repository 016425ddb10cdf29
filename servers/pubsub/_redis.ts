/**
 * Redis fan-out of the pub/sub server (private): instances sharing a Redis and a prefix act as
 * one server. A publish received by one instance is delivered to its own subscribers and
 * `PUBLISH`ed on `<prefix>:events`; every other instance delivers it to its subscribers.
 * Delivery across instances is at most once: what is published while Redis is unreachable is
 * lost (counted as dropped, reason `redis`). A sync publish is answered once the local
 * subscribers answered and Redis took the message (remote subscribers are not awaited).
 *
 * Message: `<instance id>\n<{"t": topics, "n": notifier id}>\n<data JSON>`.
 *
 * @module
 */
import { Redis } from "ioredis";
import { getLogger } from "../../lib/_log.ts";
import { PubSubServerError } from "../../lib/pubsub/fastapi_errors.ts";
import type { Broker, Forwarder } from "./_broker.ts";
import type { PubSubStats } from "./_stats.ts";

const log = getLogger(["pubsub", "server", "redis"]);

/** Hides the password of a Redis URL. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<invalid URL>";
  }
}

/** The Redis bridge of one server instance. */
export class RedisBridge implements Forwarder {
  readonly instanceId: string = crypto.randomUUID();
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #broker: Broker;
  readonly #stats: PubSubStats;
  #closed = false;

  private constructor(pub: Redis, sub: Redis, channel: string, broker: Broker, stats: PubSubStats) {
    this.#pub = pub;
    this.#sub = sub;
    this.#channel = channel;
    this.#broker = broker;
    this.#stats = stats;
  }

  /**
   * Connects (one client publishes, one subscribes) and subscribes.
   *
   * @throws {PubSubServerError} `PUBSUB_REDIS` when Redis cannot be reached within 5 s.
   */
  static async connect(
    url: string,
    prefix: string,
    broker: Broker,
    stats: PubSubStats,
  ): Promise<RedisBridge> {
    const make = (): Redis =>
      new Redis(url, {
        lazyConnect: true,
        connectTimeout: 5_000,
        maxRetriesPerRequest: 2,
        enableAutoPipelining: true,
      });
    const pub = make();
    const sub = make();
    pub.on("error", (err: Error) => log.warn("Redis (publish): {error}", { error: err.message }));
    sub.on("error", (err: Error) => log.warn("Redis (subscribe): {error}", { error: err.message }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const bridge = new RedisBridge(pub, sub, `${prefix}:events`, broker, stats);
      await Promise.race([
        (async () => {
          await Promise.all([pub.connect(), sub.connect()]);
          sub.on("message", (_channel: string, message: string) => bridge.#onMessage(message));
          await sub.subscribe(bridge.#channel);
        })(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no answer within 5000 ms")), 5_000);
        }),
      ]);
      return bridge;
    } catch (err) {
      pub.disconnect();
      sub.disconnect();
      throw new PubSubServerError(
        "PUBSUB_REDIS",
        `Cannot use Redis at ${redactRedisUrl(url)} for fan-out: ${
          err instanceof Error ? err.message : String(err)
        } (start Redis or leave out --redis)`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether both connections are up. */
  get healthy(): boolean {
    return this.#pub.status === "ready" && this.#sub.status === "ready";
  }

  forward(topics: readonly string[], dataJson: string, notifierId: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const message = `${this.instanceId}\n${
      JSON.stringify({ t: topics, n: notifierId })
    }\n${dataJson}`;
    return this.#pub.publish(this.#channel, message).then(
      () => {},
      (err: unknown) => {
        this.#stats.drop("redis");
        log.warn("Cannot forward a publish to Redis: {error}", {
          error: err instanceof Error ? err.message : String(err),
        });
      },
    );
  }

  #onMessage(message: string): void {
    const first = message.indexOf("\n");
    const second = first < 0 ? -1 : message.indexOf("\n", first + 1);
    if (second < 0) return;
    if (message.slice(0, first) === this.instanceId) return;
    let head: { t?: unknown; n?: unknown };
    try {
      head = JSON.parse(message.slice(first + 1, second));
    } catch {
      return;
    }
    const topics = head.t;
    if (
      !Array.isArray(topics) || topics.some((t) => typeof t !== "string") ||
      typeof head.n !== "string"
    ) return;
    this.#stats.publishedRemote++;
    this.#broker.deliver(topics as string[], message.slice(second + 1), head.n, false);
  }

  /** Unsubscribes and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#sub.unsubscribe();
      await Promise.all([this.#sub.quit(), this.#pub.quit()]);
    } catch {
      this.#sub.disconnect();
      this.#pub.disconnect();
    }
  }
}
