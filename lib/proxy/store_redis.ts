/**
 * The Redis request store: several proxies behind a load balancer share statuses. Writes are group
 * committed: the creates (and the finishes) made in one turn of the event loop go out together as
 * one Lua script call (atomic, one round trip) carrying all of them. Finishes are published so
 * that a long-poll on any proxy wakes.
 *
 * @module
 */
import { Redis } from "ioredis";
import { setImmediate } from "node:timers";
import { StoreError } from "./errors.ts";
import { type Clock, systemClock } from "../_clock.ts";
import {
  DEFAULT_STORE_TTL_MS,
  type RateLimitBackend,
  type RequestLeases,
  type RequestStore,
  type StoreOptions,
} from "./store.ts";
import { isFinished, redactRedisUrl, retentionMs, Waiters } from "./_store_util.ts";
import type { RequestRecord } from "./types.ts";

/** Options for {@linkcode RedisRequestStore}. */
export interface RedisRequestStoreOptions extends StoreOptions {
  /** Key prefix (default `"syft-proxy:"`); also names the pub/sub channel. */
  prefix?: string;
  /** Milliseconds to wait for the first connection (default 5000). */
  connectTimeoutMs?: number;
  /**
   * How long a proxy's lease on its pending requests lasts without renewal, in ms (default
   * 10 000); after that another proxy takes them over.
   */
  leaseMs?: number;
  /** The clock leases are timed on (default the system clock; every proxy should agree on it). */
  clock?: Clock;
}

/** The default lease: 10 s. */
export const DEFAULT_LEASE_MS = 10_000;

// Batched: for record i, KEYS[2i-1] = its req key, KEYS[2i] = its owner's pending set;
// ARGV[5i-4..5i] = status, json, ttl ms, id, owner; ARGV[#ARGV] = the owners set (of the leases).
const CREATE_SCRIPT = `
local owners = ARGV[#ARGV]
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 5
  redis.call('HSET', KEYS[2 * i - 1], 's', ARGV[a + 1], 'd', ARGV[a + 2])
  redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[a + 3])
  redis.call('SADD', KEYS[2 * i], ARGV[a + 4])
  redis.call('SADD', owners, ARGV[a + 5])
end
return #KEYS / 2`;

// Claims the pending requests of every owner but ARGV[2] whose lease (a key holding its expiry
// time) is missing or ran out by ARGV[3]. KEYS[1] = the owners set; ARGV[1] = the key prefix.
// Returns the claimed records' JSON, rewritten to the new owner.
const CLAIM_SCRIPT = `
local prefix, me, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for _, o in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if o ~= me then
    local lease = redis.call('GET', prefix .. 'lease:' .. o)
    if (not lease) or tonumber(lease) < now then
      local pkey = prefix .. 'pending:' .. o
      local from, to = '"owner":"' .. o .. '"', '"owner":"' .. me .. '"'
      for _, id in ipairs(redis.call('SMEMBERS', pkey)) do
        local key = prefix .. 'req:' .. id
        local s = redis.call('HGET', key, 's')
        if s == 'pending' or s == 'processing' then
          local d = redis.call('HGET', key, 'd')
          local at = string.find(d, from, 1, true)
          if at then d = string.sub(d, 1, at - 1) .. to .. string.sub(d, at + #from) end
          redis.call('HSET', key, 'd', d)
          redis.call('SADD', prefix .. 'pending:' .. me, id)
          out[#out + 1] = d
        end
      end
      redis.call('DEL', pkey)
      redis.call('SREM', KEYS[1], o)
      redis.call('SADD', KEYS[1], me)
    end
  end
end
return out`;

// Batched like CREATE_SCRIPT, plus ARGV[#ARGV] = the channel. Per record: {1} when stored,
// {0, json} when already finished, {} when unknown.
const FINISH_SCRIPT = `
local out = {}
local channel = ARGV[#ARGV]
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 4
  local key = KEYS[2 * i - 1]
  local s = redis.call('HGET', key, 's')
  if not s then
    redis.call('SREM', KEYS[2 * i], ARGV[a + 4])
    out[i] = {}
  elseif s ~= 'pending' and s ~= 'processing' then
    redis.call('SREM', KEYS[2 * i], ARGV[a + 4])
    out[i] = {0, redis.call('HGET', key, 'd')}
  else
    redis.call('HSET', key, 's', ARGV[a + 1], 'd', ARGV[a + 2])
    redis.call('PEXPIRE', key, ARGV[a + 3])
    redis.call('SREM', KEYS[2 * i], ARGV[a + 4])
    redis.call('PUBLISH', channel, ARGV[a + 4])
    out[i] = {1}
  end
end
return out`;

