/**
 * The Deno KV request store (the proxy's default): statuses survive a restart. Writes are group
 * committed: while one atomic commit is in flight, new writes queue up and go out together in the
 * next one, so many concurrent sends share one SQLite transaction instead of one each.
 *
 * @module
 */
import { openKv } from "../kv.ts";
import { StoreError } from "./errors.ts";
import { DEFAULT_STORE_TTL_MS, type RequestStore, type StoreOptions } from "./store.ts";
import { isFinished, retentionMs, Waiters } from "./_store_util.ts";
import type { RequestRecord } from "./types.ts";

/** Deno KV's value limit is 64 KiB; larger records are split into chunks of this many bytes. */
const CHUNK_CHARS = 60_000;
/** One atomic operation may hold 1000 mutations and 800 KiB; stay well below both. */
const MAX_BATCH_MUTATIONS = 900;
const MAX_BATCH_CHARS = 600_000;

/** Options for {@linkcode KvRequestStore}. */
export interface KvRequestStoreOptions extends StoreOptions {
  /** The key prefix (default `["syft-proxy"]`). */
  prefix?: Deno.KvKey;
}

/** The stored head of a record: inline JSON, or the number of chunks holding it. */
interface Head {
  /** Inline JSON of the record. */
  j?: string;
  /** Number of chunks under `[prefix, "chunk", id, g]`. */
  n?: number;
  /** Chunk generation (`p` while pending, `f` once finished). */
  g?: string;
  /** Status (so that a pending check needs no decode). */
  s: string;
  /** When the entry expires (epoch ms); Deno KV deletes expired keys lazily, so reads check it. */
  x: number;
}

interface Pending {
  mutations: number;
  chars: number;
  apply(op: Deno.AtomicOperation): void;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * A request store in Deno KV (needs `--unstable-kv`). Finished entries expire after the TTL. Deno
 * KV on a local file is single-process: share statuses between proxies with the Redis store.
 *
 * @example
 * ```ts
 * import { KvRequestStore } from "@syft/syft/proxy";
 * const store = await KvRequestStore.open(":memory:");
 * console.log(await store.get("unknown")); // null
 * await store.close();
 * ```
 */
export class KvRequestStore implements RequestStore {
  /** `kv:<path>`. */
  readonly description: string;
  #kv: Deno.Kv;
  #ownsKv: boolean;
  #prefix: Deno.KvKey;
  #ttlMs: number;
  #waiters = new Waiters();
  #queue: Pending[] = [];
  #draining: Promise<void> | null = null;
  #closed = false;

  /**
   * Wraps an open Deno KV database (it stays open on {@linkcode KvRequestStore.close}).
   *
   * @param kv The database.
   * @param options Key prefix and TTL.
   * @param description The description shown by `GET /` (default `"kv"`).
   */
  constructor(kv: Deno.Kv, options: KvRequestStoreOptions = {}, description = "kv") {
    this.#kv = kv;
    this.#ownsKv = false;
    this.#prefix = options.prefix ?? ["syft-proxy"];
    this.#ttlMs = options.ttlMs ?? DEFAULT_STORE_TTL_MS;
    this.description = description;
  }

