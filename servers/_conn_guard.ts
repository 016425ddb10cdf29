/**
 * The deadlines of one connection: the headers timeout from accept to its first request, the body
 * timeout from a request's headers to the end of its body, and the idle timeout between
 * requests. A WebSocket connection is exempt from all three once upgraded.
 *
 * A guard keeps deadlines as numbers, not timers (a timer per request costs a fifth of the
 * throughput of a hello route): the server's sweeper (`_sweeper.ts`) reads them a few times per
 * shortest timeout and calls {@linkcode ConnectionGuard.check}, which closes an expired one
 * through `onTimeout`.
 *
 * @module
 */
import type { Clock } from "../lib/_clock.ts";

/** Which timeout closed a connection. */
export type TimeoutKind = "headers" | "body" | "idle";

/** The three timeouts, in milliseconds. */
export interface GuardLimits {
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
}

/** The deadlines of one connection. */
export class ConnectionGuard {
  readonly #clock: Clock;
  readonly #limits: GuardLimits;
  readonly #onTimeout: (kind: TimeoutKind) => void;
  /** When the headers or idle deadline passes (Infinity while a request is in flight). */
  #due: number;
  #dueKind: "headers" | "idle" = "headers";
  #bodies = 0;
  #bodyDue = Infinity;
  #bodyTouched: (() => boolean) | undefined;
  /** Requests whose response is not complete yet. */
  inFlight = 0;
  /** Upgraded to a WebSocket: no timeouts apply any more. */
  upgraded = false;
  /** Closed (by a timeout, the peer or the server). */
  closed = false;
  /** Called when the connection becomes a WebSocket. */
  onUpgrade: (() => void) | undefined;

  /**
   * Starts the headers deadline.
   *
   * @param clock The clock deadlines are read on.
   * @param limits The three timeouts.
   * @param onTimeout Closes the connection.
   */
  constructor(clock: Clock, limits: GuardLimits, onTimeout: (kind: TimeoutKind) => void) {
    this.#clock = clock;
    this.#limits = limits;
    this.#onTimeout = onTimeout;
    this.#due = clock.now() + limits.headersTimeoutMs;
  }

  /**
   * Closes the connection if a deadline has passed.
   *
   * @param now The clock's time.
   * @returns Whether it timed out.
   */
  check(now: number): boolean {
    if (this.closed || this.upgraded) return false;
    if (now >= this.#due) return this.#fire(this.#dueKind);
    if (now >= this.#bodyDue) {
      if (this.#bodyTouched?.() === false) {
        // The app has not started reading the body: nothing is slow yet.
        this.#bodyDue = now + this.#limits.bodyTimeoutMs;
        return false;
      }
      return this.#fire("body");
    }
    return false;
  }

  #fire(kind: TimeoutKind): boolean {
    this.closed = true;
    this.#onTimeout(kind);
    return true;
  }

  /** A request's headers arrived. */
  requestStarted(): void {
    this.inFlight++;
    this.#due = Infinity;
  }

  /** Its response is complete (or failed): the idle deadline starts when nothing is in flight. */
  requestEnded(): void {
    if (this.inFlight > 0) this.inFlight--;
    if (this.inFlight === 0) {
      this.#due = this.#clock.now() + this.#limits.idleTimeoutMs;
      this.#dueKind = "idle";
    }
  }

  /**
   * A request with a body started: its body must arrive within the body timeout. A body the
   * app has not started to read (`touched()` false) does not time out: its deadline moves on.
   *
   * @param touched Whether the app has started reading the body.
   * @returns Call it when the body has been read to its end (or dropped); idempotent.
   */
  bodyStarted(touched?: () => boolean): () => void {
    if (this.#bodies++ === 0) {
      this.#bodyDue = this.#clock.now() + this.#limits.bodyTimeoutMs;
      this.#bodyTouched = touched;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.#bodies === 0) {
        this.#bodyDue = Infinity;
        this.#bodyTouched = undefined;
      }
    };
  }

  /** The connection became a WebSocket. */
  upgrade(): void {
    if (this.upgraded) return;
    this.upgraded = true;
    this.onUpgrade?.();
  }

  /** The connection is gone. */
  close(): void {
    this.closed = true;
  }
}
