/**
 * The request store: one interface, three implementations (memory here, Deno KV in
 * `store_kv.ts`, Redis in `store_redis.ts`). Finished entries expire after a TTL.
 *
 * @module
 */
import type { RequestRecord } from "./types.ts";
import { type Clock, systemClock } from "../_clock.ts";
import { isFinished, retentionMs, Waiters } from "./_store_util.ts";

/** The default time finished entries are kept: one hour. */
export const DEFAULT_STORE_TTL_MS = 3_600_000;

/**
 * A Redis connection in the shape `hono-rate-limiter`'s `RedisStore` takes (its `client` option),
 * with the key prefix to give it.
 */
export interface RateLimitBackend {
  /** Loads, runs and adjusts the counters' scripts and keys; Redis failures reject with {@linkcode StoreError}. */
  client: {
    /** `SCRIPT LOAD`: the script's SHA-1. */
    scriptLoad(script: string): Promise<string>;
    /** `EVALSHA` with the keys and arguments. */
    evalsha<TArgs extends unknown[], TData = unknown>(
      sha1: string,
      keys: string[],
      args: TArgs,
    ): Promise<TData>;
    /** `DECR`. */
    decr(key: string): Promise<number>;
    /** `DEL`. */
    del(key: string): Promise<number>;
  };
  /** The key prefix for the counters: the store's prefix followed by `ratelimit:`. */
  prefix: string;
}

/**
 * Where the proxy keeps request statuses. Implementations make `create` and `finish` cheap under
 * concurrency (group commit for KV, pipelining for Redis) because they sit on the send path.
 *
 * @example Use any store the same way
 * ```ts
 * import { MemoryRequestStore, type RequestStore } from "@syft/syft/proxy";
 * const store: RequestStore = new MemoryRequestStore();
 * console.log(await store.get("no-such-id")); // null
 * await store.close();
 * ```
 */
export interface RequestStore extends AsyncDisposable {
  /** A short description for `GET /`, such as `"memory"` or `"redis://127.0.0.1:6379"`. */
  readonly description: string;
  /**
   * Stores a new pending request. Resolves once it is durable (for durable stores).
   *
   * @param record The new record (status `pending`).
   */
  create(record: RequestRecord): Promise<void>;
  /**
   * Stores the finished form of a pending request, only if the stored one is still pending (the
   * first finisher wins when several proxies share the store).
   *
   * @param record The finished record (status `completed` or `failed`).
   * @returns The record now stored (the given one, or an earlier finished one), or `null` when
   *   the id is unknown (expired or never created).
   */
  finish(record: RequestRecord): Promise<RequestRecord | null>;
  /**
   * Looks a request up.
   *
   * @param id The request id.
   * @returns The record, or `null` when unknown or expired.
   */
  get(id: string): Promise<RequestRecord | null>;
  /**
   * Lists the pending requests a proxy instance owns (to re-attach to them after a restart).
   *
   * @param owner The owner id.
   * @returns The pending records.
   */
  listPending(owner: string): Promise<RequestRecord[]>;
  /**
   * Waits until the request is no longer pending, the wait ends or `signal` aborts; sees
   * finishes made by other proxies sharing the store where the backend allows it (Redis).
   *
   * @param id The request id.
   * @param timeoutMs The longest wait.
   * @param signal Aborts the wait early.
   * @returns The record as it stands at the end of the wait, or `null` when unknown.
   */
  waitForFinish(id: string, timeoutMs: number, signal?: AbortSignal): Promise<RequestRecord | null>;
  /** Releases connections and timers. */
  close(): Promise<void>;
  /**
   * Makes a tiny write (for `/health`): rejects with a {@linkcode StoreError} naming the reason
   * when the store does not accept writes (a full disk, Redis read-only or down). Absent for
   * stores with nothing to write to (memory).
   */
  checkWritable?(): Promise<void>;
  /**
   * Leases, for stores that several proxies share (Redis): each proxy renews its own, and takes
   * over the pending requests of a proxy whose lease ran out.
   */
  readonly leases?: RequestLeases;
  /**
   * Where rate-limit counters shared with every proxy on this store live, for stores that can
   * share them (Redis); absent when counters stay in each process.
   */
  rateLimitBackend?(): RateLimitBackend;
}

