/**
 * A bounded ring of recent items: the newest `capacity` are kept, older ones are overwritten.
 *
 * @module
 */

/**
 * Recent items, bounded.
 *
 * @example
 * ```ts
 * import { createRing } from "@syft/syft/live";
 * const ring = createRing<number>(2);
 * ring.push(1); ring.push(2); ring.push(3);
 * console.log(ring.newest(), ring.total); // [3, 2] 3
 * ```
 */
export interface Ring<T> {
  /** The most items kept. */
  readonly capacity: number;
  /** Items kept now. */
  readonly size: number;
  /** Items pushed since creation. */
  readonly total: number;
  /**
   * Adds an item, overwriting the oldest when full.
   *
   * @param item The item.
   */
  push(item: T): void;
  /**
   * The kept items, newest first.
   *
   * @param limit At most this many (default all).
   * @returns A new array.
   */
  newest(limit?: number): T[];
  /**
   * The newest item matching `match`, if any.
   *
   * @param match The test.
   * @returns The item or `undefined`.
   */
  find(match: (item: T) => boolean): T | undefined;
}

class ArrayRing<T> implements Ring<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #next = 0;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot make a ring of ${capacity} items: expected a whole number >= 1`);
    }
    this.capacity = capacity;
    this.#items = new Array(capacity);
  }

  get size(): number {
    return Math.min(this.#total, this.capacity);
  }

  get total(): number {
    return this.#total;
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    this.#total++;
  }

  newest(limit = Infinity): T[] {
    const n = Math.min(this.size, Math.max(0, limit));
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.#items[(this.#next - 1 - i + this.capacity * 2) % this.capacity] as T;
    }
    return out;
  }

  find(match: (item: T) => boolean): T | undefined {
    for (let i = 0; i < this.size; i++) {
      const item = this.#items[(this.#next - 1 - i + this.capacity * 2) % this.capacity] as T;
      if (match(item)) return item;
    }
    return undefined;
  }
}

/**
 * Creates a ring keeping the newest `capacity` items.
 *
 * @param capacity The most items kept (a whole number >= 1).
 * @returns The ring.
 * @throws {RangeError} When `capacity` is not a whole number >= 1.
 *
 * @example
 * ```ts
 * import { createRing } from "@syft/syft/live";
 * const recent = createRing<string>(100);
 * recent.push("a");
 * console.log(recent.newest(10)); // ["a"]
 * ```
 */
export function createRing<T>(capacity: number): Ring<T> {
  return new ArrayRing<T>(capacity);
}
