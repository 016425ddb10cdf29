/**
 * The Redis request store: several proxies behind a load balancer share statuses. Each write is
 * one Lua script call (atomic, one round trip), and ioredis auto-pipelining sends the calls of
 * concurrent requests together. Finishes are published so that a long-poll on any proxy wakes.
 *
 * @module
 */
import { Redis } from "ioredis";
import { StoreError } from "./errors.ts";
import { DEFAULT_STORE_TTL_MS, type RequestStore, type StoreOptions } from "./store.ts";
import { isFinished, redactRedisUrl, retentionMs, Waiters } from "./_store_util.ts";
import type { RequestRecord } from "./types.ts";

/** Options for {@linkcode RedisRequestStore}. */
export interface RedisRequestStoreOptions extends StoreOptions {
  /** Key prefix (default `"syft-proxy:"`); also names the pub/sub channel. */
  prefix?: string;
  /** Milliseconds to wait for the first connection (default 5000). */
  connectTimeoutMs?: number;
}

// KEYS: req key, pending set. ARGV: status, json, ttl ms, id.
const CREATE_SCRIPT = `
redis.call('HSET', KEYS[1], 's', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`;

// KEYS: req key, pending set. ARGV: status, json, ttl ms, id, channel.
// Returns {1} when stored, {0, json} when already finished, {} when unknown.
const FINISH_SCRIPT = `
local s = redis.call('HGET', KEYS[1], 's')
if not s then
  redis.call('SREM', KEYS[2], ARGV[4])
  return {}
end
if s ~= 'pending' and s ~= 'processing' then
  return {0, redis.call('HGET', KEYS[1], 'd')}
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SREM', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[4])
return {1}`;

type ScriptClient = Redis & {
  syftProxyCreate(k1: string, k2: string, s: string, d: string, ttl: number, id: string): Promise<
    number
  >;
  syftProxyFinish(
    k1: string,
    k2: string,
    s: string,
    d: string,
    ttl: number,
    id: string,
    channel: string,
  ): Promise<[number, string?] | []>;
};

/**
 * A request store in Redis, shared by every proxy that uses the same URL and prefix: send on one,
 * read the status (or long-poll it) on another. Finished entries expire after the TTL.
 *
 * @example
 * ```ts ignore
 * import { RedisRequestStore } from "@syft/syft/proxy";
 * const store = await RedisRequestStore.connect("redis://127.0.0.1:6379", { prefix: "demo:" });
 * console.log(await store.get("unknown")); // null
 * await store.close();
 * ```
 */
export class RedisRequestStore implements RequestStore {
  /** The URL without its password. */
  readonly description: string;
  #redis: ScriptClient;
  #sub: Redis | null = null;
  #subscribing: Promise<void> | null = null;
  #prefix: string;
  #channel: string;
  #ttlMs: number;
  #waiters = new Waiters();
  #closed = false;

  private constructor(redis: Redis, url: string, options: RedisRequestStoreOptions) {
    this.#redis = redis as ScriptClient;
    this.#prefix = options.prefix ?? "syft-proxy:";
    this.#channel = `${this.#prefix}finished`;
    this.#ttlMs = options.ttlMs ?? DEFAULT_STORE_TTL_MS;
    this.description = redactRedisUrl(url);
    this.#redis.defineCommand("syftProxyCreate", { numberOfKeys: 2, lua: CREATE_SCRIPT });
    this.#redis.defineCommand("syftProxyFinish", { numberOfKeys: 2, lua: FINISH_SCRIPT });
  }

