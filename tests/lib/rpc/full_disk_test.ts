/**
 * File-RPC sends on a full disk (a small tmpfs the test mounts; skipped where mounting is not
 * permitted): a request that cannot be written fails at once with a clear error, whether its file
 * would be new or a reused (recycled) one; a request that is written is complete on disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { recyclerFor } from "../../../lib/rpc/_recycle.ts";
import {
  RpcClient,
  SyftBoxWorkspace,
  type SyftFuture,
  SyftRequest,
  SyftResponse,
} from "../../../lib/rpc/mod.ts";
import { SyftError } from "../../../lib/errors.ts";
import { fillDisk, mountTmpfs, TMPFS_UNAVAILABLE } from "./_tmpfs.ts";

const URL_ = "syft://bob@example.com/app_data/calc/rpc/add";

/** Answers a future's request the way a server would, so the client consumes (recycles) both. */
async function answer(future: SyftFuture): Promise<void> {
  const response = new SyftResponse({
    id: future.id,
    sender: "bob@example.com",
    url: URL_,
    body: "ok",
  });
  await Deno.writeFile(future.responsePath, response.toBytes());
  assert.equal((await future.wait({ timeout: "10s" })).statusCode, 200);
}

async function sendFails(client: RpcClient, body: string): Promise<SyftError> {
  const err = await client.send(URL_, { body, cache: false }).then(
    () => assert.fail("the send succeeded on a full disk"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SyftError, String(err));
  return err;
}

async function assertClearError(err: SyftError, folder: string, tmpDir: string): Promise<void> {
  assert.equal(err.code, "RPC_WRITE");
  assert.match(err.message, /^Cannot write request .+\.request: /);
  assert.match(err.message, /No space left on device/);
  assert.match(err.message, /free some space/);
  // Nothing half-written is left where the server would see it, nor in the staging directory
  // (where it would hold on to the little space there is).
  const names = await Array.fromAsync(Deno.readDir(folder), (e) => e.name);
  assert.deepEqual(names.filter((n) => n.endsWith(".request")), []);
  const staged = await Array.fromAsync(Deno.readDir(tmpDir), (e) => e.name);
  assert.deepEqual(staged.filter((n) => n !== "recycle"), []);
}

Deno.test({
  name: "RpcClient.send() on a full disk fails at once with a clear error, new file or reused",
  ignore: TMPFS_UNAVAILABLE !== null,
  async fn() {
    await using fs = await mountTmpfs("2m");
    const workspace = new SyftBoxWorkspace({ dataDir: fs.path, email: "alice@example.com" });
    const recycler = recyclerFor(workspace.tmpDir);
    const folder = join(
      workspace.datasitesDir,
      "bob@example.com",
      "app_data",
      "calc",
      "rpc",
      "add",
      "alice@example.com",
    );
    {
      await using client = await RpcClient.open({ workspace });
      // Consumed requests and responses are kept for reuse.
      for (let i = 0; i < 3; i++) {
        await answer(await client.send(URL_, { body: `warm ${i}`, cache: false }));
      }
      const pending = await client.send(URL_, { body: "pending", cache: false });
      await answer(pending);
      const fillers = await fillDisk(fs.path);

      // A small request goes into a reused file: it is written, completely.
      const reusedBefore = recycler.stats.reused;
      const small = await client.send(URL_, { body: "fits in a reused file", cache: false });
      assert.equal(recycler.stats.reused, reusedBefore + 1);
      const onDisk = SyftRequest.decode(await Deno.readFile(small.requestPath));
      assert.equal(onDisk.text(), "fits in a reused file");
      await Deno.remove(small.requestPath);

      // Too large for the reused files (and for the space they free): fails at once. The reused
      // files it tried are dropped (they were partly overwritten), which frees their space.
      const kept = () => Array.fromAsync(Deno.readDir(recycler.dir)).then((l) => l.length);
      const keptBefore = await kept();
      assert.ok(keptBefore > 0);
      const big = "x".repeat(200_000);
      await assertClearError(await sendFails(client, big), folder, workspace.tmpDir);
      assert.ok(await kept() < keptBefore, "the reused files were tried");

      // No reusable file left and the disk full again: a new file cannot be written either.
      fillers.push(...await fillDisk(fs.path));
      await assertClearError(await sendFails(client, "small"), folder, workspace.tmpDir);

      // Space again: sends work, and write complete files.
      for (const f of fillers) await Deno.remove(f);
      const after = await client.send(URL_, { body: big, cache: false });
      assert.equal(SyftRequest.decode(await Deno.readFile(after.requestPath)).text(), big);
    }
  },
});
