/**
 * Temp workspaces for tests: a real directory, removed on dispose.
 *
 * @module
 */

/** A temp directory that removes itself (`await using ws = await tempWorkspace()`). */
export interface TempWorkspace extends AsyncDisposable {
  /** The directory. */
  path: string;
}

/** Creates a temp directory with a recognisable prefix. */
export async function tempWorkspace(prefix = "syft_test_"): Promise<TempWorkspace> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Resolves when `check()` returns a truthy value, polling every `intervalMs`; rejects on timeout. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 5_000, intervalMs = 10, what = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
