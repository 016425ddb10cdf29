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
 * Nothing is done to a request's body on the way in (wrapping its readers cost 40 % of the
 * throughput of a small POST): each request in flight is kept with its body deadline, and only
 * when that deadline has passed does the sweep look at the body (`_body_deadline.ts`): not
 * started by the app, the deadline moves on; read to its end, it is cleared; still being read, the
 * connection is closed.
 *
 * @module
 */
import type { Clock } from "../lib/_clock.ts";
import { bodyState } from "./_body_deadline.ts";

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
  /** The requests in flight (one at a time on HTTP/1.1) and their body deadlines. */
  readonly #requests: Request[] = [];
  readonly #bodyDue: number[] = [];
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
    const dues = this.#bodyDue;
    for (let i = 0; i < dues.length; i++) {
      if (now < dues[i]!) continue;
      const state = bodyState(this.#requests[i]!);
      if (state === "reading") return this.#fire("body");
      // Not started by the app: nothing is slow yet. Read to its end: no body deadline any more.
      dues[i] = state === "untouched" ? now + this.#limits.bodyTimeoutMs : Infinity;
    }
    return false;
  }

  #fire(kind: TimeoutKind): boolean {
    this.closed = true;
    this.#onTimeout(kind);
    return true;
  }

  /**
   * A request's headers arrived: its body (if it has one) must arrive within the body timeout,
   * counted from now, once the app has started to read it.
   *
   * @param request The request (its body is looked at only if the deadline passes).
   */
  requestStarted(request: Request): void {
    this.inFlight++;
    this.#due = Infinity;
    this.#requests.push(request);
    this.#bodyDue.push(this.#clock.now() + this.#limits.bodyTimeoutMs);
  }

  /**
   * Its response is complete (or failed): the idle deadline starts when nothing is in flight.
   *
   * @param request The request given to {@linkcode ConnectionGuard.requestStarted}.
   */
  requestEnded(request: Request): void {
    const i = this.#requests.indexOf(request);
    if (i === -1) return;
    this.#requests.splice(i, 1);
    this.#bodyDue.splice(i, 1);
    this.inFlight--;
    if (this.inFlight === 0) {
      this.#due = this.#clock.now() + this.#limits.idleTimeoutMs;
      this.#dueKind = "idle";
    }
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
    this.#requests.length = 0;
    this.#bodyDue.length = 0;
  }
}
