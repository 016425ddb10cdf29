/**
 * The implementation of {@linkcode RedisAdapter} (internal): two ioredis connections, the
 * registry of connection ids, sequence numbers and ages of frames, and the state across outages.
 *
 * @module
 */
import { Redis } from "ioredis";
import type { ConnectionRouter } from "./router.ts";
import type { RedisAdapter } from "./redis.ts";
import { RedisAdapterError } from "./errors.ts";
import type { ScaleOutDropReason, ScaleOutState, ScaleOutStats } from "./scaleout.ts";
import type { Clock } from "../_clock.ts";
import { deadline } from "../_async.ts";
import { getLogger } from "../_log.ts";
import { LRUCache } from "lru-cache";

const log = getLogger(["hub", "redis"]);

/** What {@linkcode RedisAdapterImpl.connect} needs, defaults applied. */
export interface RedisAdapterSettings {
  /** Channel and key prefix. */
  prefix: string;
  /** Connect timeout, ms. */
  timeout: number;
  /** The largest age of a delivered frame, ms (> 0). */
  maxAge: number;
  /** Stamps and ages frames. */
  clock: Clock;
}

/** Envelope header of a published frame: origin instance, send time, rooms, excluded ids, target. */
interface Envelope {
  /** The instance that published. */
  n: string;
  /** When it was published (ms since the epoch, on the publisher's clock). */
  s?: number;
  /** The publisher's sequence number of frames on the shared channel (1, 2, ...). */
  q?: number;
  /** Rooms (absent: everyone). */
  r?: string[];
  /** Excluded connection ids. */
  x?: string[];
  /** Target connection id (direct sends). */
  t?: string;
}

interface Link {
  pub: boolean;
  sub: boolean;
}

