/**
 * Where the KV store's commits run: on the engine's thread ({@linkcode InlineKvWriter}, for a
 * database handed in by the caller) or in a worker thread with its own connection to the same file
 * ({@linkcode WorkerKvWriter}, the default for a path), so the event loop that serves clients never
 * waits on SQLite. Segment bytes are transferred to the worker, not copied.
 *
 * @module
 */

/** One KV set: key, value and `expireIn` in ms (0 for none). */
export type KvSet = [key: Deno.KvKey, value: unknown, expireIn: number];

/** Commits groups of sets, each group one atomic operation, in order. */
export interface KvWriter {
  /** Commits every group in order; rejects when one fails (earlier groups stay committed). */
  write(atomics: KvSet[][]): Promise<void>;
  /** Releases the writer. */
  close(): Promise<void>;
}

async function commitGroups(kv: Deno.Kv, atomics: KvSet[][]): Promise<void> {
  for (const group of atomics) {
    const atomic = kv.atomic();
    for (const [key, value, expireIn] of group) {
      atomic.set(key, value, expireIn > 0 ? { expireIn } : undefined);
    }
    const result = await atomic.commit();
    if (!result.ok) throw new Error("the commit was refused");
  }
}

/** Commits on the calling thread. */
export class InlineKvWriter implements KvWriter {
  readonly #kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  write(atomics: KvSet[][]): Promise<void> {
    return commitGroups(this.#kv, atomics);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

// The worker is created from this source (a blob URL), so it works from bundles and compiled
// binaries too. It needs nothing but Deno.openKv, and commits with the same commitGroups (its
// transpiled source, which uses nothing outside itself).
const WORKER_SOURCE = `
let kv;
let chain = Promise.resolve();
async function handle(m) {
  try {
    if (m.op === "open") kv = await Deno.openKv(m.path);
    else if (m.op === "write") await (${commitGroups})(kv, m.atomics);
    else if (m.op === "close") {
      kv?.close();
      kv = undefined;
    }
    self.postMessage({ id: m.id, ok: true });
  } catch (err) {
    self.postMessage({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}
self.onmessage = (e) => { chain = chain.then(() => handle(e.data)); };
`;

/** Commits in a worker thread that owns its own connection to the database file. */
export class WorkerKvWriter implements KvWriter {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  #next = 1;
  #closed = false;

  private constructor() {
    const url = URL.createObjectURL(
      new Blob([WORKER_SOURCE], { type: "application/javascript" }),
    );
    this.#worker = new Worker(url, { type: "module" });
    URL.revokeObjectURL(url);
    this.#worker.onmessage = (e: MessageEvent<{ id: number; ok: boolean; error?: string }>) => {
      const p = this.#pending.get(e.data.id);
      if (p === undefined) return;
      this.#pending.delete(e.data.id);
      if (e.data.ok) p.resolve();
      else p.reject(new Error(e.data.error ?? "the KV writer failed"));
    };
    this.#worker.onerror = (e) => {
      e.preventDefault();
      const err = new Error(`The KV writer thread failed: ${e.message}`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
  }

  /** Starts a writer thread for the database at `path`. */
  static async open(path: string): Promise<WorkerKvWriter> {
    const w = new WorkerKvWriter();
    try {
      await w.#call({ op: "open", path });
    } catch (err) {
      w.#worker.terminate();
      throw err;
    }
    return w;
  }

  #call(message: Record<string, unknown>, transfer: Transferable[] = []): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("The KV writer is closed"));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Commits the groups in the worker; byte values are transferred (do not use them after). */
  write(atomics: KvSet[][]): Promise<void> {
    const buffers = new Set<ArrayBuffer>();
    for (const group of atomics) {
      for (const [, value] of group) {
        if (value instanceof Uint8Array && value.buffer instanceof ArrayBuffer) {
          buffers.add(value.buffer);
        }
      }
    }
    return this.#call({ op: "write", atomics }, [...buffers]);
  }

  /** Closes the worker's connection and stops the thread. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#call({ op: "close" });
    } finally {
      this.#closed = true;
      this.#worker.terminate();
    }
  }
}
