/**
 * Opening Deno KV (the embedded default store) with one clear error when the program was started
 * without KV enabled.
 *
 * @module
 */
import { dirname } from "node:path";
import { ensureDir } from "./_fs.ts";
import { SyftError } from "./errors.ts";

/**
 * Thrown when Deno KV cannot be used: the program lacks `--unstable-kv` (or `"unstable": ["kv"]` in
 * its deno.json), or the database file cannot be opened.
 *
 * @example Tell the user what to do
 * ```ts
 * import { KvUnavailableError, openKv } from "@syft/syft";
 * try {
 *   const kv = await openKv(":memory:");
 *   kv.close();
 * } catch (err) {
 *   if (err instanceof KvUnavailableError) console.error(err.message);
 * }
 * ```
 */
export class KvUnavailableError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message What is missing and how to fix it.
   * @param options The underlying error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "KV_UNAVAILABLE" });
    this.name = "KvUnavailableError";
  }
}

/** Returns whether this Deno process can use Deno KV (`--unstable-kv` is on). */
export function isKvAvailable(): boolean {
  return typeof (Deno as { openKv?: unknown }).openKv === "function";
}

/**
 * Opens a Deno KV database, creating its directory first. `":memory:"` opens a private in-memory
 * database.
 *
 * @param path The SQLite file, or `":memory:"`.
 * @returns The open database; close it with `kv.close()`.
 * @throws {KvUnavailableError} When KV is not enabled in this process or the file cannot be opened.
 *
 * @example Open the workspace store
 * ```ts
 * import { openKv } from "@syft/syft";
 * const kv = await openKv(":memory:");
 * await kv.set(["hello"], "world");
 * kv.close();
 * ```
 */
export async function openKv(path: string): Promise<Deno.Kv> {
  if (!isKvAvailable()) {
    throw new KvUnavailableError(
      'Cannot open Deno KV: it is unstable and disabled in this process; run deno with --unstable-kv or add "unstable": ["kv"] to your deno.json',
    );
  }
  if (path !== ":memory:") await ensureDir(dirname(path));
  try {
    return await Deno.openKv(path);
  } catch (err) {
    throw new KvUnavailableError(
      `Cannot open Deno KV at "${path}": ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}
