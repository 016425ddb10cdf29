/**
 * Group commit of the Deno KV store: every append, ack, defer and discard that arrives while a
 * commit runs joins the next one, which is split into atomic operations within Deno KV's limits.
 * A failed commit keeps everything for the next attempt and rejects its waiters.
 *
 * @module
 */
import { getLogger } from "../../lib/_log.ts";
import type { KvSet, KvWriter } from "./_kv_writer.ts";
import { type Segment, type SegmentState, segmentState } from "./_kv_codec.ts";
import { type DiscardedEvent, EnSyncStoreError } from "./store.ts";

const log = getLogger(["ensync", "store", "kv"]);

const PART_BYTES = 60_000;
const ATOMIC_BYTES = 700_000;
const ATOMIC_MUTATIONS = 900;
/** Wait before retrying a failed commit. */
const RETRY_MS = 500;

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Batch {
  /** New segments to write. */
  segments: Segment[];
  /** Segments whose state value changed. */
  dirty: Set<Segment>;
  discards: { app: string; record: DiscardedEvent }[];
  /** Publishers and settlers waiting for this commit. */
  waiters: Waiter[];
}

function emptyBatch(): Batch {
  return { segments: [], dirty: new Set(), discards: [], waiters: [] };
}

type Mutation = { key: Deno.KvKey; value: unknown; bytes: number; expireIn?: number };

/** What the group commit needs from its store. */
export interface CommitHost {
  /** A key under the store's prefix. */
  key(...parts: Deno.KvKeyPart[]): Deno.KvKey;
  /** The highest segment id handed out. */
  lastSegment(): number;
  /** The last block of a queue. */
  lastBlock(app: string, name: string): number;
  /** The retention period (ms). */
  retentionMs(): number;
  /** The writer, once open. */
  writer(): KvWriter | undefined;
  /** Whether the store is closing (a failed commit is then not retried). */
  closing(): boolean;
  /** Called for each segment after a successful commit that touched it. */
  committed(seg: Segment): void;
}

/** Collects changes and writes them in as few atomic operations as Deno KV allows. */
export class KvGroupCommit {
  readonly #host: CommitHost;
  #batch: Batch = emptyBatch();
  /** The segment new events go into until the next commit starts. */
  filling: Segment | undefined;
  /** Queues whose last block changed, by app then name (no key built per append). */
  #dirtyBlocks = new Map<string, Set<string>>();
  #flushing: Promise<void> | undefined;

  constructor(host: CommitHost) {
    this.#host = host;
  }

  /** Moves the filling segment into the batch (it is full, or a commit starts). */
  seal(): void {
    if (this.filling !== undefined) {
      this.#batch.segments.push(this.filling);
      this.filling = undefined;
    }
  }

  /** Records that a queue's last block changed. */
  blockChanged(app: string, name: string): void {
    let names = this.#dirtyBlocks.get(app);
    if (names === undefined) this.#dirtyBlocks.set(app, names = new Set());
    names.add(name);
  }

  /** Marks a segment's state value for writing. */
  markDirty(seg: Segment): void {
    seg.dirty = true;
    this.#batch.dirty.add(seg);
  }

  /** Adds a discard record to the next commit. */
  discard(app: string, record: DiscardedEvent): void {
    this.#batch.discards.push({ app, record });
  }

