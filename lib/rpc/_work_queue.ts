/**
 * A bounded work queue keyed by file path: at most `concurrency` runs at once, a key queued twice
 * runs once, and a key that changes while it runs is run again after. `idle()` is a promise that
 * settles when nothing is queued or running (no polling).
 *
 * @module
 */

/** What a {@linkcode WorkQueue} runs and reports. */
export interface WorkQueueOptions<K> {
  /** Runs at most this many keys at once (at least 1). */
  concurrency: number;
  /** Processes one key. */
  run(key: K): Promise<void>;
  /** A run failed (the queue goes on). */
  onError(key: K, err: unknown): void;
}

/** Keys waiting for a slot and keys running. */
export class WorkQueue<K> {
  #options: WorkQueueOptions<K>;
  #concurrency: number;
  #queue: K[] = [];
  #head = 0;
  #queued = new Set<K>();
  #running = new Map<K, Promise<void>>();
  #dirty = new Set<K>();
  #closed = false;
  #idle: PromiseWithResolvers<void> | undefined;
  #holds = 0;

  constructor(options: WorkQueueOptions<K>) {
    this.#options = options;
    this.#concurrency = Math.max(1, Math.floor(options.concurrency));
  }

  /** Keys running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Keys waiting for a slot. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Queues `key` (once); a key running now runs again when it finishes. */
  add(key: K): void {
    if (this.#closed || this.#queued.has(key)) return;
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  /**
   * Counts outside work (a directory scan that will add keys) as busy until the returned function
   * is called, so {@linkcode WorkQueue.idle} does not settle in between.
   */
  hold(): () => void {
    this.#holds++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#holds--;
      this.#checkIdle();
    };
  }

  /** Settles when nothing is queued, running or held. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  /** Drops what is queued and refuses new keys; runs in progress go on. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#queued.clear();
    this.#dirty.clear();
    this.#checkIdle();
  }

  /** Settles when the runs in progress have settled. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  #isIdle(): boolean {
    return this.#running.size === 0 && this.queued === 0 && this.#holds === 0;
  }

  #checkIdle(): void {
    if (this.#idle !== undefined && this.#isIdle()) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#head < this.#queue.length) {
      const key = this.#queue[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#queued.delete(key);
      const run = this.#options.run(key).catch((err) => this.#options.onError(key, err)).finally(
        () => {
          this.#running.delete(key);
          if (this.#dirty.delete(key)) this.add(key);
          this.#pump();
          this.#checkIdle();
        },
      );
      this.#running.set(key, run);
    }
  }
}
