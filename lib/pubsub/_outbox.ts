/**
 * The ordered, bounded outbound queue of a connector. Events wait here while the backend is
 * unreachable; once it is back, everything that accumulated goes out in one pipelined batch per
 * round trip, in order. An event that cannot go out before its deadline, or finds the queue
 * full, fails with a {@linkcode PublishError}: nothing is dropped silently.
 *
 * @module
 */
import { PublishError, type PublishErrorCode } from "./errors.ts";
import type { PubSubClock } from "./_clock.ts";
import type { TimerHandle } from "../_clock.ts";

/** One queued publish. */
export interface OutboxItem {
  /** Order of arrival. */
  readonly seq: number;
  /** The full event name. */
  readonly channel: string;
  /** The wire text. */
  readonly data: string;
  /** When it fails if still not sent (clock ms). */
  readonly deadline: number;
  /** Queued while the backend was down (or sent on a connection that was lost). */
  held: boolean;
  resolve(): void;
  reject(err: Error): void;
}

/** The result of sending one item: sent (with the receiver count when known) or failed. */
export type SendResult =
  | { ok: true; receivers?: number }
  | { ok: false; error: Error; retry: boolean };

/** What the outbox needs from its transport. */
export interface OutboxOptions {
  /** The connector (for error messages). */
  network: string;
  /** The backend's name and address (for error messages). */
  where: string;
  /** Most events held at once. */
  maxQueue: number;
  /** How long an event may wait. */
  timeoutMs: number;
  /** Largest batch per round trip. */
  maxBatch?: number;
  /** Batches in flight at once (order is kept by the single connection). */
  maxInFlight?: number;
  /**
   * Retry an event held during an outage that reached no subscriber (Redis: `PUBLISH` answered
   * 0 after a restart, before the subscribers re-subscribed), until its deadline.
   */
  retryUnheard?: boolean;
  clock: PubSubClock;
  /** Whether the backend can take commands now. */
  isOpen(): boolean;
  /** Sends a batch in order; one result per item. Rejecting means every item is unsent. */
  send(batch: readonly OutboxItem[]): Promise<SendResult[]>;
}

const RETRY_UNHEARD_MS = 50;
/**
 * After the backend came back from an outage, events that reached no subscriber are retried (as
 * held ones are) when sent within this long: the subscribers re-subscribe at their own pace.
 */
const RECOVERY_MS = 5_000;
/** After a failed send, wait this long (or for `wake()`) before sending again: no hot loop. */
const RETRY_FAILED_MS = 100;

/** @internal The outbound queue. */
export class Outbox {
  readonly #o: OutboxOptions;
  #queue: OutboxItem[] = [];
  #seq = 0;
  #inFlight = 0;
  #scheduled = false;
  #closed = false;
  #deadlineTimer: TimerHandle | undefined;
  #deadlineAt = Infinity;
  #idle: (() => void)[] = [];
  #paused = false;
  /** The backend was lost (or never reached) since it was last open. */
  #outage = false;
  /** Until then, events sent that reached nobody are retried. */
  #recoverUntil = -Infinity;
  #pauseTimer: TimerHandle | undefined;

  constructor(options: OutboxOptions) {
    this.#o = options;
  }

  /** Events waiting (not yet sent). */
  get size(): number {
    return this.#queue.length;
  }

