/**
 * The implementation of {@linkcode Subscription}: a buffer of deliveries processed one at a time,
 * handlers and async iterators, and the per-event commands, over a {@linkcode SubscriptionHost}
 * (the client).
 *
 * @module
 */
import { getLogger } from "../_log.ts";
import type { EnvelopeDecryptor } from "./crypto.ts";
import {
  EnSyncConnectionError,
  type EnSyncError,
  EnSyncGenericError,
  EnSyncSubscriptionError,
} from "./errors.ts";
import type { WireRecord } from "./protocol.ts";
import type { Session } from "./_session.ts";
import type { DeferResult, EnSyncEvent, SubscribeOptions } from "./types.ts";
import type { EventHandler, Subscription } from "./client.ts";
import { freeText, MAX_DELAY_MS, MIN_DELAY_MS, toEvent, wrap } from "./_client_util.ts";

const log = getLogger(["ensync", "client"]);

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  /** Reports an error with no caller to throw to. */
  report(error: EnSyncError): void;
  /** Runs an operation on the live session (waiting while reconnecting). */
  call<T>(op: (session: Session) => Promise<T>): Promise<T>;
  /** The generation of the live session (deliveries from older ones are not acked). */
  generation(): number;
  /** Drops the subscription from routing. */
  forget(sub: SubscriptionImpl): void;
  /** The time on the client's clock (ms since the epoch). */
  now(): number;
}

type Sink = (event: EnSyncEvent) => Promise<boolean> | boolean;

interface Queued {
  record: WireRecord;
  generation: number;
}

export class SubscriptionImpl implements Subscription {
  /** The subscribed event name or pattern. */
  readonly eventName: string;
  readonly #client: SubscriptionHost;
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
  /** The reason given to the last `pause()`, restored after reconnects. */
  pauseReason = "";

  /** Created by the client's `subscribe()`. */
  constructor(
    client: SubscriptionHost,
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

  /** A delivery for this subscription. */
  push(record: WireRecord, generation: number): void {
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

  /** The connection was lost: buffered deliveries will be redelivered. */
  connectionLost(): void {
    this.#queue = [];
    this.#inFlight.clear();
  }

  /** Ends the subscription; iterators finish (or throw `error`). */
  end(error: EnSyncError | undefined): void {
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
          this.#client.report(
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
          this.#autoAck && ok && generation === this.#client.generation() &&
          this.#inFlight.delete(record.idem)
        ) {
          this.#client.call((s) => s.ack(record.idem, record.block, record.name)).catch((err) => {
            this.#client.report(
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
        this.#client.report(
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
      await this.#client.call((s) => s.ack(idem, block, name));
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
      const at = await this.#client.call((s) => s.defer(idem, name, delayMs, freeText(reason)));
      return { idem, delayMs, deliveryTime: at ?? this.#client.now() + delayMs };
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
      await this.#client.call((s) => s.discard(idem, name, freeText(reason)));
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
      record = await this.#client.call((s) => s.replay(idem, this.eventName));
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
      await this.#client.call((s) => s.pause(this.eventName, freeText(reason)));
      this.#paused = true;
      this.pauseReason = freeText(reason);
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
      await this.#client.call((s) => s.continue(this.eventName));
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
    this.#client.forget(this);
    this.end(undefined);
    try {
      await this.#client.call((s) => s.unsubscribe(this.eventName));
    } catch (err) {
      if (err instanceof EnSyncConnectionError && err.code === "CLOSED") return;
      throw wrap(EnSyncSubscriptionError, `Unsubscribing from ${this.eventName} failed`, err);
    }
  }

  /** Unsubscribes unless already ended (`await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.ended) await this.unsubscribe();
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
