/**
 * The Deno KV request store (the proxy's default): statuses survive a restart.
 *
 * Layout: a log. Writes are group committed: while one atomic commit is in flight, new records
 * queue up and go out together as one *segment* (newline-separated JSON records, split into values
 * under Deno KV's 64 KiB limit) in the next commit. A commit therefore writes one or a few values
 * however many records it carries, where a key per record made every record a random B-tree
 * insert (measured: 32 records of ~800 bytes took 1.7 ms to commit as 64 keys, 0.3 ms as one
 * value). The live records are held in memory (like the memory store) and the log is replayed when
 * the store opens; a segment is deleted once none of its records is the latest version of a live
 * request (superseded by a finish, or expired). Deno KV on a local file is single-process: share
 * statuses between proxies with the Redis store.
 *
 * @module
 */
import { openKv } from "../kv.ts";
import { getLogger } from "../_log.ts";
import { type Clock, systemClock } from "../_clock.ts";
import { StoreError } from "./errors.ts";
import { DEFAULT_STORE_TTL_MS, type RequestStore, type StoreOptions } from "./store.ts";
import { isFinished, retentionMs, Waiters } from "./_store_util.ts";
import type { RequestRecord } from "./types.ts";

const log = getLogger(["proxy", "store"]);

/** Deno KV's value limit is 64 KiB; segments are split into parts of at most this many bytes. */
const PART_BYTES = 60_000;
/** One atomic operation may hold 1000 mutations and 800 KiB; stay well below both. */
const MAX_COMMIT_PARTS = 12;
const MAX_COMMIT_DELETES = 600;
/** How often expired records are dropped (ms). */
const SWEEP_MS = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options for {@linkcode KvRequestStore}. */
export interface KvRequestStoreOptions extends StoreOptions {
  /** The key prefix (default `["syft-proxy"]`). */
  prefix?: Deno.KvKey;
}

interface Live {
  record: RequestRecord;
  /** Epoch ms after which the record is gone. */
  expiresAt: number;
  /** The segment holding its latest committed version (-1: none committed yet). */
  seg: number;
}

interface Segment {
  /** Number of value parts. */
  parts: number;
  /** Live records whose latest version is in this segment. */
  live: number;
}

interface Queued {
  record: RequestRecord;
  expiresAt: number;
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
  #clock: Clock;
  #waiters: Waiters;
  #live = new Map<string, Live>();
  #segments = new Map<number, Segment>();
  #lastSeg = 0;
  #queue: Queued[] = [];
  /** Segments to delete in the next commit. */
  #dead: number[] = [];
  #draining: Promise<void> | null = null;
  #ready: Promise<void>;
  #sweep: ReturnType<typeof setInterval>;
  #closed = false;

