/**
 * Consumed request/response files being deleted, by request key (`<dir>/<id>`): a new send of the
 * same id, `resolve()` and `close()` wait for them.
 *
 * A deletion can be deferred to the next turn of the event loop ({@linkcode Deletions.defer}): a
 * caller that gets its response goes on at once (its next request is written first) instead of
 * waiting for the five metadata operations of the deletion (link and unlink of both files, an
 * `lstat`), which run synchronously while file operations are fast and would otherwise sit on the
 * path of every one-at-a-time round trip. The deletion is tracked from the moment it is deferred,
 * so everything that waits for it still does.
 *
 * @module
 */
import { clearImmediate, setImmediate } from "node:timers";

/** The deletions in progress of one client. */
export class Deletions {
  #running = new Map<string, Promise<void>>();
  /** Deferred deletions to start at the next turn (one timer for all of them). */
  #deferred: (() => void)[] = [];
  #timer: ReturnType<typeof setImmediate> | undefined;

  /** Records a deletion of the files of `key` (its errors are ignored). */
  track(key: string, deletion: Promise<unknown>): void {
    const done: Promise<void> = deletion.then(() => {}, () => {}).finally(() => {
      if (this.#running.get(key) === done) this.#running.delete(key);
    });
    this.#running.set(key, done);
  }

  /**
   * Records a deletion of the files of `key` that `run` starts at the next turn of the event loop:
   * `setImmediate` (a few µs; a 0 ms `setTimeout` waits a millisecond or more, and then lands
   * while the next response arrives), never an injected clock: nothing waits for time here.
   */
  defer(key: string, run: () => Promise<unknown>): void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#deferred.push(() => resolve(run().then(() => {})));
    this.track(key, promise);
    this.#timer ??= setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#timer = undefined;
    const batch = this.#deferred;
    this.#deferred = [];
    for (const start of batch) start();
  }

  /** Resolves when the deletion of `key`'s files (if any) is done. */
  async of(key: string): Promise<void> {
    await this.#running.get(key);
  }

  /** The deletion in progress for `key`, if any (no await when there is none). */
  pending(key: string): Promise<void> | undefined {
    return this.#running.get(key);
  }

  /** Resolves when every deletion in progress is done (deferred ones are started now). */
  async all(): Promise<void> {
    if (this.#timer !== undefined) {
      clearImmediate(this.#timer);
      this.#flush();
    }
    await Promise.all(this.#running.values());
  }
}
