/**
 * Consumed request/response files being deleted, by request key (`<dir>/<id>`): a new send of the
 * same id, `resolve()` and `close()` wait for them.
 *
 * @module
 */

/** The deletions in progress of one client. */
export class Deletions {
  #running = new Map<string, Promise<void>>();

  /** Records a deletion of the files of `key` (its errors are ignored). */
  track(key: string, deletion: Promise<unknown>): void {
    const done: Promise<void> = deletion.then(() => {}, () => {}).finally(() => {
      if (this.#running.get(key) === done) this.#running.delete(key);
    });
    this.#running.set(key, done);
  }

  /** Resolves when the deletion of `key`'s files (if any) is done. */
  async of(key: string): Promise<void> {
    await this.#running.get(key);
  }

  /** The deletion in progress for `key`, if any (no await when there is none). */
  pending(key: string): Promise<void> | undefined {
    return this.#running.get(key);
  }

  /** Resolves when every deletion in progress is done. */
  async all(): Promise<void> {
    await Promise.all(this.#running.values());
  }
}