  /**
   * Opens (and later closes) the KV database at `path`.
   *
   * @param path A SQLite file (its directory is created) or `":memory:"`.
   * @param options Key prefix and TTL.
   * @returns The store.
   * @throws {StoreError} When KV is unavailable or the file cannot be opened.
   *
   * @example
   * ```ts
   * import { KvRequestStore } from "@syft/syft/proxy";
   * const store = await KvRequestStore.open(":memory:", { ttlMs: 60_000 });
   * await store.close();
   * ```
   */
  static async open(path: string, options: KvRequestStoreOptions = {}): Promise<KvRequestStore> {
    let kv: Deno.Kv;
    try {
      kv = await openKv(path);
    } catch (err) {
      throw new StoreError(
        `Cannot open the KV request store: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const store = new KvRequestStore(kv, options, `kv:${path}`);
    store.#ownsKv = true;
    return store;
  }

  #reqKey(id: string): Deno.KvKey {
    return [...this.#prefix, "req", id];
  }

  #pendingKey(owner: string, id: string): Deno.KvKey {
    return [...this.#prefix, "pending", owner, id];
  }

  #chunkKey(id: string, generation: string, index: number): Deno.KvKey {
    return [...this.#prefix, "chunk", id, generation, index];
  }

  /** Queues mutations for the next group commit; resolves when that commit succeeded. */
  #enqueue(mutations: number, chars: number, apply: (op: Deno.AtomicOperation) => void) {
    if (this.#closed) return Promise.reject(new StoreError("Cannot write: the store is closed"));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ mutations, chars, apply, resolve, reject });
    // Cleared by #drain in the same step that sees the queue empty (a `.finally` callback would
    // leave a gap in which a write is queued while no drain runs).
    this.#draining ??= this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    // Yield first, so that `#draining` is assigned before this can clear it.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) await this.#commitBatch();
    } finally {
      // In the same step as the last look at the queue: no write can slip in between.
      this.#draining = null;
    }
  }

  /** Commits the writes at the head of the queue that fit in one atomic operation. */
  async #commitBatch(): Promise<void> {
    let mutations = 0;
    let chars = 0;
    let n = 0;
    while (n < this.#queue.length) {
      const p = this.#queue[n]!;
      if (
        n > 0 && (mutations + p.mutations > MAX_BATCH_MUTATIONS ||
          chars + p.chars > MAX_BATCH_CHARS)
      ) break;
      mutations += p.mutations;
      chars += p.chars;
      n++;
    }
    const batch = this.#queue.splice(0, n);
    try {
      const op = this.#kv.atomic();
      for (const p of batch) p.apply(op);
      const res = await op.commit();
      if (!res.ok) throw new Error("the atomic commit was rejected");
      for (const p of batch) p.resolve();
    } catch (err) {
      const error = new StoreError(
        `Cannot write to the KV request store: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
      for (const p of batch) p.reject(error);
    }
  }

  /** Writes `record` (chunked when large) through the group commit, plus `extra` mutations. */
  async #write(
    record: RequestRecord,
    extra: number,
    also: (op: Deno.AtomicOperation, expireIn: number) => void,
  ): Promise<void> {
    const json = JSON.stringify(record);
    const expireIn = retentionMs(record, this.#ttlMs);
    const head: Head = { s: record.status, x: Date.now() + expireIn };
    const generation = isFinished(record) ? "f" : "p";
    if (json.length <= CHUNK_CHARS) {
      head.j = json;
    } else {
      // Chunks go first, each commit well under the limits; the head that points at them last.
      const chunks: string[] = [];
      for (let i = 0; i < json.length; i += CHUNK_CHARS) {
        chunks.push(json.slice(i, i + CHUNK_CHARS));
      }
      for (let i = 0; i < chunks.length; i += 8) {
        const op = this.#kv.atomic();
        chunks.slice(i, i + 8).forEach((chunk, k) =>
          op.set(this.#chunkKey(record.id, generation, i + k), chunk, { expireIn })
        );
        const res = await op.commit().catch((err) => {
          throw new StoreError(`Cannot write to the KV request store: ${String(err)}`, {
            cause: err,
          });
        });
        if (!res.ok) throw new StoreError("Cannot write to the KV request store: commit rejected");
      }
      head.n = chunks.length;
      head.g = generation;
    }
    const key = this.#reqKey(record.id);
    await this.#enqueue(1 + extra, (head.j?.length ?? 64) + 64, (op) => {
      op.set(key, head, { expireIn });
      also(op, expireIn);
    });
  }

  async #decode(id: string, head: Head | null): Promise<RequestRecord | null> {
    if (head === null || head.x <= Date.now()) return null;
    if (head.j !== undefined) return JSON.parse(head.j) as RequestRecord;
    const parts: string[] = [];
    const iter = this.#kv.list<string>({ prefix: [...this.#prefix, "chunk", id, head.g ?? "p"] });
    for await (const entry of iter) parts.push(entry.value);
    if (parts.length !== head.n) return null;
    return JSON.parse(parts.join("")) as RequestRecord;
  }

  /** Stores a new pending request (group committed with concurrent writes). */
  create(record: RequestRecord): Promise<void> {
    const pendingKey = this.#pendingKey(record.owner, record.id);
    return this.#write(record, 1, (op, expireIn) => op.set(pendingKey, 1, { expireIn }));
  }

  /** Stores the finished record if the stored one is still pending. */
  async finish(record: RequestRecord): Promise<RequestRecord | null> {
    const key = this.#reqKey(record.id);
    const current = await this.#kv.get<Head>(key);
    if (current.value === null || current.value.x <= Date.now()) return null;
    if (current.value.s === "completed" || current.value.s === "failed") {
      return await this.#decode(record.id, current.value);
    }
    const pendingKey = this.#pendingKey(record.owner, record.id);
    await this.#write(record, 1, (op) => op.delete(pendingKey));
    this.#waiters.notify(record.id);
    return record;
  }

  /** Looks a request up. */
  async get(id: string): Promise<RequestRecord | null> {
    const entry = await this.#kv.get<Head>(this.#reqKey(id));
    return await this.#decode(id, entry.value);
  }

  /** Lists the pending requests of `owner`. */
  async listPending(owner: string): Promise<RequestRecord[]> {
    const out: RequestRecord[] = [];
    for await (const entry of this.#kv.list({ prefix: [...this.#prefix, "pending", owner] })) {
      const id = String(entry.key.at(-1));
      const record = await this.get(id);
      if (record && !isFinished(record)) out.push(record);
      else await this.#kv.delete(entry.key);
    }
    return out;
  }

  /** Waits until the request finishes or the wait ends (finishes made in this process). */
  waitForFinish(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<RequestRecord | null> {
    return this.#waiters.wait(id, timeoutMs, signal, () => this.get(id));
  }

  /** Waits for queued writes, wakes waiters and closes the database if this store opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#draining;
    this.#waiters.notifyAll();
    if (this.#ownsKv) this.#kv.close();
  }
}
