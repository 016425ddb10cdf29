/**
 * Recycled temp files. A file-RPC round trip creates two small files (the request and the
 * response, each written to a temp file and renamed into place) and deletes both once the response
 * is consumed. On some file systems that create/delete churn costs far more than the protocol:
 * ext4 without a journal refuses to reuse an inode deleted in the last 60 s and scans past every
 * such inode on each create (`recently_deleted()` in `fs/ext4/ialloc.c`), and online `discard`
 * makes every freed block expensive. Under a steady load each create then costs hundreds of
 * microseconds of kernel time and holds the directory lock meanwhile.
 *
 * So a consumed file is not freed: before its name is deleted from the datasite, the file gets a
 * second name (a hard link) in `<tmp>/recycle`, outside the datasites (never synced, never
 * watched); later writes overwrite one of them in place (no new inode, no block freed or
 * allocated) before renaming it into place as before. Writes stay atomic: readers only ever see
 * the renamed, complete file.
 *
 * Why a link and an unlink, not one rename out of the tree: files leave a datasite only by
 * deletion. Other processes watch datasites, and a rename out of a watched tree is an unmatched
 * IN_MOVED_FROM, which watchdog (every Python SyftBox app) holds for 0.5 s waiting for its
 * IN_MOVED_TO, delaying every event behind it: a Python server answered our client 500 ms late.
 * A link is no event in the datasite's directory (only the file's own watch, which nobody sets,
 * sees its link count change); the unlink is a plain IN_DELETE, delivered at once.
 *
 * Ownership: a client keeps up to {@linkcode OWN_STOCK} of its consumed requests under private dot
 * names (only it touches them) for its next requests; consumed responses (and requests beyond that)
 * go under shared names (`<id>.response`), and any process claims a shared file by renaming it to a
 * private name first, so two writers never share an inode. A server, which writes one response per
 * request and consumes nothing, learns the shared names from the watcher: the client deleting
 * `<id>.response` from the datasite is an event the server sees anyway ({@linkcode hint}); a
 * listing of the directory now and then finds the rest.
 *
 * Safety:
 * - Before a file is overwritten, the open file must be a regular file with a single link, the
 *   default mode and at most {@linkcode MAX_SIZE} bytes; a file hard-linked elsewhere (a `cp -al`
 *   backup) is dropped, never written. Files this library did not write (responses) are `lstat`ed
 *   before they are linked, so a symlink is deleted, never followed.
 * - The directory is created `0700`; the shared part holds at most {@linkcode CAPACITY} files
 *   (listings delete the rest); private files a crashed process left are deleted after an hour.
 * - Anything unexpected (another file system, permissions, Windows) falls back to a plain create or
 *   delete.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { basename, join, sep } from "node:path";
import * as fast from "./_fastfs.ts";

/** Files larger than this are deleted instead of recycled. */
export const MAX_SIZE = 64 * 1024;
/** The most shared recycled files kept (listings delete the rest). */
export const CAPACITY = 1024;
/** Recycled files a process keeps for itself before it shares them. */
export const OWN_STOCK = 128;
/** How many shared files a write tries to claim before it creates a new file. */
const CLAIM_TRIES = 4;
/** Listings of the shared directory happen at most this often (ms). */
const LIST_EVERY_MS = 20;
/** Listings that only look for files (nothing to trim) happen at most this often (ms). */
const LOOK_EVERY_MS = 250;
/** Claims of hinted files that fail in a row before hints are ignored for a while. */
const HINT_MISSES = 64;
/** Private files older than this are taken to be left over by a crashed process (ms). */
const STALE_MS = 3_600_000;

const WINDOWS = Deno.build.os === "windows";
const PID = Deno.pid;
let counter = 0;

/** A temp name beside `path`'s name: never ends in .request/.response; watchers skip the marker. */
export function tempName(path: string): string {
  return `.${basename(path)}.syft.tmp.${PID}-${(counter++).toString(36)}`;
}

/** The mode new files get, when the umask may be read (it needs `--allow-sys=umask`). */
function defaultMode(): number | undefined {
  try {
    return 0o666 & ~Deno.umask();
  } catch {
    return undefined; // learnt from the first file this process creates
  }
}

