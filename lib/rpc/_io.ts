/**
 * Small async file helpers for the hot path: atomic writes staged outside the watched tree (in
 * recycled temp files when available, see `_recycle.ts`), reads and removals that treat a missing
 * file as a normal outcome.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { closeSync, constants, exists as nodeExists, openSync } from "node:fs";
import { ensureDir } from "../_fs.ts";
import { recyclerFor, tempName } from "./_recycle.ts";
import * as fast from "./_fastfs.ts";

function isCrossDevice(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "EXDEV" || /cross-device|os error 18\b/i.test(String((err as Error).message));
}

/**
 * Writes `data` to a temp file in `tmpDir` (created on demand; a recycled file when one is
 * available) and returns its path: the first half of an atomic write, see {@linkcode commitFile}.
 */
export function stageFile(path: string, data: Uint8Array, tmpDir: string): Promise<string> {
  return recyclerFor(tmpDir).stage(path, data);
}

/**
 * Removes a consumed file (deleted from where it is; kept, hard-linked, in the recycle directory
 * of `tmpDir` when it can be reused); a missing file is not an error. Returns whether it existed.
 * Options: `trusted`, this library wrote the file (a request it sent), so it need not be checked
 * for being a symlink; `share`, give it to other processes (a consumed response: servers reuse
 * those).
 */
export function discardFile(
  path: string,
  tmpDir: string,
  options: { trusted?: boolean; share?: boolean } = {},
): Promise<boolean> {
  return recyclerFor(tmpDir).discard(path, options);
}

/** A consumed file may now be in the recycle directory of `tmpDir` under `name`. */
export function hintRecycled(name: string, tmpDir: string): void {
  recyclerFor(tmpDir).hint(name);
}

/**
 * Renames a staged temp file into place (creating the target directory on demand). When the
 * temp dir is on another file system, or the staged file vanished (a recycled file deleted as
 * stale), the bytes are written again beside the target. The temp file is removed on failure.
 */
export async function commitFile(tmp: string, path: string, data: Uint8Array): Promise<void> {
  let staged = tmp;
  try {
    try {
      await fast.rename(staged, path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        await ensureDir(dirname(path));
        try {
          await Deno.rename(staged, path);
        } catch (again) {
          if (!(again instanceof Deno.errors.NotFound) || (await pathExists(staged))) throw again;
          staged = join(dirname(path), tempName(path));
          await Deno.writeFile(staged, data);
          await Deno.rename(staged, path);
        }
      } else if (isCrossDevice(err)) {
        await Deno.remove(staged).catch(() => {});
        staged = join(dirname(path), tempName(path));
        await Deno.writeFile(staged, data);
        await Deno.rename(staged, path);
      } else throw err;
    }
  } catch (err) {
    await Deno.remove(staged).catch(() => {});
    throw err;
  }
}

/**
 * Writes `data` to `path` atomically: the bytes go to a temp file in `tmpDir` (outside the watched
 * tree, so watchers see a single rename into place), then `rename` moves it into place. Missing
 * directories are created on demand; when `tmpDir` is on another file system the temp file is
 * staged beside the target instead.
 */
export async function writeAtomic(path: string, data: Uint8Array, tmpDir: string): Promise<void> {
  await commitFile(await stageFile(path, data, tmpDir), path, data);
}

/**
 * Reads a file, or returns `null` when it does not exist or is not a regular file (a directory, a
 * symlink, a FIFO: see {@linkcode fast.readFile}).
 */
export async function readOrNull(path: string): Promise<Uint8Array | null> {
  const read = await readRegular(path);
  return read instanceof Uint8Array ? read : null;
}

/**
 * Reads a regular file of at most `maxBytes`: its bytes, `"missing"`, `"special"` (a FIFO,
 * socket or device), `"other"` (a directory or symlink), or its size when over the limit.
 */
export async function readRegular(
  path: string,
  maxBytes = Infinity,
): Promise<Uint8Array | "missing" | "special" | "other" | { tooLarge: number }> {
  try {
    return await fast.readFile(path, maxBytes);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return "missing";
    }
    if (err instanceof Deno.errors.IsADirectory) return "other";
    if (err instanceof fast.NotRegularFileError) {
      return err.kind === "special" ? "special" : "other";
    }
    if (err instanceof fast.FileTooLargeError) return { tooLarge: err.size };
    throw err;
  }
}

/** Whether a directory entry is a FIFO, socket or device node. */
export function isSpecialEntry(entry: Deno.DirEntry): boolean {
  return !entry.isFile && !entry.isDirectory && !entry.isSymlink;
}

/**
 * Removes a FIFO, socket or device node from a folder this process owns (an RPC folder, where only
 * request and response files belong). Deno's file watcher thread opens new files, and opening a FIFO
 * blocks until a writer comes: one FIFO stalls every watch of the process. Opening it read-write
 * without blocking (on Linux that always succeeds on a FIFO, and counts as a writer) releases a
 * thread stuck on it; holding that descriptor across the unlink also releases a thread that opens it
 * in between (it finds a writer, then end of file when we close), and the unlink keeps it from
 * being opened again. (Write-only would fail with ENXIO while no reader waits yet, leaving exactly
 * that window open: a reader arriving before the unlink blocked forever.)
 *
 * @returns Whether it removed something.
 */
export function clearSpecialFile(path: string): boolean {
  try {
    const info = Deno.lstatSync(path);
    if (info.isFile || info.isDirectory || info.isSymlink) return false;
  } catch {
    return false;
  }
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  } catch { /* not a FIFO (a socket or device node): nothing can block on it the same way */ }
  try {
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Removes a file; a missing file is not an error. Returns whether it removed one. */
export async function removeQuiet(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Whether a path exists. Uses `node:fs` `exists`, which answers a boolean without building a
 * `NotFound` error: about 3x cheaper than a failing `Deno.lstat` on the hot path.
 */
export function pathExists(path: string): Promise<boolean> {
  return new Promise((resolve) => nodeExists(path, resolve));
}
