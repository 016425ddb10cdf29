/**
 * The watcher leases one owner (an RPC client, an app, a glob watcher) holds: each directory it
 * asks for is covered by a lease on it or on an ancestor already held, concurrent requests for the
 * same directory share one acquisition, and closing releases everything (also a lease that
 * arrives after closing).
 *
 * @module
 */
import { sep } from "node:path";
import {
  acquireWatcher,
  type FileChange,
  type FileWatcherOptions,
  type RescanReason,
  type WatcherLease,
} from "./watcher.ts";

/** What the owner of a {@linkcode WatchSet} is told. */
export interface WatchSetListener {
  /** A file changed under a covered directory. */
  onChange(change: FileChange): void;
  /** Events may have been lost under a covered directory. */
  onRescan(reason: RescanReason): void;
}

/** The leases of one owner, keyed by the directory they were taken on. */
export class WatchSet implements Disposable {
  #options: FileWatcherOptions;
  #listener: WatchSetListener;
  #leases = new Map<string, { lease: WatcherLease; off: () => void }>();
  #covered = new Set<string>();
  #acquiring = new Map<string, Promise<void>>();
  #closed = false;

  /**
   * @param listener Gets the changes and rescans of every lease.
   * @param options Options of the watchers acquired.
   */
  constructor(listener: WatchSetListener, options: FileWatcherOptions = {}) {
    this.#listener = listener;
    this.#options = options;
  }

  /** How many leases are held. */
  get size(): number {
    return this.#leases.size;
  }

  /** Whether `dir` is known to be covered (no I/O). */
  covers(dir: string): boolean {
    return this.#covered.has(dir);
  }

  /**
   * Makes sure a lease covers `dir` (creating the directory when missing, as a watcher needs it).
   * Resolves once events under it are delivered.
   */
  async cover(dir: string): Promise<void> {
    if (this.#closed || this.#covered.has(dir)) return;
    for (const root of this.#leases.keys()) {
      if (dir === root || dir.startsWith(root + sep)) {
        this.#covered.add(dir);
        return;
      }
    }
    const inProgress = this.#acquiring.get(dir);
    if (inProgress !== undefined) return await inProgress;
    const p = (async () => {
      const lease = await acquireWatcher(dir, this.#options);
      if (this.#closed) {
        lease.release();
        return;
      }
      const off = lease.subscribe({
        dir,
        onChange: (c) => this.#listener.onChange(c),
        onRescan: (r) => this.#listener.onRescan(r),
      });
      this.#leases.set(dir, { lease, off });
      this.#covered.add(dir);
    })();
    this.#acquiring.set(dir, p);
    try {
      await p;
    } finally {
      this.#acquiring.delete(dir);
    }
  }

  /** Releases every lease; later {@linkcode WatchSet.cover} calls do nothing. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const { lease, off } of this.#leases.values()) {
      off();
      lease.release();
    }
    this.#leases.clear();
    this.#covered.clear();
  }

  /** Same as {@linkcode WatchSet.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
