/**
 * The Redis store: several engines share one state, so clients of one app may connect to any of
 * them and still compete for the same queues.
 *
 * Layout under a prefix (default `ensync:`): each event is a hash `ev:<idem>` (fields and its
 * state, expiring with the retention period); each queue is a stream `q:<app>:<name>` read through
 * a consumer group (the group's cursor hands every new event to exactly one claimer), a list
 * `r:<app>:<name>` of events to redeliver first, and a sorted set `f:<app>:<name>` of in-flight
 * events by claim time. Deferred events wait in the sorted set `deferred` scored by due time;
 * discarded ones are listed in `x:<app>`. Every state change is one Lua script, so engines never
 * race. Engines learn of new events through the pub/sub channel `notify`, and each engine moves
 * due deferrals and in-flight events older than the ack timeout back to their queues.
 *
 * An engine that dies (a crash, `kill -9`) leaves the events its clients held in flight. Each
 * engine process names its Redis connections `syft-ensync:<instance>` and records the instance in
 * every claim, so when it opens, and every 2 s after, an engine asks Redis which instances are
 * still connected (`CLIENT LIST`) and moves the in-flight events of the others back to the front of
 * their queues at once: a restarted engine redelivers what its previous process held without
 * waiting for the ack timeout, and so do the surviving engines of a cluster. The kernel closes a
 * dead process's sockets, so Redis drops its connections at once; an engine cut off by the network
 * keeps its connection until TCP notices, and its events come back after the ack timeout, as they
 * do where `CLIENT LIST` is not allowed.
 *
 * @module
 */
import { Redis } from "ioredis";
import { type Clock, systemClock, type TimerHandle, unrefTimer } from "../../lib/_clock.ts";
import { getLogger } from "../../lib/_log.ts";
import {
  type DiscardedEvent,
  type EnSyncStore,
  EnSyncStoreError,
  type EventRecord,
  type EventState,
  type NewEvent,
  type QueueRef,
  type ReadyListener,
  type Settlement,
  type StoredEvent,
  type StoreOptions,
} from "./store.ts";
import { randomBase62 } from "./_ids.ts";

const log = getLogger(["ensync", "store", "redis"]);

const APPEND = `
local block = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'n', ARGV[3], 'p', ARGV[4], 'm', ARGV[5], 's', ARGV[6],
  't', ARGV[7], 'np', ARGV[8], 'b', block, 'st', 'r')
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'pm', ARGV[9]) end
redis.call('PEXPIRE', KEYS[1], ARGV[10])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[2], 'g', '0', 'MKSTREAM')
end
redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[11], '*', 'i', ARGV[1])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('SADD', KEYS[5], ARGV[2] .. '\\n' .. ARGV[3])
redis.call('PUBLISH', ARGV[12], ARGV[2] .. '\\n' .. ARGV[3])
return block
`;

const CLAIM = `
for i = 1, 1000 do
  local idem = redis.call('LPOP', KEYS[1])
  if not idem then
    if redis.call('EXISTS', KEYS[2]) == 0 then return false end
    local res = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 1, 'STREAMS', KEYS[2], '>')
    if not res then return false end
    local entry = res[1][2][1]
    if not entry then return false end
    redis.call('XACK', KEYS[2], 'g', entry[1])
    redis.call('XDEL', KEYS[2], entry[1])
    idem = entry[2][2]
  end
  local evk = ARGV[1] .. 'ev:' .. idem
  if redis.call('HGET', evk, 'st') == 'r' then
    redis.call('HSET', evk, 'st', 'f', 'c', ARGV[3])
    redis.call('ZADD', KEYS[3], ARGV[2], idem)
    local out = redis.call('HGETALL', evk)
    table.insert(out, 'idem')
    table.insert(out, idem)
    return out
  end
end
return false
`;

const RELEASE = `
local evk = ARGV[1] .. 'ev:' .. ARGV[2]
local f = redis.call('HMGET', evk, 'st', 'c')
if f[1] ~= 'f' or f[2] ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('HSET', evk, 'st', 'r')
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

const SETTLE = `
local evk = ARGV[1] .. 'ev:' .. ARGV[2]
local st = redis.call('HGET', evk, 'st')
if not st or st == 'a' or st == 'x' then return false end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
if ARGV[3] == 'ack' then
  redis.call('HSET', evk, 'st', 'a')
