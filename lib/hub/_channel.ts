/**
 * Fan-out to async iterators: every subscriber gets every value published after it subscribed,
 * buffered until it reads; `end()` finishes them all.
 *
 * @module
 */
import { Fifo } from "./_queue.ts";

interface Subscriber<T> {
  buffer: Fifo<T>;
  wake: ((result: IteratorResult<T>) => void) | undefined;
  done: boolean;
}

/** A broadcast channel of values to any number of async iterators. */
export class Channel<T> {
  readonly #subs = new Set<Subscriber<T>>();
  #ended = false;

  /** Whether `end()` was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Delivers a value to every subscriber. */
  publish(value: T): void {
    for (const sub of this.#subs) {
      if (sub.wake !== undefined) {
        const wake = sub.wake;
        sub.wake = undefined;
        wake({ value, done: false });
      } else sub.buffer.push(value);
    }
  }

  /** Finishes every subscriber (after it has read what is buffered) and refuses new ones. */
  end(): void {
    this.#ended = true;
    for (const sub of this.#subs) {
      sub.done = true;
      if (sub.wake !== undefined) {
        const wake = sub.wake;
        sub.wake = undefined;
        wake({ value: undefined, done: true });
        this.#subs.delete(sub);
      }
    }
  }

  /** Returns a new iterator; `first` values are yielded before anything published later. */
  subscribe(first: readonly T[] = []): AsyncIterableIterator<T> {
    const sub: Subscriber<T> = { buffer: new Fifo(), wake: undefined, done: this.#ended };
    for (const value of first) sub.buffer.push(value);
    if (!this.#ended) this.#subs.add(sub);
    const subs = this.#subs;
    const iterator: AsyncIterableIterator<T> = {
      next(): Promise<IteratorResult<T>> {
        if (sub.buffer.length > 0) {
          return Promise.resolve({ value: sub.buffer.shift()!, done: false });
        }
        if (sub.done) {
          subs.delete(sub);
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => sub.wake = resolve);
      },
      return(): Promise<IteratorResult<T>> {
        sub.done = true;
        subs.delete(sub);
        sub.buffer.drain();
        if (sub.wake !== undefined) {
          const wake = sub.wake;
          sub.wake = undefined;
          wake({ value: undefined, done: true });
        }
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}
