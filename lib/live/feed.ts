/**
 * The event feed of a live source: subscribers receive batches of recent events, coalesced so a
 * busy part costs one call per interval per subscriber, not one per event. With no subscriber,
 * publishing does nothing.
 *
 * @module
 */

/** Receives a batch of events, oldest first, and how many were dropped since the last batch. */
export type LiveListener<E> = (events: readonly E[], dropped: number) => void;

/**
 * The subscriber side of a feed.
 *
 * @example Follow a feed
 * ```ts
 * import { createLiveFeed } from "@syft/syft/live";
 * const feed = createLiveFeed<{ type: string }>();
 * const unsubscribe = feed.subscribe((events) => console.log(events.length));
 * unsubscribe();
 * ```
 */
export interface LiveFeed<E> {
  /**
   * Starts receiving batches; returns the function that stops it.
   *
   * @param listener Called with each batch (never with an empty one).
   * @returns Unsubscribes.
   */
  subscribe(listener: LiveListener<E>): () => void;
  /** Whether anyone listens (publishers may skip building events when not). */
  readonly active: boolean;
}

/** The publisher side of a feed. */
export interface LiveFeedWriter<E> extends LiveFeed<E> {
  /**
   * Queues an event for the next batch; does nothing without subscribers. Past `maxBatch` events
   * per interval, further ones are counted as dropped.
   *
   * @param event The event.
   */
  publish(event: E): void;
  /** Delivers the queued batch now (tests; a closing source). */
  flush(): void;
  /** Drops the subscribers and the queued batch. */
  close(): void;
}

/** Options of {@linkcode createLiveFeed}. */
export interface LiveFeedOptions {
  /** Batches go out at most this often, in ms (default 250: four a second). */
  intervalMs?: number;
  /** Events kept per batch; more are counted as dropped (default 500). */
  maxBatch?: number;
  /** Schedules the flush (default `setTimeout`, unref'd); tests inject a manual one. */
  schedule?: (fn: () => void, ms: number) => void;
}

function defaultSchedule(fn: () => void, ms: number): void {
  const timer = setTimeout(fn, ms);
  Deno.unrefTimer(timer);
}

class Feed<E> implements LiveFeedWriter<E> {
  readonly #listeners = new Set<LiveListener<E>>();
  readonly #interval: number;
  readonly #max: number;
  readonly #schedule: (fn: () => void, ms: number) => void;
  #batch: E[] = [];
  #dropped = 0;
  #armed = false;

  constructor(options: LiveFeedOptions) {
    this.#interval = Math.max(0, options.intervalMs ?? 250);
    this.#max = Math.max(1, options.maxBatch ?? 500);
    this.#schedule = options.schedule ?? defaultSchedule;
  }

  get active(): boolean {
    return this.#listeners.size > 0;
  }

  subscribe(listener: LiveListener<E>): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        this.#batch = [];
        this.#dropped = 0;
      }
    };
  }

  publish(event: E): void {
    if (this.#listeners.size === 0) return;
    if (this.#batch.length < this.#max) this.#batch.push(event);
    else this.#dropped++;
    if (!this.#armed) {
      this.#armed = true;
      this.#schedule(() => this.flush(), this.#interval);
    }
  }

  flush(): void {
    this.#armed = false;
    const batch = this.#batch;
    const dropped = this.#dropped;
    if (batch.length === 0 && dropped === 0) return;
    this.#batch = [];
    this.#dropped = 0;
    for (const listener of [...this.#listeners]) {
      try {
        listener(batch, dropped);
      } catch {
        // A failing subscriber must not stop the others or the publisher.
      }
    }
  }

  close(): void {
    this.#listeners.clear();
    this.#batch = [];
    this.#dropped = 0;
  }
}

/**
 * Creates an event feed whose subscribers get coalesced batches (at most one per `intervalMs`).
 *
 * @param options Interval, batch size and scheduler.
 * @returns The feed (publisher and subscriber sides).
 *
 * @example Publish only when someone listens
 * ```ts
 * import { createLiveFeed } from "@syft/syft/live";
 * const feed = createLiveFeed<{ type: "tick"; at: number }>({ intervalMs: 100 });
 * const stop = feed.subscribe((events, dropped) => console.log(events.length, dropped));
 * if (feed.active) feed.publish({ type: "tick", at: Date.now() });
 * feed.flush();
 * stop();
 * ```
 */
export function createLiveFeed<E>(options: LiveFeedOptions = {}): LiveFeedWriter<E> {
  return new Feed<E>(options);
}
