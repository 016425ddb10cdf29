// deno-lint-ignore-file no-console
/**
 * A small tmpfs for full-disk tests: `mount -t tmpfs -o size=<n> tmpfs <dir>` on a temp dir, and
 * unmounted on dispose. Mounting needs root (CI runs as root); where it is not permitted the tests
 * that need it are skipped with a visible message.
 *
 * @module
 */

async function run(cmd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
    return out.success ? null : new TextDecoder().decode(out.stderr).trim() || `exit ${out.code}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** A mounted tmpfs (`await using fs = await mountTmpfs("2m")`). */
export interface Tmpfs extends AsyncDisposable {
  /** The mount point. */
  path: string;
}

/** Mounts a tmpfs of `size` (mount's syntax: `"2m"`) on a new temp dir. */
export async function mountTmpfs(size: string): Promise<Tmpfs> {
  const path = await Deno.makeTempDir({ prefix: "syft_tmpfs_" });
  const failed = await run("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path]);
  if (failed !== null) {
    await Deno.remove(path).catch(() => {});
    throw new Error(`Cannot mount a tmpfs on ${path}: ${failed}`);
  }
  return {
    path,
    async [Symbol.asyncDispose]() {
      const busy = await run("umount", [path]);
      if (busy !== null) throw new Error(`Cannot unmount ${path}: ${busy}`);
      await Deno.remove(path);
    },
  };
}

/** Why a tmpfs cannot be mounted here, or `null` when it can (probed once). */
export const TMPFS_UNAVAILABLE: string | null = await (async () => {
  try {
    await using _fs = await mountTmpfs("64k");
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
})();

if (TMPFS_UNAVAILABLE !== null) {
  console.warn(
    `%cfull-disk tests skipped: mounting a tmpfs is not permitted here (${TMPFS_UNAVAILABLE}); CI runs them as root`,
    "color: yellow",
  );
}

/**
 * Fills the file system holding `dir` to the last page: large writes until ENOSPC, then small ones.
 * Returns the files written (delete them to free the space).
 */
export async function fillDisk(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const chunk of [65536, 4096, 1]) {
    const path = `${dir}/.filler-${crypto.randomUUID()}`;
    files.push(path);
    using file = await Deno.open(path, { write: true, create: true });
    const bytes = new Uint8Array(chunk);
    try {
      while (true) await file.write(bytes);
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOSPC") throw err;
    }
  }
  return files;
}
