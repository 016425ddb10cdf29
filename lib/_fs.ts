/**
 * Small file-system helpers shared by the parts (no `@std/fs` here: JSR is unreachable).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Creates `dir` and its parents; succeeds when it already exists. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    // mkdir recursive can race with a concurrent creator; accept an existing directory.
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw err;
  }
}

/** Returns whether `path` exists (without following a missing symlink target into an error). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Writes `data` to `path` atomically: a temp file in the same directory (a dot name ending in
 * `.syft.tmp.<random>`, so it never ends in `.request` or `.response`), then a rename into place.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number; createDir?: boolean } = {},
): Promise<void> {
  const dir = dirname(path);
  if (options.createDir) await ensureDir(dir);
  const tmp = join(dir, `.${basename(path)}.syft.tmp.${crypto.randomUUID().slice(0, 8)}`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    await Deno.writeFile(tmp, bytes, options.mode === undefined ? {} : { mode: options.mode });
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** Returns whether a file name is one of our atomic-write temp names. */
export function isTempName(name: string): boolean {
  return name.includes(".syft.tmp.");
}
