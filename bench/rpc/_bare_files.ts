/**
 * The file handling of the "bare files" limit of `deno task bench:rpc`, written here so that the
 * limit shares no code with lib/rpc (whose private files the bench must not import).
 *
 * In `recycled` mode it makes the same system calls as lib/rpc's steady state (lib/rpc/_recycle.ts
 * and _fastfs.ts), checked with `strace -c` (`deno task bench:rpc` prints both counts per round
 * trip):
 * - a write reuses a consumed file: `open(O_WRONLY)` of a private recycled file (or first a
 *   `rename` that claims a shared one), `fstat`, `write`, `close` (plus `ftruncate` when the old
 *   file was longer), then the `rename` into place;
 * - a read is `lstat`, `open`, `read` (size + 1 bytes), `close`;
 * - a consumed file is `link`ed into `<tmp>/recycle` and `unlink`ed from the datasite (a file this
 *   side did not write is `lstat`ed first);
 * - all of them synchronous, as lib/rpc runs them while they stay fast.
 * With nothing to reuse it creates a new temp file (`Deno.writeFile`, async), as lib/rpc does.
 *
 * In `churn` mode every write is a new temp file and every consumed file is deleted, with async
 * ops only.
 *
 * @module
 */
import { join } from "node:path";

/** Files larger than this are not reused (as lib/rpc). */
const MAX_SIZE = 64 * 1024;
/** Consumed files a side keeps for itself before it shares them (as lib/rpc). */
const OWN_STOCK = 128;
/** Shared names kept to claim, at most. */
const CAPACITY = 1024;
/** Shared names tried per write before a new file is created (as lib/rpc). */
const CLAIM_TRIES = 4;

/** The file operations of one side of the bare round trip. */
export interface BareFiles {
  /** Writes `data` to a temp file (a reused one when possible) and returns its path. */
  stage(path: string, data: Uint8Array): Promise<string>;
  /** Renames a staged file into place. */
  commit(tmp: string, path: string): Promise<void>;
  /** Reads a file. */
  read(path: string): Promise<Uint8Array>;
  /**
   * Removes a consumed file from the datasite (kept for reuse in `recycled` mode). `trusted`: this
   * side wrote it (no `lstat`); `share`: give it to the other side under its own name.
   */
  discard(path: string, options: { trusted?: boolean; share?: boolean }): Promise<void>;
  /** The other side consumed `name` and shared it: remember it as a file to claim. */
  hint(name: string): void;
}

/**
 * The file operations of one side, with the staging directory `tmpDir` (recycled files live in
 * `<tmpDir>/recycle`).
 */
export function bareFiles(tmpDir: string, mode: "recycled" | "churn"): BareFiles {
  return mode === "recycled" ? new Recycled(tmpDir) : new Churn(tmpDir);
}

let counter = 0;
function tempPath(tmpDir: string, path: string): string {
  return join(
    tmpDir,
    `.${path.slice(path.lastIndexOf("/") + 1)}.syft.tmp.${Deno.pid}-${(counter++).toString(36)}`,
  );
}

class Churn implements BareFiles {
  #tmpDir: string;
  constructor(tmpDir: string) {
    this.#tmpDir = tmpDir;
  }
  async stage(path: string, data: Uint8Array): Promise<string> {
    const tmp = tempPath(this.#tmpDir, path);
    await Deno.writeFile(tmp, data);
    return tmp;
  }
  async commit(tmp: string, path: string): Promise<void> {
    await Deno.rename(tmp, path);
  }
  async read(path: string): Promise<Uint8Array> {
    await Deno.lstat(path);
    return await Deno.readFile(path);
  }
  async discard(path: string): Promise<void> {
    await Deno.remove(path).catch(() => {});
  }
  hint(): void {}
}

class Recycled implements BareFiles {
  #tmpDir: string;
  #dir: string;
  #own: string[] = [];
  #shared: string[] = [];
  #seq = 0;
  #token = `${Deno.pid.toString(36)}b`;

  constructor(tmpDir: string) {
    this.#tmpDir = tmpDir;
    this.#dir = join(tmpDir, "recycle");
    Deno.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
  }

  stage(path: string, data: Uint8Array): Promise<string> {
    while (this.#own.length > 0) {
      const tmp = join(this.#dir, this.#own.pop()!);
      if (this.#overwrite(tmp, data)) return Promise.resolve(tmp);
    }
    for (let tries = 0; tries < CLAIM_TRIES && this.#shared.length > 0; tries++) {
      const tmp = join(this.#dir, `.claim.${this.#token}-${(this.#seq++).toString(36)}`);
      try {
        Deno.renameSync(join(this.#dir, this.#shared.pop()!), tmp);
      } catch {
        continue;
      }
      if (this.#overwrite(tmp, data)) return Promise.resolve(tmp);
    }
    const tmp = tempPath(this.#tmpDir, path);
    return Deno.writeFile(tmp, data).then(() => tmp);
  }

  #overwrite(tmp: string, data: Uint8Array): boolean {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(tmp, { write: true });
    } catch {
      return false;
    }
    try {
      const info = file.statSync();
      if (!info.isFile || info.nlink !== 1 || info.size > MAX_SIZE) return false;
      let off = 0;
      while (off < data.length) off += file.writeSync(data.subarray(off));
      if (info.size > data.length) file.truncateSync(data.length);
      return true;
    } finally {
      file.close();
    }
  }

  commit(tmp: string, path: string): Promise<void> {
    Deno.renameSync(tmp, path);
    return Promise.resolve();
  }

  read(path: string): Promise<Uint8Array> {
    const size = Deno.lstatSync(path).size;
    using file = Deno.openSync(path, { read: true });
    // Reads until end of file into size + 1 bytes: two reads for a complete file, as lib/rpc.
    const buf = new Uint8Array(size + 1);
    let got = 0;
    for (let n = file.readSync(buf); n !== null && n > 0; n = file.readSync(buf.subarray(got))) {
      got += n;
    }
    return Promise.resolve(buf.subarray(0, got));
  }

  discard(path: string, options: { trusted?: boolean; share?: boolean }): Promise<void> {
    if (!options.trusted && Deno.lstatSync(path).nlink !== 1) {
      Deno.removeSync(path);
      return Promise.resolve();
    }
    const own = !options.share && this.#own.length < OWN_STOCK;
    const name = own
      ? `.own.${this.#token}-${(this.#seq++).toString(36)}`
      : path.slice(path.lastIndexOf("/") + 1);
    Deno.linkSync(path, join(this.#dir, name));
    Deno.removeSync(path);
    if (own) this.#own.push(name);
    return Promise.resolve();
  }

  hint(name: string): void {
    this.#shared.push(name);
    if (this.#shared.length > CAPACITY) this.#shared.splice(0, this.#shared.length - CAPACITY);
  }
}