/** A Redis adapter (see {@linkcode RedisAdapter}); made by `connectRedisAdapter()`. */
export class RedisAdapterImpl implements RedisAdapter {
  /** This instance's id (unique per adapter). */
  readonly instanceId: string = crypto.randomUUID();
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #allChannel: string;
  readonly #ownChannel: string;
  readonly #registry: string;
  readonly #maxAge: number;
  readonly #clock: Clock;
  readonly #local = new Set<string>();
  readonly #listeners = new Set<(state: ScaleOutState) => void>();
  readonly #link: Link = { pub: true, sub: true };
  readonly #dropped: Record<ScaleOutDropReason, number> = {
    redis_down: 0,
    missed: 0,
    stale: 0,
  };
  /** The last sequence number seen from each publishing instance (the live ones stay). */
  readonly #lastSeq = new LRUCache<string, number>({ max: 4096 });
  #seq = 0;
  #unconfirmed = 0;
  #state: ScaleOutState = "ok";
  #since: number;
  #published = 0;
  #received = 0;
  #inflight = 0;
  /** Bumped when the publish connection breaks: replies of older publishes are not counted. */
  #epoch = 0;
  #router: ConnectionRouter | undefined;
  #closed = false;

  private constructor(pub: Redis, sub: Redis, prefix: string, maxAge: number, clock: Clock) {
    this.#pub = pub;
    this.#sub = sub;
    this.#prefix = prefix;
    this.#allChannel = `${prefix}:all`;
    this.#ownChannel = `${prefix}:node:${this.instanceId}`;
    this.#registry = `${prefix}:conns`;
    this.#maxAge = maxAge;
    this.#clock = clock;
    this.#since = clock.now();
  }

  /**
   * Connects both Redis clients and subscribes.
   *
   * @throws {RedisAdapterError} When Redis cannot be reached or the subscription fails.
   */
  static async connect(url: string, settings: RedisAdapterSettings): Promise<RedisAdapter> {
    const { prefix, timeout, maxAge, clock } = settings;
    const make = (): Redis =>
      new Redis(url, {
        lazyConnect: true,
        connectTimeout: timeout,
        maxRetriesPerRequest: 3,
        enableAutoPipelining: true,
        // Drop at once: no command waits for Redis to come back, none is sent again after it.
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        // The adapter resubscribes itself, so that it knows when it receives again.
        autoResubscribe: false,
      });
    const pub = make();
    const sub = make();
    // Without a listener ioredis prints unhandled errors. They repeat on every reconnect
    // attempt: the adapter logs one line per change of state instead (see #update).
    const lastError = { text: "" };
    const onError = (err: Error): void => {
      lastError.text = err.message;
      log.debug("Redis: {error}", { error: err.message });
    };
    pub.on("error", onError);
    sub.on("error", onError);
    try {
      const wait = <T>(p: Promise<T>): Promise<T> =>
        deadline(p, timeout, {
          onTimeout: () => new Error(`no answer from ${redactUrl(url)} within ${timeout} ms`),
        });
      await wait(Promise.all([pub.connect(), sub.connect()]));
      const adapter = new RedisAdapterImpl(pub, sub, prefix, maxAge, clock);
      sub.on("message", (channel: string, message: string) => adapter.#onMessage(channel, message));
      await wait(sub.subscribe(adapter.#allChannel, adapter.#ownChannel));
      adapter.#watch(lastError);
      return adapter;
    } catch (err) {
      pub.disconnect();
      sub.disconnect();
      throw new RedisAdapterError(
        `Cannot use Redis at ${redactUrl(url)}: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
  }

  /** The channel and key prefix. */
  get prefix(): string {
    return this.#prefix;
  }

  /** `ok` while both Redis connections are up and subscribed, else `degraded`. */
  get state(): ScaleOutState {
    return this.#state;
  }

  /** Cross-instance counters and the current state. */
  get stats(): ScaleOutStats {
    return {
      state: this.#state,
      since: this.#since,
      published: this.#published,
      received: this.#received,
      dropped: { ...this.#dropped },
      unconfirmed: this.#unconfirmed,
      buffered: this.#inflight,
    };
  }

  /**
   * Calls `listener` on each change of state (the router uses it to tell its connections).
   *
   * @param listener Called with the new state.
   * @returns A function that removes the listener.
   */
  onStateChange(listener: (state: ScaleOutState) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Called by the router that uses this adapter.
   *
   * @param router The router to deliver to.
   * @throws {RedisAdapterError} When the adapter is already bound to another router.
   */
  bind(router: ConnectionRouter): void {
    if (this.#router !== undefined && this.#router !== router) {
      throw new RedisAdapterError("Cannot bind the Redis adapter: it already serves a router");
    }
    this.#router = router;
  }

  /**
   * Publishes a frame for the other instances; while degraded it is dropped at once (counted).
   *
   * @param frame The frame text.
   * @param rooms The rooms, or `null` for every connection.
   * @param exclude Connection ids to skip.
   */
  publish(frame: string, rooms: readonly string[] | null, exclude: readonly string[]): void {
    if (this.#closed) return;
    if (this.#state !== "ok") {
      this.#dropped.redis_down++;
      return;
    }
    const head: Envelope = { n: this.instanceId, s: this.#clock.now(), q: ++this.#seq };
    if (rooms !== null) head.r = [...rooms];
    if (exclude.length > 0) head.x = [...exclude];
    const epoch = this.#epoch;
    this.#inflight++;
    this.#pub.publish(this.#allChannel, JSON.stringify(head) + "\n" + frame).then(
      () => {
        if (epoch !== this.#epoch) return;
        this.#inflight--;
        this.#published++;
      },
      (err) => {
        if (epoch !== this.#epoch) return;
        this.#inflight--;
        this.#unconfirmed++;
        log.debug("Cannot publish to Redis: {error}", { error: String(err) });
      },
    );
  }

  /**
   * Sends a frame to a connection held by another instance.
   *
   * @param id The connection id.
   * @param frame The frame text.
   * @returns Whether an instance holds it and took the frame (`false` at once while degraded).
   */
  async sendTo(id: string, frame: string): Promise<boolean> {
    if (this.#closed || this.#state !== "ok") return false;
    const node = await this.#pub.hget(this.#registry, id);
    if (node === null || node === this.instanceId) return false;
    const head: Envelope = { n: this.instanceId, s: this.#clock.now(), t: id };
    const receivers = await this.#pub.publish(
      `${this.#prefix}:node:${node}`,
      JSON.stringify(head) + "\n" + frame,
    );
    if (receivers === 0) {
      // The instance is gone without cleaning up (a crash): drop its stale entry.
      const stillThere = await this.#pub.hget(this.#registry, id);
      if (stillThere === node) await this.#pub.hdel(this.#registry, id);
      return false;
    }
    return true;
  }

  /**
   * Records that this instance holds a connection.
   *
   * @param id The connection id.
   */
  added(id: string): void {
    if (this.#closed) return;
    this.#local.add(id);
    // While degraded the entry is written when Redis is back (see #watch).
    if (!this.#link.pub) return;
    this.#pub.hset(this.#registry, id, this.instanceId).catch((err) =>
      log.debug("Cannot register connection {id} in Redis: {error}", { id, error: String(err) })
    );
  }

  /**
   * Records that a connection left this instance.
   *
   * @param id The connection id.
   */
  removed(id: string): void {
    if (this.#closed || !this.#local.delete(id) || !this.#link.pub) return;
    this.#pub.hdel(this.#registry, id).catch((err) =>
      log.debug("Cannot unregister connection {id} in Redis: {error}", { id, error: String(err) })
    );
  }

  /** Removes this instance's connections from the registry, unsubscribes and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    try {
      if (this.#state !== "ok") throw new Error("Redis is unreachable");
      if (this.#local.size > 0) await this.#pub.hdel(this.#registry, ...this.#local);
      this.#local.clear();
      await this.#sub.unsubscribe();
      await Promise.all([this.#sub.quit(), this.#pub.quit()]);
    } catch (err) {
      log.debug("Closing the Redis adapter: {error}", { error: String(err) });
      this.#sub.disconnect();
      this.#pub.disconnect();
    }
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Follows both connections: state, lost in-flight publishes, resubscribing, re-registering. */
  #watch(lastError: { text: string }): void {
    const down = (which: keyof Link) => (): void => {
      if (this.#closed || !this.#link[which]) return;
      this.#link[which] = false;
      if (which === "pub") {
        // Sent but unanswered: perhaps delivered, perhaps not (receivers count it `missed`);
        // never sent again.
        this.#epoch++;
        this.#unconfirmed += this.#inflight;
        this.#inflight = 0;
      }
      this.#update(lastError.text);
    };
    this.#pub.on("close", down("pub"));
    this.#sub.on("close", down("sub"));
    this.#pub.on("ready", () => {
      if (this.#closed || this.#link.pub) return;
      this.#link.pub = true;
      // A restarted Redis lost the registry: write this instance's connections again.
      if (this.#local.size > 0) {
        const entries = [...this.#local].flatMap((id) => [id, this.instanceId]);
        this.#pub.hset(this.#registry, ...entries).catch((err) =>
          log.debug("Cannot register connections in Redis: {error}", { error: String(err) })
        );
      }
      this.#update("");
    });
    this.#sub.on("ready", () => {
      if (this.#closed || this.#link.sub) return;
      this.#sub.subscribe(this.#allChannel, this.#ownChannel).then(
        () => {
          if (this.#closed || this.#link.sub) return;
          this.#link.sub = true;
          this.#update("");
        },
        // The connection broke again: the next "ready" retries.
        (err) => log.debug("Cannot resubscribe: {error}", { error: String(err) }),
      );
    });
  }

  #update(error: string): void {
    const state: ScaleOutState = this.#link.pub && this.#link.sub ? "ok" : "degraded";
    if (state === this.#state) return;
    const now = this.#clock.now();
    const seconds = ((now - this.#since) / 1000).toFixed(1);
    this.#state = state;
    this.#since = now;
    if (state === "degraded") {
      log.warn(
        "Redis unreachable ({error}): cross-hub delivery degraded; publishes are dropped and counted until it is back",
        { error: error || "connection closed", prefix: this.#prefix },
      );
    } else {
      log.warn(
        "Redis reachable again after {seconds} s: cross-hub delivery resumed ({redisDown} publishes dropped while down so far)",
        { seconds, redisDown: this.#dropped.redis_down, prefix: this.#prefix },
      );
    }
    for (const listener of this.#listeners) {
      try {
        listener(state);
      } catch (err) {
        log.error("A scale-out state listener threw: {error}", { error: String(err) });
      }
    }
  }

  #onMessage(channel: string, message: string): void {
    const router = this.#router;
    if (router === undefined) return;
    const nl = message.indexOf("\n");
    if (nl < 0) return;
    let head: Envelope;
    try {
      head = JSON.parse(message.slice(0, nl));
    } catch {
      log.warn("Ignoring a malformed message on {channel}", { channel });
      return;
    }
    if (head.n === this.instanceId) return;
    if (head.q !== undefined) {
      const last = this.#lastSeq.get(head.n);
      if (last !== undefined && head.q > last + 1) this.#dropped.missed += head.q - last - 1;
      if (last === undefined || head.q > last) this.#lastSeq.set(head.n, head.q);
    }
    if (head.s !== undefined && this.#clock.now() - head.s > this.#maxAge) {
      this.#dropped.stale++;
      return;
    }
    this.#received++;
    const frame = message.slice(nl + 1);
    if (channel === this.#ownChannel) {
      if (head.t !== undefined) router.get(head.t)?.sendFrame(frame);
      return;
    }
    router.deliver(frame, head.r ?? null, head.x ?? []);
  }
}

/** Hides the password of a Redis URL for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<invalid URL>";
  }
}
