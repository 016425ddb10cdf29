/**
 * The in-process queue core shared by the memory and Deno KV stores: ready queues (deques), the
 * in-flight and deferred states, one timer for deferrals, and retention sweeps. Subclasses decide
 * how appends and state changes become durable.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle, unrefTimer } from "../../lib/_clock.ts";
import type {
  DiscardedEvent,
  EventRecord,
  EventState,
  QueueCounts,
  QueueRef,
  ReadyListener,
  Settlement,
  StoredEvent,
  StoreOptions,
} from "./store.ts";
import type { LocalEntry, LocalQueueState } from "./store_base.ts";

/** A live event in memory. */
export type Entry = LocalEntry;

/** A double-ended queue of entries; front pushes for redelivery, back pushes for new events. */
class Deque {
  #front: Entry[] = [];
  #back: Entry[] = [];
  #head = 0;

  get size(): number {
    return this.#front.length + this.#back.length - this.#head;
  }

  pushBack(e: Entry): void {
    this.#back.push(e);
  }

  pushFront(e: Entry): void {
    this.#front.push(e);
  }

  shift(): Entry | undefined {
    if (this.#front.length > 0) return this.#front.pop();
    if (this.#head >= this.#back.length) return undefined;
    const e = this.#back[this.#head]!;
    this.#back[this.#head++] = undefined as unknown as Entry;
    if (this.#head > 1024 && this.#head * 2 > this.#back.length) {
      this.#back = this.#back.slice(this.#head);
      this.#head = 0;
    }
    return e;
  }
}

interface LocalQueue {
  ref: QueueRef;
  ready: Deque;
  lastBlock: number;
}

/** A binary min-heap of deferred entries by due time. */
class DueHeap {
  #items: Entry[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): Entry | undefined {
    return this.#items[0];
  }

  push(e: Entry): void {
    e.heapIndex = this.#items.length;
    this.#items.push(e);
    this.#up(e.heapIndex);
  }

  pop(): Entry | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(e: Entry): void {
    const i = e.heapIndex;
    if (i === undefined || this.#items[i] !== e) return;
    const last = this.#items.pop()!;
    e.heapIndex = undefined;
    if (last !== e) {
      this.#items[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex!);
    }
  }

  #up(i: number): void {
    const items = this.#items;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (items[p]!.dueAt! <= items[i]!.dueAt!) break;
      this.#swap(i, p);
      i = p;
    }
  }

  #down(i: number): void {
    const items = this.#items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && items[l]!.dueAt! < items[m]!.dueAt!) m = l;
      if (r < items.length && items[r]!.dueAt! < items[m]!.dueAt!) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }

  #swap(a: number, b: number): void {
    const items = this.#items;
    const t = items[a]!;
    items[a] = items[b]!;
    items[b] = t;
    items[a]!.heapIndex = a;
    items[b]!.heapIndex = b;
  }
}

/** The record a store keeps of a discarded event. */
export function discardedEvent(event: StoredEvent, reason: string): DiscardedEvent {
  return {
    idem: event.idem,
    name: event.name,
    block: event.block,
    sender: event.sender,
    reason,
    discardedAt: Date.now(),
  };
}

const SWEEP_INTERVAL_MS = 60_000;

/** How a store built on {@linkcode LocalQueues} makes things durable. */
export interface LocalHooks {
  /** Makes a state change durable; resolves once it is. */
  persist(entry: Entry, outcome?: Settlement): Promise<void>;
  /** Loads a settled event that is no longer in memory (lookup of an acked event). */
  loadSettled(idem: string): Promise<EventRecord | undefined>;
  /** Called when an entry settled (acked or discarded); memory stores keep it for replay. */
  forget(entry: Entry): void;
  /** Called for each event the retention sweep drops from memory. */
  onExpired?(entry: Entry): void;
  /** Called after each retention sweep. */
  afterSweep?(now: number): void;
}

/** The shared in-process queue logic; see the module doc. */
export class LocalQueues implements LocalQueueState {
  options: StoreOptions = { retentionMs: 7 * 86_400_000, ackTimeoutMs: 30_000 };
  readonly entries: Map<string, Entry> = new Map();
  readonly #hooks: LocalHooks;
  #queues = new Map<string, Map<string, LocalQueue>>();
  #listeners: ReadyListener[] = [];
  #heap = new DueHeap();
  #dueTimer: TimerHandle | undefined;
  #dueTimerAt = Infinity;
  #sweepTimer: TimerHandle | undefined;
  /** The clock of the deferral timer and the retention sweep (`StoreOptions.clock`). */
  #clock: Clock = systemClock;
  closed = false;

