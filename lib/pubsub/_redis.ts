/**
 * The Redis backend, as eventhive uses it: `PUBLISH <full event name> <wire text>` and
 * `PSUBSCRIBE <network>/<input_channel>/*` (glob characters in the names escaped). One
 * persistent publisher connection drains the ordered, bounded outbox in pipelined batches; a
 * second connection subscribes and re-subscribes by itself after Redis restarts.
 *
 * @module
 */
import { Redis } from "ioredis";
import { deadline } from "../_async.ts";
import { getLogger } from "../_log.ts";
import { PubSubError } from "./errors.ts";
import type { RedisConnectorOptions } from "./config.ts";
import type { PubSubClock } from "./_clock.ts";
import { Outbox, type SendResult } from "./_outbox.ts";
import { redisUrlOf } from "./_where.ts";
import {
  redactUrl,
  type Transport,
  type TransportInput,
  type TransportSink,
  type TransportState,
} from "./_transport.ts";

const log = getLogger(["pubsub", "redis"]);
/** How long a pipelined batch may wait for its replies before the connection is dropped. */
const BATCH_TIMEOUT_MS = 10_000;

// The results of a pipelined PUBLISH, shared (one object per event would be garbage): only
// "no receiver" matters to the outbox.
const HEARD: SendResult = Object.freeze({ ok: true });
const UNHEARD: SendResult = Object.freeze({ ok: true, receivers: 0 });

/** Escapes Redis glob characters so a name matches only itself. */
export function escapeRedisGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, "\\$&");
}

/** @internal */
export class RedisTransport implements Transport {
  readonly kind = "redis" as const;
  readonly echoesOwn = true;
  readonly where: string;
  readonly #url: string;
  readonly #network: string;
  readonly #connectTimeoutMs: number;
  readonly #outbox: Outbox;
  #pub: Redis | undefined;
  #sub: Redis | undefined;
  #sink: TransportSink | undefined;
  #state: TransportState = "connecting";
  #pubReady = false;
  #subReady = true;
  #closed = false;

  constructor(
    network: string,
    options: RedisConnectorOptions,
    clock: PubSubClock,
  ) {
    this.#url = redisUrlOf(options);
    this.where = redactUrl(this.#url);
    this.#network = network;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#outbox = new Outbox({
      network,
      where: `Redis at ${this.where}`,
      maxQueue: options.maxQueue ?? 10_000,
      timeoutMs: options.publishTimeoutMs ?? 10_000,
      retryUnheard: true,
      clock,
      isOpen: () => this.#pubReady && !this.#closed,
      send: (batch) => this.#send(batch),
    });
  }

  get state(): TransportState {
    return this.#state;
  }

  get queued(): number {
    return this.#outbox.size;
  }

  #client(role: string): Redis {
    const options = {
      lazyConnect: true,
      connectTimeout: this.#connectTimeoutMs,
      // The outbox holds events while Redis is down; ioredis must not keep its own queue.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
      connectionName: `syft-pubsub-${role}`,
    };
    const client = new Redis(this.#url, options);
    client.on("error", (err: Error) => {
      if (!this.#closed) {
        log.debug("Redis ({role}) at {where}: {error}", {
          role,
          where: this.where,
          error: err.message,
        });
      }
    });
    return client;
  }

  #update(error?: Error): void {
    if (this.#closed) return;
    const next: TransportState = this.#pubReady && this.#subReady
      ? "open"
      : this.#state === "connecting"
      ? "connecting"
      : "reconnecting";
    if (next === this.#state) return;
    this.#state = next;
    if (next === "open") log.debug("Redis at {where} is connected", { where: this.where });
    else log.warn("Redis at {where} is unreachable; reconnecting", { where: this.where });
    this.#sink?.state(next, error);
  }

  async start(sink: TransportSink, input: TransportInput | undefined): Promise<void> {
    this.#sink = sink;
    const pub = this.#client("pub");
    this.#pub = pub;
    pub.on("ready", () => {
      this.#pubReady = true;
      this.#update();
      this.#outbox.wake();
    });
    pub.on("close", () => {
      if (this.#pubReady) this.#outbox.lost();
      this.#pubReady = false;
      this.#update();
    });
    const connects: Promise<unknown>[] = [pub.connect()];
    if (input !== undefined) {
      this.#subReady = false;
      const sub = this.#client("sub");
      this.#sub = sub;
      // ioredis re-sends PSUBSCRIBE itself after a reconnect (autoResubscribe); "ready" follows it.
      sub.on("ready", () => {
        this.#subReady = true;
        this.#update();
      });
      sub.on("close", () => {
        this.#subReady = false;
        this.#update();
      });
      sub.on("pmessage", (_pattern: string, channel: string, message: string) => {
        sink.message(channel, message);
      });
      // `all` needs nothing more: the pattern already covers every channel under the input.
      const pattern = `${escapeRedisGlob(input.prefix)}*`;
      connects.push(sub.connect().then(() => sub.psubscribe(pattern)));
    }
    try {
      await deadline(Promise.all(connects), this.#connectTimeoutMs, {
        onTimeout: () => new Error(`no answer within ${this.#connectTimeoutMs} ms`),
      });
    } catch (err) {
      await this.close();
      throw new PubSubError(
        `Cannot connect connector ${this.#network} to Redis at ${this.where}: ${
          err instanceof Error ? err.message : String(err)
        } (is redis-server running? check init.host/init.port)`,
        { code: "PUBSUB_CONNECT", cause: err },
      );
    }
    this.#pubReady = pub.status === "ready";
    this.#update();
  }

  addTopics(): Promise<void> {
    return Promise.resolve();
  }

  publish(channel: string, data: string): Promise<void> {
    return this.#outbox.push(channel, data);
  }

  async #send(batch: readonly { channel: string; data: string }[]): Promise<SendResult[]> {
    const pub = this.#pub!;
    const pipeline = pub.pipeline();
    for (const item of batch) pipeline.publish(item.channel, item.data);
    // One timer per batch (ioredis' commandTimeout arms one per command): a connection that
    // stops answering without closing is dropped, and the batch goes out again on the next one.
    const replies = await deadline(pipeline.exec(), BATCH_TIMEOUT_MS, {
      onTimeout: () => {
        pub.disconnect(true);
        return new Error(`Redis at ${this.where} did not answer within ${BATCH_TIMEOUT_MS} ms`);
      },
    });
    if (replies === null) throw new Error("the pipeline was discarded");
    return replies.map(([err, n]): SendResult =>
      err ? { ok: false, error: err, retry: true } : n === 0 ? UNHEARD : HEARD
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let what is already queued go out first while Redis is up.
    if (this.#pubReady && this.#outbox.size > 0) {
      await deadline(this.#outbox.drained(), 2_000).catch(() => {}); // then close anyway
    }
    this.#closed = true;
    this.#outbox.close();
    this.#state = "closed";
    const quit = async (c: Redis | undefined): Promise<void> => {
      if (c === undefined) return;
      try {
        if (c.status === "ready") await c.quit();
        else c.disconnect();
      } catch {
        c.disconnect();
      }
    };
    await Promise.all([quit(this.#pub), quit(this.#sub)]);
    this.#sink?.state("closed");
  }
}
