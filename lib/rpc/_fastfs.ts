/**
 * The few file operations of the RPC hot path (rename, link, unlink, lstat, open, small reads), run
 * synchronously while they stay fast and asynchronously once they do not.
 *
 * Why: an async Deno file op hands the syscall to a blocking thread and wakes the event loop when
 * it is done. On a busy machine those two thread switches cost far more than the syscall itself (a
 * rename or an `lstat` of a cached path takes microseconds): measured on a 2-core VM, a round trip
 * at 64 in flight went from about 4,200 to 5,650 per second with these ops synchronous.
 *
 * The risk of a synchronous op is a slow file system (a network mount, a disk that stalls) holding
 * the event loop. So every synchronous op is timed: when more than {@linkcode SLOW_SHARE} of recent
 * ops took over {@linkcode SLOW_MS}, or one took over {@linkcode STALL_MS}, the process switches to
 * async ops for {@linkcode ASYNC_FOR_MS} before trying again. Reads are synchronous only for files
 * up to {@linkcode SMALL_READ} bytes. Nothing else changes: the same syscalls and errors either way.
 *
 * @module
 */
import { exists as nodeExists, existsSync } from "node:fs";

/** An op slower than this (ms) counts as slow. */
export const SLOW_MS = 2;
/** The share of slow ops (among the last {@linkcode WINDOW}) that turns synchronous ops off. */
export const SLOW_SHARE = 1 / 32;
/** One op slower than this (ms) turns synchronous ops off at once. */
export const STALL_MS = 50;
/** How long synchronous ops stay off (ms). */
export const ASYNC_FOR_MS = 30_000;
/** Larger files are read asynchronously. */
export const SMALL_READ = 256 * 1024;
const WINDOW = 256;

let ops = 0;
let slow = 0;
let asyncUntil = 0;
let forced: boolean | undefined;

/** Counters, for tests and benchmarks. */
export const fastFsStats = { sync: 0, async: 0, trips: 0 };

/** Forces synchronous ops on or off (`undefined`: automatic). For tests. */
export function forceSyncOps(value: boolean | undefined): void {
  forced = value;
  ops = slow = 0;
  asyncUntil = 0;
}

/** Whether ops run synchronously now. */
export function syncOpsEnabled(): boolean {
  if (forced !== undefined) return forced;
  if (asyncUntil === 0) return true;
  if (performance.now() < asyncUntil) return false;
  asyncUntil = 0;
  return true;
}

function observe(t0: number): void {
  recordOpTime(performance.now() - t0);
}

/** Records how long a synchronous op took (exported for tests). */
export function recordOpTime(ms: number): void {
  fastFsStats.sync++;
  if (ms > SLOW_MS) slow++;
  if (ms > STALL_MS || slow > WINDOW * SLOW_SHARE) {
    if (forced === undefined) {
      asyncUntil = performance.now() + ASYNC_FOR_MS;
      fastFsStats.trips++;
    }
    ops = slow = 0;
  } else if (++ops >= WINDOW) ops = slow = 0;
}

/** Runs `sync` (timed) while synchronous ops are on, else `async`; errors reject either way. */
function either<T>(sync: () => T, async: () => Promise<T>): Promise<T> {
  if (!syncOpsEnabled()) {
    fastFsStats.async++;
    return async();
  }
  const t0 = performance.now();
  try {
    return Promise.resolve(sync());
  } catch (err) {
    return Promise.reject(err);
  } finally {
    observe(t0);
  }
}

/** `Deno.rename`. */
export function rename(from: string, to: string): Promise<void> {
  return either(() => Deno.renameSync(from, to), () => Deno.rename(from, to));
}

/** `Deno.link` (a hard link: `to` names the same file as `from`). */
export function link(from: string, to: string): Promise<void> {
  return either(() => Deno.linkSync(from, to), () => Deno.link(from, to));
}

/** `Deno.remove` of a file (an unlink). */
export function remove(path: string): Promise<void> {
  return either(() => Deno.removeSync(path), () => Deno.remove(path));
}

/**
 * Whether a path exists (one `access(F_OK)`, answered as a boolean: a missing file builds no
 * `NotFound` error, which costs several times the syscall).
 */
export function exists(path: string): Promise<boolean> {
  return either(
    () => existsSync(path),
    () => new Promise<boolean>((resolve) => nodeExists(path, resolve)),
  );
}

/** `Deno.lstat`. */
export function lstat(path: string): Promise<Deno.FileInfo> {
  return either(() => Deno.lstatSync(path), () => Deno.lstat(path));
}

/** `Deno.open(path, { write: true })` (an existing file, no truncation). */
export function openForWrite(path: string): Promise<Deno.FsFile> {
  return either(
    () => Deno.openSync(path, { write: true }),
    () => Deno.open(path, { write: true }),
  );
}

/** The path is not a regular file (a FIFO, socket, device, directory or symlink): not read. */
export class NotRegularFileError extends Error {
  /** What the path is. */
  readonly kind: "directory" | "symlink" | "special";
  /**
   * @param path The path.
   * @param kind What it is.
   */
  constructor(path: string, kind: "directory" | "symlink" | "special") {
    super(`${path} is not a regular file (${kind})`);
    this.name = "NotRegularFileError";
    this.kind = kind;
  }
}

/** The file is over the size limit given to {@linkcode readFile}: not read. */
export class FileTooLargeError extends Error {
  /** Its size in bytes. */
  readonly size: number;
  /**
   * @param path The path.
   * @param size Its size.
   * @param limit The limit.
   */
  constructor(path: string, size: number, limit: number) {
    super(`${path} is ${size} bytes; the limit is ${limit}`);
    this.name = "FileTooLargeError";
    this.size = size;
  }
}

function checkRegular(path: string, info: Deno.FileInfo, maxBytes: number): void {
  if (!info.isFile) {
    throw new NotRegularFileError(
      path,
      info.isDirectory ? "directory" : info.isSymlink ? "symlink" : "special",
    );
  }
  if (info.size > maxBytes) throw new FileTooLargeError(path, info.size, maxBytes);
}

/**
 * `Deno.readFile` for regular files only: synchronous for small files. The path is `lstat`ed
 * first, so a symlink is not followed (to `/dev/zero`, say) and a FIFO is never opened (opening one
 * blocks until a writer comes).
 */
export async function readFile(path: string, maxBytes = Infinity): Promise<Uint8Array> {
  if (!syncOpsEnabled()) {
    fastFsStats.async++;
    checkRegular(path, await Deno.lstat(path), maxBytes);
    return await Deno.readFile(path);
  }
  const t0 = performance.now();
  let bytes: Uint8Array | undefined;
  try {
    const info = Deno.lstatSync(path);
    checkRegular(path, info, maxBytes);
    const size = info.size;
    if (size <= SMALL_READ) {
      using file = Deno.openSync(path, { read: true });
      // One byte more than the size, to see the end of a file that is still growing.
      const buf = new Uint8Array(size + 1);
      let off = 0;
      while (off < buf.length) {
        const n = file.readSync(buf.subarray(off));
        if (n === null || n === 0) break;
        off += n;
      }
      if (off <= size) bytes = buf.subarray(0, off);
    }
  } finally {
    observe(t0);
  }
  // Large, or still growing: read it asynchronously to its end.
  return bytes ?? await Deno.readFile(path);
}
