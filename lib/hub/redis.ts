/**
 * Scale-out through Redis: several hub instances act as one, as with Socket.IO's Redis adapter.
 * Broadcasts and room sends are published on one channel and delivered by every other instance
 * to its own members; `sendTo` finds the instance holding a connection in a Redis hash and
 * publishes to that instance's channel.
 *
 * @module
 */
import { Redis } from "ioredis";
import type { ConnectionRouter, RouterAdapter } from "./router.ts";
import { RedisAdapterError } from "./errors.ts";
import { getLogger } from "../_log.ts";

const log = getLogger(["hub", "redis"]);

/** Options of {@linkcode RedisAdapter.connect}. */
export interface RedisAdapterOptions {
  /** Channel and key prefix shared by the instances that act as one hub (default `"syft:hub"`). */
  prefix?: string;
  /** How long to wait for Redis when connecting (default 5,000 ms). */
  connectTimeoutMs?: number;
}

/** Envelope header of a published frame: origin instance, rooms, excluded ids, or a target id. */
interface Envelope {
  /** The instance that published. */
  n: string;
  /** Rooms (absent: everyone). */
  r?: string[];
  /** Excluded connection ids. */
  x?: string[];
  /** Target connection id (direct sends). */
  t?: string;
}

/**
 * A {@linkcode RouterAdapter} over Redis pub/sub (ioredis). Give it to a `ConnectionRouter` on
 * every hub instance that shares the prefix; `broadcast`, `to(room).send` and `sendTo` then reach
 * connections held by any of them. Delivery across instances is at most once: what is published
 * while Redis is unreachable is lost (as with Socket.IO's adapter).
 *
 * @example Two routers acting as one
 * ```ts ignore
 * import { ConnectionRouter, RedisAdapter } from "@syft/syft/hub";
 * const a = new ConnectionRouter({ adapter: await RedisAdapter.connect("redis://127.0.0.1:6379") });
 * const b = new ConnectionRouter({ adapter: await RedisAdapter.connect("redis://127.0.0.1:6379") });
 * a.broadcast("news", "reaches the connections of b too");
 * await a.close();
 * await b.close();
 * ```
 */
export class RedisAdapter implements RouterAdapter {
  /** This instance's id (unique per adapter). */
  readonly instanceId: string = crypto.randomUUID();
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #allChannel: string;
  readonly #ownChannel: string;
  readonly #registry: string;
  readonly #local = new Set<string>();
  #router: ConnectionRouter | undefined;
  #closed = false;

  private constructor(pub: Redis, sub: Redis, prefix: string) {
    this.#pub = pub;
    this.#sub = sub;
    this.#prefix = prefix;
    this.#allChannel = `${prefix}:all`;
    this.#ownChannel = `${prefix}:node:${this.instanceId}`;
    this.#registry = `${prefix}:conns`;
  }

  /**
   * Connects to Redis (one client to publish, one to subscribe) and subscribes.
   *
   * @param url A `redis://` or `rediss://` URL.
   * @param options Prefix and connect timeout.
   * @returns The adapter; pass it to `new ConnectionRouter({ adapter })`.
   * @throws {RedisAdapterError} When Redis cannot be reached or the subscription fails.
   */
  static async connect(url: string, options: RedisAdapterOptions = {}): Promise<RedisAdapter> {
    const prefix = options.prefix ?? "syft:hub";
    const timeout = options.connectTimeoutMs ?? 5_000;
    const make = (): Redis =>
      new Redis(url, {
        lazyConnect: true,
        connectTimeout: timeout,
        maxRetriesPerRequest: 3,
        enableAutoPipelining: true,
      });
    const pub = make();
    const sub = make();
    // Without a listener ioredis prints unhandled errors; connection problems are logged here
    // and ioredis keeps reconnecting in the background.
    pub.on("error", (err: Error) => log.warn("Redis (publish): {error}", { error: err.message }));
    sub.on("error", (err: Error) => log.warn("Redis (subscribe): {error}", { error: err.message }));
    try {
      await withTimeout(Promise.all([pub.connect(), sub.connect()]), timeout, url);
      const adapter = new RedisAdapter(pub, sub, prefix);
      sub.on("message", (channel: string, message: string) => adapter.#onMessage(channel, message));
      await withTimeout(sub.subscribe(adapter.#allChannel, adapter.#ownChannel), timeout, url);
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
   * Publishes a frame for the other instances.
   *
   * @param frame The frame text.
   * @param rooms The rooms, or `null` for every connection.
   * @param exclude Connection ids to skip.
   */
  publish(frame: string, rooms: readonly string[] | null, exclude: readonly string[]): void {
    if (this.#closed) return;
    const head: Envelope = { n: this.instanceId };
    if (rooms !== null) head.r = [...rooms];
    if (exclude.length > 0) head.x = [...exclude];
    this.#pub.publish(this.#allChannel, JSON.stringify(head) + "\n" + frame).catch((err) =>
      log.warn("Cannot publish to Redis: {error}", { error: String(err) })
    );
  }

  /**
   * Sends a frame to a connection held by another instance.
   *
   * @param id The connection id.
   * @param frame The frame text.
   * @returns Whether an instance holds it and took the frame.
   */
  async sendTo(id: string, frame: string): Promise<boolean> {
    if (this.#closed) return false;
    const node = await this.#pub.hget(this.#registry, id);
    if (node === null || node === this.instanceId) return false;
    const head: Envelope = { n: this.instanceId, t: id };
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
    this.#pub.hset(this.#registry, id, this.instanceId).catch((err) =>
      log.warn("Cannot register connection {id} in Redis: {error}", { id, error: String(err) })
    );
  }

  /**
   * Records that a connection left this instance.
   *
   * @param id The connection id.
   */
  removed(id: string): void {
    if (this.#closed || !this.#local.delete(id)) return;
    this.#pub.hdel(this.#registry, id).catch((err) =>
      log.warn("Cannot unregister connection {id} in Redis: {error}", { id, error: String(err) })
    );
  }

  /** Removes this instance's connections from the registry, unsubscribes and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#local.size > 0) await this.#pub.hdel(this.#registry, ...this.#local);
      this.#local.clear();
      await this.#sub.unsubscribe();
      await Promise.all([this.#sub.quit(), this.#pub.quit()]);
    } catch (err) {
      log.warn("Closing the Redis adapter: {error}", { error: String(err) });
      this.#sub.disconnect();
      this.#pub.disconnect();
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
    const frame = message.slice(nl + 1);
    if (channel === this.#ownChannel) {
      if (head.t !== undefined) router.get(head.t)?.sendFrame(frame);
      return;
    }
    router.deliver(frame, head.r ?? null, head.x ?? []);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, url: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer from ${redactUrl(url)} within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
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
