/**
 * The hive: eventhive's event API in TypeScript terms. Define events, hook several handlers to
 * each, emit an event with a JSON object, start, stop (or `await using`).
 *
 * Event names follow eventhive:
 * - `bee_stuff` (no separator) is strictly local and never leaves the process;
 * - `<input_channel>/<event>` is handled here and can be called from the network by
 *   `<network>/<input_channel>/<event>`;
 * - `<network>/<input_channel>/<event>` is published on the connector named `<network>` only.
 *
 * Names are matched on whole segments (`worker` never matches `workers/...`) and names from the
 * network are never used as globs.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { getLogger } from "../_log.ts";
import {
  type ConnectorOptions,
  FROM_BROADCAST_DEFAULT_SECONDS,
  type HiveConfig,
  type HiveConfigInput,
  resolveHiveConfig,
  type ServerInit,
} from "./config.ts";
import {
  DROP_REASONS,
  type DropReason,
  EVENTHIVE_VERSION,
  type EventMetadata,
} from "./envelope.ts";
import { decodeWith, encodeWith, keysFor } from "./_envelope.ts";
import type { SecretKeys } from "./_crypto.ts";
import {
  PubSubConfigError,
  PubSubError,
  RemoteHandlerError,
  RequestTimeoutError,
} from "./errors.ts";
import { type PubSubClock, REAL_CLOCK } from "./_clock.ts";
import type { Transport, TransportInput } from "./_transport.ts";
import { HiveLiveRecorder } from "./_live.ts";
import type { PubSubLiveSource } from "../live/mod.ts";

const log = getLogger(["pubsub", "hive"]);

/** The segment syft's replies travel under: `<network>/<input_channel>/__syft_reply__`. */
export const REPLY_SEGMENT = "__syft_reply__";

/** What a handler learns about the event besides its payload. */
export interface EventContext {
  /** The local event name the handler is hooked to (`worker/work`, `bee_stuff`). */
  event: string;
  /** The connector it came from; absent for a local call. */
  network?: string;
  /** The full channel name it arrived on (`net/worker/work`); absent for a local call. */
  channel?: string;
  /** The eventhive metadata of a network event (absent for local calls and senders without it). */
  metadata?: EventMetadata;
  /** Whether a valid signature came with it. */
  signed: boolean;
}

/**
 * A handler: gets the payload object (the metadata is in `ctx.metadata`). What it returns (or
 * resolves to) is the reply when the event was sent with {@linkcode Hive.request}.
 */
export type EventHandler = (
  payload: Record<string, unknown>,
  ctx: EventContext,
) => unknown;

/** Where an error reported to {@linkcode Hive.onError} happened. */
export interface HiveErrorInfo {
  /** `handler` (a handler threw), `reply` (a reply could not be sent), `publish`. */
  phase: "handler" | "reply" | "publish";
  /** The event name. */
  event: string;
  /** The connector, when there is one. */
  network?: string;
}

/**
 * Starts a fastapi_websocket_pubsub server for the config's `servers:` section. `syft` and
 * `@syft/syft/pubsub/server` supply one; the library itself never starts servers.
 */
export type ServerStarter = (name: string, init: ServerInit) => Promise<AsyncDisposable>;

