/**
 * The transport seam: a Session is one authenticated connection (a WebSocket after `CONN`, or a
 * gRPC channel after `Connect`). The client above it is transport-agnostic and owns reconnects.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../_clock.ts";
import type { WireRecord } from "./protocol.ts";

/** Callbacks a session reports to. */
export interface SessionHandlers {
  /** A pushed delivery. Must not block. */
  onRecord(record: WireRecord): void;
  /** The session died on its own (not through `close()`); called once. */
  onClose(error: Error): void;
}

/** One authenticated connection. Operations reject with `EnSyncError`s (code = engine code). */
export interface Session {
  readonly clientId: string;
  readonly clientHash: string;
  publish(
    name: string,
    recipient: string,
    payload: string,
    metadata: string,
    payloadMetadata: string,
  ): Promise<string>;
  subscribe(name: string): Promise<void>;
  unsubscribe(name: string): Promise<void>;
  ack(idem: string, block: number, name: string): Promise<void>;
  defer(idem: string, name: string, delayMs: number, reason: string): Promise<number | undefined>;
  discard(idem: string, name: string, reason: string): Promise<void>;
  pause(name: string, reason: string): Promise<void>;
  continue(name: string): Promise<void>;
  replay(idem: string, name: string): Promise<WireRecord>;
  /** Closes the connection; pending requests reject with a connection error. Idempotent. */
  close(): Promise<void>;
}

/** Opens and authenticates a session (rejects with `EnSyncAuthError` / `EnSyncConnectionError`). */
export type SessionFactory = (appKey: string, handlers: SessionHandlers) => Promise<Session>;

/**
 * One timer for many deadlines that expire in insertion order (every request has the same timeout):
 * it is armed for the oldest deadline and, when it fires, re-armed for the next one. Settling a
 * request costs no timer call at all.
 */
export class DeadlineTimer {
  #timer: TimerHandle | undefined;
  #due = 0;
  readonly #clock: Clock;
  readonly #next: () => number | undefined;
  readonly #expire: (now: number) => void;

  /**
   * @param clock The clock deadlines are read on and the timer is set on.
   * @param next Returns the oldest live deadline (ms on `clock`), or undefined when none.
   * @param expire Expires every request whose deadline is ≤ now.
   */
  constructor(clock: Clock, next: () => number | undefined, expire: (now: number) => void) {
    this.#clock = clock;
    this.#next = next;
    this.#expire = expire;
  }

  /** Makes sure the timer is armed for the oldest deadline (cheap when it already is). */
  arm(): void {
    if (this.#timer !== undefined) return;
    const due = this.#next();
    if (due === undefined) return;
    this.#due = due;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, due - this.#clock.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    if (this.#due <= now) this.#expire(now);
    this.arm();
  }

  /** Stops the timer. */
  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** A counting gate: at most `limit` holders; the rest wait in arrival order. */
export class Gate {
  #held = 0;
  readonly #limit: number;
  readonly #waiters: Array<() => void> = [];

  /** @param limit The most concurrent holders. */
  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Resolves when a slot is free (synchronously fast when one is). */
  enter(): Promise<void> | undefined {
    if (this.#held < this.#limit) {
      this.#held++;
      return undefined;
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Frees a slot, handing it straight to the oldest waiter. */
  leave(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held--;
  }

  /** Wakes every waiter (their requests then fail on the closed session). */
  drain(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
