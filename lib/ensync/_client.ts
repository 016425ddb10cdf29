/**
 * The implementation of {@linkcode EnSyncClient}: publishing (one encrypted envelope and one event
 * id per recipient), subscribing, replay, and reconnects with backoff that restore every
 * subscription under the new client id.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../_clock.ts";
import { getLogger } from "../_log.ts";
import {
  encodeJson,
  EnvelopeDecryptor,
  EnvelopeEncryptor,
  publicKeyFromSecretKey,
} from "./crypto.ts";
import {
  EnSyncConnectionError,
  type EnSyncError,
  EnSyncGenericError,
  EnSyncPublishError,
  EnSyncSubscriptionError,
  EnSyncTimeoutError,
} from "./errors.ts";
import { isWildcard, jsonValue, matchesEventName, type WireRecord } from "./protocol.ts";
import type { Session, SessionHandlers } from "./_session.ts";
import type { ClientOptions, CloseOptions, EnSyncEvent, SubscribeOptions } from "./types.ts";
import type { EnSyncClient, Subscription } from "./client.ts";
import { type SubscriptionHost, SubscriptionImpl } from "./_subscription.ts";
import { checkEventName, toEvent, typeName, wrap } from "./_client_util.ts";

const log = getLogger(["ensync", "client"]);

const DEFAULT_METADATA = Object.freeze({ persist: true, headers: {} });

/** What a client needs from its engine. */
export interface ClientContext {
  /** Opens and authenticates a session. */
  open(appKey: string, handlers: SessionHandlers): Promise<Session>;
  reconnectInterval: number;
  maxReconnectAttempts: number;
  requestTimeout: number;
  /** The clock reconnect delays and the wait for a reconnect run on. */
  clock: Clock;
  /** Called once when the client is closed. */
  release(client: EnSyncClient): void;
  /** Closes the engine (for `close({ closeEngine: true })`). */
  closeEngine(): Promise<void>;
}

export class ClientImpl implements EnSyncClient {
  readonly #ctx: ClientContext;
  readonly #appKey: string;
  readonly #options: ClientOptions;
  readonly #encryptor: EnvelopeEncryptor;
  readonly #subs = new Map<string, SubscriptionImpl>();
  readonly #wildcards: SubscriptionImpl[] = [];
  #session: Session | undefined;
  #reconnecting: Promise<Session> | undefined;
  #generation = 0;
  #closed = false;
  #closeError: EnSyncError | undefined;
  readonly #closedPromise: Promise<EnSyncError | undefined>;
  #resolveClosed!: (reason: EnSyncError | undefined) => void;
  #sleepTimer: TimerHandle | undefined;
  #wakeSleep: (() => void) | undefined;

  /** Created by `engine.createClient()`. */
  constructor(ctx: ClientContext, appKey: string, options: ClientOptions) {
    this.#ctx = ctx;
    this.#appKey = appKey;
    this.#options = options;
    this.#encryptor = new EnvelopeEncryptor({ maxUses: options.ephemeralKeyMaxUses ?? 1000 });
    this.#closedPromise = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** Opens the first connection (no retries: a wrong URL or key fails fast). */
  async connect(): Promise<void> {
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
    const clock = this.#ctx.clock;
    let timer: TimerHandle | undefined;
    try {
      return await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = clock.setTimeout(
            () =>
              reject(
                new EnSyncTimeoutError(`Not reconnected within ${this.#ctx.requestTimeout} ms`),
              ),
            this.#ctx.requestTimeout,
          );
        }),
      ]);
    } finally {
      clock.clearTimeout(timer);
    }
  }

  #lost(error: Error): void {
    if (this.#closed) return;
    this.#session = undefined;
    this.#generation++;
    for (const sub of this.#subs.values()) sub.connectionLost();
    for (const sub of this.#wildcards) sub.connectionLost();
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
        if (sub.paused) await session.pause(sub.eventName, sub.pauseReason);
      } catch (err) {
        const error = wrap(
          EnSyncSubscriptionError,
          `Cannot restore the subscription to ${sub.eventName}`,
          err,
        );
        this.#report(error);
        if (!(err instanceof EnSyncConnectionError)) {
          this.#forget(sub);
          sub.end(error);
        }
      }
    }));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeSleep = resolve;
      this.#sleepTimer = this.#ctx.clock.setTimeout(() => {
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
    for (const sub of [...this.#subs.values(), ...this.#wildcards]) sub.end(error);
    this.#subs.clear();
    this.#wildcards.length = 0;
    this.#ctx.release(this);
    this.#resolveClosed(error);
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
    sub.push(record, generation);
  }

  /** Runs an operation on the live session. */
  async #call<T>(op: (session: Session) => Promise<T>): Promise<T> {
    return op(await this.#current());
  }

  /** What subscriptions call back into. */
  readonly #host: SubscriptionHost = {
    report: (error) => this.#report(error),
    call: (op) => this.#call(op),
    generation: () => this.#generation,
    forget: (sub) => this.#forget(sub),
    now: () => this.#ctx.clock.now(),
  };

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
    const sub = new SubscriptionImpl(this.#host, eventName, decryptor, options);
    const wildcard = isWildcard(eventName);
    if (wildcard) this.#wildcards.push(sub);
    else this.#subs.set(eventName, sub);
    try {
      await this.#call((s) => s.subscribe(eventName));
    } catch (err) {
      this.#forget(sub);
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
      record = await this.#call((s) => s.replay(idem, eventName));
    } catch (err) {
      throw wrap(EnSyncGenericError, `Replay of ${idem} failed`, err);
    }
    try {
      return toEvent(record, decryptor) as EnSyncEvent<T>;
    } catch (err) {
      throw wrap(EnSyncGenericError, `Cannot decrypt the replayed event ${idem}`, err);
    }
  }

  /** Drops a subscription from routing. */
  #forget(sub: SubscriptionImpl): void {
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
      this.#ctx.clock.clearTimeout(this.#sleepTimer);
      this.#wakeSleep?.();
      const error = new EnSyncConnectionError("The client was closed", { code: "CLOSED" });
      this.#closeError = error;
      for (const sub of [...this.#subs.values(), ...this.#wildcards]) sub.end(undefined);
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

  /** Closes the client (`await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