/**
 * The leases of a shared request store. A pending request belongs to its proxy (its `owner`) while
 * that proxy's lease is renewed; once the lease runs out, any other proxy may claim the request
 * and follow its response file, so no request stays pending while its proxy is down.
 *
 * @example Keep a lease and take over requests of a proxy that stopped renewing
 * ```ts ignore
 * import { RedisRequestStore } from "@syft/syft/proxy";
 * const store = await RedisRequestStore.connect("redis://127.0.0.1:6379", { leaseMs: 10_000 });
 * await store.leases.renew("proxy-a");
 * console.log(await store.leases.claim("proxy-a")); // requests of expired proxies, now proxy-a's
 * await store.close();
 * ```
 */
export interface RequestLeases {
  /** How long a lease lasts without renewal, in ms. */
  readonly ttlMs: number;
  /** Starts or renews `owner`'s lease for {@linkcode RequestLeases.ttlMs}. */
  renew(owner: string): Promise<void>;
  /**
   * Moves the pending requests of every other owner whose lease ran out (or who never had one)
   * to `owner`.
   *
   * @returns The claimed records, now owned by `owner`.
   */
  claim(owner: string): Promise<RequestRecord[]>;
}

/** Options shared by the store implementations. */
export interface StoreOptions {
  /** How long finished entries are kept, in ms (default one hour). */
  ttlMs?: number;
  /**
   * The clock entries expire and waits time out on (default the system clock); tests pass a fake
   * one. (Redis expires keys on its own clock.)
   */
  clock?: Clock;
}

interface MemoryEntry {
  record: RequestRecord;
  expiresAt: number;
}

/**
 * A request store in this process's memory: fast, lost on exit, not shared. Expired entries are
 * dropped on read and by a sweep every minute.
 *
 * @example
 * ```ts
 * import { MemoryRequestStore } from "@syft/syft/proxy";
 * const store = new MemoryRequestStore({ ttlMs: 60_000 });
 * console.log(store.description); // "memory"
 * await store.close();
 * ```
 */
export class MemoryRequestStore implements RequestStore {
  /** Always `"memory"`. */
  readonly description = "memory";
  #entries = new Map<string, MemoryEntry>();
  #waiters: Waiters;
  #ttlMs: number;
  #clock: Clock;
  #sweep: ReturnType<typeof setInterval>;

  /**
   * Creates an empty store.
   *
   * @param options The TTL of finished entries and the clock.
   */
  constructor(options: StoreOptions = {}) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_STORE_TTL_MS;
    this.#clock = options.clock ?? systemClock;
    this.#waiters = new Waiters(this.#clock);
    this.#sweep = setInterval(() => this.#dropExpired(), Math.min(this.#ttlMs, 60_000));
    Deno.unrefTimer(this.#sweep as unknown as number);
  }

  #dropExpired(now = this.#clock.now()): void {
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(id);
    }
  }

  #read(id: string): RequestRecord | null {
    const entry = this.#entries.get(id);
    if (!entry) return null;
    if (entry.expiresAt <= this.#clock.now()) {
      this.#entries.delete(id);
      return null;
    }
    return entry.record;
  }

  /** Stores a new pending request. */
  create(record: RequestRecord): Promise<void> {
    this.#entries.set(record.id, {
      record,
      expiresAt: this.#clock.now() + retentionMs(record, this.#ttlMs, this.#clock.now()),
    });
    return Promise.resolve();
  }

  /** Stores the finished record if the stored one is still pending. */
  finish(record: RequestRecord): Promise<RequestRecord | null> {
    const current = this.#read(record.id);
    if (current === null) return Promise.resolve(null);
    if (isFinished(current)) return Promise.resolve(current);
    this.#entries.set(record.id, { record, expiresAt: this.#clock.now() + this.#ttlMs });
    this.#waiters.notify(record.id);
    return Promise.resolve(record);
  }

  /** Looks a request up. */
  get(id: string): Promise<RequestRecord | null> {
    return Promise.resolve(this.#read(id));
  }

  /** Lists the pending requests of `owner`. */
  listPending(owner: string): Promise<RequestRecord[]> {
    this.#dropExpired();
    return Promise.resolve(
      [...this.#entries.values()].map((e) => e.record).filter((r) =>
        r.owner === owner && !isFinished(r)
      ),
    );
  }

  /** Waits until the request finishes or the wait ends. */
  waitForFinish(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<RequestRecord | null> {
    return this.#waiters.wait(id, timeoutMs, signal, () => this.get(id));
  }

  /** Stops the sweep timer and wakes waiters. */
  close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#waiters.notifyAll();
    return Promise.resolve();
  }

  /** {@linkcode MemoryRequestStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