/** Counters of a {@linkcode FileRecycler}. */
export interface RecyclerStats {
  /** Consumed files kept in the recycle directory. */
  recycled: number;
  /** Writes that reused a recycled file. */
  reused: number;
  /** Writes that created a new file. */
  created: number;
  /** Consumed files deleted (not recyclable). */
  deleted: number;
  /** Claims of shared files that another process took first. */
  missed: number;
  /** Listings of the shared directory. */
  listings: number;
}

/** Recycles consumed files and hands them out again for writes (see the module doc). */
export class FileRecycler {
  /** The staging directory (`<data_dir>/.syft-tmp`). */
  readonly tmpDir: string;
  /** The recycle directory (`<tmpDir>/recycle`). */
  readonly dir: string;
  /** Counters. */
  readonly stats: RecyclerStats = {
    recycled: 0,
    reused: 0,
    created: 0,
    deleted: 0,
    missed: 0,
    listings: 0,
  };
  /** Private files (dot names): only this process touches them. */
  #own: string[] = [];
  /** Shared names this process may claim (some may be taken meanwhile). */
  #shared: string[] = [];
  /** Shared files as of the last listing plus this process's moves. */
  #estimate = 0;
  #token = `${PID.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  #seq = 0;
  #mode = defaultMode();
  #enabled: boolean;
  #dirReady: Promise<boolean> | undefined;
  #listing = false;
  #lastListing = -Infinity;
  /** Shared names added while a listing runs. */
  #added: Set<string> | undefined;
  #swept = false;
  #hintMisses = 0;
  #hintsOffUntil = 0;

  /**
   * @param tmpDir The staging directory; recycled files live in `<tmpDir>/recycle`.
   * @param options `enabled: false` turns recycling off (plain create and delete).
   */
  constructor(tmpDir: string, options: { enabled?: boolean } = {}) {
    this.tmpDir = tmpDir;
    this.dir = join(tmpDir, "recycle");
    this.#enabled = !WINDOWS && options.enabled !== false;
  }

  /**
   * Removes a consumed file from where it is: keeps it in the recycle directory (linked there, then
   * deleted from where it was), or deletes it when it cannot be recycled. A missing file is not an
   * error.
   *
   * @param path The file.
   * @param options `trusted`: this library wrote the file (no `lstat` needed); `share`: give it to
   * other processes under its own name (a consumed response, which a server learns of from the
   * watcher) instead of keeping it.
   * @returns Whether the file existed.
   */
  async discard(
    path: string,
    options: { trusted?: boolean; share?: boolean } = {},
  ): Promise<boolean> {
    if (this.#enabled) {
      let ok = true;
      if (!options.trusted) {
        try {
          const info = await fast.lstat(path);
          ok = info.isFile && info.nlink === 1 && info.size <= MAX_SIZE;
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) return false;
          throw err;
        }
      }
      if (ok && (this.#dirReady === undefined ? await this.#ensureDir() : await this.#dirReady)) {
        const own = !options.share && this.#own.length < OWN_STOCK;
        if (!own && this.#estimate >= CAPACITY) this.#list(true);
        // Private names start with a dot; shared ones keep the file's name (`<id>.response`).
        const name = own ? `.own.${this.#token}-${(this.#seq++).toString(36)}` : basename(path);
        const kept = await this.#keep(path, join(this.dir, name));
        if (kept !== "kept") return kept === "gone" ? false : await this.#remove(path);
        if (own) this.#own.push(name);
        else {
          this.#shared.push(name);
          this.#added?.add(name);
          this.#estimate++;
        }
        this.stats.recycled++;
        return true;
      }
    }
    return await this.#remove(path);
  }

  /**
   * Moves `path` to `target` in the recycle directory. A staged temp file (already outside the
   * datasites) is renamed; anything else is linked, then unlinked (see the module doc: a rename
   * out of a watched tree delays watchdog's watchers by 0.5 s).
   */
  async #keep(path: string, target: string): Promise<"kept" | "gone" | "delete"> {
    if (path.startsWith(this.tmpDir + sep)) {
      try {
        await fast.rename(path, target);
        return "kept";
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return "gone";
        this.#enabled = false;
        return "delete";
      }
    }
    try {
      await fast.link(path, target);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return "gone";
      // The shared name is taken (cache-mode ids repeat): delete this one.
      if (err instanceof Deno.errors.AlreadyExists) return "delete";
      // Another file system (EXDEV), no hard links there, or not allowed (protected_hardlinks):
      // stop recycling, delete instead.
      this.#enabled = false;
      return "delete";
    }
    try {
      await fast.remove(path);
      return "kept";
    } catch (err) {
      // Deleted by someone else meanwhile, or not deletable: the link is not ours to reuse.
      await Deno.remove(target).catch(() => {});
      if (err instanceof Deno.errors.NotFound) return "gone";
      throw err;
    }
  }