  /** Queues one event; resolves when the backend took it. */
  push(channel: string, data: string): Promise<void> {
    if (this.#closed) return Promise.reject(this.#error("PUBSUB_CLOSED", channel, "closed"));
    if (this.#queue.length >= this.#o.maxQueue) {
      return Promise.reject(
        this.#error(
          "PUBSUB_QUEUE_FULL",
          channel,
          `${this.#o.maxQueue} events are already waiting for ${this.#o.where} (raise max_queue or slow down)`,
        ),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({
      seq: this.#seq++,
      channel,
      data,
      deadline: this.#o.clock.now() + this.#o.timeoutMs,
      held: !this.#o.isOpen(),
      resolve,
      reject,
    });
    this.#schedule();
    return promise;
  }

  /** The backend is (back) up: send what waits. */
  wake(): void {
    if (this.#outage) {
      this.#outage = false;
      this.#recoverUntil = this.#o.clock.now() + RECOVERY_MS;
    }
    this.#resume();
  }

  /** The backend's connection was lost (an outage begins). */
  lost(): void {
    this.#outage = true;
  }

  #resume(): void {
    this.#o.clock.clearTimeout(this.#pauseTimer);
    this.#pauseTimer = undefined;
    this.#paused = false;
    this.#schedule();
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#pauseTimer = this.#o.clock.setTimeout(() => this.#resume(), RETRY_FAILED_MS);
  }

  /** Resolves when nothing waits or is in flight. */
  drained(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Fails everything still waiting with `PUBSUB_CLOSED`. */
  close(): void {
    this.#closed = true;
    this.#o.clock.clearTimeout(this.#deadlineTimer);
    this.#o.clock.clearTimeout(this.#pauseTimer);
    for (const item of this.#queue.splice(0)) {
      item.reject(this.#error("PUBSUB_CLOSED", item.channel, "the connector was closed first"));
    }
    this.#notifyIdle();
  }

  #error(code: PublishErrorCode, channel: string, why: string, cause?: unknown): PublishError {
    return new PublishError(`Cannot publish ${channel} on ${this.#o.network}: ${why}`, {
      code,
      event: channel,
      network: this.#o.network,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#closed || this.#paused) {
      if (this.#paused) this.#armDeadline();
      return;
    }
    if (!this.#o.isOpen()) {
      this.#outage = true;
      for (const item of this.#queue) item.held = true;
      this.#armDeadline();
      return;
    }
    const maxInFlight = this.#o.maxInFlight ?? 4;
    const maxBatch = this.#o.maxBatch ?? 2_000;
    while (this.#queue.length > 0 && this.#inFlight < maxInFlight) {
      const batch = this.#queue.length <= maxBatch
        ? this.#queue.splice(0)
        : this.#queue.splice(0, maxBatch);
      this.#inFlight++;
      this.#o.send(batch).then(
        (results) => this.#settle(batch, results),
        (err) => this.#settle(batch, batch.map(() => ({ ok: false, error: err, retry: true }))),
      ).finally(() => {
        this.#inFlight--;
        if (this.#queue.length > 0) this.#schedule();
        else this.#notifyIdle();
      });
    }
  }

  #settle(batch: readonly OutboxItem[], results: readonly SendResult[]): void {
    const now = this.#o.clock.now();
    const again: OutboxItem[] = [];
    batch.forEach((item, i) => {
      const r = results[i] ?? { ok: false, error: new Error("no reply"), retry: true };
      if (r.ok) {
        if (
          r.receivers === 0 && (item.held || now < this.#recoverUntil) && this.#o.retryUnheard &&
          !this.#closed
        ) {
          if (now >= item.deadline) {
            item.reject(this.#error(
              "PUBSUB_NO_SUBSCRIBER",
              item.channel,
              `${
                item.held
                  ? `held while ${this.#o.where} was unreachable`
                  : `sent just after ${this.#o.where} came back`
              }, then no subscriber was listening within ${this.#o.timeoutMs} ms`,
            ));
          } else {
            this.#o.clock.setTimeout(() => this.#requeue([item]), RETRY_UNHEARD_MS);
          }
          return;
        }
        item.resolve();
      } else if (r.retry && !this.#closed && now < item.deadline) {
        item.held = true;
        again.push(item);
      } else {
        item.reject(
          this.#error(
            r.retry ? "PUBSUB_PUBLISH_TIMEOUT" : "PUBSUB_PUBLISH",
            item.channel,
            r.error.message,
            r.error,
          ),
        );
      }
    });
    if (again.length > 0) {
      // The connection failed under us (its close event may not have come yet).
      this.#pause();
      this.#requeue(again);
    }
  }

  #requeue(items: OutboxItem[]): void {
    if (this.#closed) {
      for (const item of items) {
        item.reject(this.#error("PUBSUB_CLOSED", item.channel, "the connector was closed first"));
      }
      return;
    }
    this.#queue.push(...items);
    this.#queue.sort((a, b) => a.seq - b.seq);
    this.#schedule();
  }

  #armDeadline(): void {
    const head = this.#queue[0];
    if (head === undefined) {
      this.#o.clock.clearTimeout(this.#deadlineTimer);
      this.#deadlineTimer = undefined;
      this.#deadlineAt = Infinity;
      return;
    }
    // Deadlines grow with arrival order, and the queue is kept in arrival order.
    const first = head.deadline;
    if (first >= this.#deadlineAt) return;
    this.#o.clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = first;
    this.#deadlineTimer = this.#o.clock.setTimeout(
      () => this.#expire(),
      Math.max(0, first - this.#o.clock.now()),
    );
  }

  #expire(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = this.#o.clock.now();
    const keep: OutboxItem[] = [];
    for (const item of this.#queue) {
      if (now >= item.deadline) {
        item.reject(this.#error(
          "PUBSUB_PUBLISH_TIMEOUT",
          item.channel,
          `${this.#o.where} stayed unreachable for ${this.#o.timeoutMs} ms`,
        ));
      } else keep.push(item);
    }
    this.#queue = keep;
    this.#armDeadline();
    if (this.#queue.length === 0) this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#queue.length > 0 || this.#inFlight > 0) return;
    for (const fn of this.#idle.splice(0)) fn();
  }
}