elseif ARGV[3] == 'discard' then
  redis.call('HSET', evk, 'st', 'x', 'reason', ARGV[5], 'xat', ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[6]) - tonumber(ARGV[7]))
else
  redis.call('HSET', evk, 'st', 'd', 'due', ARGV[4], 'reason', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
end
return st
`;

const REQUEUE = `
local evk = ARGV[1] .. 'ev:' .. ARGV[2]
local st = redis.call('HGET', evk, 'st')
if st ~= 'a' and st ~= 'x' then return 0 end
redis.call('HSET', evk, 'st', 'r')
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

const DUE = `
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, 500)
for _, idem in ipairs(items) do
  if redis.call('ZREM', KEYS[1], idem) == 1 then
    local evk = ARGV[1] .. 'ev:' .. idem
    local f = redis.call('HMGET', evk, 'st', 'a', 'n')
    if f[1] == 'd' then
      redis.call('HSET', evk, 'st', 'r')
      redis.call('RPUSH', ARGV[1] .. 'r:' .. f[2] .. ':' .. f[3], idem)
      redis.call('PUBLISH', ARGV[3], f[2] .. '\\n' .. f[3])
    end
  end
end
return #items
`;

const RECLAIM = `
local moved = 0
local queues = redis.call('SMEMBERS', KEYS[1])
for _, q in ipairs(queues) do
  local nl = string.find(q, '\\n', 1, true)
  local app = string.sub(q, 1, nl - 1)
  local name = string.sub(q, nl + 1)
  local fk = ARGV[1] .. 'f:' .. app .. ':' .. name
  local stale = redis.call('ZRANGEBYSCORE', fk, '-inf', ARGV[2], 'LIMIT', 0, 500)
  for _, idem in ipairs(stale) do
    if redis.call('ZREM', fk, idem) == 1 then
      local evk = ARGV[1] .. 'ev:' .. idem
      if redis.call('HGET', evk, 'st') == 'f' then
        redis.call('HSET', evk, 'st', 'r')
        redis.call('LPUSH', ARGV[1] .. 'r:' .. app .. ':' .. name, idem)
        redis.call('PUBLISH', ARGV[3], q)
        moved = moved + 1
      end
    end
  end
end
return moved
`;

const ORPHANS = `
local live = {}
for i = 4, #ARGV do live[ARGV[i]] = true end
local moved = 0
local queues = redis.call('SMEMBERS', KEYS[1])
for _, q in ipairs(queues) do
  local nl = string.find(q, '\\n', 1, true)
  local app = string.sub(q, 1, nl - 1)
  local name = string.sub(q, nl + 1)
  local fk = ARGV[1] .. 'f:' .. app .. ':' .. name
  local held = redis.call('ZRANGEBYSCORE', fk, '-inf', ARGV[2])
  for _, idem in ipairs(held) do
    local evk = ARGV[1] .. 'ev:' .. idem
    local f = redis.call('HMGET', evk, 'st', 'c')
    local slash = f[2] and string.find(f[2], '/', 1, true)
    if f[1] == 'f' and slash and not live[string.sub(f[2], 1, slash - 1)] then
      redis.call('ZREM', fk, idem)
      redis.call('HSET', evk, 'st', 'r')
      redis.call('LPUSH', ARGV[1] .. 'r:' .. app .. ':' .. name, idem)
      redis.call('PUBLISH', ARGV[3], q)
      moved = moved + 1
    end
  end
end
return moved
`;

/** The connection name of an engine instance: `syft-ensync:<instance>`. */
const NAME_PREFIX = "syft-ensync:";
/** How often in-flight events of engines no longer connected are looked for. */
const ORPHAN_SCAN_MS = 2_000;

type Script = (...args: (string | number)[]) => Promise<unknown>;

const STATES: Record<string, EventState> = {
  r: "ready",
  f: "inflight",
  d: "deferred",
  a: "acked",
  x: "discarded",
};

function toEvent(idem: string, h: Record<string, string>): StoredEvent {
  const ev: StoredEvent = {
    idem,
    app: h.a!,
    name: h.n!,
    block: Number(h.b),
    loggedAt: Number(h.t),
    payload: h.p!,
    metadata: h.m ?? "{}",
    sender: h.s ?? "",
    persist: h.np !== "1",
  };
  if (h.pm !== undefined) ev.payloadMetadata = h.pm;
  return ev;
}

function pairs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}