type ScriptClient = Redis & {
  syftProxyCreate(numKeys: number, ...args: (string | number)[]): Promise<number>;
  syftProxyClaim(numKeys: number, ...args: (string | number)[]): Promise<string[]>;
  syftProxyFinish(
    numKeys: number,
    ...args: (string | number)[]
  ): Promise<([number, string?] | [])[]>;
};

/** Records per script call at most (keeps one call's arguments moderate). */
const MAX_BATCH = 256;

interface Queued<T> {
  record: RequestRecord;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Sends the writes queued in one turn of the event loop as one call (group commit). Calls are not
 * held back while earlier ones are in flight: Redis runs the commands of one connection in order.
 */
class Batcher<T> {
  #queue: Queued<T>[] = [];
  #scheduled = false;
  #inflight = new Set<Promise<void>>();
  #send: (records: RequestRecord[]) => Promise<T[]>;

  constructor(send: (records: RequestRecord[]) => Promise<T[]>) {
    this.#send = send;
  }

  add(record: RequestRecord): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    this.#queue.push({ record, resolve, reject });
    if (!this.#scheduled) {
      this.#scheduled = true;
      // After the I/O of this turn of the event loop (like ioredis' auto-pipelining).
      setImmediate(() => this.#flush());
    }
    return promise;
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      const call = this.#send(batch.map((q) => q.record)).then(
        (results) => batch.forEach((q, i) => q.resolve(results[i]!)),
        (err) => batch.forEach((q) => q.reject(err)),
      ).finally(() => this.#inflight.delete(call));
      this.#inflight.add(call);
    }
  }

  /** Resolves once nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.#scheduled || this.#inflight.size > 0) {
      if (this.#scheduled) this.#flush();
      await Promise.all(this.#inflight);
    }
  }
}

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
  #waiters: Waiters;
  #closed = false;
  #creates: Batcher<number>;
  #finishes: Batcher<[number, string?] | []>;
  #clock: Clock;
  /** The leases of the proxies sharing this store (see {@linkcode RequestLeases}). */
  readonly leases: RequestLeases;

