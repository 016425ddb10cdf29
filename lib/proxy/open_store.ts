/**
 * Opening a request store from a `--store` value: `memory`, `kv`, `kv:PATH` or `redis://...`.
 *
 * @module
 */
import { StoreError } from "./errors.ts";
import { MemoryRequestStore, type RequestStore } from "./store.ts";
import { KvRequestStore } from "./store_kv.ts";
import { RedisRequestStore } from "./store_redis.ts";

/** Options for {@linkcode openRequestStore}. */
export interface OpenRequestStoreOptions {
  /** The KV file for a bare `kv` (required for it unless `kv` is given). */
  kvPath?: string;
  /** An open Deno KV database for a bare `kv` (it stays open when the store closes). */
  kv?: Deno.Kv;
  /** How long finished entries are kept, in ms (default one hour). */
  ttlMs?: number;
  /** The key prefix in Redis (default `"syft-proxy:"`). */
  redisPrefix?: string;
  /** With Redis: how long a proxy's lease on its pending requests lasts, in ms (default 10 000). */
  leaseMs?: number;
}

/** The forms `--store` accepts, for error messages and help. */
export const STORE_FORMS = "memory, kv, kv:PATH, redis://[user:pass@]host:port[/db]";

/**
 * Opens the request store a `--store` value names.
 *
 * - `memory`: in this process only;
 * - `kv`: Deno KV at `options.kv` or `options.kvPath` (the default; statuses survive a restart);
 * - `kv:PATH`: Deno KV at PATH (`kv::memory:` for a private in-memory database);
 * - `redis://...` or `rediss://...`: Redis, shared by every proxy using it.
 *
 * @param spec The `--store` value.
 * @param options Where a bare `kv` lives, TTL and Redis prefix.
 * @returns The open store; close it with `store.close()`.
 * @throws {StoreError} For an unknown form or a store that cannot be opened (exit status 2 for a
 *   wrong value).
 *
 * @example Open an in-memory KV store
 * ```ts
 * import { openRequestStore } from "@syft/syft/proxy";
 * const store = await openRequestStore("kv::memory:");
 * console.log(store.description); // "kv::memory:"
 * await store.close();
 * ```
 */
export async function openRequestStore(
  spec: string,
  options: OpenRequestStoreOptions = {},
): Promise<RequestStore> {
  const ttl = options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs };
  const value = spec.trim();
  if (value === "memory") return new MemoryRequestStore(ttl);
  if (value === "kv") {
    if (options.kv) return new KvRequestStore(options.kv, ttl, "kv");
    if (options.kvPath) return await KvRequestStore.open(options.kvPath, ttl);
    throw new StoreError('Cannot open the "kv" request store: no KV path was given', {
      code: "PROXY_STORE_SPEC",
    });
  }
  if (value.startsWith("kv:")) {
    const path = value.slice(3);
    if (path === "") {
      throw new StoreError('Cannot open the request store "kv:": the path is empty', {
        code: "PROXY_STORE_SPEC",
      });
    }
    return await KvRequestStore.open(path, ttl);
  }
  if (value.startsWith("redis://") || value.startsWith("rediss://")) {
    return await RedisRequestStore.connect(value, {
      ...ttl,
      ...(options.redisPrefix === undefined ? {} : { prefix: options.redisPrefix }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    });
  }
  throw new StoreError(
    `Cannot use request store "${spec}": expected one of ${STORE_FORMS}`,
    { code: "PROXY_STORE_SPEC" },
  );
}
