/**
 * The Deno KV store (the engine's default): a log of segments with group commit.
 *
 * Events are packed into segments of up to ~60 KB (one KV value each, split into parts when one
 * event is larger), and a small state value per segment holds one byte per event (ready, acked,
 * discarded, deferred) plus due times. Every append, ack, defer and discard that arrives while a
 * commit runs joins the next commit ("group commit"), so a busy engine writes a few large atomic
 * operations instead of one per message, and a state change costs one rewrite of a small value per
 * segment touched. An event id names its segment and slot, so replay finds acked events without an
 * index. On open, only the state values are listed; segments with unsettled events are read back.
 *
 * Durability: a publisher is answered (`+PASS`) only after the commit holding its event, so nothing
 * acknowledged to a publisher is lost; acks, defers and discards are answered after their commit
 * too. An event is deliverable as soon as it is appended, while its commit runs, so delivery
 * latency does not include the commit; if the engine dies before that commit, the publisher got no
 * `+PASS` and publishes again (at-least-once). In-flight events are stored as ready, so everything
 * unacknowledged is redelivered after a restart.
 *
 * One engine process owns a KV database: local Deno KV does not notify other processes of writes.
 *
 * @module
 */
import { jsonString, quoteBase64 } from "./_json.ts";
import { openKv } from "../../lib/kv.ts";
import { getLogger } from "../../lib/_log.ts";
import { discardedEvent, type Entry, LocalQueues } from "./_local.ts";
import { InlineKvWriter, type KvSet, type KvWriter, WorkerKvWriter } from "./_kv_writer.ts";
import {
  type DiscardedEvent,
  type EnSyncStore,
  EnSyncStoreError,
  type EventRecord,
  type EventState,
  type NewEvent,
  type QueueCounts,
  type QueueRef,
  type ReadyListener,
  type Settlement,
  type StoredEvent,
  type StoreOptions,
} from "./store.ts";
import { fromBase62, randomBase62, toBase62 } from "./_ids.ts";

const log = getLogger(["ensync", "store", "kv"]);

const SEGMENT_BYTES = 60_000;
const MAX_SLOTS = 1_024;
const PART_BYTES = 60_000;
const ATOMIC_BYTES = 700_000;
const ATOMIC_MUTATIONS = 900;

const S_READY = 0;
const S_ACKED = 1;
const S_DISCARDED = 2;
const S_DEFERRED = 3;

/** The state value of a segment as stored. */
interface SegmentState {
  /** One state byte per slot. */
  s: Uint8Array;
  /** Due times of deferred slots. */
  d: Record<number, number>;
  /** Number of parts. */
  p: number;
  /** Created at (ms), for expiry. */
  c: number;
}

interface Segment {
  id: number;
  /** One state byte per slot (capacity MAX_SLOTS while the segment is being filled). */
  states: Uint8Array;
  /** Slots in use. */
  count: number;
  due: Map<number, number>;
  parts: number;
  createdAt: number;
  /** Slots that are ready or deferred. */
  live: number;
  /** The state value needs writing. */
  dirty: boolean;
  /** The JSON of its events until the segment is written. */
  pending?: { json: string[]; bytes: number };
}

/** A stored segment's state as read back (its events stay in KV until needed). */
function segmentOf(id: number, st: SegmentState): Segment {
  return {
    id,
    states: st.s,
    count: st.s.length,
    due: new Map(Object.entries(st.d ?? {}).map(([k, v]) => [Number(k), v])),
    parts: st.p,
    createdAt: st.c,
    live: 0,
    dirty: false,
  };
}

/** The compact stored form of one event. */
interface EventTuple {
  i: string;
  a: string;
  n: string;
  b: number;
  t: number;
  p: string;
  /** Metadata: a raw JSON object (older data: its JSON text). */
  m: string | Record<string, unknown>;
  pm?: string;
  s: string;
  np?: 1;
}

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

/** JSON string literals of app ids, senders and names, which repeat: cached. */
const quoted = new Map<string, string>();

function str(value: string): string {
  let q = quoted.get(value);
  if (q === undefined) {
    q = jsonString(value);
    if (value.length <= 256) {
      if (quoted.size >= 4_096) quoted.clear();
      quoted.set(value, q);
    }
  }
  return q;
}

/**
 * The JSON of an event's stored form, built by hand: base64 fields are spliced without an escaping
 * pass and the metadata (validated JSON at publish) is kept as a raw JSON value.
 */
