/**
 * The delivery core of the engine, independent of the wire: sessions (connected clients),
 * subscriptions, one event in flight per subscription, competing consumers, redelivery on
 * disconnect, unsubscribe and ack timeout, defer, discard, replay, rollback, pause and continue.
 * The WebSocket and gRPC front ends translate their commands into calls on {@linkcode EnSyncBroker}.
 *
 * Hot-path design: a subscription that has nothing to do waits in a set per queue; a published
 * event wakes one waiter, which claims the next event from the store (no scans). Ack timeouts are
 * checked by one timer walking the in-flight map from its oldest entry (no per-message timers).
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { type Clock, systemClock, type TimerHandle, unrefTimer } from "../../lib/_clock.ts";
import { getLogger } from "../../lib/_log.ts";
import { SyftError } from "../../lib/errors.ts";
import type { EnSyncFailCode } from "../../lib/ensync/errors.ts";
import { type AppRegistry, type EnSyncApp, eventMatcher, isEventPattern } from "./config.ts";
import {
  type EnSyncStore,
  EnSyncStoreError,
  type EventState,
  type QueueRef,
  type StoredEvent,
} from "./store.ts";
import { randomBase62 } from "./_ids.ts";
import { EnSyncLiveRecorder } from "./live.ts";

const log = getLogger(["ensync", "broker"]);

/**
 * The shortest and longest defer delays (1 s and 24 h).
 *
 * @example
 * ```ts
 * import { DEFER_LIMITS_MS } from "@syft/syft/ensync/engine";
 * console.log(DEFER_LIMITS_MS.max / 3_600_000); // 24
 * ```
 */
export const DEFER_LIMITS_MS: { min: number; max: number } = { min: 1_000, max: 86_400_000 };

/**
 * The stable codes of {@linkcode EnSyncEngineError}, sent as `-FAIL:<code>` on WebSocket and in
 * `error_message`/`message` on gRPC: the client's `EnSyncFailCode` (one list for both sides).
 *
 * @example
 * ```ts
 * import type { EnSyncEngineErrorCode } from "@syft/syft/ensync/engine";
 * const retry = (code: EnSyncEngineErrorCode): boolean => code === "STORE_ERROR";
 * console.log(retry("NOT_FOUND")); // false
 * ```
 */
export type EnSyncEngineErrorCode = EnSyncFailCode;

/**
 * A command the engine refuses; `code` is one of {@linkcode EnSyncEngineErrorCode}.
 *
 * @example
 * ```ts
 * import { EnSyncEngineError } from "@syft/syft/ensync/engine";
 * const err = new EnSyncEngineError("NOT_FOUND", "Event not found or no longer available");
 * console.log(err.code); // NOT_FOUND
 * ```
 */
export class EnSyncEngineError extends SyftError {
  /**
   * Creates the error.
   *
   * @param code The stable code.
   * @param message A human-readable description.
   * @param options The underlying error.
   */
  constructor(code: EnSyncEngineErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code });
    this.name = "EnSyncEngineError";
  }

  /** The stable code. */
  declare readonly code: EnSyncEngineErrorCode;
}

/** Where a session's deliveries go; implemented by each front end. */
export interface EngineSessionSink {
  /** Sends an event to the client for `sub`. */
  deliver(sub: EngineSubscription, event: StoredEvent): void;
}

/**
 * A connected client (one per WebSocket connection or gRPC `Connect`); made by
 * {@linkcode EnSyncBroker.connect}.
 *
 * @example
 * ```ts ignore
 * const session = broker.connect("shop-access-key", { deliver: (sub, event) => {} });
 * console.log(session.id, session.appName);
 * ```
 */
export class EngineSession {
  /** The client id. */
  readonly id: string;
  /** The app id (base64 public key). */
  readonly appId: string;
  /** The app name at connect time. */
  readonly appName: string;
  /** The value sent as `clientHash`: the app id without base64 padding. */
  readonly hash: string;
  /** Subscriptions by pattern. */
  readonly subs: Map<string, EngineSubscription> = new Map();
  /** In-flight events of this session by idem. */
  readonly held: Map<string, EngineSubscription> = new Map();
  /** The front end's delivery sink. */
  readonly sink: EngineSessionSink;
  /** Set once the session ended. */
  closed = false;

  /**
   * Creates a session; {@linkcode EnSyncBroker.connect} does this.
   *
   * @param id The client id.
   * @param app The app.
   * @param sink Where deliveries go.
   */
  constructor(id: string, app: EnSyncApp, sink: EngineSessionSink) {
    this.id = id;
    this.appId = app.appId;
    this.appName = app.name;
    this.hash = app.appId.replace(/=+$/, "");
    this.sink = sink;
  }
}

/**
 * One subscription of a session: a name or pattern, with at most one event in flight; made by
 * {@linkcode EnSyncBroker.subscribe}.
 *
 * @example
 * ```ts ignore
 * const sub = await broker.subscribe(session, "orders/*");
 * console.log(sub.wildcard, sub.inflight?.event.idem);
 * ```
 */