  constructor(hooks: LocalHooks) {
    this.#hooks = hooks;
  }

  /** Starts the retention sweep. */
  open(options: StoreOptions): Promise<void> {
    this.options = options;
    this.#clock = options.clock ?? systemClock;
    this.#armSweep();
    return Promise.resolve();
  }

  #armSweep(): void {
    if (this.closed) return;
    this.#sweepTimer = this.#clock.setTimeout(() => {
      this.sweep(this.#clock.now());
      this.#armSweep();
    }, SWEEP_INTERVAL_MS);
    unrefTimer(this.#clock, this.#sweepTimer);
  }

  onReady(listener: ReadyListener): void {
    this.#listeners.push(listener);
  }

  notify(queue: QueueRef, count: number): void {
    for (const l of this.#listeners) l(queue, count);
  }

  queue(app: string, name: string): LocalQueue {
    let byName = this.#queues.get(app);
    if (byName === undefined) {
      byName = new Map();
      this.#queues.set(app, byName);
    }
    let q = byName.get(name);
    if (q === undefined) {
      q = { ref: { app, name }, ready: new Deque(), lastBlock: 0 };
      byName.set(name, q);
    }
    return q;
  }

  /** The last block of a queue. */
  lastBlock(app: string, name: string): number {
    return this.queue(app, name).lastBlock;
  }

  /** Assigns the next block of a queue. */
  nextBlock(app: string, name: string): number {
    return ++this.queue(app, name).lastBlock;
  }

  /** Raises a queue's last block (recovery). */
  seedBlock(app: string, name: string, block: number): void {
    const q = this.queue(app, name);
    if (block > q.lastBlock) q.lastBlock = block;
  }

  /**
   * Adds stored events to memory: ready ones join the back of their queue (then listeners hear of
   * it), deferred ones the deferral heap.
   */
  admit(
    items: readonly {
      event: StoredEvent;
      state?: "ready" | "deferred";
      dueAt?: number;
      loc?: unknown;
    }[],
    notify = true,
  ): void {
    const counts = new Map<LocalQueue, number>();
    const now = this.#clock.now();
    for (const item of items) {
      const entry: Entry = { event: item.event, state: "ready", version: 0, loc: item.loc };
      this.entries.set(item.event.idem, entry);
      const q = this.queue(item.event.app, item.event.name);
      if (item.state === "deferred" && item.dueAt !== undefined && item.dueAt > now) {
        entry.state = "deferred";
        entry.dueAt = item.dueAt;
        this.#heap.push(entry);
        continue;
      }
      q.ready.pushBack(entry);
      counts.set(q, (counts.get(q) ?? 0) + 1);
    }
    this.#armDueTimer();
    if (notify) { for (const [q, n] of counts) this.notify(q.ref, n); }
  }

  queueNames(app: string): Promise<string[]> {
    return Promise.resolve([...(this.#queues.get(app)?.keys() ?? [])]);
  }

  /** Synchronous claim (the async wrapper below is the interface). */
  claimNow(queue: QueueRef, _consumer: string): StoredEvent | undefined {
    const q = this.#queues.get(queue.app)?.get(queue.name);
    if (q === undefined) return undefined;
    for (let e = q.ready.shift(); e !== undefined; e = q.ready.shift()) {
      if (e.state !== "ready" || this.entries.get(e.event.idem) !== e) continue;
      e.state = "inflight";
      e.version++;
      return e.event;
    }
    return undefined;
  }

  claim(queue: QueueRef, consumer: string): Promise<StoredEvent | undefined> {
    return Promise.resolve(this.claimNow(queue, consumer));
  }

  release(event: StoredEvent, _consumer?: string): Promise<void> {
    const e = this.entries.get(event.idem);
    if (e !== undefined && e.state === "inflight") {
      e.state = "ready";
      e.version++;
      const q = this.queue(event.app, event.name);
      q.ready.pushFront(e);
      this.notify(q.ref, 1);
    }
    return Promise.resolve();
  }

  settle(event: StoredEvent, outcome: Settlement): Promise<EventState | undefined> {
    const e = this.entries.get(event.idem);
    if (e === undefined || e.state === "acked" || e.state === "discarded") {
      return Promise.resolve(undefined);
    }
    const before = e.state;
    if (before === "deferred") this.#heap.remove(e);
    e.version++;
    if (outcome.kind === "defer") {
      e.state = "deferred";
      e.dueAt = outcome.dueAt;
      this.#heap.push(e);
      this.#armDueTimer();
    } else {
      e.state = outcome.kind === "ack" ? "acked" : "discarded";
      delete e.dueAt;
      this.#hooks.forget(e);
    }
    return this.#hooks.persist(e, outcome).then(() => before);
  }

  async lookup(idem: string): Promise<EventRecord | undefined> {
    const e = this.entries.get(idem);
    if (e !== undefined) {
      return {
        event: e.event,
        state: e.state,
        ...(e.dueAt === undefined ? {} : { dueAt: e.dueAt }),
      };
    }
    return await this.#hooks.loadSettled(idem);
  }

  async requeue(event: StoredEvent): Promise<boolean> {
    let e = this.entries.get(event.idem);
    if (e !== undefined && e.state !== "acked" && e.state !== "discarded") return false;
    if (e === undefined) {
      e = { event, state: "ready", version: 0 };
      this.entries.set(event.idem, e);
    }
    e.state = "ready";
    e.version++;
    delete e.dueAt;
    const q = this.queue(event.app, event.name);
    q.ready.pushFront(e);
    await this.#hooks.persist(e);
    this.notify(q.ref, 1);
    return true;
  }

  #armDueTimer(): void {
    const next = this.#heap.peek();
    if (next === undefined || this.closed) return;
    if (next.dueAt! >= this.#dueTimerAt && this.#dueTimer !== undefined) return;
    this.#clock.clearTimeout(this.#dueTimer);
    this.#dueTimerAt = next.dueAt!;
    this.#dueTimer = this.#clock.setTimeout(() => {
      this.#dueTimer = undefined;
      this.#dueTimerAt = Infinity;
      this.releaseDue(this.#clock.now());
      this.#armDueTimer();
    }, next.dueAt! - this.#clock.now());
    unrefTimer(this.#clock, this.#dueTimer);
  }

  /** Counts the live entries of every queue by state (one pass over the entries). */
  counts(): Promise<QueueCounts[]> {
    const out = new Map<string, QueueCounts>();
    for (const e of this.entries.values()) {
      if (e.state === "acked" || e.state === "discarded") continue;
      const key = `${e.event.app}\n${e.event.name}`;
      let c = out.get(key);
      if (c === undefined) {
        out.set(
          key,
          c = { app: e.event.app, name: e.event.name, ready: 0, inflight: 0, deferred: 0 },
        );
      }
      if (e.state === "ready") c.ready++;
      else if (e.state === "inflight") c.inflight++;
      else c.deferred++;
    }
    // Queues that exist but are empty are listed too.
    for (const [app, byName] of this.#queues) {
      for (const name of byName.keys()) {
        const key = `${app}\n${name}`;
        if (!out.has(key)) out.set(key, { app, name, ready: 0, inflight: 0, deferred: 0 });
      }
    }
    return Promise.resolve([...out.values()]);
  }

  /** Makes every deferred event due at `now` ready again (at the back of its queue). */
  releaseDue(now: number): void {
    const counts = new Map<LocalQueue, number>();
    for (let e = this.#heap.peek(); e !== undefined && e.dueAt! <= now; e = this.#heap.peek()) {
      this.#heap.pop();
      if (e.state !== "deferred") continue;
      e.state = "ready";
      e.version++;
      delete e.dueAt;
      const q = this.queue(e.event.app, e.event.name);
      q.ready.pushBack(e);
      counts.set(q, (counts.get(q) ?? 0) + 1);
    }
    for (const [q, n] of counts) this.notify(q.ref, n);
  }

  /** Drops events older than the retention period (ready and deferred ones are not delivered). */
  sweep(now: number): void {
    const cutoff = now - this.options.retentionMs;
    for (const [idem, e] of this.entries) {
      if (e.event.loggedAt >= cutoff || e.state === "inflight") continue;
      if (e.state === "deferred") this.#heap.remove(e);
      e.version++;
      this.entries.delete(idem);
      this.#hooks.onExpired?.(e);
    }
    this.#hooks.afterSweep?.(now);
  }

  close(): Promise<void> {
    this.closed = true;
    this.#clock.clearTimeout(this.#dueTimer);
    this.#clock.clearTimeout(this.#sweepTimer);
    return Promise.resolve();
  }
}