  /**
   * Connects to Redis.
   *
   * @param url A `redis://` or `rediss://` URL.
   * @param options Prefix, TTL and connect timeout.
   * @returns The connected store.
   * @throws {StoreError} When Redis cannot be reached.
   *
   * @example
   * ```ts ignore
   * import { RedisRequestStore } from "@syft/syft/proxy";
   * const store = await RedisRequestStore.connect("redis://127.0.0.1:6379");
   * await store.close();
   * ```
   */
  static async connect(
    url: string,
    options: RedisRequestStoreOptions = {},
  ): Promise<RedisRequestStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 2,
      connectTimeout: options.connectTimeoutMs ?? 5_000,
    });
    // Without a listener ioredis prints connection errors itself; we report them as StoreError.
    redis.on("error", () => {});
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw new StoreError(
        `Cannot connect to the Redis request store at ${redactRedisUrl(url)}: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
    return new RedisRequestStore(redis, url, options);
  }

  #reqKey(id: string): string {
    return `${this.#prefix}req:${id}`;
  }

  #pendingKey(owner: string): string {
    return `${this.#prefix}pending:${owner}`;
  }

  #wrap(what: string, err: unknown): StoreError {
    return new StoreError(
      `Cannot ${what} in the Redis request store: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }

  /** Stores a new pending request (one script call, pipelined with concurrent ones). */
  async create(record: RequestRecord): Promise<void> {
    try {
      await this.#redis.syftProxyCreate(
        this.#reqKey(record.id),
        this.#pendingKey(record.owner),
        record.status,
        JSON.stringify(record),
        Math.ceil(retentionMs(record, this.#ttlMs)),
        record.id,
      );
    } catch (err) {
      throw this.#wrap("store a request", err);
    }
  }

  /** Stores the finished record if the stored one is still pending; publishes the finish. */
  async finish(record: RequestRecord): Promise<RequestRecord | null> {
    let res: [number, string?] | [];
    try {
      res = await this.#redis.syftProxyFinish(
        this.#reqKey(record.id),
        this.#pendingKey(record.owner),
        record.status,
        JSON.stringify(record),
        this.#ttlMs,
        record.id,
        this.#channel,
      );
    } catch (err) {
      throw this.#wrap("finish a request", err);
    }
    if (res.length === 0) return null;
    if (res[0] === 1) {
      this.#waiters.notify(record.id);
      return record;
    }
    return JSON.parse(res[1]!) as RequestRecord;
  }

  /** Looks a request up. */
  async get(id: string): Promise<RequestRecord | null> {
    let json: string | null;
    try {
      json = await this.#redis.hget(this.#reqKey(id), "d");
    } catch (err) {
      throw this.#wrap("read a request", err);
    }
    return json === null ? null : JSON.parse(json) as RequestRecord;
  }

  /** Lists the pending requests of `owner` (and drops ids whose entry expired). */
  async listPending(owner: string): Promise<RequestRecord[]> {
    const key = this.#pendingKey(owner);
    const out: RequestRecord[] = [];
    try {
      let cursor = "0";
      do {
        const [next, ids] = await this.#redis.sscan(key, cursor, "COUNT", 500);
        cursor = next;
        const records = await Promise.all(ids.map((id) => this.get(id)));
        const stale: string[] = [];
        records.forEach((r, i) => {
          if (r && !isFinished(r)) out.push(r);
          else stale.push(ids[i]!);
        });
        if (stale.length > 0) await this.#redis.srem(key, ...stale);
      } while (cursor !== "0");
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.#wrap("list pending requests", err);
    }
    return out;
  }

  async #subscribe(): Promise<void> {
    if (this.#sub) return;
    this.#subscribing ??= (async () => {
      const sub = this.#redis.duplicate({ enableAutoPipelining: false });
      sub.on("error", () => {});
      sub.on("message", (_channel: string, id: string) => this.#waiters.notify(id));
      await sub.subscribe(this.#channel);
      this.#sub = sub;
    })().catch((err) => {
      this.#subscribing = null;
      throw this.#wrap("subscribe to finishes", err);
    });
    await this.#subscribing;
  }

  /** Waits until the request finishes on any proxy sharing this Redis, or the wait ends. */
  async waitForFinish(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<RequestRecord | null> {
    if (timeoutMs > 0) await this.#subscribe();
    return await this.#waiters.wait(id, timeoutMs, signal, () => this.get(id));
  }

  /** Closes both connections and wakes waiters. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.notifyAll();
    await this.#subscribing?.catch(() => {});
    await Promise.all([
      this.#redis.quit().catch(() => this.#redis.disconnect()),
      this.#sub?.quit().catch(() => this.#sub?.disconnect()),
    ]);
  }
}