export class EngineSubscription {
  /** The session. */
  readonly session: EngineSession;
  /** The subscribed name or pattern. */
  readonly pattern: string;
  /** Whether the pattern is a wildcard. */
  readonly wildcard: boolean;
  /** Whether the client paused it. */
  paused = false;
  /** Whether a front end can deliver to it now (a gRPC stream is open for it). */
  attached = true;
  /** The event in flight and when it was delivered. */
  inflight: { event: StoredEvent; at: number } | undefined;
  /** The queues it reads, in round-robin order. */
  queues: QueueRef[] = [];
  /** Front-end data (such as the gRPC stream of a per-subscription stream). */
  tag: unknown;
  /** Set when it was removed. */
  closed = false;
  /** Claim in progress. */
  claiming = false;
  /** A ready signal arrived during a claim. */
  rewake = false;
  /** Round-robin position in `queues`. */
  rr = 0;

  /**
   * Creates a subscription; {@linkcode EnSyncBroker.subscribe} does this.
   *
   * @param session The session.
   * @param pattern The name or pattern.
   */
  constructor(session: EngineSession, pattern: string) {
    this.session = session;
    this.pattern = pattern;
    this.wildcard = isEventPattern(pattern);
  }
}

/** Options of {@linkcode EnSyncBroker}. */
export interface EnSyncBrokerOptions {
  /** Redeliver an event not acked within this time (default 30 000 ms). */
  ackTimeoutMs?: number;
  /** Keep events this long (default 7 days). */
  retentionMs?: number;
  /** The largest accepted payload, in characters of base64 (default 8 MiB). */
  maxPayloadBytes?: number;
  /**
   * The clock ack timeouts, defer due times and event times are read from (default the system
   * clock); tests pass a fake one and advance it. The store is opened with it too, so its deferral
   * timer runs on the same clock.
   */
  clock?: Clock;
}

/** What {@linkcode EnSyncBroker.publish} returns. */
export interface EnSyncPublished {
  /** The event id. */
  idem: string;
  /** When the engine accepted it (ms). */
  loggedAt: number;
  /** The block in its queue. */
  block: number;
}

/** A replayed event: the stored event and how it stands. */
export interface EnSyncReplayed {
  /** The event. */
  event: StoredEvent;
  /** Its state. */
  state: EventState;
  /** When the replay happened (ms). */
  replayedAt: number;
}

const NAME_MAX = 512;
/** A stranded event (its settle failed) is released after this, then twice as long each try. */
const STRANDED_FIRST_MS = 1_000;
/** The longest wait between releases of a stranded event. */
const STRANDED_MAX_MS = 30_000;

/** An event whose settle the store failed while its session held it. */
interface Stranded {
  event: StoredEvent;
  session: EngineSession;
  delayMs: number;
  timer: TimerHandle | undefined;
}

/** What a settle command names: the event, its state, and who holds it if it is in flight. */
interface Resolved {
  /** The subscription holding it in flight for this session. */
  sub?: EngineSubscription;
  /** Set when this session holds it in flight (by `sub`, or stranded after a failed settle). */
  owner?: EngineSession;
  event: StoredEvent;
  state: EventState;
}
/** Any character outside standard and URL-safe base64 (a search is cheaper than an anchored match). */
const NOT_BASE64_RE = /[^A-Za-z0-9+/=_-]/;
const BAD_NAME_RE = /[\s;]/;

function queueKey(app: string, name: string): string {
  return `${app}\n${name}`;
}

/**
 * The delivery core; see the module doc.
 *
 * @example Deliver one event between two sessions
 * ```ts
 * import { AppRegistry, EnSyncBroker, MemoryEventStore } from "@syft/syft/ensync/engine";
 * const id = (n: number) => btoa(String.fromCharCode(...new Uint8Array(32).fill(n)));
 * const registry = new AppRegistry({
 *   grpcStreams: "auto",
 *   apps: [
 *     { name: "a", accessKey: "key-a-123", appId: id(1), send: ["*"], receive: ["*"] },
 *     { name: "b", accessKey: "key-b-123", appId: id(2), send: ["*"], receive: ["*"] },
 *   ],
 * });
 * const broker = new EnSyncBroker(new MemoryEventStore(), registry);
 * await broker.start();
 * const b = broker.connect("key-b-123", { deliver: (_sub, ev) => console.log(ev.name) });
 * await broker.subscribe(b, "orders/created");
 * const a = broker.connect("key-a-123", { deliver: () => {} });
 * await broker.publish(a, { name: "orders/created", payload: "e30=", deliveryTo: id(2) });
 * await broker.close();
 * ```
 */