  private constructor(redis: Redis, url: string, options: RedisRequestStoreOptions) {
    this.#redis = redis as ScriptClient;
    this.#prefix = options.prefix ?? "syft-proxy:";
    this.#channel = `${this.#prefix}finished`;
    this.#ttlMs = options.ttlMs ?? DEFAULT_STORE_TTL_MS;
    this.description = redactRedisUrl(url);
    this.#redis.defineCommand("syftProxyCreate", { lua: CREATE_SCRIPT });
    this.#redis.defineCommand("syftProxyFinish", { lua: FINISH_SCRIPT });
    this.#redis.defineCommand("syftProxyClaim", { lua: CLAIM_SCRIPT });
    this.#clock = options.clock ?? systemClock;
    this.#waiters = new Waiters(this.#clock);
    this.#creates = new Batcher(async (records) => {
      const { keys, args } = this.#scriptArgs(records, true);
      await this.#redis.syftProxyCreate(keys.length, ...keys, ...args, this.#ownersKey());
      return records.map(() => 1);
    });
    const ttlMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.leases = {
      ttlMs,
      renew: async (owner) => {
        try {
          // The value is the expiry on the proxies' clock; the key itself outlives it (cleanup).
          await this.#redis.set(
            `${this.#prefix}lease:${owner}`,
            String(this.#clock.now() + ttlMs),
            "PX",
            Math.max(60_000, ttlMs * 10),
          );
        } catch (err) {
          throw this.#wrap("renew the lease", err);
        }
      },
      claim: async (owner) => {
        let claimed: string[];
        try {
          claimed = await this.#redis.syftProxyClaim(
            1,
            this.#ownersKey(),
            this.#prefix,
            owner,
            this.#clock.now(),
          );
        } catch (err) {
          throw this.#wrap("claim expired requests", err);
        }
        return claimed.map((json) => JSON.parse(json) as RequestRecord);
      },
    };
    this.#finishes = new Batcher(async (records) => {
      const { keys, args } = this.#scriptArgs(records);
      return await this.#redis.syftProxyFinish(keys.length, ...keys, ...args, this.#channel);
    });
  }

  /** Keys and arguments of the batched scripts; finished records keep the TTL (`retentionMs`). */
  #scriptArgs(
    records: RequestRecord[],
    withOwner = false,
  ): { keys: string[]; args: (string | number)[] } {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const r of records) {
      keys.push(this.#reqKey(r.id), this.#pendingKey(r.owner));
      args.push(r.status, JSON.stringify(r), Math.ceil(retentionMs(r, this.#ttlMs)), r.id);
      if (withOwner) args.push(r.owner);
    }
    return { keys, args };
  }

  #ownersKey(): string {
    return `${this.#prefix}owners`;
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

  /** Stores a new pending request (group committed: one script call for concurrent ones). */
  async create(record: RequestRecord): Promise<void> {
    if (this.#closed) throw new StoreError("Cannot write: the store is closed");
    try {
      await this.#creates.add(record);
    } catch (err) {
      throw this.#wrap("store a request", err);
    }
  }

  /** Stores the finished record if the stored one is still pending; publishes the finish. */
  async finish(record: RequestRecord): Promise<RequestRecord | null> {
    if (this.#closed) throw new StoreError("Cannot write: the store is closed");
    let res: [number, string?] | [];
    try {
      res = await this.#finishes.add(record);
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

  /**
   * The store's Redis connection for `hono-rate-limiter`'s `RedisStore`: proxies that share this
   * store then share their rate-limit counters too, so a client behind a load balancer gets the
   * limit once, not once per proxy. `syft proxy serve --store redis://... --rate-limit N/min` does
   * this.
   *
   * @returns The client adapter and the key prefix.
   *
   * @example
   * ```ts ignore
   * import { RedisRequestStore } from "@syft/syft/proxy";
   * import { RedisStore } from "hono-rate-limiter";
   * const store = await RedisRequestStore.connect("redis://127.0.0.1:6379");
   * const counters = new RedisStore(store.rateLimitBackend());
   * console.log(counters.prefix); // "syft-proxy:ratelimit:"
   * await store.close();
   * ```
   */
  rateLimitBackend(): RateLimitBackend {
    const redis = this.#redis;
    const guard = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      try {
        return await run();
      } catch (err) {
        throw new StoreError(
          `Cannot ${what} the rate-limit counter in Redis (${this.description}): ${
            err instanceof Error ? err.message : String(err)
          }`,
          { cause: err },
        );
      }
    };
    return {
      prefix: `${this.#prefix}ratelimit:`,
      client: {
        scriptLoad: (script) =>
          guard("load the script of", async () => String(await redis.script("LOAD", script))),
        evalsha: <TArgs extends unknown[], TData = unknown>(
          sha1: string,
          keys: string[],
          args: TArgs,
        ) =>
          guard(
            "update",
            async () =>
              await redis.evalsha(sha1, keys.length, ...keys, ...args.map(String)) as TData,
          ),
        decr: (key) => guard("decrement", () => redis.decr(key)),
        del: (key) => guard("reset", () => redis.del(key)),
      },
    };
  }

  /** Writes a tiny key (for `/health`): rejects when Redis does not accept writes. */
  async checkWritable(): Promise<void> {
    try {
      await this.#redis.set(`${this.#prefix}health`, String(this.#clock.now()), "PX", 60_000);
    } catch (err) {
      throw this.#wrap("write", err);
    }
  }

  /** {@linkcode RedisRequestStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Closes both connections and wakes waiters. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#creates.idle(), this.#finishes.idle()]);
    this.#waiters.notifyAll();
    await this.#subscribing?.catch(() => {});
    await Promise.all([
      this.#redis.quit().catch(() => this.#redis.disconnect()),
      this.#sub?.quit().catch(() => this.#sub?.disconnect()),
    ]);
  }
}