/** How a server is found by mDNS (the default uses `discovery.ts`). */
export interface HiveDiscovery {
  /** Finds `<name>._eventhive._tcp.local.`. */
  discover(
    name: string,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<{ host: string; port: number; endpoint: string; scheme: string } | undefined>;
  /** Advertises a server. */
  advertise(
    name: string,
    info: { host: string; port: number; endpoint: string; scheme?: string },
  ): Promise<AsyncDisposable>;
}

/** Options of {@linkcode createHive}: the configuration plus what the hive is given. */
export interface HiveOptions extends HiveConfigInput {
  /** A configuration already parsed (`loadHiveConfig`, `parseHiveConfig`); other keys override it. */
  config?: HiveConfig;
  /** Starts servers for `servers:` (required when a server has `create: always` or `needed`). */
  startServer?: ServerStarter;
  /** mDNS lookup and announcement (default: syft's own, in `discovery.ts`). */
  discovery?: HiveDiscovery;
  /** The clock (tests inject one). */
  clock?: PubSubClock;
  /**
   * Connectors whose backend can deliver everything (`syft pubsub listen`): Redis and NATS
   * already get every channel under the input channel; fastapi subscribes to all topics.
   */
  listenAll?: boolean;
}

/** Options of {@linkcode Hive.request}. */
export interface RequestOptions {
  /** How long to wait for the reply (default: the config's `request_timeout`, 10 s). */
  timeoutMs?: number;
}

/** How the hive routes an event name. */
export type EventRoute =
  | {
    /** Stays in the process. */
    kind: "local";
  }
  | {
    /** Handled here; callable from the network through `network`. */
    kind: "network-accessible";
    /** The connectors whose input channel it is under. */
    networks: string[];
  }
  | {
    /** Published on `network`. */
    kind: "remote";
    /** The connector. */
    network: string;
  };

/** A connector's state: `idle` before start, then its backend connection's state. */
export type ConnectorState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Counters of one connector. */
export interface ConnectorStats {
  /** The backend. */
  type: ConnectorOptions["type"];
  /** Where it connects. */
  where: string;
  /** `connecting`, `open`, `reconnecting`, `closed` (or `idle` before start). */
  state: ConnectorState;
  /** Its input channel (`""`: publish-only). */
  inputChannel: string;
  /** Whether it signs and encrypts. */
  secret: boolean;
  /** Messages accepted. */
  received: number;
  /** Events published. */
  published: number;
  /** Publishes that failed. */
  publishErrors: number;
  /** Events waiting to go out. */
  queued: number;
  /** Messages dropped, by reason. */
  dropped: Record<DropReason, number>;
}

/** Counters of a hive (for `/metrics` or a dashboard). */
export interface HiveStats {
  /** Network messages accepted (all connectors). */
  received: number;
  /** Events published (all connectors). */
  published: number;
  /** Local and network events handed to handlers. */
  handled: number;
  /** Handlers that threw. */
  handlerErrors: number;
  /** Publishes that failed. */
  publishErrors: number;
  /** Requests that timed out. */
  requestTimeouts: number;
  /** Network messages dropped, by reason (all connectors). */
  dropped: Record<DropReason, number>;
  /** Per connector. */
  connectors: Record<string, ConnectorStats>;
}

/** A hive. Create one with {@linkcode createHive} or {@linkcode openHive}. */
export interface Hive extends AsyncDisposable {
  /** `idle`, `starting`, `started`, `stopped`. */
  readonly state: "idle" | "starting" | "started" | "stopped";
  /** The configuration in use. */
  readonly config: HiveConfig;
  /**
   * Declares events (eventhive's `EVENTS.append`). Optional: {@linkcode Hive.on} declares its
   * event, and remote events need no declaration. Declaring an event under a fastapi connector's
   * input channel subscribes its topic, also after start.
   */
  define(...names: string[]): void;
  /**
   * Hooks a handler to an event (declaring it). Several handlers run in the order they were
   * hooked; one that throws is reported to {@linkcode Hive.onError} and the others still run.
   *
   * @returns A function that unhooks it.
   */
  on(name: string, handler: EventHandler): () => void;
  /**
   * Calls `listener` for every network event accepted, whether or not a handler is hooked (what
   * `syft pubsub listen` prints). With it, events without handlers are not dropped.
   *
   * @returns A function that removes it.
   */
  onAny(
    listener: (event: string, payload: Record<string, unknown>, ctx: EventContext) => void,
  ): () => void;
  /**
   * Calls `listener` when a handler throws or a publish fails; without a listener, such errors
   * are logged.
   *
   * @returns A function that removes it.
   */
  onError(listener: (error: Error, info: HiveErrorInfo) => void): () => void;
  /** How the hive routes `name`. */
  route(name: string): EventRoute;
  /**
   * Calls an event with a JSON object: local handlers run, and a remote event is published on
   * its connector. Resolves when the backend took it. The payload is never changed.
   *
   * @throws {TypeError} When the payload is not a plain object.
   * @throws {PubSubError} `PUBSUB_NOT_STARTED` before start; `PUBSUB_NO_ROUTE` for
   *   a remote name whose connector does not exist.
   * @throws {PublishError} When the backend did not take it (see its `code`).
   */
  emit(name: string, payload: Record<string, unknown>): Promise<void>;
  /**
   * Publishes a remote event with a reply channel in its metadata and resolves with the remote
   * handler's return value. Old eventhive peers ignore the reply channel.
   *
   * @throws {RequestTimeoutError} When no reply comes in time.
   * @throws {RemoteHandlerError} When the remote handler threw.
   * @throws {PubSubError} `PUBSUB_NO_ROUTE` when `name` is not remote or its connector has
   *   no input channel (the reply comes back through it).
   */
  request(
    name: string,
    payload: Record<string, unknown>,
    options?: RequestOptions,
  ): Promise<unknown>;
  /**
   * Starts servers (`servers:`), then connects every connector and subscribes.
   *
   * @throws {PubSubConfigError} When servers must be created and no `startServer` was given.
   * @throws {PubSubError} `PUBSUB_CONNECT` when a backend cannot be reached.
   */
  start(): Promise<void>;
  /** Disconnects every connector (after sending what is queued) and stops created servers. */
  stop(): Promise<void>;
  /** The counters. */
  stats(): HiveStats;
  /**
   * This hive's live state for a dashboard (`@syft/syft/live`): each connector as a network with
   * its channels (events, handlers), counters, drops by reason, and a feed of events and drops.
   *
   * @returns The live source (the same one on every call).
   */
  live(): PubSubLiveSource;
}

interface Connector {
  name: string;
  options: ConnectorOptions;
  keys: SecretKeys | undefined;
  acceptLegacy: boolean;
  /** `<network><sep><input><sep>`, or undefined for publish-only connectors. */
  prefix: string | undefined;
  transport: Transport | undefined;
  topics: Set<string>;
  replyTopic: boolean;
  stats: ConnectorStats;
  logged: Set<DropReason>;
  /** Counts a publish the backend took (one function per connector: nothing per event). */
  sent: () => void;
  /** Counts a publish that failed and passes its error on. */
  failed: (err: unknown) => never;
}

interface Pending {
  event: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  cancel(): void;
}

function emptyDrops(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function preciseSeconds(clock: PubSubClock): number {
  return clock === REAL_CLOCK
    ? (performance.timeOrigin + performance.now()) / 1000
    : clock.now() / 1000;
}

class HiveImpl implements Hive {
  readonly config: HiveConfig;
  readonly #clock: PubSubClock;
  readonly #startServer: ServerStarter | undefined;
  #discovery: HiveDiscovery | undefined;
  readonly #listenAll: boolean;
  readonly #sep: string;
  readonly #handlers = new Map<string, EventHandler[]>();
  readonly #any: ((event: string, payload: Record<string, unknown>, ctx: EventContext) => void)[] =
    [];
  readonly #errorListeners: ((error: Error, info: HiveErrorInfo) => void)[] = [];
  readonly #connectors = new Map<string, Connector>();
  readonly #seen: LRUCache<string, true> | undefined;
  readonly #sent: LRUCache<string, true> | undefined;
  readonly #pending = new Map<string, Pending>();
  readonly #servers: AsyncDisposable[] = [];
  #state: Hive["state"] = "idle";
  #received = 0;
  #published = 0;
  #handled = 0;
  #handlerErrors = 0;
  #publishErrors = 0;
  #requestTimeouts = 0;
  readonly #dropped = emptyDrops();
  readonly #live = new HiveLiveRecorder({
    stats: () => this.stats(),
    handlers: (event) => this.#handlers.get(event)?.length ?? 0,
    localEvent: (network, channel) => {
      const prefix = this.#connectors.get(network)?.prefix;
      return prefix !== undefined && channel.startsWith(prefix)
        ? channel.slice(network.length + this.#sep.length)
        : undefined;
    },
  });

  constructor(options: HiveOptions) {
    const { config, startServer, discovery, clock, listenAll, ...rest } = options;
    const merged = config === undefined ? rest : {
      ...config,
      ...rest,
      connectors: { ...config.connectors, ...rest.connectors },
      servers: { ...config.servers, ...rest.servers },
    };
    this.config = resolveHiveConfig(merged);
    this.#clock = clock ?? REAL_CLOCK;
    this.#startServer = startServer;
    this.#discovery = discovery;
    this.#listenAll = listenAll === true;
    this.#sep = this.config.separator;
    const size = this.config.dedupeSize;
    this.#seen = size > 0 ? new LRUCache({ max: size }) : undefined;
    this.#sent = this.config.receiveOwn ? undefined : new LRUCache({ max: Math.max(size, 1_000) });
    for (const [name, options] of Object.entries(this.config.connectors)) {
      const prefix = options.inputChannel === ""
        ? undefined
        : `${name}${this.#sep}${options.inputChannel}${this.#sep}`;
      const stats: ConnectorStats = {
        type: options.type,
        where: "",
        state: "idle",
        inputChannel: options.inputChannel,
        secret: options.secret !== undefined && options.secret !== "",
        received: 0,
        published: 0,
        publishErrors: 0,
        queued: 0,
        dropped: emptyDrops(),
      };
      this.#connectors.set(name, {
        name,
        options,
        keys: options.secret ? keysFor(options.secret) : undefined,
        acceptLegacy: options.acceptLegacy === true,
        prefix,
        transport: undefined,
        topics: new Set(),
        replyTopic: false,
        logged: new Set(),
        stats,
        sent: () => {
          stats.published++;
          this.#published++;
        },
        failed: (err) => {
          stats.publishErrors++;
          this.#publishErrors++;
          throw err;
        },
      });
    }
  }

  get state(): Hive["state"] {
    return this.#state;
  }

  // --- naming ---------------------------------------------------------------------------

  route(name: string): EventRoute {
    const sep = this.#sep;
    const at = name.indexOf(sep);
    if (at <= 0) return { kind: "local" };
    const first = name.slice(0, at);
    const rest = name.slice(at + sep.length);
    if (this.#connectors.has(first) && rest.indexOf(sep) > 0) {
      return { kind: "remote", network: first };
    }
    const networks: string[] = [];
    for (const c of this.#connectors.values()) {
      if (c.options.inputChannel !== "" && name.startsWith(c.options.inputChannel + sep)) {
        networks.push(c.name);
      }
    }
    return networks.length > 0 ? { kind: "network-accessible", networks } : { kind: "local" };
  }

  define(...names: string[]): void {
    for (const name of names) {
      if (typeof name !== "string" || name === "") {
        throw new TypeError(`Cannot define event ${JSON.stringify(name)}: expected a name`);
      }
      if (!this.#handlers.has(name)) this.#handlers.set(name, []);
      this.#topicsFor(name);
    }
  }

  /** fastapi connectors subscribe to exact topics: `<network>/<name>` for names under input. */
  #topicsFor(name: string): void {
    for (const c of this.#connectors.values()) {
      if (c.options.type !== "fastapi" || c.prefix === undefined) continue;
      const topic = `${c.name}${this.#sep}${name}`;
      if (!topic.startsWith(c.prefix) || c.topics.has(topic)) continue;
      c.topics.add(topic);
      if (c.transport !== undefined && this.#state === "started") {
        c.transport.addTopics([topic]).catch((err) =>
          log.warn("Cannot subscribe {topic} on {network}: {error}", {
            topic,
            network: c.name,
            error: String(err),
          })
        );
      }
    }
  }

  on(name: string, handler: EventHandler): () => void {
    if (typeof handler !== "function") {
      throw new TypeError(`Cannot hook ${name}: the handler is not a function`);
    }
    this.define(name);
    const list = this.#handlers.get(name)!;
    list.push(handler);
    return () => {
      const i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
    };
  }

  onAny(
    listener: (event: string, payload: Record<string, unknown>, ctx: EventContext) => void,
  ): () => void {
    this.#any.push(listener);
    return () => {
      const i = this.#any.indexOf(listener);
      if (i >= 0) this.#any.splice(i, 1);
    };
  }

  onError(listener: (error: Error, info: HiveErrorInfo) => void): () => void {
    this.#errorListeners.push(listener);
    return () => {
      const i = this.#errorListeners.indexOf(listener);
      if (i >= 0) this.#errorListeners.splice(i, 1);
    };
  }

  #report(error: Error, info: HiveErrorInfo): void {
    if (this.#errorListeners.length === 0) {
      log.warn("{phase} error on {event}: {error}", {
        phase: info.phase,
        event: info.event,
        error: error.message,
      });
      return;
    }
    for (const listener of this.#errorListeners) {
      try {
        listener(error, info);
      } catch (err) {
        log.error("An error listener threw: {error}", { error: String(err) });
      }
    }
  }

  // --- calling --------------------------------------------------------------------------

  /** Runs the handlers of `name`; returns their results (promises included). */
  #dispatch(
    name: string,
    payload: Record<string, unknown>,
    ctx: EventContext,
  ): unknown[] {
    const handlers = this.#handlers.get(name);
    if (handlers === undefined || handlers.length === 0) return [];
    this.#handled++;
    const results: unknown[] = [];
    for (const handler of handlers.slice()) {
      let result: unknown;
      try {
        result = handler(payload, ctx);
      } catch (err) {
        this.#handlerFailed(err, ctx);
        const failed = Promise.reject(err);
        failed.catch(() => {});
        results.push(failed);
        continue;
      }
      if (result instanceof Promise) {
        const settled = result.then((v) => v, (err) => {
          this.#handlerFailed(err, ctx);
          throw err;
        });
        // Handled here; a reply awaits it again.
        settled.catch(() => {});
        results.push(settled);
      } else results.push(result);
    }
    return results;
  }

  #handlerFailed(err: unknown, ctx: EventContext): void {
    this.#handlerErrors++;
    this.#report(err instanceof Error ? err : new Error(String(err)), {
      phase: "handler",
      event: ctx.event,
      ...(ctx.network === undefined ? {} : { network: ctx.network }),
    });
  }

  #checkPayload(name: string, payload: unknown): asserts payload is Record<string, unknown> {
    if (!isPlainObject(payload)) {
      throw new TypeError(
        `Cannot emit ${name}: the payload must be a plain JSON object (got ${
          Array.isArray(payload) ? "an array" : payload === null ? "null" : typeof payload
        }); wrap other values, e.g. { value: x }`,
      );
    }
  }

  #remote(name: string, what: string, route: EventRoute = this.route(name)): Connector {
    if (route.kind !== "remote") {
      throw new PubSubError(
        `Cannot ${what} ${name}: it is not a remote event (<network>${this.#sep}<input_channel>${this.#sep}<event> with a configured network; networks: ${
          [...this.#connectors.keys()].join(", ") || "none"
        })`,
        { code: "PUBSUB_NO_ROUTE" },
      );
    }
    if (this.#state !== "started") {
      throw new PubSubError(
        `Cannot ${what} ${name}: the hive is ${this.#state}; call start() first`,
        {
          code: this.#state === "stopped" ? "PUBSUB_CLOSED" : "PUBSUB_NOT_STARTED",
        },
      );
    }
    return this.#connectors.get(route.network)!;
  }

  emit(name: string, payload: Record<string, unknown>): Promise<void> {
    // Not async: one promise per event on the hot path (the backend's), errors as rejections.
    try {
      this.#checkPayload(name, payload);
      const route = this.route(name);
      const connector = route.kind === "remote" ? this.#remote(name, "emit", route) : undefined;
      if (this.#handlers.get(name)?.length) {
        this.#dispatch(name, payload, { event: name, signed: false });
      }
      if (connector !== undefined) return this.#publish(connector, name, payload, {});
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async request(
    name: string,
    payload: Record<string, unknown>,
    options: RequestOptions = {},
  ): Promise<unknown> {
    this.#checkPayload(name, payload);
    const connector = this.#remote(name, "request");
    if (connector.prefix === undefined) {
      throw new PubSubError(
        `Cannot request ${name}: connector ${connector.name} has no input_channel, so no reply can reach this hive`,
        { code: "PUBSUB_NO_ROUTE" },
      );
    }
    const replyTo = `${connector.prefix}${REPLY_SEGMENT}`;
    if (connector.options.type === "fastapi" && !connector.replyTopic) {
      connector.replyTopic = true;
      await connector.transport!.addTopics([replyTo]);
    }
    const id = crypto.randomUUID();
    const timeoutMs = options.timeoutMs ?? this.config.requestTimeoutMs;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const timer = this.#clock.setTimeout(() => {
      if (this.#pending.delete(id)) {
        this.#requestTimeouts++;
        reject(new RequestTimeoutError(name, timeoutMs));
      }
    }, timeoutMs);
    const cancel = (): void => this.#clock.clearTimeout(timer);
    this.#pending.set(id, { event: name, resolve, reject, cancel });
    try {
      await this.#publish(connector, name, payload, { id, "reply_to": replyTo });
    } catch (err) {
      cancel();
      this.#pending.delete(id);
      throw err;
    }
    return await promise;
  }

  #publish(
    connector: Connector,
    name: string,
    payload: Record<string, unknown>,
    extra: Partial<EventMetadata>,
  ): Promise<void> {
    const metadata: EventMetadata = {
      time: preciseSeconds(this.#clock),
      version: EVENTHIVE_VERSION,
      event: name,
      id: extra.id ?? crypto.randomUUID(),
      ...extra,
    };
    let data: string;
    try {
      data = encodeWith(
        payload,
        this.config.metadataKey,
        this.config.removeMetadata ? null : metadata,
        connector.keys,
      );
    } catch (err) {
      throw new PubSubError(
        `Cannot emit ${name}: the payload cannot be written as JSON (${
          err instanceof Error ? err.message : String(err)
        })`,
        { code: "PUBSUB_ENCODE", cause: err },
      );
    }
    this.#sent?.set(metadata.id, true);
    const transport = connector.transport!;
    const sent = transport.publish(name, data);
    if (
      !transport.echoesOwn && this.config.receiveOwn && connector.prefix !== undefined &&
      name.startsWith(connector.prefix)
    ) {
      // The server does not send our own publish back on our connection; deliver it as
      // eventhive processes (which publish on fresh connections) see it.
      queueMicrotask(() => this.#inbound(connector, name, data));
    }
    this.#live.event(connector.name, name);
    return sent.then(connector.sent, connector.failed);
  }

  // --- receiving ------------------------------------------------------------------------

  #drop(c: Connector, reason: DropReason, channel: string, detail: string): void {
    c.stats.dropped[reason]++;
    this.#dropped[reason]++;
    this.#live.dropped(c.name, channel, reason);
    if (reason === "own" || reason === "duplicate") {
      log.debug("Dropped {reason} message on {channel}", { reason, channel });
      return;
    }
    if (c.logged.has(reason)) return;
    c.logged.add(reason);
    log.warn(
      "Dropped a message on {channel} ({network}): {detail}. Further {reason} drops on {network} are counted in stats(), not logged",
      { channel, network: c.name, detail, reason },
    );
  }

  #inbound(c: Connector, channel: string, data: string): void {
    if (this.#state === "stopped") return;
    const prefix = c.prefix;
    if (prefix === undefined || !channel.startsWith(prefix) || channel.length === prefix.length) {
      if (!this.#listenAll) {
        this.#drop(c, "wrong_channel", channel, `not under ${prefix ?? "(no input channel)"}`);
      }
      return;
    }
    const decoded = decodeWith(data, c.keys, c.acceptLegacy);
    if (!decoded.ok) return this.#drop(c, decoded.reason, channel, decoded.detail);
    const message = decoded.message;
    const key = this.config.metadataKey;
    let metadata: EventMetadata | undefined;
    if (Object.hasOwn(message, key)) {
      const meta = message[key];
      if (!isPlainObject(meta) || typeof meta.id !== "string" || meta.id === "") {
        return this.#drop(c, "bad_metadata", channel, `${key} without an id`);
      }
      metadata = meta as unknown as EventMetadata;
      delete message[key];
      const id = metadata.id;
      if (this.#sent?.has(id)) return this.#drop(c, "own", channel, "own event");
      if (this.#seen !== undefined) {
        if (this.#seen.has(id)) return this.#drop(c, "duplicate", channel, `id ${id} seen before`);
        this.#seen.set(id, true);
      }
      const maxAge = this.config.maxAgeSeconds;
      if (maxAge !== undefined) {
        const time = metadata.time;
        const age = this.#clock.now() / 1000 - (typeof time === "number" ? time : NaN);
        if (!(Math.abs(age) <= maxAge)) {
          return this.#drop(
            c,
            "stale",
            channel,
            `time ${String(time)} is ${Number.isNaN(age) ? "missing" : `${age.toFixed(1)} s off`}`,
          );
        }
      }
    }
    const local = channel.slice(c.name.length + this.#sep.length);
    if (
      metadata?.in_reply_to !== undefined &&
      local === c.options.inputChannel + this.#sep + REPLY_SEGMENT
    ) {
      const pending = this.#pending.get(String(metadata.in_reply_to));
      if (pending === undefined) return; // another hive's reply, or one that came too late
      this.#pending.delete(String(metadata.in_reply_to));
      pending.cancel();
      c.stats.received++;
      this.#received++;
      if (typeof message.error === "string") {
        pending.reject(new RemoteHandlerError(pending.event, message.error));
      } else pending.resolve(message.result);
      return;
    }
    const handlers = this.#handlers.get(local);
    if ((handlers === undefined || handlers.length === 0) && this.#any.length === 0) {
      return this.#drop(c, "unknown_event", channel, `no handler hooked to ${local}`);
    }
    c.stats.received++;
    this.#received++;
    this.#live.event(c.name, channel);
    const ctx: EventContext = {
      event: local,
      network: c.name,
      channel,
      signed: decoded.signed,
      ...(metadata === undefined ? {} : { metadata }),
    };
    for (const listener of this.#any) {
      try {
        listener(local, message, ctx);
      } catch (err) {
        this.#handlerFailed(err, ctx);
      }
    }
    const results = this.#dispatch(local, message, ctx);
    const replyTo = metadata?.reply_to;
    if (typeof replyTo === "string" && results.length > 0) {
      void this.#reply(c, replyTo, metadata!.id, results, local);
    }
  }

  async #reply(
    c: Connector,
    replyTo: string,
    requestId: string,
    results: unknown[],
    event: string,
  ): Promise<void> {
    // Replies go only to a reply channel on the same network, never to an arbitrary event.
    const parts = replyTo.split(this.#sep);
    if (
      parts.length !== 3 || parts[0] !== c.name || parts[2] !== REPLY_SEGMENT ||
      this.#state !== "started"
    ) {
      return;
    }
    let body: Record<string, unknown>;
    try {
      let result: unknown = undefined;
      for (const r of results) {
        const value = await r;
        if (value !== undefined && result === undefined) result = value;
      }
      body = { result: result ?? null };
    } catch (err) {
      body = { error: err instanceof Error ? err.message : String(err) };
    }
    try {
      await this.#publish(c, replyTo, body, { "in_reply_to": requestId });
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)), {
        phase: "reply",
        event,
        network: c.name,
      });
    }
  }

  // --- lifecycle ------------------------------------------------------------------------

  async #loadDiscovery(): Promise<HiveDiscovery> {
    if (this.#discovery !== undefined) return this.#discovery;
    const mod = await import("./discovery.ts");
    this.#discovery = {
      discover: (name, options) => mod.discoverPubSubServer(name, options),
      advertise: (name, info) => mod.advertisePubSubServer(name, info),
    };
    return this.#discovery;
  }

  async start(): Promise<void> {
    if (this.#state !== "idle") {
      throw new PubSubError(`Cannot start the hive: it is ${this.#state}`, {
        code: this.#state === "stopped" ? "PUBSUB_CLOSED" : "PUBSUB_NOT_STARTED",
      });
    }
    const toCreate = Object.entries(this.config.servers).filter(([, s]) => s.create !== "never");
    if (toCreate.length > 0 && this.#startServer === undefined) {
      const [name] = toCreate[0]!;
      throw new PubSubConfigError(
        `${this.config.source}: servers.${name}: create: ${
          toCreate[0]![1].create
        } needs a server starter: pass startServer to createHive/openHive (startPubSubServer from "@syft/syft/pubsub/server" fits, or run the hive with syft), or start the server yourself (syft pubsub serve) and set create: never`,
        { file: this.config.source, key: `servers.${name}.create` },
      );
    }
    this.#state = "starting";
    try {
      for (const [name, server] of toCreate) {
        if (server.create === "needed") {
          const found = await (await this.#loadDiscovery()).discover(name, { timeoutMs: 5_000 });
          if (found !== undefined) {
            log.info("Server {name} found at {host}:{port}; not creating one", {
              name,
              host: found.host,
              port: found.port,
            });
            continue;
          }
        }
        const { type: _type, create: _create, broadcast, ...init } = server;
        this.#servers.push(await this.#startServer!(name, init));
        if (broadcast) {
          this.#servers.push(await (await this.#loadDiscovery()).advertise(name, init));
        }
      }
      for (const c of this.#connectors.values()) await this.#startConnector(c);
      this.#state = "started";
    } catch (err) {
      await this.#teardown();
      this.#state = "stopped";
      throw err;
    }
  }

  async #startConnector(c: Connector): Promise<void> {
    let options = c.options;
    if (options.fromBroadcast !== undefined && options.fromBroadcast !== false) {
      const seconds = options.fromBroadcast === true
        ? FROM_BROADCAST_DEFAULT_SECONDS
        : options.fromBroadcast;
      const found = await (await this.#loadDiscovery()).discover(c.name, {
        timeoutMs: seconds * 1000,
      });
      if (found === undefined) {
        throw new PubSubError(
          `Cannot start connector ${c.name}: no server named ${c.name}._eventhive._tcp.local. answered on mDNS within ${seconds} s (from_broadcast)`,
          { code: "PUBSUB_CONNECT" },
        );
      }
      const { url: _url, ...rest } = options as ConnectorOptions & { url?: string };
      options = {
        ...rest,
        host: found.host,
        port: found.port,
        ...(options.type === "fastapi"
          ? { endpoint: found.endpoint, scheme: found.scheme as "ws" | "wss" }
          : {}),
      } as ConnectorOptions;
    }
    let transport: Transport;
    if (options.type === "redis") {
      const { RedisTransport } = await import("./_redis.ts");
      transport = new RedisTransport(c.name, options, this.#clock);
    } else if (options.type === "fastapi") {
      const { FastApiTransport } = await import("./_fastapi.ts");
      transport = new FastApiTransport(c.name, options);
    } else {
      const { NatsTransport } = await import("./_nats.ts");
      transport = new NatsTransport(c.name, options, this.#sep);
    }
    c.transport = transport;
    c.stats.where = transport.where;
    const input: TransportInput | undefined = c.prefix === undefined ? undefined : {
      prefix: c.prefix,
      inputChannel: c.options.inputChannel,
      topics: [...c.topics],
      all: this.#listenAll,
    };
    await transport.start({
      message: (channel, data) => {
        try {
          this.#inbound(c, channel, data);
        } catch (err) {
          // Never reached by design; a bug here must not end reception.
          log.error("Handling a message on {channel} failed: {error}", {
            channel,
            error: String(err),
          });
        }
      },
      state: (state) => {
        c.stats.state = state;
      },
    }, input);
    c.stats.state = transport.state;
  }

  async #teardown(): Promise<void> {
    for (const pending of this.#pending.values()) {
      pending.cancel();
      pending.reject(
        new PubSubError(`The hive stopped before ${pending.event} got its reply`, {
          code: "PUBSUB_CLOSED",
        }),
      );
    }
    this.#pending.clear();
    await Promise.all(
      [...this.#connectors.values()].map(async (c) => {
        try {
          await c.transport?.close();
        } catch (err) {
          log.warn("Closing connector {network}: {error}", { network: c.name, error: String(err) });
        }
        c.stats.state = "closed";
      }),
    );
    for (const server of this.#servers.splice(0).reverse()) {
      try {
        await server[Symbol.asyncDispose]();
      } catch (err) {
        log.warn("Stopping a server: {error}", { error: String(err) });
      }
    }
  }

  async stop(): Promise<void> {
    if (this.#state === "stopped" || this.#state === "idle") {
      this.#state = "stopped";
      return;
    }
    this.#state = "stopped";
    await this.#teardown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  live(): PubSubLiveSource {
    return this.#live.source();
  }

  stats(): HiveStats {
    const connectors: Record<string, ConnectorStats> = {};
    for (const c of this.#connectors.values()) {
      connectors[c.name] = {
        ...c.stats,
        queued: c.transport?.queued ?? 0,
        dropped: { ...c.stats.dropped },
      };
    }
    return {
      received: this.#received,
      published: this.#published,
      handled: this.#handled,
      handlerErrors: this.#handlerErrors,
      publishErrors: this.#publishErrors,
      requestTimeouts: this.#requestTimeouts,
      dropped: { ...this.#dropped },
      connectors,
    };
  }
}

