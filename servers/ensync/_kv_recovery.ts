/**
 * Recovery of the Deno KV store on open: the last segment and block numbers, then every segment
 * that still holds unsettled events, read back and admitted to the in-process queues in publish
 * order.
 *
 * @module
 */
import { getLogger } from "../../lib/_log.ts";
import type { LocalQueueState } from "./store_base.ts";
import {
  decodeSegment,
  S_DEFERRED,
  S_READY,
  type Segment,
  segmentOf,
  type SegmentState,
  type SlotRef,
} from "./_kv_codec.ts";
import type { StoredEvent } from "./store.ts";

const log = getLogger(["ensync", "store", "kv"]);

/** Segments read back at once during recovery. */
const CONCURRENCY = 8;

/**
 * Reads one segment's events, or `undefined` when parts are missing.
 *
 * @param kv The database.
 * @param key The key of the segment's data (its parts are under it).
 * @param id The segment id (for errors).
 * @param parts How many parts it has.
 */
export async function readSegment(
  kv: Deno.Kv,
  key: Deno.KvKey,
  id: number,
  parts: number,
): Promise<StoredEvent[] | undefined> {
  const chunks: Uint8Array[] = [];
  for await (const e of kv.list<Uint8Array>({ prefix: key })) chunks.push(e.value);
  if (chunks.length !== parts) return undefined;
  return decodeSegment(id, chunks);
}

/** What {@linkcode recoverKv} needs. */
export interface RecoveryTarget {
  kv: Deno.Kv;
  prefix: Deno.KvKey;
  queues: LocalQueueState;
  /** Segments with live events are kept here. */
  segments: Map<number, Segment>;
  retentionMs: number;
}

/**
 * Recovers the state of a KV store into memory.
 *
 * @returns The highest segment id in use.
 */
export async function recoverKv(t: RecoveryTarget): Promise<number> {
  const { kv, prefix, queues } = t;
  const key = (...parts: Deno.KvKeyPart[]): Deno.KvKey => [...prefix, ...parts];
  const started = performance.now();
  let lastSegment = (await kv.get<number>(key("meta", "segment"))).value ?? 0;
  for await (const e of kv.list<number>({ prefix: key("blk") })) {
    const [app, name] = e.key.slice(prefix.length + 1) as [string, string];
    queues.seedBlock(app, name, e.value);
  }
  const cutoff = Date.now() - t.retentionMs;
  const toLoad: { id: number; st: SegmentState }[] = [];
  for await (const e of kv.list<SegmentState>({ prefix: key("st") })) {
    const id = e.key[prefix.length + 1] as number;
    if (id > lastSegment) lastSegment = id;
    const st = e.value;
    if (st.c < cutoff) continue;
    if (st.s.some((x) => x === S_READY || x === S_DEFERRED)) toLoad.push({ id, st });
  }
  let recovered = 0;
  // Read the segments a few at a time, but admit them in segment (publish) order.
  for (let i = 0; i < toLoad.length; i += CONCURRENCY) {
    const chunk = toLoad.slice(i, i + CONCURRENCY);
    const loaded = await Promise.all(
      chunk.map(({ id, st }) => readSegment(kv, key("seg", id), id, st.p)),
    );
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
        loc: SlotRef;
      }[] = [];
      for (let slot = 0; slot < events.length; slot++) {
        const code = st.s[slot];
        if (code !== S_READY && code !== S_DEFERRED) continue;
        const event = events[slot]!;
        queues.seedBlock(event.app, event.name, event.block);
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
      if (seg.live > 0) t.segments.set(id, seg);
      queues.admit(items, false);
      recovered += items.length;
    }
  }
  log.info("Recovered {count} unsettled events from {segments} segments in {ms} ms", {
    count: recovered,
    segments: toLoad.length,
    ms: Math.round(performance.now() - started),
  });
  return lastSegment;
}