export class EnSyncBroker {
  /** The store. */
  readonly store: EnSyncStore;
  #registry: AppRegistry;
  readonly #ackTimeoutMs: number;
  readonly #retentionMs: number;
  readonly #maxPayload: number;
  #sessions = new Map<string, EngineSession>();
  #waiters = new Map<string, Set<EngineSubscription>>();
  #patternSubs = new Map<string, Set<EngineSubscription>>();
  #known = new Map<string, Set<string>>();
  #inflight = new Map<string, EngineSubscription>();
  /**
   * Events whose settle the store failed (Redis down, say): still in flight in the store, no
   * longer held by a subscription (the next event went out already). The session that held one may
   * settle it again; otherwise it is released back to its queue, retried with backoff on the clock
   * until the store answers, so it is redelivered without a restart.
   */
  readonly #stranded = new Map<string, Stranded>();
  readonly #clock: Clock;
  #tick: TimerHandle | undefined;
  #metaCache = new LRUCache<string, boolean>({ max: 1_024 });
  #started = false;
  #closed = false;
  /** Live counters and feed (read by `createEnSyncLive()`). */
  readonly live: EnSyncLiveRecorder = new EnSyncLiveRecorder();

  /**
   * Creates the broker.
   *
   * @param store Where events are kept.
   * @param registry The apps and their permissions.
   * @param options Ack timeout, retention and size limit.
   */
  constructor(store: EnSyncStore, registry: AppRegistry, options: EnSyncBrokerOptions = {}) {
    this.store = store;
    this.#registry = registry;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    this.#retentionMs = options.retentionMs ?? 7 * 86_400_000;
    this.#maxPayload = options.maxPayloadBytes ?? 8 * 1024 * 1024;
    this.#clock = options.clock ?? systemClock;
  }

  /** The current app registry. */
  get registry(): AppRegistry {
    return this.#registry;
  }

  /** The ack timeout in ms. */
  get ackTimeoutMs(): number {
    return this.#ackTimeoutMs;
  }

  /** The number of connected sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The connected sessions, oldest first. */
  sessions(): IterableIterator<EngineSession> {
    return this.#sessions.values();
  }

  /**
   * Replaces the apps and permissions (config reload). Sessions of removed apps are disconnected.
   *
   * @param registry The new registry.
   */
  setRegistry(registry: AppRegistry): void {
    this.#registry = registry;
    for (const s of [...this.#sessions.values()]) {
      if (registry.byAppId(s.appId) === undefined) this.disconnect(s);
    }
  }

  /** Opens the store and starts the ack-timeout timer. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.store.onReady((q, n) => this.#onReady(q, n));
    await this.store.open({
      retentionMs: this.#retentionMs,
      ackTimeoutMs: this.#ackTimeoutMs,
      clock: this.#clock,
    });
    this.#armTick(Math.max(10, Math.min(1_000, Math.floor(this.#ackTimeoutMs / 4))));
  }

  /** Checks ack timeouts every `every` ms on the clock (an unref'd timer on the real one). */
  #armTick(every: number): void {
    if (this.#closed) return;
    this.#tick = this.#clock.setTimeout(() => {
      this.#expireInflight(this.#clock.now());
      this.#armTick(every);
    }, every);
    unrefTimer(this.#clock, this.#tick);
  }