  /**
   * Wraps an open Deno KV database (it stays open on {@linkcode KvRequestStore.close}). The log is
   * replayed in the background; every operation waits for it.
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
    this.#clock = options.clock ?? systemClock;
    this.#waiters = new Waiters(this.#clock);
    this.description = description;
    this.#ready = this.#replay().catch((err) => {
      throw new StoreError(
        `Cannot read the KV request store: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    });
    this.#ready.catch(() => {/* reported by every operation */});
    this.#sweep = setInterval(() => this.#dropExpired(), Math.min(this.#ttlMs, SWEEP_MS));
    Deno.unrefTimer(this.#sweep as unknown as number);
  }

  /**
   * Opens (and later closes) the KV database at `path` and reads its log.
   *
   * @param path A SQLite file (its directory is created) or `":memory:"`.
   * @param options Key prefix and TTL.
   * @returns The store.
   * @throws {StoreError} When KV is unavailable or the file cannot be opened or read.
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
    try {
      await store.#ready;
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  #partKey(seg: number, part: number): Deno.KvKey {
    return [...this.#prefix, "log", seg, part];
  }

  /** Reads the log into memory (and moves records of the earlier key-per-record layout into it). */
  async #replay(): Promise<void> {
    const parts = new Map<number, Uint8Array[]>();
    for await (const entry of this.#kv.list<Uint8Array>({ prefix: [...this.#prefix, "log"] })) {
      const seg = entry.key.at(-2) as number;
      const part = entry.key.at(-1) as number;
      let list = parts.get(seg);
      if (list === undefined) parts.set(seg, list = []);
      list[part] = entry.value;
    }
    const now = this.#clock.now();
    for (const seg of [...parts.keys()].sort((a, b) => a - b)) {
      const list = parts.get(seg)!;
      this.#lastSeg = Math.max(this.#lastSeg, seg);
      const head = list[0];
      const count = head === undefined
        ? 0
        : new DataView(head.buffer, head.byteOffset).getUint32(0);
      if (head === undefined || list.length !== count || list.includes(undefined!)) {
        // Parts of a segment whose last commit did not happen: never acknowledged.
        this.#segments.set(seg, { parts: list.length, live: 0 });
        continue;
      }
      this.#segments.set(seg, { parts: count, live: 0 });
      const text = decoder.decode(concat(list.map((p, i) => i === 0 ? p.subarray(4) : p)));
      for (const line of text.split("\n")) {
        if (line === "") continue;
        const space = line.indexOf(" ");
        const expiresAt = Number(line.slice(0, space));
        const record = JSON.parse(line.slice(space + 1)) as RequestRecord;
        this.#place(record, expiresAt, seg, now);
      }
    }
    for (const [seg, s] of this.#segments) if (s.live === 0) this.#dead.push(seg);
    await this.#migrate(now);
    if (this.#dead.length > 0 || this.#queue.length > 0) this.#draining ??= this.#drain();
  }

  /**
   * Moves records of the key-per-record layout (earlier versions) into the log. (Records that
   * layout had to split into chunks, over 60 KB, are not carried over.)
   */
  async #migrate(now: number): Promise<void> {
    const old: Deno.KvKey[] = [];
    const records: { record: RequestRecord; expiresAt: number }[] = [];
    for (const prefix of ["req", "pending", "chunk"]) {
      for await (const entry of this.#kv.list({ prefix: [...this.#prefix, prefix] })) {
        old.push(entry.key);
        if (prefix !== "req") continue;
        const head = entry.value as { j?: string; x?: number };
        if (head.j === undefined || (head.x ?? 0) <= now) continue;
        records.push({ record: JSON.parse(head.j) as RequestRecord, expiresAt: head.x! });
      }
    }
    if (old.length === 0) return;
    for (const { record, expiresAt } of records) {
      if (this.#live.has(record.id)) continue;
      this.#live.set(record.id, { record, expiresAt, seg: -1 });
      void this.#enqueue(record, expiresAt).catch(() => {});
    }
    for (let i = 0; i < old.length; i += MAX_COMMIT_DELETES) {
      const op = this.#kv.atomic();
      for (const key of old.slice(i, i + MAX_COMMIT_DELETES)) op.delete(key);
      await op.commit();
    }
    log.info("Moved {n} request records to the log layout", { n: records.length });
  }

  /** Replay: `record` (found in `seg`) is the latest version of its id so far. */
  #place(record: RequestRecord, expiresAt: number, seg: number, now: number): void {
    const before = this.#live.get(record.id);
    if (before !== undefined) this.#release(before.seg);
    if (expiresAt <= now) {
      this.#live.delete(record.id);
      return;
    }
    this.#live.set(record.id, { record, expiresAt, seg });
    this.#segments.get(seg)!.live++;
  }

  /** A version in `seg` is no longer the latest committed version of a live request. */
  #release(seg: number): void {
    if (seg < 0) return;
    const s = this.#segments.get(seg);
    if (s !== undefined && --s.live === 0) this.#dead.push(seg);
  }

  #dropExpired(): void {
    const now = this.#clock.now();
    for (const [id, live] of this.#live) {
      if (live.expiresAt <= now) {
        this.#live.delete(id);
        this.#release(live.seg);
      }
    }
    if (this.#dead.length > 0 && !this.#closed) this.#draining ??= this.#drain();
  }

  #read(id: string): RequestRecord | null {
    const live = this.#live.get(id);
    if (live === undefined) return null;
    if (live.expiresAt <= this.#clock.now()) return null;
    return live.record;
  }

  /** Queues a record for the next group commit; resolves when that commit succeeded. */
  #enqueue(record: RequestRecord, expiresAt: number): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreError("Cannot write: the store is closed"));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ record, expiresAt, resolve, reject });
    // Cleared by #drain in the same step that sees the queue empty (a `.finally` callback would
    // leave a gap in which a write is queued while no drain runs).
    this.#draining ??= this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    // Yield first, so that `#draining` is assigned before this can clear it.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0 || this.#dead.length > 0) await this.#commit();
    } finally {
      // In the same step as the last look at the queue: no write can slip in between.
      this.#draining = null;
    }
  }

  /** Commits the queued records as one segment, plus deletions of dead segments. */
  async #commit(): Promise<void> {
    const batch = this.#queue.splice(0);
    const op = this.#kv.atomic();
    // Dead segments: every part, within the mutation budget.
    let deletes = 0;
    while (this.#dead.length > 0 && deletes < MAX_COMMIT_DELETES) {
      const seg = this.#dead[this.#dead.length - 1]!;
      const s = this.#segments.get(seg);
      const parts = s?.parts ?? 0;
      if (deletes + parts > MAX_COMMIT_DELETES && deletes > 0) break;
      this.#dead.pop();
      this.#segments.delete(seg);
      for (let p = 0; p < parts; p++) op.delete(this.#partKey(seg, p));
      deletes += parts;
    }
    if (batch.length === 0) {
      await op.commit().catch((err) => log.warn("Cannot delete old log segments: {error}", err));
      return;
    }
    const seg = this.#lastSeg = Math.max(this.#lastSeg + 1, Date.now() * 1000);
    let text = "";
    let maxExpiry = 0;
    for (const q of batch) {
      text += `${q.expiresAt} ${JSON.stringify(q.record)}\n`;
      if (q.expiresAt > maxExpiry) maxExpiry = q.expiresAt;
    }
    const bytes = encoder.encode(text);
    const count = Math.max(1, Math.ceil((bytes.length + 4) / PART_BYTES));
    const head = new Uint8Array(Math.min(bytes.length + 4, PART_BYTES));
    new DataView(head.buffer).setUint32(0, count);
    head.set(bytes.subarray(0, head.length - 4), 4);
    const parts = [head];
    for (let off = head.length - 4; off < bytes.length; off += PART_BYTES) {
      parts.push(bytes.subarray(off, off + PART_BYTES));
    }
    // KV deletes a forgotten segment by itself once every record in it has expired.
    const expireIn = Math.max(1, maxExpiry - this.#clock.now()) + 60_000;
    try {
      // Parts after the first go out first when they do not fit in one commit; the first part
      // (with the count) commits last, so a segment without it was never acknowledged.
      for (let p = parts.length - 1; p >= MAX_COMMIT_PARTS; p -= MAX_COMMIT_PARTS) {
        const extra = this.#kv.atomic();
        for (let i = Math.max(MAX_COMMIT_PARTS, p - MAX_COMMIT_PARTS + 1); i <= p; i++) {
          extra.set(this.#partKey(seg, i), parts[i]!, { expireIn });
        }
        const res = await extra.commit();
        if (!res.ok) throw new Error("the atomic commit was rejected");
      }
      for (let i = 0; i < Math.min(parts.length, MAX_COMMIT_PARTS); i++) {
        op.set(this.#partKey(seg, i), parts[i]!, { expireIn });
      }
      const res = await op.commit();
      if (!res.ok) throw new Error("the atomic commit was rejected");
    } catch (err) {
      const error = new StoreError(
        `Cannot write to the KV request store: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
      this.#segments.set(seg, { parts: parts.length, live: 0 });
      this.#dead.push(seg);
      for (const q of batch) q.reject(error);
      return;
    }
    const segment: Segment = { parts: parts.length, live: 0 };
    this.#segments.set(seg, segment);
    // Commits happen in queue order, so this segment holds the newest committed versions.
    for (const q of batch) {
      const current = this.#live.get(q.record.id);
      if (current !== undefined && current.seg !== seg) {
        this.#release(current.seg);
        current.seg = seg;
        segment.live++;
      }
      q.resolve();
    }
    if (segment.live === 0) this.#dead.push(seg);
  }

  /** Stores a new pending request (group committed with concurrent writes). */
  async create(record: RequestRecord): Promise<void> {
    await this.#ready;
    const live: Live = {
      record,
      expiresAt: this.#clock.now() + retentionMs(record, this.#ttlMs, this.#clock.now()),
      seg: this.#live.get(record.id)?.seg ?? -1,
    };
    this.#live.set(record.id, live);
    try {
      await this.#enqueue(record, live.expiresAt);
    } catch (err) {
      if (this.#live.get(record.id) === live && live.seg < 0) this.#live.delete(record.id);
      throw err;
    }
  }

  /** Stores the finished record if the stored one is still pending. */
  async finish(record: RequestRecord): Promise<RequestRecord | null> {
    await this.#ready;
    const current = this.#live.get(record.id);
    if (current === undefined || current.expiresAt <= this.#clock.now()) return null;
    if (isFinished(current.record)) return current.record;
    // First finisher wins: the finished version is in memory before the commit.
    const previous = current.record;
    const previousExpiry = current.expiresAt;
    current.record = record;
    current.expiresAt = this.#clock.now() + retentionMs(record, this.#ttlMs, this.#clock.now());
    try {
      await this.#enqueue(record, current.expiresAt);
    } catch (err) {
      if (current.record === record) {
        current.record = previous;
        current.expiresAt = previousExpiry;
      }
      throw err;
    }
    this.#waiters.notify(record.id);
    return record;
  }

  /** Looks a request up. */
  async get(id: string): Promise<RequestRecord | null> {
    await this.#ready;
    return this.#read(id);
  }

  /** Lists the pending requests of `owner`. */
  async listPending(owner: string): Promise<RequestRecord[]> {
    await this.#ready;
    const now = this.#clock.now();
    const out: RequestRecord[] = [];
    for (const live of this.#live.values()) {
      const r = live.record;
      if (r.owner === owner && !isFinished(r) && live.expiresAt > now) out.push(r);
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

  /** Writes a tiny value (for `/health`): rejects when the database does not accept writes. */
  async checkWritable(): Promise<void> {
    await this.#ready;
    try {
      await this.#kv.set([...this.#prefix, "health"], this.#clock.now());
    } catch (err) {
      throw new StoreError(
        `Cannot write to the KV request store: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** {@linkcode KvRequestStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Waits for queued writes, wakes waiters and closes the database if this store opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#sweep);
    await this.#ready.catch(() => {});
    while (this.#draining !== null) await this.#draining;
    this.#closed = true;
    this.#waiters.notifyAll();
    if (this.#ownsKv) this.#kv.close();
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
