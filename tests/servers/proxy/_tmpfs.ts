// deno-lint-ignore-file no-console -- a skipped test says why
/**
 * A small tmpfs the test mounts itself (`mount -t tmpfs -o size=2m`), to fill up: a full disk
 * without touching the machine's. `null` (with a printed reason) where mounting is not permitted.
 *
 * @module
 */
import { join } from "node:path";

/** A mounted tmpfs; disposing unmounts it. */
export interface Tmpfs extends AsyncDisposable {
  /** The mount point. */
  path: string;
  /** Writes a filler file until the file system is full. */
  fill(): Promise<void>;
  /** Removes the filler (space is back). */
  free(): Promise<void>;
}

/** Mounts a tmpfs of `size` (such as `"2m"`), or returns `null` after printing why it cannot. */
export async function mountTmpfs(size = "2m"): Promise<Tmpfs | null> {
  const path = await Deno.makeTempDir({ prefix: "syft_tmpfs_" });
  const out = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path],
    stdout: "null",
    stderr: "piped",
  }).output().catch((err) => ({ success: false, stderr: new TextEncoder().encode(String(err)) }));
  if (!out.success) {
    await Deno.remove(path).catch(() => {});
    console.warn(
      `%cskipped: cannot mount a tmpfs here (${
        new TextDecoder().decode(out.stderr).trim()
      }); run as root (CI does) to test a full disk`,
      "color: yellow",
    );
    return null;
  }
  const filler = join(path, ".filler");
  return {
    path,
    async fill(): Promise<void> {
      const f = await Deno.open(filler, { write: true, create: true, append: true });
      const block = new Uint8Array(16 * 1024);
      try {
        for (;;) await f.write(block);
      } catch (err) {
        if (!String(err).includes("No space left")) throw err;
      } finally {
        f.close();
      }
      // The last pages too (a write smaller than a block may still fit).
      const g = await Deno.open(filler, { write: true, append: true });
      try {
        for (;;) await g.write(new Uint8Array(512));
      } catch {
        /* full */
      } finally {
        g.close();
      }
    },
    free: () => Deno.remove(filler).catch(() => {}),
    async [Symbol.asyncDispose](): Promise<void> {
      await new Deno.Command("umount", { args: ["-l", path] }).output();
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}
