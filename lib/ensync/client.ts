/**
 * The transport-agnostic EnSync client: publishing (one encrypted envelope and one event id per
 * recipient), subscriptions with handlers or async iteration, ack/defer/discard/replay,
 * pause/continue, and reconnects with backoff that restore every subscription under the new
 * client id.
 *
 * @module
 */
import { getLogger } from "../_log.ts";
import {
  encodeJson,
  EnvelopeDecryptor,
  EnvelopeEncryptor,
  publicKeyFromSecretKey,
} from "./crypto.ts";
import {
  EnSyncConnectionError,
  EnSyncError,
  EnSyncGenericError,
  EnSyncPublishError,
  EnSyncSubscriptionError,
  EnSyncTimeoutError,
} from "./errors.ts";
import { isWildcard, jsonValue, matchesEventName, type WireRecord } from "./protocol.ts";
import type { Session, SessionHandlers } from "./_session.ts";
import type {
  ClientOptions,
  CloseOptions,
  DeferResult,
  EnSyncEvent,
  SubscribeOptions,
} from "./types.ts";

const log = getLogger(["ensync", "client"]);

/** Limits of `defer()`, as the SDKs enforce them. */
const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_METADATA = Object.freeze({ persist: true, headers: {} });

/** What a client needs from its engine. @internal */
export interface ClientContext {
  /** Opens and authenticates a session. */
  open(appKey: string, handlers: SessionHandlers): Promise<Session>;
  reconnectInterval: number;
  maxReconnectAttempts: number;
  requestTimeout: number;
  /** Called once when the client is closed. */
  release(client: EnSyncClient): void;
  /** Closes the engine (for `close({ closeEngine: true })`). */
  closeEngine(): Promise<void>;
}

function checkEventName(name: unknown, ErrorClass: typeof EnSyncError): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > 1024 || /[;\s]/.test(name)) {
    throw new ErrorClass(
      `Invalid event name ${
        JSON.stringify(name)
      }: it must be 1-1024 characters without ';' or whitespace`,
      { code: "INVALID_EVENT_NAME" },
    );
  }
}

function freeText(text: string | undefined): string {
  // REASON is the last field of its command; keep it on one line.
  return (text ?? "").replace(/[\r\n]+/g, " ");
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "object" ? "object" : typeof value;
}

function wrap<E extends EnSyncError>(
  ErrorClass: new (message: string, options: { cause?: unknown; code?: string }) => E,
  message: string,
  cause: unknown,
): E {
  if (cause instanceof ErrorClass) return cause;
  const code = cause instanceof EnSyncError ? cause.code : undefined;
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new ErrorClass(`${message}${detail}`, { cause, ...(code ? { code } : {}) });
}

/** Decrypts a record into the event handed to handlers. */
function toEvent(record: WireRecord, decryptor: EnvelopeDecryptor): EnSyncEvent {
  const payload = decryptor.openPayload(record.payload);
  const internal = record.metadata.$internal as { loggedAt?: unknown } | undefined;
  const timestamp = record.loggedAt ||
    (typeof internal?.loggedAt === "number" ? internal.loggedAt : 0) || Date.now();
  return {
    idem: record.idem,
    block: record.block,
    eventName: record.name,
    payload,
    timestamp,
    metadata: record.metadata,
    sender: record.sender,
  };
}

/** A subscription's handler: return (or resolve) when the event is processed. */
export type EventHandler<T = unknown> = (event: EnSyncEvent<T>) => void | Promise<void>;

type Sink = (event: EnSyncEvent) => Promise<boolean> | boolean;

/**
 * A client of an EnSync engine, bound to one app (access key). Create it with
 * `engine.createClient()`.
 *
 * @example Publish to two apps and subscribe
 * ```ts
 * import { EnSyncWebSocketEngine } from "@syft/syft/ensync";
 * const engine = new EnSyncWebSocketEngine("ws://127.0.0.1:8082");
 * const client = await engine.createClient("access-key", { appSecretKey: "<base64 secret>" });
 * const ids = await client.publish("orders/created", ["<app id 1>", "<app id 2>"], { orderId: 7 });
 * console.log(ids.length); // 2
 * await client.close({ closeEngine: true });
 * ```
 */