  /** Disconnects every session (their in-flight events are released) and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#tick);
    for (const entry of this.#stranded.values()) this.#clock.clearTimeout(entry.timer);
    this.#stranded.clear();
    const releases = [...this.#sessions.values()].map((s) => this.disconnect(s));
    await Promise.allSettled(releases);
    await this.store.close();
  }

  #app(session: EngineSession): EnSyncApp {
    if (session.closed || this.#sessions.get(session.id) !== session) {
      throw new EnSyncEngineError("CLIENT_NOT_FOUND", "Client not found or session expired");
    }
    const app = this.#registry.byAppId(session.appId);
    if (app === undefined) {
      throw new EnSyncEngineError("CLIENT_NOT_FOUND", "The app of this client was removed");
    }
    return app;
  }

  /**
   * Authenticates an access key and opens a session with a fresh client id.
   *
   * @param accessKey The app's access key.
   * @param sink Where the session's deliveries go.
   * @returns The session.
   * @throws {EnSyncEngineError} `CLIENT_NOT_FOUND` for an unknown key.
   */
  connect(accessKey: string, sink: EngineSessionSink): EngineSession {
    if (this.#closed) throw new EnSyncEngineError("UNAVAILABLE", "The engine is stopping");
    if (!accessKey) throw new EnSyncEngineError("MISSING_PARAMETERS", "ACCESS_KEY is required");
    const app = this.#registry.byAccessKey(accessKey);
    if (app === undefined) throw new EnSyncEngineError("CLIENT_NOT_FOUND", "Invalid access key");
    const session = new EngineSession(randomBase62(20), app, sink);
    this.#sessions.set(session.id, session);
    this.live.connected(session);
    log.debug("Client {id} of app {app} connected", { id: session.id, app: app.name });
    return session;
  }

  /**
   * Finds a live session by client id.
   *
   * @param clientId The client id.
   * @returns The session or `undefined`.
   */
  session(clientId: string): EngineSession | undefined {
    return this.#sessions.get(clientId);
  }

  /**
   * Ends a session: its subscriptions go and its in-flight events return to their queues.
   *
   * @param session The session.
   * @returns Resolves when the releases are recorded.
   */
  async disconnect(session: EngineSession): Promise<void> {
    if (session.closed) return;
    session.closed = true;
    this.#sessions.delete(session.id);
    this.live.disconnected(session);
    const releases: Promise<void>[] = [];
    for (const sub of session.subs.values()) releases.push(this.#removeSub(sub));
    session.subs.clear();
    await Promise.allSettled(releases);
    log.debug("Client {id} disconnected", { id: session.id });
  }

  /**
   * Publishes one event to one recipient.
   *
   * @param session The publishing session.
   * @param input Name, payload (base64 envelope), recipient app id, metadata JSON text and
   *   payload metadata JSON text.
   * @returns The idem, timestamp and block, once the event is durable.
   * @throws {EnSyncEngineError} For a bad name, missing field, permission or unknown recipient.
   */
  async publish(
    session: EngineSession,
    input: {
      name: string;
      payload: string;
      deliveryTo: string;
      metadata?: string;
      payloadMetadata?: string;
    },
  ): Promise<EnSyncPublished> {
    const app = this.#app(session);
    const name = input.name;
    this.#checkName(name, false);
    if (!input.payload) throw new EnSyncEngineError("MISSING_PARAMETERS", "PAYLOAD is required");
    if (!input.deliveryTo) {
      throw new EnSyncEngineError("MISSING_PARAMETERS", "DELIVERY_TO is required");
    }
    if (input.payload.length > this.#maxPayload) {
      throw new EnSyncEngineError(
        "PAYLOAD_TOO_LARGE",
        `Payload is ${input.payload.length} bytes; the limit is ${this.#maxPayload}`,
      );
    }
    if (NOT_BASE64_RE.test(input.payload)) {
      throw new EnSyncEngineError(
        "INVALID_PAYLOAD",
        "PAYLOAD must be base64 (an encrypted envelope)",
      );
    }
    if (!this.#registry.canSend(app, name)) {
      throw new EnSyncEngineError("PERMISSION_DENIED", `App "${app.name}" cannot send "${name}"`);
    }
    const recipient = this.#registry.byAppId(input.deliveryTo);
    if (recipient === undefined) {
      throw new EnSyncEngineError("NOT_FOUND", `No app has the id "${input.deliveryTo}"`);
    }
    if (!this.#registry.canReceive(recipient, name)) {
      throw new EnSyncEngineError(
        "PERMISSION_DENIED",
        `App "${recipient.name}" cannot receive "${name}"`,
      );
    }
    const metadataText = input.metadata === undefined || input.metadata === ""
      ? "{}"
      : input.metadata;
    const persist = this.#metadataPersist(metadataText);
    let payloadMetadata: string | undefined;
    if (input.payloadMetadata !== undefined && input.payloadMetadata !== "") {
      try {
        JSON.parse(input.payloadMetadata);
        payloadMetadata = input.payloadMetadata;
      } catch (err) {
        throw new EnSyncEngineError("INVALID_METADATA", "PAYLOAD_METADATA must be JSON", {
          cause: err,
        });
      }
    }
    const loggedAt = this.#clock.now();
    const event = {
      app: recipient.appId,
      name,
      payload: input.payload,
      metadata: metadataText,
      sender: app.appId,
      loggedAt,
      persist,
      ...(payloadMetadata === undefined ? {} : { payloadMetadata }),
    };
    let stored: StoredEvent[];
    try {
      stored = await this.store.append([event]);
    } catch (err) {
      throw this.#storeFault(err);
    }
    const ev = stored[0]!;
    this.live.published(ev);
    return { idem: ev.idem, loggedAt: ev.loggedAt, block: ev.block };
  }

  /**
   * Validates metadata JSON (an object) and returns its `persist` flag. Clients send the same
   * metadata text again and again, so results are cached by text.
   */
  #metadataPersist(text: string): boolean {
    const cached = this.#metaCache.get(text);
    if (cached !== undefined) return cached;
    let persist = true;
    try {
      const meta = JSON.parse(text);
      if (meta === null || typeof meta !== "object" || Array.isArray(meta)) throw new TypeError();
      if ((meta as { persist?: unknown }).persist === false) persist = false;
    } catch (err) {
      throw new EnSyncEngineError("INVALID_METADATA", "METADATA must be a JSON object", {
        cause: err,
      });
    }
    if (text.length <= 4_096) {
      this.#metaCache.set(text, persist);
    }
    return persist;
  }

  #storeFault(err: unknown): EnSyncEngineError {
    if (err instanceof EnSyncEngineError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new EnSyncEngineError("STORE_ERROR", `The store failed: ${message}`, { cause: err });
  }

  #checkName(name: string, allowPattern: boolean): void {
    if (!name || name === "undefined") {
      throw new EnSyncEngineError("MISSING_PARAMETERS", "EVENT_NAME is required");
    }
    if (name.length > NAME_MAX || BAD_NAME_RE.test(name)) {
      throw new EnSyncEngineError(
        "INVALID_EVENT_NAME",
        `Event name "${
          name.slice(0, 80)
        }" is invalid: at most ${NAME_MAX} characters, no spaces or ';'`,
      );
    }
    if (!allowPattern && isEventPattern(name)) {
      throw new EnSyncEngineError(
        "INVALID_EVENT_NAME",
        `Event name "${name}" is a pattern; publish to a concrete name`,
      );
    }
  }

