/**
 * Choosing a store from a short spec, as `syft ensync serve --store` takes it.
 *
 * @module
 */
import { SyftError } from "../../lib/errors.ts";
import type { EnSyncStore } from "./store.ts";
import { KvEventStore } from "./store_kv.ts";
import { MemoryEventStore } from "./store_memory.ts";
import { RedisEventStore } from "./store_redis.ts";

/** Options of {@linkcode openEnSyncStore}. */
export interface OpenEnSyncStoreOptions {
  /** The Deno KV file for a bare `kv` spec. */
  defaultKvPath?: string;
  /** The key prefix (KV: one key part; Redis: a string prefix). */
  prefix?: string;
}

/**
 * Creates a store from a spec: `memory`, `kv` (the default file), `kv:PATH`, or a `redis://` /
 * `rediss://` URL. The store is opened by the engine.
 *
 * @param spec The spec.
 * @param options The default KV path and a key prefix.
 * @returns The (unopened) store.
 * @throws {SyftError} `BAD_STORE` for an unknown spec.
 *
 * @example
 * ```ts
 * import { openEnSyncStore } from "@syft/syft/ensync/engine";
 * const store = openEnSyncStore("memory");
 * console.log(store.description); // memory
 * ```
 */
export function openEnSyncStore(spec: string, options: OpenEnSyncStoreOptions = {}): EnSyncStore {
  const s = spec.trim();
  if (s === "memory") return new MemoryEventStore();
  if (s === "kv" || s.startsWith("kv:")) {
    const path = s === "kv" ? options.defaultKvPath : s.slice(3);
    if (!path) {
      throw new SyftError(`Cannot use store "${spec}": no KV path given (use kv:PATH)`, {
        code: "BAD_STORE",
      });
    }
    return new KvEventStore(path, options.prefix === undefined ? {} : { prefix: [options.prefix] });
  }
  if (s.startsWith("redis://") || s.startsWith("rediss://")) {
    try {
      new URL(s);
    } catch (err) {
      throw new SyftError(`Cannot use store "${spec}": not a valid URL`, {
        code: "BAD_STORE",
        cause: err,
      });
    }
    return new RedisEventStore(s, options.prefix === undefined ? {} : { prefix: options.prefix });
  }
  throw new SyftError(
    `Cannot use store "${spec}": expected memory, kv, kv:PATH or a redis:// URL`,
    { code: "BAD_STORE" },
  );
}