export class EnSyncClient {
  readonly #ctx: ClientContext;
  readonly #appKey: string;
  readonly #options: ClientOptions;
  readonly #encryptor: EnvelopeEncryptor;
  readonly #subs = new Map<string, Subscription>();
  readonly #wildcards: Subscription[] = [];
  #session: Session | undefined;
  #reconnecting: Promise<Session> | undefined;
  #generation = 0;
  #closed = false;
  #closeError: EnSyncError | undefined;
  readonly #closedPromise: Promise<EnSyncError | undefined>;
  #resolveClosed!: (reason: EnSyncError | undefined) => void;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeSleep: (() => void) | undefined;

  /** @internal Use `engine.createClient()`. */
  constructor(ctx: ClientContext, appKey: string, options: ClientOptions) {
    this.#ctx = ctx;
    this.#appKey = appKey;
    this.#options = options;
    this.#encryptor = new EnvelopeEncryptor({ maxUses: options.ephemeralKeyMaxUses ?? 1000 });
    this.#closedPromise = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** @internal Opens the first connection (no retries: a wrong URL or key fails fast). */
  async _connect(): Promise<void> {
    this.#session = await this.#ctx.open(this.#appKey, this.#sessionHandlers());
  }

  #sessionHandlers(): SessionHandlers {
    const generation = this.#generation;
    return {
      onRecord: (record) => {
        if (generation === this.#generation) this.#route(record, generation);
      },
      onClose: (error) => {
        if (generation === this.#generation) this.#lost(error);
      },
    };
  }

  /** The client id the engine assigned to the current connection (changes on every reconnect). */
  get clientId(): string {
    return this.#session?.clientId ?? "";
  }

  /** Resolves when the client is closed: `undefined` after `close()`, the error after reconnecting failed. */
  get closed(): Promise<EnSyncError | undefined> {
    return this.#closedPromise;
  }

  /**
   * The app's public key (its app id, standard base64): derived from `appSecretKey` when one was
   * given, otherwise the engine's `clientHash` (as the SDKs return it; hex and unpadded base64 forms
   * of a 32-byte key are normalised to padded base64).
   *
   * @returns The base64 public key.
   */
  getClientPublicKey(): string {
    if (this.#options.appSecretKey) {
      try {
        return publicKeyFromSecretKey(this.#options.appSecretKey);
      } catch { /* fall back to the engine's hash */ }
    }
    const hash = this.#session?.clientHash ?? "";
    if (/^[0-9a-f]{64}$/i.test(hash)) return Uint8Array.fromHex(hash).toBase64();
    if (/^[A-Za-z0-9+/_-]{43}=?$/.test(hash)) {
      return Uint8Array.fromBase64(hash.replaceAll("-", "+").replaceAll("_", "/"), {
        lastChunkHandling: "loose",
      })
        .toBase64();
    }
    return hash;
  }

  // ---- connection ---------------------------------------------------------------------------

  /** The live session, waiting (up to the request timeout) while reconnecting. */
  async #current(): Promise<Session> {
    if (this.#session) return this.#session;
    if (this.#closed) {
      throw this.#closeError ??
        new EnSyncConnectionError("The client is closed", { code: "CLOSED" });
    }
    const pending = this.#reconnecting;
    if (!pending) throw new EnSyncConnectionError("The client is not connected");
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new EnSyncTimeoutError(`Not reconnected within ${this.#ctx.requestTimeout} ms`),
              ),
            this.#ctx.requestTimeout,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #lost(error: Error): void {
    if (this.#closed) return;
    this.#session = undefined;
    this.#generation++;
    for (const sub of this.#subs.values()) sub._connectionLost();
    for (const sub of this.#wildcards) sub._connectionLost();
    if (this.#ctx.maxReconnectAttempts <= 0) {
      this.#fail(wrap(EnSyncConnectionError, "The connection was lost", error));
      return;
    }
    log.warn("Connection lost ({error}); reconnecting", { error: error.message });
    const attempt = this.#reconnect(error);
    this.#reconnecting = attempt;
    attempt.catch(() => {}); // failures are reported through #fail
  }

  async #reconnect(cause: Error): Promise<Session> {
    const max = this.#ctx.maxReconnectAttempts;
    let lastError: unknown = cause;
    for (let attempt = 1; attempt <= max && !this.#closed; attempt++) {
      const base = Math.min(
        this.#ctx.reconnectInterval * 1.5 ** (attempt - 1),
        Math.max(30_000, this.#ctx.reconnectInterval),
      );
      await this.#sleep(base * (0.9 + Math.random() * 0.2));
      if (this.#closed) break;
      const generation = this.#generation;
      let session: Session;
      try {
        session = await this.#ctx.open(this.#appKey, this.#sessionHandlers());
      } catch (err) {
        lastError = err;
        log.warn("Reconnect attempt {attempt}/{max} failed: {error}", {
          attempt,
          max,
          error: (err as Error).message,
        });
        continue;
      }
      if (this.#closed || generation !== this.#generation) {
        await session.close();
        break;
      }
      this.#session = session;
      this.#reconnecting = undefined;
      await this.#restore(session);
      log.info("Reconnected as {clientId} after {attempt} attempt(s)", {
        clientId: session.clientId,
        attempt,
      });
      try {
        this.#options.onReconnect?.({ clientId: session.clientId, attempt });
      } catch (err) {
        log.error("onReconnect threw: {error}", { error: (err as Error).message });
      }
      return session;
    }
    const error = this.#closed
      ? (this.#closeError ?? new EnSyncConnectionError("The client was closed", { code: "CLOSED" }))
      : wrap(EnSyncConnectionError, `Gave up reconnecting after ${max} attempt(s)`, lastError);
    this.#fail(error);
    throw error;
  }

  async #restore(session: Session): Promise<void> {
    await Promise.all([...this.#subs.values(), ...this.#wildcards].map(async (sub) => {
      try {
        await session.subscribe(sub.eventName);
        if (sub.paused) await session.pause(sub.eventName, sub._pauseReason);
      } catch (err) {
        const error = wrap(
          EnSyncSubscriptionError,
          `Cannot restore the subscription to ${sub.eventName}`,
          err,
        );
        this.#report(error);
        if (!(err instanceof EnSyncConnectionError)) {
          this._forget(sub);
          sub._end(error);
        }
      }
    }));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeSleep = resolve;
      this.#sleepTimer = setTimeout(() => {
        this.#sleepTimer = undefined;
        this.#wakeSleep = undefined;
        resolve();
      }, ms);
    });
  }

  #fail(error: EnSyncError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#report(error);
    for (const sub of [...this.#subs.values(), ...this.#wildcards]) sub._end(error);
    this.#subs.clear();
    this.#wildcards.length = 0;
    this.#ctx.release(this);
    this.#resolveClosed(error);
  }

  /** @internal Reports an error with no caller to throw to. */
  _report(error: EnSyncError): void {
    this.#report(error);
  }

  #report(error: EnSyncError): void {
    if (this.#options.onError) {
      try {
        this.#options.onError(error);
      } catch (err) {
        log.error("onError threw: {error}", { error: (err as Error).message });
      }
    } else {
      log.warn("{name}: {message}", { name: error.name, message: error.message });
    }
  }

  #route(record: WireRecord, generation: number): void {
    let sub = this.#subs.get(record.name);
    if (!sub) {
      for (const w of this.#wildcards) {
        if (matchesEventName(w.eventName, record.name)) {
          sub = w;
          break;
        }
      }
    }
    if (!sub) {
      log.warn("Ignoring a delivery of {name} ({idem}): no subscription matches it", {
        name: record.name,
        idem: record.idem,
      });
      return;
    }
    sub._push(record, generation);
  }