/**
 * Creates a hive from a typed configuration (or a parsed YAML one in `config`). Nothing
 * connects until {@linkcode Hive.start}.
 *
 * @param options The configuration, and what the hive is given (`startServer`, a clock).
 * @returns The hive.
 * @throws {PubSubConfigError} When the configuration is invalid (the message names the key).
 *
 * @example A worker and a queen over Redis
 * ```ts ignore
 * import { createHive } from "@syft/syft/pubsub";
 * await using worker = createHive({
 *   connectors: { hive: { type: "redis", url: "redis://127.0.0.1:6379", inputChannel: "worker" } },
 * });
 * worker.on("worker/work", (job) => console.log("working on", job.task));
 * await worker.start();
 *
 * await using queen = createHive({
 *   connectors: { hive: { type: "redis", url: "redis://127.0.0.1:6379", inputChannel: "queen" } },
 * });
 * await queen.start();
 * await queen.emit("hive/worker/work", { task: "build" });
 * ```
 */
export function createHive(options: HiveOptions = {}): Hive {
  return new HiveImpl(options);
}

/**
 * Creates a hive from an eventhive YAML file (`path`, else `$EVENTHIVE_CONFIG`, else
 * `eventhive.yaml`), with `EVENTHIVE_SECRET` applied.
 *
 * @param path The YAML file.
 * @param options What the hive is given (`startServer`, a clock) and overrides.
 * @returns The hive (not started).
 * @throws {PubSubConfigError} When the file is missing or invalid.
 *
 * @example
 * ```ts ignore
 * import { openHive } from "@syft/syft/pubsub";
 * await using hive = await openHive("hive.yaml");
 * hive.on("worker/work", (job) => console.log(job));
 * await hive.start();
 * ```
 */
export async function openHive(path?: string, options: HiveOptions = {}): Promise<Hive> {
  const { loadHiveConfig } = await import("./config.ts");
  return new HiveImpl({ ...options, config: await loadHiveConfig(path) });
}
