import assert from "node:assert/strict";
import { join } from "node:path";
import {
  fastFsStats,
  forceSyncOps,
  lstat,
  readFile,
  recordOpTime,
  rename,
  SMALL_READ,
  syncOpsEnabled,
} from "../../../lib/rpc/_fastfs.ts";

async function errorClass(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "none";
  } catch (err) {
    return (err as Error).constructor.name;
  }
}

Deno.test("_fastfs ops give the same results and errors synchronously and asynchronously", async () => {
  const dir = await Deno.makeTempDir({ prefix: "syft_fastfs_test_" });
  try {
    const small = join(dir, "small");
    const large = join(dir, "large");
    const empty = join(dir, "empty");
    await Deno.writeTextFile(small, "hello");
    await Deno.writeFile(large, new Uint8Array(SMALL_READ + 10).fill(7));
    await Deno.writeFile(empty, new Uint8Array());
    const seen: Record<string, unknown[]> = {};
    for (const mode of [true, false]) {
      forceSyncOps(mode);
      const before = { ...fastFsStats };
      seen[String(mode)] = [
        new TextDecoder().decode(await readFile(small)),
        (await readFile(large)).length,
        (await readFile(empty)).length,
        await errorClass(readFile(join(dir, "missing"))),
        await errorClass(readFile(dir)),
        await errorClass(readFile(small, 4)),
        (await lstat(small)).size,
        await errorClass(lstat(join(dir, "missing"))),
        await errorClass(rename(join(dir, "missing"), join(dir, "x"))),
      ];
      await rename(small, join(dir, "moved"));
      await rename(join(dir, "moved"), small);
      if (mode) assert.ok(fastFsStats.sync > before.sync);
      else assert.ok(fastFsStats.async > before.async);
    }
    assert.deepEqual(seen["true"], seen["false"]);
    assert.deepEqual(seen["true"], [
      "hello",
      SMALL_READ + 10,
      0,
      "NotFound",
      "NotRegularFileError",
      "FileTooLargeError",
      5,
      "NotFound",
      "NotFound",
    ]);
  } finally {
    forceSyncOps(undefined);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("_fastfs switches to async ops when synchronous ops get slow", () => {
  try {
    forceSyncOps(undefined);
    assert.equal(syncOpsEnabled(), true);
    // Occasional slow ops (a preempted thread) are tolerated.
    for (let i = 0; i < 250; i++) recordOpTime(i % 50 === 0 ? 5 : 0.01);
    assert.equal(syncOpsEnabled(), true);
    // Many slow ops in a window: async from now on.
    const trips = fastFsStats.trips;
    for (let i = 0; i < 20; i++) recordOpTime(5);
    assert.equal(syncOpsEnabled(), false);
    assert.ok(fastFsStats.trips > trips);
    // One stall is enough.
    forceSyncOps(undefined);
    recordOpTime(100);
    assert.equal(syncOpsEnabled(), false);
  } finally {
    forceSyncOps(undefined);
  }
});
