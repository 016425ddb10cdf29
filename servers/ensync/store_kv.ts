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
import { openKv } from "../../lib/kv.ts";
import { discardedEvent } from "./_local.ts";
import { InlineKvWriter, type KvWriter, WorkerKvWriter } from "./_kv_writer.ts";
import {
  fromTuple,
  isLive,
  MAX_SLOTS,
  newSegment,
  parseIdem,
  type Segment,
  SEGMENT_BYTES,
  segmentOf,
  type SegmentState,
  type SlotRef,
  stateCode,
  stateName,
  tupleJson,
} from "./_kv_codec.ts";
import { readSegment, recoverKv } from "./_kv_recovery.ts";
import { KvGroupCommit } from "./_kv_commit.ts";
import { type LocalEntry, LocalEventStore } from "./store_base.ts";
import {
  type DiscardedEvent,
  EnSyncStoreError,
  type EventRecord,
  type NewEvent,
  type Settlement,
  type StoredEvent,
  type StoreOptions,
} from "./store.ts";
import { randomBase62, toBase62 } from "./_ids.ts";
import { getLogger } from "../../lib/_log.ts";

const log = getLogger(["ensync", "store", "kv"]);

/** Options for {@linkcode KvEventStore}. */
export interface KvEventStoreOptions {
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
 * import { KvEventStore } from "@syft/syft/ensync/engine";
 * await using store = new KvEventStore(`${await Deno.makeTempDir()}/ensync.kv`);
 * await store.open({ retentionMs: 86_400_000, ackTimeoutMs: 30_000 });
 * ```
 */
export class KvEventStore extends LocalEventStore {
  /** `kv <path>`. */
  readonly description: string;
  #path: string | undefined;
  #kv: Deno.Kv | undefined;
  #ownsKv: boolean;
  #prefix: Deno.KvKey;
  #segments = new Map<number, Segment>();
  #lastSegment = 0;
  #closing = false;
  #writer: KvWriter | undefined;
  readonly #writerThread: boolean;
  readonly #commit: KvGroupCommit = new KvGroupCommit({
    key: (...parts) => this.#key(...parts),
    lastSegment: () => this.#lastSegment,
    lastBlock: (app, name) => this.queues.lastBlock(app, name),
    retentionMs: () => this.queues.options.retentionMs,
    writer: () => this.#writer,
    closing: () => this.#closing,
    committed: (seg) => this.#dropIfSettled(seg),
  });

  /**
   * Creates the store.
   *
   * @param kvOrPath An open database (left open on close) or a file path (opened on `open()`).
   * @param options The key prefix.
   */
  constructor(kvOrPath: Deno.Kv | string, options: KvEventStoreOptions = {}) {
    super();
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
  override async open(options: StoreOptions): Promise<void> {
    if (this.#kv === undefined) this.#kv = await openKv(this.#path!);
    await super.open(options);
    const kv = this.#db;
    this.#lastSegment = await recoverKv({
      kv,
      prefix: this.#prefix,
      queues: this.queues,
      segments: this.#segments,
      retentionMs: options.retentionMs,
    });
    this.#writer = this.#path !== undefined && this.#writerThread
      ? await WorkerKvWriter.open(this.#path)
      : new InlineKvWriter(kv);
  }

  /**
   * Appends events: each gets its idem (naming its segment and slot) and block at once and is ready
   * for delivery at once; the promise resolves once the commit holding it is durable.
   *
   * @param events The events, one per recipient.
   * @returns The stored events with idem and block.
   */
  append(events: NewEvent[]): Promise<StoredEvent[]> {
    if (this.queues.closed) return Promise.reject(new EnSyncStoreError("The KV store is closed"));
    const stored: StoredEvent[] = [];
    const items: { event: StoredEvent; loc: SlotRef }[] = [];
    for (const ev of events) {
      const estimate = ev.payload.length + ev.metadata.length + (ev.payloadMetadata?.length ?? 0) +
        ev.app.length + ev.name.length + ev.sender.length + 120;
      const seg = this.#segmentWithRoom(estimate);
      const slot = seg.count++;
      const block = this.queues.nextBlock(ev.app, ev.name);
      this.#commit.blockChanged(ev.app, ev.name);
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
    this.#commit.wait({ resolve: () => resolve(stored), reject });
    // Deliverable now; the publisher's reply waits for the commit.
    this.queues.admit(items);
    return promise;
  }

  /** The segment being filled, or a new one when it has no room for `bytes` more. */
  #segmentWithRoom(bytes: number): Segment {
    let seg = this.#commit.filling;
    if (
      seg !== undefined &&
      (seg.count >= MAX_SLOTS || (seg.count > 0 && seg.pending!.bytes + bytes > SEGMENT_BYTES))
    ) {
      this.#commit.seal();
      seg = undefined;
    }
    if (seg === undefined) {
      seg = newSegment(++this.#lastSegment, Date.now());
      this.#segments.set(seg.id, seg);
      this.#commit.filling = seg;
    }
    return seg;
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
  #locate(entry: LocalEntry): SlotRef | undefined {
    return (entry.loc as SlotRef | undefined) ?? parseIdem(entry.event.idem);
  }

  /**
   * Writes a state change with the next commit; resolves once it is durable.
   *
   * @param entry The entry whose state changed.
   * @param outcome The settlement, when the change is one.
   * @returns Resolves once the commit holding it is durable.
   */
  protected override persist(entry: LocalEntry, outcome?: Settlement): Promise<void> {
    const at = this.#locate(entry);
    const seg = at === undefined ? undefined : this.#segments.get(at.seg);
    if (seg === undefined || at === undefined) {
      // A requeued event whose segment left memory: load it, then apply.
      return this.#segmentFor(entry.event.idem).then((found) => {
        if (found === undefined) {
          throw new EnSyncStoreError(`Cannot find event "${entry.event.idem}" in the KV store`);
        }
        return this.persist(entry, outcome);
      });
    }
    const before = seg.states[at.slot]!;
    const code = stateCode(entry.state);
    const wasLive = isLive(before);
    const nowLive = isLive(code);
    if (wasLive && !nowLive) seg.live--;
    if (!wasLive && nowLive) seg.live++;
    seg.states[at.slot] = code;
    if (entry.state === "deferred") seg.due.set(at.slot, entry.dueAt!);
    else seg.due.delete(at.slot);
    this.#commit.markDirty(seg);
    if (outcome?.kind === "discard") {
      this.#commit.discard(entry.event.app, discardedEvent(entry.event, outcome.reason));
    }
    return this.#commit.waitForCommit();
  }

  /**
   * Drops a settled entry from memory (lookups read it back from its segment).
   *
   * @param entry The settled entry.
   */
  protected override forgetSettled(entry: LocalEntry): void {
    this.queues.entries.delete(entry.event.idem);
  }

  /**
   * Lets a segment leave memory once nothing in it is live.
   *
   * @param entry The entry the retention sweep dropped.
   */
  protected override expired(entry: LocalEntry): void {
    const at = this.#locate(entry);
    const seg = at === undefined ? undefined : this.#segments.get(at.seg);
    if (seg === undefined) return;
    seg.live--;
    this.#dropIfSettled(seg);
  }

  /** Forgets a segment with nothing live and nothing left to write (lookups read it back). */
  #dropIfSettled(seg: Segment): void {
    if (seg.live <= 0 && !seg.dirty && seg.pending === undefined && seg !== this.#commit.filling) {
      this.#segments.delete(seg.id);
    }
  }

  /**
   * Reads a settled event back from its segment.
   *
   * @param idem The event id.
   * @returns The event and its state, or `undefined`.
   */
  protected override async loadSettled(idem: string): Promise<EventRecord | undefined> {
    const found = await this.#segmentFor(idem);
    if (found === undefined) return undefined;
    const { seg, slot } = found;
    if (seg.createdAt < Date.now() - this.queues.options.retentionMs) return undefined;
    let event: StoredEvent | undefined;
    if (seg.pending !== undefined) {
      // Not written yet: read it from the pending JSON.
      const json = seg.pending.json[slot];
      event = json === undefined ? undefined : fromTuple(JSON.parse(json));
    } else {
      event = (await readSegment(this.#db, this.#key("seg", seg.id), seg.id, seg.parts))?.[slot];
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

  /** Flushes pending writes, then closes the database when this store opened it. */
  override async close(): Promise<void> {
    if (this.queues.closed || this.#closing) return;
    this.#closing = true;
    if (this.#kv !== undefined) {
      if (!await this.#commit.drain()) log.error("Closing the KV store with unwritten changes");
    }
    await super.close();
    await this.#writer?.close().catch(() => {});
    this.#writer = undefined;
    if (this.#ownsKv) this.#kv?.close();
    this.#kv = undefined;
  }
}
