/**
 * The stored form of the Deno KV store: segments, their state values, and the compact JSON of
 * one event. Pure functions; no I/O.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { jsonString, quoteBase64 } from "./_json.ts";
import { EnSyncStoreError, type EventState, type StoredEvent } from "./store.ts";
import { fromBase62 } from "./_ids.ts";

/** The most bytes of event JSON one segment holds. */
export const SEGMENT_BYTES = 60_000;
/** The most events one segment holds. */
export const MAX_SLOTS = 1_024;

/** State byte: ready (or in flight). */
export const S_READY = 0;
/** State byte: acked. */
export const S_ACKED = 1;
/** State byte: discarded. */
export const S_DISCARDED = 2;
/** State byte: deferred. */
export const S_DEFERRED = 3;

/** The state value of a segment as stored. */
export interface SegmentState {
  /** One state byte per slot. */
  s: Uint8Array;
  /** Due times of deferred slots. */
  d: Record<number, number>;
  /** Number of parts. */
  p: number;
  /** Created at (ms), for expiry. */
  c: number;
}

/** A segment in memory. */
export interface Segment {
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

/** Where an event lives: its segment and slot. */
export interface SlotRef {
  seg: number;
  slot: number;
}

/** A stored segment's state as read back (its events stay in KV until needed). */
export function segmentOf(id: number, st: SegmentState): Segment {
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

/** A new, empty segment being filled. */
export function newSegment(id: number, now: number): Segment {
  return {
    id,
    states: new Uint8Array(MAX_SLOTS),
    count: 0,
    due: new Map(),
    parts: 1,
    createdAt: now,
    live: 0,
    dirty: false,
    pending: { json: [], bytes: 2 },
  };
}

/** The state value written for a segment. */
export function segmentState(seg: Segment): SegmentState {
  const d: Record<number, number> = {};
  for (const [slot, at] of seg.due) d[slot] = at;
  return { s: seg.states.slice(0, seg.count), d, p: seg.parts, c: seg.createdAt };
}

/** The compact stored form of one event. */
export interface EventTuple {
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

/** JSON string literals of app ids, senders and names, which repeat: cached. */
const quoted = new LRUCache<string, string>({ max: 4_096 });

function str(value: string): string {
  let q = quoted.get(value);
  if (q === undefined) {
    q = jsonString(value);
    if (value.length <= 256) quoted.set(value, q);
  }
  return q;
}

/**
 * The JSON of an event's stored form, built by hand: base64 fields are spliced without an escaping
 * pass and the metadata (validated JSON at publish) is kept as a raw JSON value.
 */
export function tupleJson(ev: StoredEvent): string {
  let out = `{"i":"${ev.idem}","a":${str(ev.app)},"n":${
    str(ev.name)
  },"b":${ev.block},"t":${ev.loggedAt},"p":${quoteBase64(ev.payload)},"m":${ev.metadata},"s":${
    str(ev.sender)
  }`;
  if (ev.payloadMetadata !== undefined) out += `,"pm":${str(ev.payloadMetadata)}`;
  if (!ev.persist) out += `,"np":1`;
  return out + "}";
}

/** The event of a stored tuple. */
export function fromTuple(t: EventTuple): StoredEvent {
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

/** Decodes a segment's concatenated parts; throws {@linkcode EnSyncStoreError} when corrupt. */
export function decodeSegment(id: number, chunks: readonly Uint8Array[]): StoredEvent[] {
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

/** Parses `<segment>.<slot>.<random>` ids. */
export function parseIdem(idem: string): SlotRef | undefined {
  const parts = idem.split(".");
  if (parts.length !== 3) return undefined;
  const seg = fromBase62(parts[0]!);
  const slot = fromBase62(parts[1]!);
  if (!Number.isSafeInteger(seg) || !Number.isSafeInteger(slot)) return undefined;
  return { seg, slot };
}

/** The state of a state byte. */
export function stateName(code: number): EventState {
  return code === S_ACKED
    ? "acked"
    : code === S_DISCARDED
    ? "discarded"
    : code === S_DEFERRED
    ? "deferred"
    : "ready";
}

/** The state byte of a state (in flight is stored as ready). */
export function stateCode(state: EventState): number {
  return state === "acked"
    ? S_ACKED
    : state === "discarded"
    ? S_DISCARDED
    : state === "deferred"
    ? S_DEFERRED
    : S_READY;
}

/** Whether a state byte is live (ready or deferred). */
export function isLive(code: number): boolean {
  return code === S_READY || code === S_DEFERRED;
}
