/**
 * What an app remembers of the requests it answered, so that a duplicate event costs no stat:
 * requests this process answered (path and creation time, bounded; the newest creation time
 * forgotten is kept, so older requests are checked on disk), and requests a scan found already
 * answered on disk.
 *
 * @module
 */
import { LRUCache } from "lru-cache";

/** The default bound of the answered-request memory. */
export const ANSWERED_LIMIT = 100_000;

/** Whether a request needs handling. */
export type AnsweredVerdict =
  /** This process answered exactly this request: skip it. */
  | "done"
  /** It may have been answered: look for its response on disk first. */
  | "check-disk"
  /** Not answered as far as is known. */
  | "new";

/** The answered-request memory of one app. */
export class AnsweredMemory {
  #done: LRUCache<string, number>;
  #forgottenUpTo = -1;
  #onDisk = new Set<string>();

  constructor(limit: number = ANSWERED_LIMIT) {
    this.#done = new LRUCache<string, number>({
      max: limit,
      dispose: (created, _path, reason) => {
        if (reason === "evict" && created > this.#forgottenUpTo) this.#forgottenUpTo = created;
      },
    });
  }

  /** What is known of the request at `path` created at `created` (µs since the epoch). */
  verdict(path: string, created: number): AnsweredVerdict {
    if (this.#done.peek(path) === created) return "done";
    if (this.#onDisk.has(path) || created <= this.#forgottenUpTo) return "check-disk";
    return "new";
  }

  /** This process answered the request. */
  remember(path: string, created: number): void {
    this.#done.delete(path);
    this.#done.set(path, created);
  }

  /** A scan saw a response next to the request. */
  markOnDisk(path: string): void {
    this.#onDisk.add(path);
  }

  /** The request has no response on disk (any more), or its file is gone. */
  unmarkOnDisk(path: string): void {
    this.#onDisk.delete(path);
  }
}