function tupleJson(ev: StoredEvent): string {
  let out = `{"i":"${ev.idem}","a":${str(ev.app)},"n":${
    str(ev.name)
  },"b":${ev.block},"t":${ev.loggedAt},"p":${quoteBase64(ev.payload)},"m":${ev.metadata},"s":${
    str(ev.sender)
  }`;
  if (ev.payloadMetadata !== undefined) out += `,"pm":${str(ev.payloadMetadata)}`;
  if (!ev.persist) out += `,"np":1`;
  return out + "}";
}

function fromTuple(t: EventTuple): StoredEvent {
  const ev: StoredEvent = {
    idem: t.i,
    app: t.a,
    name: t.n,
    block: t.b,
    loggedAt: t.t,
    payload: t.p,
    metadata: typeof t.m === "string" ? t.m : JSON.stringify(t.m),
    sender: t.s,
    persist: t.np !== 1,
  };
  if (t.pm !== undefined) ev.payloadMetadata = t.pm;
  return ev;
}

/** Parses `<segment>.<slot>.<random>` ids. */
function parseIdem(idem: string): { seg: number; slot: number } | undefined {
  const parts = idem.split(".");
  if (parts.length !== 3) return undefined;
  const seg = fromBase62(parts[0]!);
  const slot = fromBase62(parts[1]!);
  if (!Number.isSafeInteger(seg) || !Number.isSafeInteger(slot)) return undefined;
  return { seg, slot };
}

function stateName(code: number): EventState {
  return code === S_ACKED
    ? "acked"
    : code === S_DISCARDED
    ? "discarded"
    : code === S_DEFERRED
    ? "deferred"
    : "ready";
}

/** Options for {@linkcode KvStore}. */
export interface KvStoreOptions {
  /** The key prefix (default `["ensync"]`), so the database can be shared with other state. */
  prefix?: Deno.KvKey;
  /**
   * Commit in a worker thread with its own connection (default true when opened by path; a
   * database handed in is always written on the calling thread).
   */
  writerThread?: boolean;
}

/**
 * The Deno KV store; see the module doc for its layout.
 *
 * @example Open a store in a file
 * ```ts
 * import { KvStore } from "@syft/syft/ensync/engine";
 * const store = new KvStore(`${await Deno.makeTempDir()}/ensync.kv`);
 * await store.open({ retentionMs: 86_400_000, ackTimeoutMs: 30_000 });
 * await store.close();
 * ```
 */