  /** Resolves once the next commit is durable. */
  waitForCommit(): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.wait({ resolve, reject });
    return promise;
  }

  /** Adds a waiter to the next commit and schedules it. */
  wait(waiter: Waiter): void {
    this.#batch.waiters.push(waiter);
    this.schedule();
  }

  /** Whether nothing is waiting to be written. */
  get empty(): boolean {
    const b = this.#batch;
    return this.filling === undefined && b.segments.length === 0 && b.dirty.size === 0 &&
      b.discards.length === 0 && b.waiters.length === 0;
  }

  /** Starts the commit loop unless it runs. */
  schedule(): void {
    if (this.#flushing !== undefined) return;
    this.#flushing = (async () => {
      // Let the commands of this tick join the first commit.
      await Promise.resolve();
      while (!this.empty) {
        this.seal();
        const batch = this.#batch;
        this.#batch = emptyBatch();
        const ok = await this.#commit(batch);
        if (!ok) {
          if (this.#host.closing()) break;
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
      this.#flushing = undefined;
    })();
  }

  /** Writes what is pending, a few attempts if the database fails; resolves with whether all was. */
  async drain(): Promise<boolean> {
    for (let i = 0; i < 5 && (this.#flushing !== undefined || !this.empty); i++) {
      if (this.#flushing === undefined) this.schedule();
      await this.#flushing;
    }
    return this.empty;
  }

  #stateMutation(seg: Segment, now: number): Mutation & { value: SegmentState } {
    return {
      key: this.#host.key("st", seg.id),
      value: segmentState(seg),
      bytes: 128 + seg.count + seg.due.size * 24,
      expireIn: Math.max(1, seg.createdAt + this.#host.retentionMs() - now),
    };
  }

  /** Writes one batch; on failure everything stays queued for the next commit. */
  async #commit(batch: Batch): Promise<boolean> {
    const host = this.#host;
    const now = Date.now();
    const retention = host.retentionMs();
    const head: Mutation[] = [];
    const data: Mutation[] = [];
    const states: Mutation[] = [];
    const tail: Mutation[] = [];
    if (batch.segments.length > 0) {
      head.push({ key: host.key("meta", "segment"), value: host.lastSegment(), bytes: 64 });
    }
    const blocks: { app: string; name: string }[] = [];
    for (const [app, names] of this.#dirtyBlocks) {
      for (const name of names) blocks.push({ app, name });
    }
    this.#dirtyBlocks.clear();
    for (const { app, name } of blocks) {
      head.push({
        key: host.key("blk", app, name),
        value: host.lastBlock(app, name),
        bytes: 64 + app.length + name.length,
      });
    }
    const inBatch = new Set(batch.segments);
    for (const seg of batch.segments) {
      const bytes = new TextEncoder().encode(`[${seg.pending!.json.join(",")}]`);
      seg.parts = Math.max(1, Math.ceil(bytes.length / PART_BYTES));
      for (let p = 0; p < seg.parts; p++) {
        const chunk = bytes.subarray(p * PART_BYTES, (p + 1) * PART_BYTES);
        data.push({
          key: host.key("seg", seg.id, p),
          value: chunk,
          bytes: chunk.length + 64,
          expireIn: Math.max(1, seg.createdAt + retention - now),
        });
      }
      seg.dirty = false;
      states.push(this.#stateMutation(seg, now));
    }
    for (const seg of batch.dirty) {
      if (inBatch.has(seg)) continue;
      seg.dirty = false;
      states.push(this.#stateMutation(seg, now));
    }
    for (const { app, record } of batch.discards) {
      tail.push({
        key: host.key("x", app, record.discardedAt, record.idem),
        value: record,
        bytes: 256 + record.reason.length,
        expireIn: retention,
      });
    }
    // Segment data before the state values that make it visible to recovery.
    const groups = atomicGroups([...head, ...data, ...states, ...tail]);
    try {
      const writer = host.writer();
      if (writer === undefined) throw new EnSyncStoreError("The KV store is not open");
      await writer.write(groups);
    } catch (err) {
      const error = err instanceof EnSyncStoreError ? err : new EnSyncStoreError(
        `Cannot write to Deno KV: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
      log.error("{error}; retrying with the next commit", { error: error.message });
      // Keep everything for the next attempt; the waiters hear of the failure now.
      this.#batch.segments.unshift(...batch.segments);
      for (const seg of batch.dirty) this.markDirty(seg);
      for (const seg of batch.segments) seg.dirty = true;
      this.#batch.discards.unshift(...batch.discards);
      for (const b of blocks) this.blockChanged(b.app, b.name);
      for (const w of batch.waiters) w.reject(error);
      return false;
    }
    for (const seg of batch.segments) delete seg.pending;
    for (const w of batch.waiters) w.resolve();
    for (const seg of batch.segments) host.committed(seg);
    for (const seg of batch.dirty) host.committed(seg);
    return true;
  }
}

/** Splits mutations into atomic operations within Deno KV's limits, keeping their order. */
function atomicGroups(all: readonly Mutation[]): KvSet[][] {
  const groups: KvSet[][] = [];
  let group: KvSet[] = [];
  let bytes = 0;
  for (const m of all) {
    if (
      group.length > 0 && (group.length + 1 > ATOMIC_MUTATIONS || bytes + m.bytes > ATOMIC_BYTES)
    ) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push([m.key, m.value, m.expireIn ?? 0]);
    bytes += m.bytes;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