/** Options for {@linkcode RedisEventStore}. */
export interface RedisEventStoreOptions {
  /** The key prefix (default `ensync:`); engines sharing state use the same prefix. */
  prefix?: string;
}

/**
 * The Redis store; see the module doc.
 *
 * @example Two engines, one state
 * ```ts ignore
 * import { RedisEventStore, startEnSyncServer } from "@syft/syft/ensync/engine";
 * const a = await startEnSyncServer({ config: "ensync.yaml", store: new RedisEventStore("redis://127.0.0.1:6379") });
 * const b = await startEnSyncServer({ config: "ensync.yaml", store: new RedisEventStore("redis://127.0.0.1:6379"), wsPort: 8083, grpcPort: 50052 });
 * ```
 */
export class RedisEventStore implements EnSyncStore, AsyncDisposable {
  /** `redis <url>`. */
  readonly description: string;
  readonly #url: string;
  readonly #prefix: string;
  #redis: Redis | undefined;
  #sub: Redis | undefined;
  #listeners: ReadyListener[] = [];
  #options: StoreOptions = { retentionMs: 7 * 86_400_000, ackTimeoutMs: 30_000 };
  #timer: TimerHandle | undefined;
  /** The clock of the maintenance timer, claim times and due checks (`StoreOptions.clock`). */
  #clock: Clock = systemClock;
  #ticks = 0;
  #closed = false;
  #scripts: Record<string, Script> = {};
  /** This process's instance id, recorded in its claims and its connections' names. */
  readonly #instance = randomBase62(12);
  #lastOrphanScan = 0;
  /** False once Redis refused `CLIENT LIST` (then only the ack timeout reclaims). */
  #orphanScan = true;

  /**
   * Creates the store (it connects on `open()`).
   *
   * @param url A `redis://` or `rediss://` URL.
   * @param options The key prefix.
   */
  constructor(url: string, options: RedisEventStoreOptions = {}) {
    this.#url = url;
    this.#prefix = options.prefix ?? "ensync:";
    const shown = new URL(url);
    shown.password = shown.password ? "***" : "";
    this.description = `redis ${shown.toString()} (prefix ${this.#prefix})`;
  }

