/**
 * Helpers shared by the request stores (private).
 *
 * @module
 */
import type { RequestRecord } from "./types.ts";
import { type Clock, systemClock } from "../_clock.ts";
import { deadline } from "../_async.ts";

/** Returns whether a record is finished. */
export function isFinished(record: RequestRecord): boolean {
  return record.status === "completed" || record.status === "failed";
}

/** Milliseconds a record is kept from now: the TTL when finished, else until expiry + TTL. */
export function retentionMs(record: RequestRecord, ttlMs: number, now = Date.now()): number {
  if (isFinished(record)) return ttlMs;
  const expires = Date.parse(record.request.expires);
  return Math.max(ttlMs, (Number.isFinite(expires) ? expires - now : 0) + ttlMs);
}

/** In-process waiters keyed by id: stores call `notify` when a request finishes. */
export class Waiters {
  #waiters = new Map<string, Set<() => void>>();
  #clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** Wakes everyone waiting on `id`. */
  notify(id: string): void {
    const set = this.#waiters.get(id);
    if (!set) return;
    this.#waiters.delete(id);
    for (const wake of set) wake();
  }

  /** Wakes everyone (on close). */
  notifyAll(): void {
    for (const id of [...this.#waiters.keys()]) this.notify(id);
  }

  /**
   * Registers first, then reads, so a finish between the read and the wait is never missed.
   *
   * @returns The record when finished, at the end of the wait, or `null` when unknown.
   */
  async wait(
    id: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    read: () => Promise<RequestRecord | null>,
  ): Promise<RequestRecord | null> {
    const { promise, resolve } = Promise.withResolvers<void>();
    let set = this.#waiters.get(id);
    if (!set) this.#waiters.set(id, set = new Set());
    set.add(resolve);
    try {
      const current = await read();
      if (current === null || isFinished(current) || timeoutMs <= 0 || signal?.aborted) {
        return current;
      }
      // Woken by a finish, or the time is up / the signal aborted: read again either way.
      await deadline(promise, timeoutMs, {
        clock: this.#clock,
        ...(signal === undefined ? {} : { signal }),
      }).catch(() => {});
      return await read();
    } finally {
      const s = this.#waiters.get(id);
      s?.delete(resolve);
      if (s?.size === 0) this.#waiters.delete(id);
    }
  }
}

/** Removes the password from a Redis URL for display. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "redis://(invalid url)";
  }
}