export class KvStore implements EnSyncStore {
  /** `kv <path>`. */
  readonly description: string;
  #path: string | undefined;
  #kv: Deno.Kv | undefined;
  #ownsKv: boolean;
  #prefix: Deno.KvKey;
  #segments = new Map<number, Segment>();
  #lastSegment = 0;
  #batch: Batch = emptyBatch();
  /** The segment new events go into until the next commit starts. */
  #filling: Segment | undefined;
  #closing = false;
  #writer: KvWriter | undefined;
  readonly #writerThread: boolean;
  #flushing: Promise<void> | undefined;
  #dirtyBlocks = new Map<string, { app: string; name: string }>();
  #q: LocalQueues = new LocalQueues({
    persist: (entry, outcome) => this.#persist(entry, outcome),
    loadSettled: (idem) => this.#loadSettled(idem),
    forget: (entry) => this.#q.entries.delete(entry.event.idem),
    onExpired: (entry) => this.#onExpired(entry),
  });

  /**
   * Creates the store.
   *
   * @param kvOrPath An open database (left open on close) or a file path (opened on `open()`).
   * @param options The key prefix.
   */
  constructor(kvOrPath: Deno.Kv | string, options: KvStoreOptions = {}) {
    this.#prefix = options.prefix ?? ["ensync"];
    this.#writerThread = options.writerThread ?? true;
    if (typeof kvOrPath === "string") {
      this.#path = kvOrPath;
      this.#ownsKv = true;
      this.description = `kv ${kvOrPath}`;
    } else {
      this.#kv = kvOrPath;
      this.#ownsKv = false;
      this.description = "kv (shared database)";
    }
  }

  #key(...parts: Deno.KvKeyPart[]): Deno.KvKey {
    return [...this.#prefix, ...parts];
  }

  get #db(): Deno.Kv {
    if (this.#kv === undefined) throw new EnSyncStoreError("The KV store is not open");
    return this.#kv;
  }

  /**
   * Opens the database and recovers every unsettled event.
   *
   * @param options Retention and ack timeout.
   */
  async open(options: StoreOptions): Promise<void> {
    if (this.#kv === undefined) this.#kv = await openKv(this.#path!);
    await this.#q.open(options);
    const kv = this.#db;
    const started = performance.now();
    this.#lastSegment = (await kv.get<number>(this.#key("meta", "segment"))).value ?? 0;
    for await (const e of kv.list<number>({ prefix: this.#key("blk") })) {
      const [app, name] = e.key.slice(this.#prefix.length + 1) as [string, string];
      this.#q.seedBlock(app, name, e.value);
    }
    const cutoff = Date.now() - options.retentionMs;
    const toLoad: { id: number; st: SegmentState }[] = [];
    for await (const e of kv.list<SegmentState>({ prefix: this.#key("st") })) {
      const id = e.key[this.#prefix.length + 1] as number;
      if (id > this.#lastSegment) this.#lastSegment = id;
      const st = e.value;
      if (st.c < cutoff) continue;
      if (st.s.some((x) => x === S_READY || x === S_DEFERRED)) toLoad.push({ id, st });
    }
    let recovered = 0;
    // Read the segments a few at a time, but admit them in segment (publish) order.
    const CONCURRENCY = 8;
    for (let i = 0; i < toLoad.length; i += CONCURRENCY) {
      const chunk = toLoad.slice(i, i + CONCURRENCY);
      const loaded = await Promise.all(chunk.map(({ id, st }) => this.#readSegment(id, st.p)));
      for (let j = 0; j < chunk.length; j++) {
        const { id, st } = chunk[j]!;
        const events = loaded[j];
        if (events === undefined) {
          log.warn("Segment {id} has no data; its events are lost", { id });
          continue;
        }
        const seg = segmentOf(id, st);
        const items: {
          event: StoredEvent;
          state: "ready" | "deferred";
          dueAt?: number;
          loc: { seg: number; slot: number };
        }[] = [];
        for (let slot = 0; slot < events.length; slot++) {
          const code = st.s[slot];
          if (code !== S_READY && code !== S_DEFERRED) continue;
          const event = events[slot]!;
          this.#q.seedBlock(event.app, event.name, event.block);
          seg.live++;
          if (code === S_DEFERRED) {
            items.push({
              event,
              state: "deferred",
              dueAt: seg.due.get(slot) ?? 0,
              loc: { seg: id, slot },
            });
          } else items.push({ event, state: "ready", loc: { seg: id, slot } });
        }
        if (seg.live > 0) this.#segments.set(id, seg);
        this.#q.admit(items, false);
        recovered += items.length;
      }
    }
    this.#writer = this.#path !== undefined && this.#writerThread
      ? await WorkerKvWriter.open(this.#path)
      : new InlineKvWriter(kv);
    log.info("Recovered {count} unsettled events from {segments} segments in {ms} ms", {
      count: recovered,
      segments: toLoad.length,
      ms: Math.round(performance.now() - started),
    });
  }

  async #readSegment(id: number, parts: number): Promise<StoredEvent[] | undefined> {
    const chunks: Uint8Array[] = [];
    for await (const e of this.#db.list<Uint8Array>({ prefix: this.#key("seg", id) })) {
      chunks.push(e.value);
    }
    if (chunks.length !== parts) return undefined;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    try {
      return (JSON.parse(new TextDecoder().decode(bytes)) as EventTuple[]).map(fromTuple);
    } catch (err) {
      throw new EnSyncStoreError(`Cannot read segment ${id} of the KV store: corrupt data`, {
        cause: err,
      });
    }
  }

  /**
   * Appends events: each gets its idem (naming its segment and slot) and block at once and is ready
   * for delivery at once; the promise resolves once the commit holding it is durable.
   *
   * @param events The events, one per recipient.
   * @returns The stored events with idem and block.
   */
  append(events: NewEvent[]): Promise<StoredEvent[]> {
    if (this.#q.closed) return Promise.reject(new EnSyncStoreError("The KV store is closed"));
    const stored: StoredEvent[] = [];
    const items: { event: StoredEvent; loc: { seg: number; slot: number } }[] = [];
    for (const ev of events) {
      const estimate = ev.payload.length + ev.metadata.length + (ev.payloadMetadata?.length ?? 0) +
        ev.app.length + ev.name.length + ev.sender.length + 120;
      const seg = this.#segmentWithRoom(estimate);
      const slot = seg.count++;
      const block = this.#q.nextBlock(ev.app, ev.name);
      this.#dirtyBlocks.set(`${ev.app}\n${ev.name}`, { app: ev.app, name: ev.name });
      const event: StoredEvent = {
        ...ev,
        idem: `${toBase62(seg.id)}.${toBase62(slot)}.${randomBase62(6)}`,
        block,
      };
      const json = tupleJson(event);
      seg.pending!.json.push(json);
      seg.pending!.bytes += json.length + 1;
      seg.live++;
      stored.push(event);
      items.push({ event, loc: { seg: seg.id, slot } });
    }
    const { promise, resolve, reject } = Promise.withResolvers<StoredEvent[]>();
    this.#batch.waiters.push({ resolve: () => resolve(stored), reject });
    // Deliverable now; the publisher's reply waits for the commit.
    this.#q.admit(items);
    this.#scheduleFlush();
    return promise;
  }

  /** The segment being filled, or a new one when it has no room for `bytes` more. */
  #segmentWithRoom(bytes: number): Segment {
    let seg = this.#filling;
    if (
      seg !== undefined &&
      (seg.count >= MAX_SLOTS || (seg.count > 0 && seg.pending!.bytes + bytes > SEGMENT_BYTES))
    ) {
      this.#batch.segments.push(seg);
      seg = undefined;
    }
    if (seg === undefined) {
      seg = {
        id: ++this.#lastSegment,
        states: new Uint8Array(MAX_SLOTS),
        count: 0,
        due: new Map(),
        parts: 1,
        createdAt: Date.now(),
        live: 0,
        dirty: false,
        pending: { json: [], bytes: 2 },
      };
      this.#segments.set(seg.id, seg);
      this.#filling = seg;
    }
    return seg;
  }

  #scheduleFlush(): void {
    if (this.#flushing !== undefined) return;
    this.#flushing = (async () => {
      // Let the commands of this tick join the first commit.
      await Promise.resolve();
      while (!this.#batchEmpty()) {
        if (this.#filling !== undefined) {
          this.#batch.segments.push(this.#filling);
          this.#filling = undefined;
        }
        const batch = this.#batch;
        this.#batch = emptyBatch();
        const ok = await this.#commit(batch);
        if (!ok) {
          if (this.#closing) break;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      this.#flushing = undefined;
    })();
  }

  #batchEmpty(): boolean {
    const b = this.#batch;
    return this.#filling === undefined && b.segments.length === 0 && b.dirty.size === 0 &&
      b.discards.length === 0 && b.waiters.length === 0;
  }

  /** Writes one batch; on failure everything stays queued for the next commit. */
  async #commit(batch: Batch): Promise<boolean> {
    const now = Date.now();
    const retention = this.#q.options.retentionMs;
    type Mutation = { key: Deno.KvKey; value: unknown; bytes: number; expireIn?: number };
    const head: Mutation[] = [];
    const data: Mutation[] = [];
    const states: Mutation[] = [];
    const tail: Mutation[] = [];
    if (batch.segments.length > 0) {
      head.push({ key: this.#key("meta", "segment"), value: this.#lastSegment, bytes: 64 });
    }
    const blocks = [...this.#dirtyBlocks.values()];
    this.#dirtyBlocks.clear();
    for (const { app, name } of blocks) {
      head.push({
        key: this.#key("blk", app, name),
        value: this.#q.queue(app, name).lastBlock,
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
          key: this.#key("seg", seg.id, p),
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
        key: this.#key("x", app, record.discardedAt, record.idem),
        value: record,
        bytes: 256 + record.reason.length,
        expireIn: retention,
      });
    }
    // Segment data before the state values that make it visible to recovery.
    const all = [...head, ...data, ...states, ...tail];
    // Split into atomic operations within Deno KV's limits.
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
    try {
      if (this.#writer === undefined) throw new EnSyncStoreError("The KV store is not open");
      await this.#writer.write(groups);
    } catch (err) {
      const error = err instanceof EnSyncStoreError ? err : new EnSyncStoreError(
        `Cannot write to Deno KV: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
      log.error("{error}; retrying with the next commit", { error: error.message });
      // Keep everything for the next attempt; the waiters hear of the failure now.
      this.#batch.segments.unshift(...batch.segments);
      for (const seg of batch.dirty) this.#markDirty(seg);
      for (const seg of batch.segments) seg.dirty = true;
      this.#batch.discards.unshift(...batch.discards);
      for (const b of blocks) this.#dirtyBlocks.set(`${b.app}\n${b.name}`, b);
      for (const w of batch.waiters) w.reject(error);
      return false;
    }
    for (const seg of batch.segments) delete seg.pending;
    for (const w of batch.waiters) w.resolve();
    for (const seg of batch.segments) this.#dropIfSettled(seg);
    for (const seg of batch.dirty) this.#dropIfSettled(seg);
    return true;
  }

  #stateMutation(
    seg: Segment,
    now: number,
  ): { key: Deno.KvKey; value: SegmentState; bytes: number; expireIn: number } {
    const d: Record<number, number> = {};
    for (const [slot, at] of seg.due) d[slot] = at;
    return {
      key: this.#key("st", seg.id),
      value: { s: seg.states.slice(0, seg.count), d, p: seg.parts, c: seg.createdAt },
      bytes: 128 + seg.count + seg.due.size * 24,
      expireIn: Math.max(1, seg.createdAt + this.#q.options.retentionMs - now),
    };
  }

  #markDirty(seg: Segment): void {
    seg.dirty = true;
    this.#batch.dirty.add(seg);
  }

  #waitForCommit(): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#batch.waiters.push({ resolve, reject });
    this.#scheduleFlush();
    return promise;
  }

  async #segmentFor(idem: string): Promise<{ seg: Segment; slot: number } | undefined> {
    const at = parseIdem(idem);
    if (at === undefined) return undefined;
    let seg = this.#segments.get(at.seg);
    if (seg === undefined) {
      const st = (await this.#db.get<SegmentState>(this.#key("st", at.seg))).value;
      if (st === null) return undefined;
      seg = segmentOf(at.seg, st);
      this.#segments.set(seg.id, seg);
    }
    return at.slot < seg.count ? { seg, slot: at.slot } : undefined;
  }

  /** The segment and slot of an entry (cached on it by `append` and recovery). */
  #locate(entry: Entry): { seg: number; slot: number } | undefined {
    return (entry.loc as { seg: number; slot: number } | undefined) ?? parseIdem(entry.event.idem);
  }

  #persist(entry: Entry, outcome?: Settlement): Promise<void> {
    const at = this.#locate(entry);
    const seg = at === undefined ? undefined : this.#segments.get(at.seg);
    if (seg === undefined || at === undefined) {
      // A requeued event whose segment left memory: load it, then apply.
      return this.#segmentFor(entry.event.idem).then((found) => {
        if (found === undefined) {
          throw new EnSyncStoreError(`Cannot find event "${entry.event.idem}" in the KV store`);
        }
        return this.#persist(entry, outcome);
      });
    }
    const before = seg.states[at.slot]!;
    const code = entry.state === "acked"
      ? S_ACKED
      : entry.state === "discarded"
      ? S_DISCARDED
      : entry.state === "deferred"
      ? S_DEFERRED
      : S_READY;
    const wasLive = before === S_READY || before === S_DEFERRED;
    const isLive = code === S_READY || code === S_DEFERRED;
    if (wasLive && !isLive) seg.live--;
    if (!wasLive && isLive) seg.live++;
    seg.states[at.slot] = code;
    if (code === S_DEFERRED) seg.due.set(at.slot, entry.dueAt!);
    else seg.due.delete(at.slot);
    this.#markDirty(seg);
    if (outcome?.kind === "discard") {
      this.#batch.discards.push({
        app: entry.event.app,
        record: discardedEvent(entry.event, outcome.reason),
      });
    }
    return this.#waitForCommit();
  }

  #onExpired(entry: Entry): void {
    const at = this.#locate(entry);
    const seg = at === undefined ? undefined : this.#segments.get(at.seg);
    if (seg === undefined) return;
    seg.live--;
    this.#dropIfSettled(seg);
  }

  /** Forgets a segment with nothing live and nothing left to write (lookups read it back). */
  #dropIfSettled(seg: Segment): void {
    if (seg.live <= 0 && !seg.dirty && seg.pending === undefined && seg !== this.#filling) {
      this.#segments.delete(seg.id);
    }
  }

  async #loadSettled(idem: string): Promise<EventRecord | undefined> {
    const found = await this.#segmentFor(idem);
    if (found === undefined) return undefined;
    const { seg, slot } = found;
    if (seg.createdAt < Date.now() - this.#q.options.retentionMs) return undefined;
    let event: StoredEvent | undefined;
    if (seg.pending !== undefined) {
      // Not written yet: read it from the pending JSON.
      const json = seg.pending.json[slot];
      event = json === undefined ? undefined : fromTuple(JSON.parse(json));
    } else {
      event = (await this.#readSegment(seg.id, seg.parts))?.[slot];
      this.#dropIfSettled(seg);
    }
    if (event === undefined || event.idem !== idem) return undefined;
    const code = seg.states[slot]!;
    const due = seg.due.get(slot);
    return { event, state: stateName(code), ...(due === undefined ? {} : { dueAt: due }) };
  }

  /**
   * Lists an app's discarded events, newest first.
   *
   * @param app The app id.
   * @param limit The most to return.
   * @returns The discarded events.
   */
  async discarded(app: string, limit: number): Promise<DiscardedEvent[]> {
    const out: DiscardedEvent[] = [];
    const iter = this.#db.list<DiscardedEvent>({ prefix: this.#key("x", app) }, {
      reverse: true,
      limit,
    });
    for await (const e of iter) out.push(e.value);
    return out;
  }

  /**
   * Drops an app's discarded events from the listing (all, or those named).
   *
   * @param app The app id.
   * @param idems Only these (default all).
   * @returns How many were dropped.
   */
  async purgeDiscarded(app: string, idems?: readonly string[]): Promise<number> {
    const only = idems === undefined ? undefined : new Set(idems);
    let dropped = 0;
    for await (const e of this.#db.list<DiscardedEvent>({ prefix: this.#key("x", app) })) {
      if (only !== undefined && !only.has(e.value.idem)) continue;
      await this.#db.delete(e.key);
      dropped++;
    }
    return dropped;
  }

  /**
   * Counts the live events of every queue.
   *
   * @returns Ready, in-flight and deferred counts per queue.
   */
  queueCounts(): Promise<QueueCounts[]> {
    return this.#q.counts();
  }

  /**
   * Registers the listener told when a queue may have ready events.
   *
   * @param listener The listener.
   */
  onReady(listener: ReadyListener): void {
    this.#q.onReady(listener);
  }

  /**
   * The names of an app's queues.
   *
   * @param app The app id.
   * @returns The event names.
   */
  queueNames(app: string): Promise<string[]> {
    return this.#q.queueNames(app);
  }

  /**
   * Takes the next ready event of a queue (in memory; nothing is written).
   *
   * @param queue The queue.
   * @param consumer The claiming client id.
   * @returns The event, or `undefined`.
   */
  claim(queue: QueueRef, consumer: string): Promise<StoredEvent | undefined> {
    return this.#q.claim(queue, consumer);
  }

  /**
   * Returns an in-flight event to the front of its queue (it is stored as ready already).
   *
   * @param event The event.
   * @param consumer The client id that held it.
   * @returns Resolves when done.
   */
  release(event: StoredEvent, consumer: string): Promise<void> {
    return this.#q.release(event, consumer);
  }

  /**
   * Records an ack, defer or discard; resolves once the commit holding it is durable.
   *
   * @param event The event.
   * @param outcome The outcome.
   * @returns The state it was in, or `undefined`.
   */
  settle(event: StoredEvent, outcome: Settlement): Promise<EventState | undefined> {
    return this.#q.settle(event, outcome);
  }

  /**
   * Finds an event by idem: in memory when unsettled, else read back from its segment.
   *
   * @param idem The event id.
   * @returns The event and its state, or `undefined`.
   */
  lookup(idem: string): Promise<EventRecord | undefined> {
    return this.#q.lookup(idem);
  }

  /**
   * Queues an acked or discarded event again (durably).
   *
   * @param event The event.
   * @returns Whether it was queued.
   */
  requeue(event: StoredEvent): Promise<boolean> {
    return this.#q.requeue(event);
  }

  /** Flushes pending writes, then closes the database when this store opened it. */
  async close(): Promise<void> {
    if (this.#q.closed || this.#closing) return;
    this.#closing = true;
    if (this.#kv !== undefined) {
      // Flush what is pending (a few attempts if the database fails).
      for (let i = 0; i < 5 && (this.#flushing !== undefined || !this.#batchEmpty()); i++) {
        if (this.#flushing === undefined) this.#scheduleFlush();
        await this.#flushing;
      }
      if (!this.#batchEmpty()) log.error("Closing the KV store with unwritten changes");
    }
    await this.#q.close();
    await this.#writer?.close().catch(() => {});
    this.#writer = undefined;
    if (this.#ownsKv) this.#kv?.close();
    this.#kv = undefined;
  }
}