  /** @internal Runs an operation on the live session. */
  async _call<T>(op: (session: Session) => Promise<T>): Promise<T> {
    return op(await this.#current());
  }

  /** @internal The generation of the live session (deliveries from older ones are not acked). */
  get _generation(): number {
    return this.#generation;
  }

  // ---- API ----------------------------------------------------------------------------------

  /**
   * Publishes an event to each recipient: the payload is encrypted separately for every recipient
   * (the single-recipient envelope every SDK reads) and sent as one `PUB` per recipient.
   *
   * @param eventName The event name, such as `orders/created`.
   * @param recipients The recipients' app ids (base64 Ed25519 public keys).
   * @param payload Any JSON-serialisable value.
   * @param metadata Plaintext metadata (default `{ persist: true, headers: {} }`).
   * @returns One event id per recipient, in the order of `recipients`.
   * @throws {EnSyncPublishError} With the engine's code (`PERMISSION_DENIED`, ...) or the cause.
   */
  async publish(
    eventName: string,
    recipients: readonly string[],
    payload: unknown,
    metadata: Record<string, unknown> = DEFAULT_METADATA,
  ): Promise<string[]> {
    checkEventName(eventName, EnSyncPublishError);
    if (!Array.isArray(recipients) || recipients.length === 0) {
      throw new EnSyncPublishError("recipients must be a non-empty array of app ids", {
        code: "INVALID_RECIPIENTS",
      });
    }
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw new EnSyncPublishError("metadata must be a JSON object", { code: "INVALID_METADATA" });
    }
    let plaintext: Uint8Array;
    let meta: string;
    try {
      plaintext = encodeJson(payload);
      meta = jsonValue(metadata);
    } catch (err) {
      throw wrap(EnSyncPublishError, `Cannot publish ${eventName}`, err);
    }
    const skeleton: Record<string, string> = {};
    if (payload !== null && typeof payload === "object" && !Array.isArray(payload)) {
      for (const [k, v] of Object.entries(payload)) skeleton[k] = typeName(v);
    }
    const payloadMetadata = jsonValue({ byte_size: plaintext.length, skeleton });
    const sealed: string[] = [];
    for (const r of recipients) {
      if (typeof r !== "string" || /[;\s]/.test(r)) {
        throw new EnSyncPublishError(`Invalid recipient ${JSON.stringify(r)}`, {
          code: "INVALID_RECIPIENTS",
        });
      }
      try {
        sealed.push(
          new TextEncoder().encode(JSON.stringify(this.#encryptor.seal(plaintext, r))).toBase64(),
        );
      } catch (err) {
        throw wrap(EnSyncPublishError, `Cannot encrypt for recipient ${r}`, err);
      }
    }
    try {
      const session = await this.#current();
      return await Promise.all(
        sealed.map((wire, i) =>
          session.publish(eventName, recipients[i]!, wire, meta, payloadMetadata)
        ),
      );
    } catch (err) {
      throw wrap(EnSyncPublishError, `Publishing ${eventName} failed`, err);
    }
  }

  /**
   * Subscribes to an event name (or a wildcard such as `orders/*`). Deliveries are decrypted with
   * the subscription's or the client's `appSecretKey`.
   *
   * @param eventName The event name or pattern.
   * @param options Auto-ack (default true), a per-subscription secret key, the buffer size.
   * @returns The subscription; attach handlers with `on()` or iterate it.
   * @throws {EnSyncSubscriptionError} `MISSING_SECRET_KEY`, `ALREADY_SUBSCRIBED`, or the engine's code.
   */
  async subscribe(eventName: string, options: SubscribeOptions = {}): Promise<Subscription> {
    checkEventName(eventName, EnSyncSubscriptionError);
    if (this.#closed) throw new EnSyncSubscriptionError("The client is closed", { code: "CLOSED" });
    const secret = options.appSecretKey ?? this.#options.appSecretKey;
    if (!secret) {
      throw new EnSyncSubscriptionError(
        `Subscribing to ${eventName} needs an appSecretKey (client or subscription option) to decrypt deliveries`,
        { code: "MISSING_SECRET_KEY" },
      );
    }
    let decryptor: EnvelopeDecryptor;
    try {
      decryptor = new EnvelopeDecryptor(secret);
    } catch (err) {
      throw wrap(EnSyncSubscriptionError, "The appSecretKey is invalid", err);
    }
    if (this.#subs.has(eventName) || this.#wildcards.some((w) => w.eventName === eventName)) {
      throw new EnSyncSubscriptionError(`Already subscribed to ${eventName}`, {
        code: "ALREADY_SUBSCRIBED",
      });
    }
    const sub = new Subscription(this, eventName, decryptor, options);
    const wildcard = isWildcard(eventName);
    if (wildcard) this.#wildcards.push(sub);
    else this.#subs.set(eventName, sub);
    try {
      await this._call((s) => s.subscribe(eventName));
    } catch (err) {
      this._forget(sub);
      throw wrap(EnSyncSubscriptionError, `Subscribing to ${eventName} failed`, err);
    }
    return sub;
  }

  /**
   * Fetches a stored event by id (acknowledged or not, within retention) and returns it decrypted,
   * without subscribing: nothing else is pulled into this client.
   *
   * @param idem The event id.
   * @param eventName The event's name.
   * @param options The secret key to decrypt with (default: the client's `appSecretKey`).
   * @returns The event.
   * @throws {EnSyncGenericError} `NOT_FOUND` (or the engine's code), `MISSING_SECRET_KEY`,
   *   `DECRYPTION_FAILED`.
   */
  async replay<T = unknown>(
    idem: string,
    eventName: string,
    options: { appSecretKey?: string } = {},
  ): Promise<EnSyncEvent<T>> {
    checkEventName(eventName, EnSyncGenericError);
    const secret = options.appSecretKey ?? this.#options.appSecretKey;
    if (!secret) {
      throw new EnSyncGenericError(`Replaying ${idem} needs an appSecretKey to decrypt it`, {
        code: "MISSING_SECRET_KEY",
      });
    }
    let decryptor: EnvelopeDecryptor;
    try {
      decryptor = new EnvelopeDecryptor(secret, { cacheSize: 0 });
    } catch (err) {
      throw wrap(EnSyncGenericError, "The appSecretKey is invalid", err);
    }
    let record: WireRecord;
    try {
      record = await this._call((s) => s.replay(idem, eventName));
    } catch (err) {
      throw wrap(EnSyncGenericError, `Replay of ${idem} failed`, err);
    }
    try {
      return toEvent(record, decryptor) as EnSyncEvent<T>;
    } catch (err) {
      throw wrap(EnSyncGenericError, `Cannot decrypt the replayed event ${idem}`, err);
    }
  }

  /** @internal Drops a subscription from routing. */
  _forget(sub: Subscription): void {
    if (this.#subs.get(sub.eventName) === sub) this.#subs.delete(sub.eventName);
    const i = this.#wildcards.indexOf(sub);
    if (i >= 0) this.#wildcards.splice(i, 1);
  }

  /**
   * Closes the connection. Subscriptions end (iterators finish); unacked deliveries return to the
   * engine's queue.
   *
   * @param options `closeEngine: true` also closes the engine and its other clients.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#generation++;
      if (this.#sleepTimer !== undefined) clearTimeout(this.#sleepTimer);
      this.#wakeSleep?.();
      const error = new EnSyncConnectionError("The client was closed", { code: "CLOSED" });
      this.#closeError = error;
      for (const sub of [...this.#subs.values(), ...this.#wildcards]) sub._end(undefined);
      this.#subs.clear();
      this.#wildcards.length = 0;
      const session = this.#session;
      this.#session = undefined;
      await session?.close();
      this.#ctx.release(this);
      this.#resolveClosed(undefined);
    }
    if (options.closeEngine) await this.#ctx.closeEngine();
  }
}

interface Queued {
  record: WireRecord;
  generation: number;
}

/**
 * One subscription: attach handlers with {@linkcode Subscription.on} or iterate it with
 * `for await`; acknowledge, defer, discard and replay events; pause and continue delivery.
 *
 * Deliveries are processed one at a time, in order. With `autoAck` (the default) an event is
 * acknowledged after every handler settled without throwing, or, when iterating, when the loop asks
 * for the next event. A handler that throws leaves its event unacknowledged, so the engine
 * redelivers it after its ack timeout; leaving a `for await` loop early leaves the current event
 * unacknowledged too.
 *
 * @example Handle events, acknowledging by hand
 * ```ts
 * import type { EnSyncClient } from "@syft/syft/ensync";
 * declare const client: EnSyncClient;
 * const sub = await client.subscribe("orders/*", { autoAck: false });
 * const off = sub.on(async (event) => {
 *   if (event.payload === null) await sub.discard(event.idem, "empty");
 *   else await sub.ack(event.idem, event.block);
 * });
 * // later: off(); await sub.unsubscribe();
 * ```
 */
export class Subscription implements AsyncIterable<EnSyncEvent> {
  /** The subscribed event name or pattern. */
  readonly eventName: string;
  readonly #client: EnSyncClient;
  readonly #decryptor: EnvelopeDecryptor;
  readonly #autoAck: boolean;
  readonly #maxBuffered: number;
  readonly #sinks = new Set<Sink>();
  readonly #iterators = new Set<EventIterator>();
  readonly #inFlight = new Map<string, string>();
  #queue: Queued[] = [];
  #pumping = false;
  #ended = false;
  #paused = false;
  /** @internal */
  _pauseReason = "";

  /** @internal Use `client.subscribe()`. */
  constructor(
    client: EnSyncClient,
    eventName: string,
    decryptor: EnvelopeDecryptor,
    options: SubscribeOptions,
  ) {
    this.#client = client;
    this.eventName = eventName;
    this.#decryptor = decryptor;
    this.#autoAck = options.autoAck ?? true;
    this.#maxBuffered = Math.max(1, options.maxBuffered ?? 1024);
  }

  /** Whether `pause()` is in effect (restored after reconnects). */
  get paused(): boolean {
    return this.#paused;
  }

  /** Whether the subscription ended (unsubscribed, or its client closed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** @internal A delivery for this subscription. */
  _push(record: WireRecord, generation: number): void {
    if (this.#ended) return;
    if (this.#queue.length >= this.#maxBuffered) {
      log.warn("Subscription {name}: buffer full, leaving {idem} for redelivery", {
        name: this.eventName,
        idem: record.idem,
      });
      return;
    }
    this.#queue.push({ record, generation });
    if (!this.#pumping && this.#sinks.size > 0) void this.#pump();
  }

  /** @internal The connection was lost: buffered deliveries will be redelivered. */
  _connectionLost(): void {
    this.#queue = [];
    this.#inFlight.clear();
  }

  /** @internal Ends the subscription; iterators finish (or throw `error`). */
  _end(error: EnSyncError | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    this.#inFlight.clear();
    for (const it of this.#iterators) it.end(error);
    this.#iterators.clear();
    this.#sinks.clear();
  }

  #event(record: WireRecord): EnSyncEvent {
    return toEvent(record, this.#decryptor);
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length > 0 && this.#sinks.size > 0 && !this.#ended) {
        const { record, generation } = this.#queue.shift()!;
        let event: EnSyncEvent;
        try {
          event = this.#event(record);
        } catch (err) {
          this.#client._report(
            wrap(
              EnSyncGenericError,
              `Cannot decrypt ${record.name} ${record.idem} (left unacknowledged)`,
              err,
            ),
          );
          continue;
        }
        if (this.#inFlight.size >= 10_000) {
          this.#inFlight.delete(this.#inFlight.keys().next().value!);
        }
        this.#inFlight.set(record.idem, record.name);
        let ok = true;
        if (this.#sinks.size === 1) {
          ok = await this.#sinks.values().next().value!(event);
        } else {
          const results = await Promise.all([...this.#sinks].map((s) => s(event)));
          ok = results.every(Boolean);
        }
        if (
          this.#autoAck && ok && generation === this.#client._generation &&
          this.#inFlight.delete(record.idem)
        ) {
          this.#client._call((s) => s.ack(record.idem, record.block, record.name)).catch((err) => {
            this.#client._report(
              wrap(EnSyncGenericError, `Auto-ack of ${record.name} ${record.idem} failed`, err),
            );
          });
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #attach(sink: Sink): () => void {
    this.#sinks.add(sink);
    if (!this.#pumping && this.#queue.length > 0) void this.#pump();
    return () => {
      this.#sinks.delete(sink);
    };
  }

  /**
   * Adds a handler; every event goes to every handler. The event counts as processed when the
   * handler returns (or its promise settles) without throwing.
   *
   * @param handler Called with each decrypted event.
   * @returns A function that removes the handler.
   */
  on<T = unknown>(handler: EventHandler<T>): () => void {
    if (this.#ended) {
      throw new EnSyncSubscriptionError(`The subscription to ${this.eventName} has ended`, {
        code: "ENDED",
      });
    }
    return this.#attach(async (event) => {
      try {
        await handler(event as EnSyncEvent<T>);
        return true;
      } catch (err) {
        this.#client._report(
          wrap(
            EnSyncGenericError,
            `A handler for ${event.eventName} threw on ${event.idem} (left unacknowledged)`,
            err,
          ),
        );
        return false;
      }
    });
  }

  /**
   * Iterates the events. The loop ends when the subscription ends (`unsubscribe()`, `close()`) and
   * throws when the client gave up reconnecting.
   *
   * @returns An async iterator of events.
   */
  [Symbol.asyncIterator](): AsyncIterator<EnSyncEvent> {
    const it = new EventIterator(() => {
      detach();
      this.#iterators.delete(it);
    });
    if (this.#ended) it.end(undefined);
    else this.#iterators.add(it);
    const detach = this.#ended ? () => {} : this.#attach((event) => it.offer(event));
    return it;
  }

  #nameOf(idem: string): string {
    return this.#inFlight.get(idem) ?? this.eventName;
  }

  #checkOpen(ErrorClass: typeof EnSyncError = EnSyncSubscriptionError): void {
    if (this.#ended) {
      throw new ErrorClass(`The subscription to ${this.eventName} has ended`, { code: "ENDED" });
    }
  }

  /**
   * Acknowledges an event: the engine forgets it and delivers the next one.
   *
   * @param idem The event id.
   * @param block The event's block.
   * @throws {EnSyncGenericError} With the engine's code when it refuses.
   */
  async ack(idem: string, block: number): Promise<void> {
    this.#checkOpen(EnSyncGenericError);
    const name = this.#nameOf(idem);
    this.#inFlight.delete(idem);
    try {
      await this.#client._call((s) => s.ack(idem, block, name));
    } catch (err) {
      throw wrap(EnSyncGenericError, `Ack of ${idem} failed`, err);
    }
  }

  /**
   * Asks the engine to deliver the event again after `delayMs` (1 s to 24 h).
   *
   * @param idem The event id.
   * @param delayMs The delay in ms, 1000 to 86,400,000.
   * @param reason Why (free text, kept by the engine).
   * @returns When the event will come back.
   * @throws {EnSyncGenericError} `INVALID_DELAY`, or the engine's code.
   */
  async defer(idem: string, delayMs: number, reason = ""): Promise<DeferResult> {
    this.#checkOpen(EnSyncGenericError);
    if (!Number.isInteger(delayMs) || delayMs < MIN_DELAY_MS || delayMs > MAX_DELAY_MS) {
      throw new EnSyncGenericError("Delay must be between 1000ms and 24 hours", {
        code: "INVALID_DELAY",
      });
    }
    const name = this.#nameOf(idem);
    this.#inFlight.delete(idem);
    try {
      const at = await this.#client._call((s) => s.defer(idem, name, delayMs, freeText(reason)));
      return { idem, delayMs, deliveryTime: at ?? Date.now() + delayMs };
    } catch (err) {
      throw wrap(EnSyncGenericError, `Defer of ${idem} failed`, err);
    }
  }

  /**
   * Removes the event from processing for good (the engine keeps it, with the reason, for
   * inspection).
   *
   * @param idem The event id.
   * @param reason Why (free text).
   * @throws {EnSyncGenericError} With the engine's code when it refuses.
   */
  async discard(idem: string, reason = ""): Promise<void> {
    this.#checkOpen(EnSyncGenericError);
    const name = this.#nameOf(idem);
    this.#inFlight.delete(idem);
    try {
      await this.#client._call((s) => s.discard(idem, name, freeText(reason)));
    } catch (err) {
      throw wrap(EnSyncGenericError, `Discard of ${idem} failed`, err);
    }
  }

  /**
   * Fetches a stored event by id (acknowledged or not, within retention) and returns it decrypted.
   * It is not passed to handlers.
   *
   * @param idem The event id.
   * @returns The event.
   * @throws {EnSyncGenericError} `NOT_FOUND` (or the engine's code), or `DECRYPTION_FAILED`.
   */
  async replay<T = unknown>(idem: string): Promise<EnSyncEvent<T>> {
    this.#checkOpen(EnSyncGenericError);
    let record: WireRecord;
    try {
      record = await this.#client._call((s) => s.replay(idem, this.eventName));
    } catch (err) {
      throw wrap(EnSyncGenericError, `Replay of ${idem} failed`, err);
    }
    try {
      return this.#event(record) as EnSyncEvent<T>;
    } catch (err) {
      throw wrap(EnSyncGenericError, `Cannot decrypt the replayed event ${idem}`, err);
    }
  }

  /**
   * Stops deliveries to this client (others of the same app keep receiving); events wait in the
   * queue. Restored after a reconnect.
   *
   * @param reason Why (free text).
   * @throws {EnSyncGenericError} With the engine's code (`ALREADY_PAUSED`, ...).
   */
  async pause(reason = ""): Promise<void> {
    this.#checkOpen(EnSyncGenericError);
    try {
      await this.#client._call((s) => s.pause(this.eventName, freeText(reason)));
      this.#paused = true;
      this._pauseReason = freeText(reason);
    } catch (err) {
      throw wrap(EnSyncGenericError, `Pause of ${this.eventName} failed`, err);
    }
  }

  /**
   * Resumes deliveries after `pause()`.
   *
   * @throws {EnSyncGenericError} With the engine's code (`NOT_PAUSED`, ...).
   */
  async continue(): Promise<void> {
    this.#checkOpen(EnSyncGenericError);
    try {
      await this.#client._call((s) => s.continue(this.eventName));
      this.#paused = false;
    } catch (err) {
      throw wrap(EnSyncGenericError, `Continue of ${this.eventName} failed`, err);
    }
  }

  /**
   * Alias of {@linkcode Subscription.continue}.
   *
   * @throws {EnSyncGenericError} With the engine's code.
   */
  resume(): Promise<void> {
    return this.continue();
  }

  /**
   * Unsubscribes: handlers are removed, iterators finish, and unacknowledged events return to the
   * engine's queue.
   *
   * @throws {EnSyncSubscriptionError} With the engine's code when it refuses.
   */
  async unsubscribe(): Promise<void> {
    if (this.#ended) return;
    this.#client._forget(this);
    this._end(undefined);
    try {
      await this.#client._call((s) => s.unsubscribe(this.eventName));
    } catch (err) {
      if (err instanceof EnSyncConnectionError && err.code === "CLOSED") return;
      throw wrap(EnSyncSubscriptionError, `Unsubscribing from ${this.eventName} failed`, err);
    }
  }
}

/** The async iterator of a subscription: hands over one event at a time. */
class EventIterator implements AsyncIterator<EnSyncEvent> {
  #buffer: Array<{ event: EnSyncEvent; settle: (ok: boolean) => void }> = [];
  #waiting: ((r: IteratorResult<EnSyncEvent>) => void) | undefined;
  #failWaiting: ((e: unknown) => void) | undefined;
  #current: ((ok: boolean) => void) | undefined;
  #done = false;
  #error: EnSyncError | undefined;
  readonly #onReturn: () => void;

  constructor(onReturn: () => void) {
    this.#onReturn = onReturn;
  }

  /** Offers an event; resolves true once the consumer asked for the next one. */
  offer(event: EnSyncEvent): Promise<boolean> {
    if (this.#done) return Promise.resolve(false);
    return new Promise((settle) => {
      if (this.#waiting) {
        const w = this.#waiting;
        this.#waiting = undefined;
        this.#failWaiting = undefined;
        this.#current = settle;
        w({ value: event, done: false });
      } else this.#buffer.push({ event, settle });
    });
  }

  end(error: EnSyncError | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#current?.(false);
    this.#current = undefined;
    for (const b of this.#buffer.splice(0)) b.settle(false);
    if (this.#waiting) {
      if (error) this.#failWaiting!(error);
      else this.#waiting({ value: undefined, done: true });
      this.#waiting = undefined;
      this.#failWaiting = undefined;
    }
  }

  next(): Promise<IteratorResult<EnSyncEvent>> {
    this.#current?.(true);
    this.#current = undefined;
    const head = this.#buffer.shift();
    if (head) {
      this.#current = head.settle;
      return Promise.resolve({ value: head.event, done: false });
    }
    if (this.#done) {
      if (this.#error) {
        const e = this.#error;
        this.#error = undefined;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failWaiting = reject;
    });
  }

  return(): Promise<IteratorResult<EnSyncEvent>> {
    if (!this.#done) {
      this.end(undefined);
      this.#onReturn();
    }
    return Promise.resolve({ value: undefined, done: true });
  }
}
