/**
 * The futures of one client: who is pending, which file events concern whom, the safety-net poll
 * of waited futures and the sweep that forgets abandoned ones. It is the {@linkcode FutureHost}
 * of every future it holds.
 *
 * @module
 */
import { sep } from "node:path";
import type { Clock } from "../_clock.ts";
import { discardFile } from "./_io.ts";
import { Deletions } from "./_deletions.ts";
import type { FutureHost, FutureImpl } from "./_future.ts";
import type { FileChange, RescanReason } from "./watcher.ts";

/** Settings of a {@linkcode FutureRegistry}. */
export interface RegistryOptions {
  clock: Clock;
  graceMs: number;
  consumeOnRead: boolean;
  pollMs: number;
  tmpDir: string;
}

/** The pending futures of a client, keyed by `<dir>/<id>`. */
export class FutureRegistry implements FutureHost {
  readonly clock: Clock;
  readonly graceMs: number;
  readonly consumeOnRead: boolean;
  readonly deletions: Deletions = new Deletions();
  #pollMs: number;
  #tmpDir: string;
  #futures = new Map<string, FutureImpl>();
  #waited = new Set<FutureImpl>();
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: RegistryOptions) {
    this.clock = options.clock;
    this.graceMs = options.graceMs;
    this.consumeOnRead = options.consumeOnRead;
    this.#pollMs = options.pollMs;
    this.#tmpDir = options.tmpDir;
  }

  /** How many futures are pending. */
  get size(): number {
    return this.#futures.size;
  }

  /** The pending futures. */
  values(): IterableIterator<FutureImpl> {
    return this.#futures.values();
  }

  /** The future pending for `key`, if any. */
  get(key: string): FutureImpl | undefined {
    return this.#futures.get(key);
  }

  /** Starts following a future. */
  track(future: FutureImpl): void {
    this.#futures.set(future.key, future);
    if (this.#sweepTimer === undefined && !this.#closed) {
      this.#sweepTimer = setInterval(() => this.#sweep(), 60_000);
      Deno.unrefTimer(this.#sweepTimer);
    }
  }

  /** Stops following a future (its write failed). */
  untrack(future: FutureImpl): void {
    if (this.#futures.get(future.key) === future) this.#futures.delete(future.key);
  }

  waited(future: FutureImpl): void {
    this.#waited.add(future);
    if (this.#pollTimer === undefined && !this.#closed) {
      const pollMs = this.#pollMs;
      this.#pollTimer = setInterval(() => this.#poll(pollMs), pollMs);
    }
  }

  settled(future: FutureImpl): void {
    this.untrack(future);
    this.#waited.delete(future);
  }

  discard(path: string, options: { trusted?: boolean; share?: boolean }): Promise<boolean> {
    return discardFile(path, this.#tmpDir, options);
  }

  /** Routes a watcher change to the future it concerns. */
  onChange(change: FileChange): void {
    if (this.#futures.size === 0) return;
    const p = change.path;
    const slash = p.lastIndexOf(sep);
    const name = p.slice(slash + 1);
    if (name.length < 45) return; // <36-char uuid>.request at least
    const future = this.#futures.get(p.slice(0, slash + 1) + name.slice(0, 36));
    if (future === undefined) return;
    const rest = name.slice(36);
    if (rest === ".response") {
      if (change.kind !== "remove") future.notify("response");
    } else if (rest === ".request") {
      if (change.kind === "remove") future.notify("request-removed");
    } else if (rest.endsWith(".request") && rest.includes("rejected")) {
      if (change.kind !== "remove") future.notify("marker");
    }
  }

  /** Events may have been lost: every future checks fully; waited ones at once. */
  onRescan(reason: RescanReason): void {
    if (reason === "reconcile") return; // the safety-net poll covers waited futures
    for (const f of this.#futures.values()) {
      f.suspect();
      if (f.waited) void f.resolve().catch(() => {});
    }
  }

  /** Stops the timers and fails every pending future with `err`. */
  close(err: Error): void {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    clearInterval(this.#sweepTimer);
    this.#pollTimer = this.#sweepTimer = undefined;
    for (const f of this.#futures.values()) f.fail(err);
    this.#futures.clear();
    this.#waited.clear();
  }

  #poll(pollMs: number): void {
    const now = performance.now();
    let budget = 256;
    for (const f of this.#waited) {
      if (!f.waited || f.done) {
        this.#waited.delete(f);
        continue;
      }
      if (now - f.lastCheck < pollMs * 0.9) continue;
      if (budget-- <= 0) break;
      void f.resolve().catch(() => {});
    }
    if (this.#waited.size === 0) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
    }
  }

  /**
   * Forgets futures nobody waits for whose request expired over a minute ago (they can still be
   * resolved by whoever holds them), so a long-lived client does not grow without bound.
   */
  #sweep(): void {
    const cutoff = Temporal.Instant.fromEpochMilliseconds(this.clock.now()).subtract({
      minutes: 1,
    });
    for (const [key, f] of this.#futures) {
      if (!f.waited && f.expires !== undefined && Temporal.Instant.compare(f.expires, cutoff) < 0) {
        this.#futures.delete(key);
      }
    }
    if (this.#futures.size === 0) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = undefined;
    }
  }
}