  get #channel(): string {
    return `${this.#prefix}notify`;
  }

  #q(kind: string, q: QueueRef): string {
    return `${this.#prefix}${kind}:${q.app}:${q.name}`;
  }

  get #db(): Redis {
    if (this.#redis === undefined || this.#closed) {
      throw new EnSyncStoreError("The Redis store is not open");
    }
    return this.#redis;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new EnSyncStoreError(
        `Cannot ${what} in Redis: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /**
   * Connects (a command connection and a pub/sub one) and starts the deferral and reclaim timer.
   *
   * @param options Retention and ack timeout.
   */
  async open(options: StoreOptions): Promise<void> {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const redis = new Redis(this.#url, {
      lazyConnect: true,
      maxRetriesPerRequest: 3,
      enableAutoPipelining: true,
      connectionName: `${NAME_PREFIX}${this.#instance}`,
    });
    let lastError = "";
    redis.on("error", (err) => {
      lastError = err instanceof Error ? err.message : String(err);
      log.warn("Redis: {error}", { error: lastError });
    });
    const scripts: [string, number, string][] = [
      ["APPEND", 5, APPEND],
      ["CLAIM", 3, CLAIM],
      ["RELEASE", 2, RELEASE],
      ["SETTLE", 3, SETTLE],
      ["REQUEUE", 1, REQUEUE],
      ["DUE", 1, DUE],
      ["RECLAIM", 1, RECLAIM],
      ["ORPHANS", 1, ORPHANS],
    ];
    for (const [name, keys, lua] of scripts) {
      const cmd = `ensync${name}`;
      redis.defineCommand(cmd, { numberOfKeys: keys, lua });
      const fn = (redis as unknown as Record<string, Script>)[cmd]!;
      this.#scripts[name] = (...args) => fn.apply(redis, args);
    }
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new EnSyncStoreError(
        `Cannot connect to Redis at ${this.description.slice(6)}: ${
          lastError || (err instanceof Error ? err.message : String(err))
        }`,
        { cause: err },
      );
    }
    this.#redis = redis;
    const sub = redis.duplicate();
    sub.on("error", (err) => log.warn("Redis pub/sub: {error}", { error: String(err) }));
    sub.on("message", (_channel: string, message: string) => {
      const nl = message.indexOf("\n");
      if (nl > 0) this.#notify({ app: message.slice(0, nl), name: message.slice(nl + 1) }, 1);
    });
    await this.#call("subscribe", () => sub.subscribe(this.#channel));
    this.#sub = sub;
    // What a previous process of this engine (or another dead engine) held is ready again now.
    await this.#reclaimOrphans(this.#clock.now());
    this.#armTick(Math.max(50, Math.min(500, Math.floor(options.ackTimeoutMs / 4))));
  }

  /** Runs the maintenance tick (deferrals due, reclaims) every `every` ms on the clock. */
  #armTick(every: number): void {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#armTick(every);
      void this.#tick();
    }, every);
    unrefTimer(this.#clock, this.#timer);
  }

  #notify(q: QueueRef, n: number): void {
    for (const l of this.#listeners) l(q, n);
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    const now = this.#clock.now();
    try {
      await this.#scripts.DUE!(`${this.#prefix}deferred`, this.#prefix, now, this.#channel);
      await this.#scripts.RECLAIM!(
        `${this.#prefix}allqueues`,
        this.#prefix,
        now - this.#options.ackTimeoutMs,
        this.#channel,
      );
      if (now - this.#lastOrphanScan >= ORPHAN_SCAN_MS) await this.#reclaimOrphans(now);
      // A safety net for lost notifications: every few seconds, tell listeners about every queue.
      if (++this.#ticks % 8 === 0) {
        const all = await this.#db.smembers(`${this.#prefix}allqueues`);
        for (const q of all) {
          const nl = q.indexOf("\n");
          this.#notify({ app: q.slice(0, nl), name: q.slice(nl + 1) }, 1);
        }
      }
    } catch (err) {
      if (!this.#closed) log.warn("Redis maintenance failed: {error}", { error: String(err) });
    }
  }

  /**
   * Moves the in-flight events of engine instances that have no connection to Redis any more back
   * to the front of their queues. Only claims made before `now` count, so an engine that connects
   * after the `CLIENT LIST` snapshot and claims at once is never mistaken for a dead one.
   */
  async #reclaimOrphans(now: number): Promise<void> {
    this.#lastOrphanScan = now;
    if (!this.#orphanScan) return;
    let list: string;
    try {
      list = String(await this.#db.call("CLIENT", "LIST", "TYPE", "normal"));
    } catch (err) {
      this.#orphanScan = false;
      log.warn(
        "Redis refused CLIENT LIST ({error}): events held by an engine that died come back " +
          "after the ack timeout ({ms} ms), not at once",
        { error: err instanceof Error ? err.message : String(err), ms: this.#options.ackTimeoutMs },
      );
      return;
    }
    const live = new Set<string>([this.#instance]);
    for (const m of list.matchAll(/(?:^| )name=syft-ensync:(\S+)/gm)) live.add(m[1]!);
    try {
      const moved = await this.#scripts.ORPHANS!(
        `${this.#prefix}allqueues`,
        this.#prefix,
        now,
        this.#channel,
        ...live,
      );
      if (Number(moved) > 0) {
        log.info("Redelivering {count} event(s) held by engines that are gone", { count: moved });
      }
    } catch (err) {
      if (!this.#closed) {
        log.warn("Cannot reclaim events of engines that are gone: {error}", { error: String(err) });
      }
    }
  }

  /** The consumer as stored in a claim: this instance and the client id. */
  #consumer(consumer: string): string {
    return `${this.#instance}/${consumer}`;
  }

  onReady(listener: ReadyListener): void {
    this.#listeners.push(listener);
  }

  /**
   * Stores events (one Lua script each, pipelined) and resolves once Redis has them.
   *
   * @param events The events, one per recipient.
   * @returns The stored events with idem and block.
   */
  append(events: NewEvent[]): Promise<StoredEvent[]> {
    return this.#call("append events", () =>
      Promise.all(events.map(async (ev) => {
        const idem = randomBase62(16);
        const block = await this.#scripts.APPEND!(
          `${this.#prefix}ev:${idem}`,
          this.#q("q", ev),
          this.#q("blk", ev),
          `${this.#prefix}queues:${ev.app}`,
          `${this.#prefix}allqueues`,
          idem,
          ev.app,
          ev.name,
          ev.payload,
          ev.metadata,
          ev.sender,
          ev.loggedAt,
          ev.persist ? "0" : "1",
          ev.payloadMetadata ?? "",
          this.#options.retentionMs,
          Math.max(0, ev.loggedAt - this.#options.retentionMs),
          this.#channel,
        );
        return { ...ev, idem, block: Number(block) };
      })));
  }

  queueNames(app: string): Promise<string[]> {
    return this.#call("list queues", () => this.#db.smembers(`${this.#prefix}queues:${app}`));
  }

  async claim(queue: QueueRef, consumer: string): Promise<StoredEvent | undefined> {
    const out = await this.#call("claim", () =>
      this.#scripts.CLAIM!(
        this.#q("r", queue),
        this.#q("q", queue),
        this.#q("f", queue),
        this.#prefix,
        this.#clock.now(),
        this.#consumer(consumer),
      )) as string[] | null;
    if (!out) return undefined;
    const h = pairs(out);
    return toEvent(h.idem!, h);
  }

  async release(event: StoredEvent, consumer: string): Promise<void> {
    await this.#call("release", () =>
      this.#scripts.RELEASE!(
        this.#q("f", event),
        this.#q("r", event),
        this.#prefix,
        event.idem,
        this.#consumer(consumer),
        this.#channel,
        `${event.app}\n${event.name}`,
      ));
  }

  async settle(event: StoredEvent, outcome: Settlement): Promise<EventState | undefined> {
    const before = await this.#call("settle", () =>
      this.#scripts.SETTLE!(
        this.#q("f", event),
        `${this.#prefix}deferred`,
        `${this.#prefix}x:${event.app}`,
        this.#prefix,
        event.idem,
        outcome.kind,
        outcome.kind === "defer" ? outcome.dueAt : 0,
        outcome.kind === "ack" ? "" : outcome.reason,
        this.#clock.now(),
        this.#options.retentionMs,
      )) as string | null;
    return before ? STATES[before] : undefined;
  }

  async lookup(idem: string): Promise<EventRecord | undefined> {
    const h = await this.#call(
      "look up an event",
      () => this.#db.hgetall(`${this.#prefix}ev:${idem}`),
    );
    if (!h || h.a === undefined) return undefined;
    const state = STATES[h.st ?? "r"] ?? "ready";
    return {
      event: toEvent(idem, h),
      state,
      ...(state === "deferred" && h.due !== undefined ? { dueAt: Number(h.due) } : {}),
    };
  }

  async requeue(event: StoredEvent): Promise<boolean> {
    const n = await this.#call("requeue", () =>
      this.#scripts.REQUEUE!(
        this.#q("r", event),
        this.#prefix,
        event.idem,
        this.#channel,
        `${event.app}\n${event.name}`,
      ));
    return n === 1;
  }

  async discarded(app: string, limit: number): Promise<DiscardedEvent[]> {
    const idems = await this.#call(
      "list discarded events",
      () => this.#db.zrevrange(`${this.#prefix}x:${app}`, 0, limit - 1),
    );
    const out: DiscardedEvent[] = [];
    for (const idem of idems) {
      const h = await this.#db.hgetall(`${this.#prefix}ev:${idem}`);
      if (!h || h.a === undefined) continue;
      out.push({
        idem,
        name: h.n!,
        block: Number(h.b),
        sender: h.s ?? "",
        reason: h.reason ?? "",
        discardedAt: Number(h.xat),
      });
    }
    return out;
  }

  /**
   * Drops an app's discarded events from the listing (all, or those named); their records stay
   * for replay within retention.
   *
   * @param app The app id.
   * @param idems Only these (default all).
   * @returns How many were dropped.
   */
  async purgeDiscarded(app: string, idems?: readonly string[]): Promise<number> {
    const key = `${this.#prefix}x:${app}`;
    if (idems === undefined) {
      return await this.#call("purge discarded events", async () => {
        const n = await this.#db.zcard(key);
        await this.#db.del(key);
        return n;
      });
    }
    if (idems.length === 0) return 0;
    return await this.#call("purge discarded events", () => this.#db.zrem(key, ...idems));
  }

  /** Stops the timer and closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    await Promise.allSettled([this.#sub?.quit(), this.#redis?.quit()]);
  }

  /**
   * Closes the store (`await using`).
   *
   * @returns Resolves when closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