  /**
   * Subscribes a session to a name or wildcard pattern (such as `orders/*`). Subscribing twice to
   * the same pattern succeeds and changes nothing.
   *
   * @param session The session.
   * @param pattern The event name or pattern.
   * @param options `attached: false` holds deliveries until {@linkcode EnSyncBroker.setAttached}.
   * @returns The subscription.
   * @throws {EnSyncEngineError} `PERMISSION_DENIED` when the app cannot receive it.
   */
  async subscribe(
    session: EngineSession,
    pattern: string,
    options: { attached?: boolean } = {},
  ): Promise<EngineSubscription> {
    const app = this.#app(session);
    this.#checkName(pattern, true);
    if (!this.#registry.canReceive(app, pattern)) {
      throw new EnSyncEngineError(
        "PERMISSION_DENIED",
        `App "${app.name}" cannot receive "${pattern}"`,
      );
    }
    const existing = session.subs.get(pattern);
    if (existing !== undefined) return existing;
    const sub = new EngineSubscription(session, pattern);
    sub.attached = options.attached ?? true;
    session.subs.set(pattern, sub);
    if (sub.wildcard) {
      let names: string[];
      try {
        names = await this.store.queueNames(session.appId);
      } catch (err) {
        session.subs.delete(pattern);
        throw this.#storeFault(err);
      }
      const known = this.#knownFor(session.appId);
      for (const n of names) known.add(n);
      const match = eventMatcher(pattern);
      sub.queues = [...known].filter(match).map((name) => ({ app: session.appId, name }));
      let set = this.#patternSubs.get(session.appId);
      if (set === undefined) this.#patternSubs.set(session.appId, set = new Set());
      set.add(sub);
    } else {
      sub.queues = [{ app: session.appId, name: pattern }];
      this.#knownFor(session.appId).add(pattern);
    }
    if (session.closed || sub.closed) return sub;
    this.#trySend(sub);
    return sub;
  }

