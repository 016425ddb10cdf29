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
import { deadline } from "../../lib/_async.ts";
import { getLogger } from "../../lib/_log.ts";
import { PubSubServerError } from "../../lib/pubsub/fastapi_errors.ts";
import type { Broker, Forwarder } from "./_broker.ts";
import type { PubSubStats } from "./_stats.ts";

const log = getLogger(["pubsub", "server", "redis"]);

/** After Redis came back, publishes that reached no instance are sent again for this long. */
const RECOVERY_MS = 5_000;
/** How often such a publish is sent again. */
const RETRY_MS = 50;

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
  /** Whether this instance's own subscription is in place (it counts in PUBLISH replies). */
  #selfSubscribed = false;
  /** Until then (after Redis came back), a publish no other instance got is sent again. */
  #recoverUntil = 0;

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
        // Re-subscribed by the bridge itself, so that it knows when its own subscription is back.
        autoResubscribe: false,
      });
    const pub = make();
    const sub = make();
    pub.on("error", (err: Error) => log.warn("Redis (publish): {error}", { error: err.message }));
    sub.on("error", (err: Error) => log.warn("Redis (subscribe): {error}", { error: err.message }));
    try {
      const bridge = new RedisBridge(pub, sub, `${prefix}:events`, broker, stats);
      await deadline(
        (async () => {
          await Promise.all([pub.connect(), sub.connect()]);
          sub.on("message", (_channel: string, message: string) => bridge.#onMessage(message));
          await sub.subscribe(bridge.#channel);
          bridge.#selfSubscribed = true;
          bridge.#watch();
        })(),
        5_000,
        { onTimeout: () => new Error("no answer within 5000 ms") },
      );
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
    }
  }

  /** Whether both connections are up. */
  get healthy(): boolean {
    return this.#pub.status === "ready" && this.#sub.status === "ready";
  }

  /** Tracks reconnects: the own subscription, and a recovery window once Redis is back. */
  #watch(): void {
    let lost = false;
    const down = (): void => {
      lost = true;
      this.#selfSubscribed = false;
    };
    this.#sub.on("close", down);
    this.#pub.on("close", () => lost = true);
    const back = (): void => {
      if (this.#closed || !lost) return;
      lost = false;
      this.#recoverUntil = Date.now() + RECOVERY_MS;
    };
    this.#pub.on("ready", back);
    this.#sub.on("ready", () => {
      back();
      this.#sub.subscribe(this.#channel).then(() => this.#selfSubscribed = true, () => {});
    });
  }

  forward(topics: readonly string[], dataJson: string, notifierId: string): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    const message = `${this.instanceId}\n${
      JSON.stringify({ t: topics, n: notifierId })
    }\n${dataJson}`;
    const attempt = (): Promise<number> =>
      this.#pub.publish(this.#channel, message).then(
        (n) => {
          const others = Math.max(0, n - (this.#selfSubscribed ? 1 : 0));
          // Just after Redis came back the other instances may not have re-subscribed yet: a
          // publish that reached nobody then goes again (nobody got it, so nobody gets it twice).
          if (others === 0 && Date.now() < this.#recoverUntil && !this.#closed) {
            return new Promise<void>((r) => setTimeout(r, RETRY_MS)).then(attempt);
          }
          return others;
        },
        (err: unknown) => {
          this.#stats.drop("redis");
          log.warn("Cannot forward a publish to Redis: {error}", {
            error: err instanceof Error ? err.message : String(err),
          });
          return -1;
        },
      );
    return attempt();
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