  async #remove(path: string): Promise<boolean> {
    try {
      await Deno.remove(path);
      this.stats.deleted++;
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  }

  /**
   * Writes `data` to a temp file (a recycled one when available, else a new one in the staging
   * directory) and returns its path: the first half of an atomic write, rename it into place.
   *
   * @param path The final path (its name is part of a new temp file's name).
   * @param data The bytes.
   */
  async stage(path: string, data: Uint8Array): Promise<string> {
    // Until the default mode is known (no umask permission), new files are created first.
    if (this.#enabled && this.#mode !== undefined) {
      while (this.#own.length > 0) {
        const tmp = join(this.dir, this.#own.pop()!);
        if (await this.#overwrite(tmp, data)) return tmp;
      }
      for (let tries = 0; tries < CLAIM_TRIES && this.#shared.length > 0; tries++) {
        const name = this.#shared.pop()!;
        // The claim: whoever renames it to a private name owns it. The rename stays in one
        // directory, so it never waits for a slow create in the staging directory.
        const tmp = join(this.dir, `.claim.${this.#token}-${(this.#seq++).toString(36)}`);
        try {
          await fast.rename(join(this.dir, name), tmp);
        } catch {
          this.stats.missed++;
          // Hints about files a client deleted instead (Python) or kept: stop trusting them.
          if (++this.#hintMisses >= HINT_MISSES) {
            this.#hintsOffUntil = performance.now() + 10_000;
            this.#hintMisses = 0;
          }
          continue; // taken by another process, or gone
        }
        this.#hintMisses = 0;
        this.#estimate--;
        if (await this.#overwrite(tmp, data)) return tmp;
      }
      if (this.#shared.length === 0) this.#list(false);
    }
    const tmp = join(this.tmpDir, tempName(path));
    try {
      try {
        await Deno.writeFile(tmp, data);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        await Deno.mkdir(this.tmpDir, { recursive: true });
        await Deno.writeFile(tmp, data);
      }
    } catch (err) {
      // A partial file (a full disk) would hold on to the little space there is.
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
    this.stats.created++;
    if (this.#mode === undefined && this.#enabled) {
      try {
        this.#mode = (await fast.lstat(tmp)).mode! & 0o7777;
      } catch { /* learnt from the next one */ }
    }
    return tmp;
  }

  /**
   * A consumed file may have been shared under `name` (the watcher saw `<id>.response` leave the
   * datasite): remember it as a file to claim.
   */
  hint(name: string): void {
    if (!this.#enabled || performance.now() < this.#hintsOffUntil) return;
    this.#shared.push(name);
    this.#added?.add(name);
    if (this.#shared.length > CAPACITY) this.#shared.splice(0, this.#shared.length - CAPACITY);
  }

  /**
   * Gives this process's private files to the shared part (for other processes): `RpcClient.close()`
   * calls it.
   */
  async release(): Promise<void> {
    const own = this.#own.splice(0);
    await Promise.all(own.map(async (name) => {
      const shared = `${this.#token}-${(this.#seq++).toString(36)}`;
      try {
        await Deno.rename(join(this.dir, name), join(this.dir, shared));
        this.#shared.push(shared);
        this.#estimate++;
      } catch { /* gone */ }
    }));
  }

  /**
   * Overwrites a file this process owns, in place. The fd operations are synchronous on purpose:
   * the file is ours, open, and at most {@linkcode MAX_SIZE} bytes, so they are page-cache copies
   * of a few microseconds, where three more async ops per write would cost more than they save.
   */
  async #overwrite(tmp: string, data: Uint8Array): Promise<boolean> {
    let file: Deno.FsFile;
    try {
      file = await fast.openForWrite(tmp);
    } catch {
      await Deno.remove(tmp).catch(() => {});
      return false;
    }
    let ok = false;
    try {
      const info = file.statSync();
      if (
        info.isFile && info.nlink === 1 && info.size <= MAX_SIZE && info.mode !== null &&
        (info.mode & 0o7777) === this.#mode
      ) {
        let off = 0;
        while (off < data.length) off += file.writeSync(data.subarray(off));
        if (info.size > data.length) file.truncateSync(data.length);
        ok = true;
      }
    } catch {
      ok = false;
    } finally {
      file.close();
    }
    if (ok) this.stats.reused++;
    // Not reusable (linked elsewhere, another mode, a failed write): drop our link to it only.
    else await Deno.remove(tmp).catch(() => {});
    return ok;
  }

  #ensureDir(): Promise<boolean> {
    this.#dirReady ??= Deno.mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
      () => true,
      () => {
        this.#enabled = false;
        return false;
      },
    );
    return this.#dirReady;
  }

  /**
   * Lists the shared directory (in the background, rate-limited): learns what other processes
   * recycled, forgets names they took, and deletes files beyond {@linkcode CAPACITY}. The first
   * listing of a process also deletes private files a crashed process left behind.
   *
   * @param trim Called because the directory looks full (else: looking for files to reuse).
   */
  #list(trim: boolean): void {
    const now = performance.now();
    if (this.#listing || now - this.#lastListing < (trim ? LIST_EVERY_MS : LOOK_EVERY_MS)) return;
    this.#listing = true;
    this.#lastListing = now;
    this.#added = new Set();
    this.stats.listings++;
    (async () => {
      const present = new Set<string>();
      const private_: string[] = [];
      for await (const entry of Deno.readDir(this.dir)) {
        if (!entry.isFile) continue;
        if (entry.name.startsWith(".")) private_.push(entry.name);
        else present.add(entry.name);
      }
      if (!this.#swept) {
        this.#swept = true;
        await this.#sweep(private_);
      }
      // Names this process knows keep their order (the newest on top); names that are gone are
      // dropped; other names go underneath.
      const kept = this.#shared.filter((n) => present.has(n) || this.#added!.has(n));
      const keptSet = new Set(kept);
      const listed = [...present].filter((n) => !keptSet.has(n));
      const cut = Math.max(0, listed.length - Math.max(0, CAPACITY - kept.length));
      this.#shared = [...listed.slice(cut), ...kept];
      this.#estimate = this.#shared.length;
      for (const name of listed.slice(0, Math.min(cut, 4096))) {
        await Deno.remove(join(this.dir, name)).catch(() => {});
      }
    })().catch(() => {/* no directory yet: nothing recycled */}).finally(() => {
      this.#listing = false;
      this.#added = undefined;
    });
  }

  /** Deletes private files left by processes that are gone (not touched for an hour). */
  async #sweep(names: string[]): Promise<void> {
    const cutoff = Date.now() - STALE_MS;
    const mine = `.own.${this.#token}-`;
    for (const name of names.slice(0, 4096)) {
      if (name.startsWith(mine)) continue;
      const path = join(this.dir, name);
      try {
        const info = await Deno.lstat(path);
        if ((info.mtime?.getTime() ?? Infinity) < cutoff) await Deno.remove(path);
      } catch { /* gone */ }
    }
  }
}

const RECYCLERS = new LRUCache<string, FileRecycler>({ max: 64 });

/** The process-wide recycler of a staging directory. */
export function recyclerFor(tmpDir: string): FileRecycler {
  let r = RECYCLERS.get(tmpDir);
  if (r === undefined) {
    r = new FileRecycler(tmpDir);
    RECYCLERS.set(tmpDir, r);
  }
  return r;
}