  #knownFor(app: string): Set<string> {
    let set = this.#known.get(app);
    if (set === undefined) this.#known.set(app, set = new Set());
    return set;
  }

  /**
   * Removes a subscription; its in-flight event returns to the queue.
   *
   * @param session The session.
   * @param pattern The subscribed name or pattern.
   * @throws {EnSyncEngineError} `NOT_SUBSCRIBED` when there is no such subscription.
   */
  async unsubscribe(session: EngineSession, pattern: string): Promise<void> {
    this.#app(session);
    const sub = session.subs.get(pattern);
    if (sub === undefined) {
      throw new EnSyncEngineError("NOT_SUBSCRIBED", `Not subscribed to "${pattern}"`);
    }
    session.subs.delete(pattern);
    await this.#removeSub(sub);
  }

  async #removeSub(sub: EngineSubscription): Promise<void> {
    sub.closed = true;
    this.#unwait(sub);
    if (sub.wildcard) this.#patternSubs.get(sub.session.appId)?.delete(sub);
    const held = sub.inflight;
    if (held !== undefined) {
      this.#clearInflight(sub);
      await this.store.release(held.event, sub.session.id).catch((err) => {
        log.error("Cannot release {idem}: {error}", { idem: held.event.idem, error: String(err) });
      });
    }
  }

  /**
   * Marks whether a front end can deliver to `sub` now. Detaching releases its in-flight event
   * (the stream it went out on is gone); attaching starts deliveries.
   *
   * @param sub The subscription.
   * @param attached Whether it can receive.
   */
  setAttached(sub: EngineSubscription, attached: boolean): void {
    if (sub.attached === attached) return;
    sub.attached = attached;
    if (attached) {
      this.#trySend(sub);
      return;
    }
    this.#unwait(sub);
    const held = sub.inflight;
    if (held !== undefined) {
      this.#clearInflight(sub);
      this.store.release(held.event, sub.session.id).catch((err) => {
        log.error("Cannot release {idem}: {error}", { idem: held.event.idem, error: String(err) });
      });
    }
  }

  #clearInflight(sub: EngineSubscription): void {
    const held = sub.inflight;
    if (held === undefined) return;
    sub.inflight = undefined;
    sub.session.held.delete(held.event.idem);
    this.#inflight.delete(held.event.idem);
  }

  /**
   * Resolves the event a settle command names: held by this session (answered at once, the hot
   * path of every ack), or queued for its app (looked up in the store).
   */
  #resolve(session: EngineSession, idem: string): Resolved | Promise<Resolved> {
    this.#app(session);
    if (!idem || idem === "undefined") {
      throw new EnSyncEngineError("MISSING_PARAMETERS", "EVENT_IDEM is required");
    }
    const sub = session.held.get(idem);
    if (sub !== undefined && sub.inflight !== undefined) {
      return { sub, owner: session, event: sub.inflight.event, state: "inflight" };
    }
    const stranded = this.#stranded.get(idem);
    if (stranded !== undefined && stranded.session === session) {
      return { owner: session, event: stranded.event, state: "inflight" };
    }
    return this.#lookup(session, idem);
  }

  async #lookup(session: EngineSession, idem: string): Promise<Resolved> {
    let rec;
    try {
      rec = await this.store.lookup(idem);
    } catch (err) {
      throw this.#storeFault(err);
    }
    if (rec === undefined || rec.event.app !== session.appId) {
      throw new EnSyncEngineError("NOT_FOUND", "Event not found or no longer available");
    }
    return { event: rec.event, state: rec.state };
  }

  /**
   * Acknowledges an event: the session's in-flight event (the next one is sent at once), or an
   * event still queued for its app. Acknowledging an acked event again succeeds.
   *
   * @param session The session.
   * @param idem The event id.
   * @returns Resolves once the ack is durable.
   * @throws {EnSyncEngineError} `NOT_FOUND`, or `NOT_IN_FLIGHT` when another client holds it.
   */
  async ack(session: EngineSession, idem: string): Promise<void> {
    const resolved = this.#resolve(session, idem);
    const found = resolved instanceof Promise ? await resolved : resolved;
    if (found.state === "acked") return;
    await this.#settle(found, { kind: "ack" });
  }

  async #settle(found: Resolved, outcome: Parameters<EnSyncStore["settle"]>[1]): Promise<void> {
    if (found.state === "discarded") {
      throw new EnSyncEngineError("NOT_FOUND", "Event was discarded");
    }
    if (found.state === "acked") {
      throw new EnSyncEngineError("NOT_FOUND", "Event was already acknowledged");
    }
    if (found.owner === undefined && found.state === "inflight") {
      throw new EnSyncEngineError("NOT_IN_FLIGHT", "Event is being processed by another client");
    }
    const sub = found.sub;
    if (sub !== undefined) this.#clearInflight(sub);
    this.#unstrand(found.event.idem);
    const done = this.store.settle(found.event, outcome);
    // The next event goes out now; the reply waits for durability.
    if (sub !== undefined) this.#trySend(sub);
    let before: EventState | undefined;
    try {
      before = await done;
    } catch (err) {
      if (found.owner !== undefined && found.state === "inflight") {
        this.#strand(found.event, found.owner);
      }
      throw this.#storeFault(err);
    }
    if (before !== undefined) this.live.settled(found.event, outcome.kind);
    if (before === undefined && outcome.kind !== "ack") {
      throw new EnSyncEngineError("NOT_FOUND", "Event not found or no longer available");
    }
  }

  /**
   * Defers an event: it returns to its queue after `delayMs` (1 s to 24 h), durably.
   *
   * @param session The session.
   * @param idem The event id.
   * @param delayMs The delay.
   * @param reason Free text.
   * @returns When it will be delivered again (ms).
   * @throws {EnSyncEngineError} `INVALID_DELAY`, `NOT_FOUND` or `NOT_IN_FLIGHT`.
   */
  async defer(
    session: EngineSession,
    idem: string,
    delayMs: number,
    reason: string,
  ): Promise<number> {
    if (
      !Number.isFinite(delayMs) || delayMs < DEFER_LIMITS_MS.min || delayMs > DEFER_LIMITS_MS.max
    ) {
      throw new EnSyncEngineError("INVALID_DELAY", "Delay must be between 1000ms and 24 hours");
    }
    const found = await this.#resolve(session, idem);
    const dueAt = this.#clock.now() + Math.round(delayMs);
    await this.#settle(found, { kind: "defer", dueAt, reason });
    return dueAt;
  }

  /**
   * Discards an event: it leaves its queue for good and is kept with the reason for inspection.
   *
   * @param session The session.
   * @param idem The event id.
   * @param reason Free text (may be empty).
   * @throws {EnSyncEngineError} `NOT_FOUND` or `NOT_IN_FLIGHT`.
   */
  async discard(session: EngineSession, idem: string, reason: string): Promise<void> {
    const found = await this.#resolve(session, idem);
    await this.#settle(found, { kind: "discard", reason });
  }

  /**
   * Rolls an event back: an in-flight event returns to the front of its queue; an acked or
   * discarded one (within retention) is queued again. A queued event is left as it is.
   *
   * @param session The session.
   * @param idem The event id.
   * @throws {EnSyncEngineError} `NOT_FOUND` or `NOT_IN_FLIGHT`.
   */
  async rollback(session: EngineSession, idem: string): Promise<void> {
    const found = await this.#resolve(session, idem);
    try {
      if (found.sub !== undefined) {
        this.#clearInflight(found.sub);
        await this.store.release(found.event, found.sub.session.id);
        this.#trySend(found.sub);
      } else if (found.owner !== undefined && found.state === "inflight") {
        // Stranded by a failed settle: back to its queue now (or, failing, on the retry timer).
        this.#unstrand(found.event.idem);
        await this.store.release(found.event, found.owner.id).catch((err) => {
          this.#strand(found.event, found.owner!);
          throw err;
        });
      } else if (found.state === "acked" || found.state === "discarded") {
        await this.store.requeue(found.event);
      } else if (found.state === "inflight") {
        throw new EnSyncEngineError("NOT_IN_FLIGHT", "Event is being processed by another client");
      }
    } catch (err) {
      throw this.#storeFault(err);
    }
  }

  /**
   * Returns a stored event of the session's app by idem (acked or not) within retention, without
   * delivering it. Events published with `"persist": false` cannot be replayed once acked.
   *
   * @param session The session.
   * @param idem The event id.
   * @returns The event and its state.
   * @throws {EnSyncEngineError} `NOT_FOUND`.
   */
  async replay(session: EngineSession, idem: string): Promise<EnSyncReplayed> {
    const found = await this.#resolve(session, idem);
    if (!found.event.persist && (found.state === "acked" || found.state === "discarded")) {
      throw new EnSyncEngineError("NOT_FOUND", "Event was not persisted (persist: false)");
    }
    return { event: found.event, state: found.state, replayedAt: this.#clock.now() };
  }

  /**
   * Pauses deliveries of one subscription to this client; other clients keep receiving.
   *
   * @param session The session.
   * @param pattern The subscribed name or pattern.
   * @throws {EnSyncEngineError} `NOT_SUBSCRIBED` or `ALREADY_PAUSED`.
   */
  pause(session: EngineSession, pattern: string): void {
    this.#app(session);
    const sub = session.subs.get(pattern);
    if (sub === undefined) {
      throw new EnSyncEngineError("NOT_SUBSCRIBED", `Not subscribed to "${pattern}"`);
    }
    if (sub.paused) throw new EnSyncEngineError("ALREADY_PAUSED", `"${pattern}" is already paused`);
    sub.paused = true;
    this.#unwait(sub);
  }

  /**
   * Continues a paused subscription.
   *
   * @param session The session.
   * @param pattern The subscribed name or pattern.
   * @throws {EnSyncEngineError} `NOT_SUBSCRIBED` or `NOT_PAUSED`.
   */
  resume(session: EngineSession, pattern: string): void {
    this.#app(session);
    const sub = session.subs.get(pattern);
    if (sub === undefined) {
      throw new EnSyncEngineError("NOT_SUBSCRIBED", `Not subscribed to "${pattern}"`);
    }
    if (!sub.paused) throw new EnSyncEngineError("NOT_PAUSED", `"${pattern}" is not paused`);
    sub.paused = false;
    this.#trySend(sub);
  }

  /**
   * Lists the discarded events of an app (newest first).
   *
   * @param appId The app id.
   * @param limit The most to return (default 100).
   * @returns The discarded events.
   */
  discarded(appId: string, limit = 100): ReturnType<EnSyncStore["discarded"]> {
    return this.store.discarded(appId, limit);
  }

  // --- delivery --------------------------------------------------------------------------

  #onReady(q: QueueRef, count: number): void {
    const known = this.#knownFor(q.app);
    if (!known.has(q.name)) {
      known.add(q.name);
      const pats = this.#patternSubs.get(q.app);
      if (pats !== undefined) {
        for (const sub of pats) {
          if (!eventMatcher(sub.pattern)(q.name)) continue;
          sub.queues.push({ app: q.app, name: q.name });
          if (sub.claiming) sub.rewake = true;
          else if (this.#canReceive(sub)) this.#wait(sub);
        }
      }
    }
    const waiters = this.#waiters.get(queueKey(q.app, q.name));
    if (waiters === undefined || waiters.size === 0) return;
    // Wake `count` idle subscriptions; one that is claiming right now retries instead (it may
    // have looked at this queue before the event arrived).
    let n = count;
    for (const sub of waiters) {
      if (sub.claiming) {
        sub.rewake = true;
        continue;
      }
      if (n-- <= 0) break;
      this.#trySend(sub);
    }
  }

  #wait(sub: EngineSubscription): void {
    for (const q of sub.queues) {
      const key = queueKey(q.app, q.name);
      let set = this.#waiters.get(key);
      if (set === undefined) this.#waiters.set(key, set = new Set());
      set.add(sub);
    }
  }

  #unwait(sub: EngineSubscription): void {
    for (const q of sub.queues) {
      const key = queueKey(q.app, q.name);
      const set = this.#waiters.get(key);
      if (set === undefined) continue;
      set.delete(sub);
      if (set.size === 0) this.#waiters.delete(key);
    }
  }

  #canReceive(sub: EngineSubscription): boolean {
    return sub.inflight === undefined && !sub.paused && !sub.closed && sub.attached &&
      !sub.session.closed;
  }

  #trySend(sub: EngineSubscription): void {
    if (!this.#canReceive(sub)) return;
    if (sub.claiming) {
      sub.rewake = true;
      return;
    }
    void this.#claimFor(sub);
  }

  async #claimFor(sub: EngineSubscription): Promise<void> {
    sub.claiming = true;
    // Stay registered while claiming, so an event that arrives meanwhile sets `rewake`.
    this.#wait(sub);
    let event: StoredEvent | undefined;
    try {
      for (let round = 0; round < 8 && event === undefined; round++) {
        sub.rewake = false;
        const n = sub.queues.length;
        for (let i = 0; i < n && event === undefined; i++) {
          const q = sub.queues[(sub.rr + i) % n]!;
          event = await this.store.claim(q, sub.session.id);
          if (event !== undefined) sub.rr = (sub.rr + i + 1) % Math.max(1, sub.queues.length);
        }
        if (!sub.rewake || !this.#canReceive(sub)) break;
      }
    } catch (err) {
      log.error("Cannot claim an event for {pattern}: {error}", {
        pattern: sub.pattern,
        error: err instanceof EnSyncStoreError ? err.message : String(err),
      });
    } finally {
      sub.claiming = false;
    }
    if (event === undefined) {
      // Nothing ready: stay in the waiter sets (unless it cannot receive any more).
      if (!this.#canReceive(sub)) this.#unwait(sub);
      return;
    }
    this.#unwait(sub);
    if (!this.#canReceive(sub)) {
      // Paused, detached or removed while claiming: give it back.
      await this.store.release(event, sub.session.id).catch(() => {});
      return;
    }
    sub.inflight = { event, at: this.#clock.now() };
    sub.session.held.set(event.idem, sub);
    this.#inflight.set(event.idem, sub);
    try {
      sub.session.sink.deliver(sub, event);
      this.live.delivered(sub, event);
    } catch (err) {
      log.warn("Cannot deliver {idem}: {error}", { idem: event.idem, error: String(err) });
    }
  }

  /** Keeps an event whose settle failed, and schedules its release (see `#stranded`). */
  #strand(event: StoredEvent, session: EngineSession): void {
    if (this.#closed) return;
    const prev = this.#stranded.get(event.idem);
    if (prev !== undefined) this.#clock.clearTimeout(prev.timer);
    const delayMs = prev === undefined
      ? STRANDED_FIRST_MS
      : Math.min(prev.delayMs * 2, STRANDED_MAX_MS);
    const entry: Stranded = { event, session, delayMs, timer: undefined };
    entry.timer = this.#clock.setTimeout(() => void this.#releaseStranded(entry), delayMs);
    unrefTimer(this.#clock, entry.timer);
    this.#stranded.set(event.idem, entry);
    log.warn(
      "Cannot settle {idem}: the store failed; it stays in flight (its client may settle it again) and returns to its queue in {ms} ms if not",
      { idem: event.idem, ms: delayMs },
    );
  }

  #unstrand(idem: string): void {
    const entry = this.#stranded.get(idem);
    if (entry === undefined) return;
    this.#clock.clearTimeout(entry.timer);
    this.#stranded.delete(idem);
  }

  async #releaseStranded(entry: Stranded): Promise<void> {
    if (this.#stranded.get(entry.event.idem) !== entry) return;
    entry.timer = undefined;
    try {
      await this.store.release(entry.event, entry.session.id);
    } catch (err) {
      if (this.#stranded.get(entry.event.idem) === entry) {
        log.warn("Cannot release {idem} yet: {error}", {
          idem: entry.event.idem,
          error: String(err),
        });
        this.#strand(entry.event, entry.session);
      }
      return;
    }
    if (this.#stranded.get(entry.event.idem) === entry) this.#stranded.delete(entry.event.idem);
    log.info("Released {idem} (its settle had failed) for redelivery", { idem: entry.event.idem });
  }

  #expireInflight(now: number): void {
    const limit = now - this.#ackTimeoutMs;
    for (const [idem, sub] of this.#inflight) {
      const held = sub.inflight;
      if (held === undefined || held.event.idem !== idem) {
        this.#inflight.delete(idem);
        continue;
      }
      if (held.at > limit) break;
      log.info("Redelivering {idem}: not acknowledged within {ms} ms", {
        idem,
        ms: this.#ackTimeoutMs,
      });
      this.#clearInflight(sub);
      this.store.release(held.event, sub.session.id).then(() => this.#trySend(sub)).catch((err) => {
        log.error("Cannot release {idem}: {error}", { idem, error: String(err) });
      });
    }
  }
}
