import assert from "node:assert/strict";
import { join } from "node:path";
import { CAPACITY, FileRecycler, recyclerFor } from "../../../lib/rpc/_recycle.ts";
import { commitFile } from "../../../lib/rpc/_io.ts";
import { createEchoApp, RpcClient } from "../../../lib/rpc/mod.ts";
import { fileExists, rpcWorkspace, waitFor } from "./_fixtures.ts";

const enc = new TextEncoder();

async function tempDirs(): Promise<{ root: string; tmp: string; data: string }> {
  const root = await Deno.makeTempDir({ prefix: "syft_recycle_test_" });
  const tmp = join(root, ".syft-tmp");
  const data = join(root, "datasites");
  await Deno.mkdir(tmp);
  await Deno.mkdir(data);
  return { root, tmp, data };
}

Deno.test("FileRecycler.discard() keeps a consumed file (linked, then deleted) and stage() reuses its inode, shrunk or grown", async () => {
  const { root, tmp, data } = await tempDirs();
  try {
    const r = new FileRecycler(tmp);
    const consumed = join(data, "a.request");
    await Deno.writeFile(consumed, enc.encode("x".repeat(300)));
    const ino = (await Deno.lstat(consumed)).ino;
    assert.equal(await r.discard(consumed, { trusted: true }), true);
    assert.equal(await fileExists(consumed), false);
    // The only name left is the recycled one (the datasite's was deleted, not renamed).
    const [kept] = [...Deno.readDirSync(r.dir)].map((e) => join(r.dir, e.name));
    assert.equal((await Deno.lstat(kept!)).ino, ino);
    assert.equal((await Deno.lstat(kept!)).nlink, 1);
    assert.equal(await r.discard(consumed, { trusted: true }), false); // already gone
    const staged = await r.stage(join(data, "b.request"), enc.encode("short"));
    assert.equal((await Deno.lstat(staged)).ino, ino);
    await commitFile(staged, join(data, "b.request"), enc.encode("short"));
    assert.equal(await Deno.readTextFile(join(data, "b.request")), "short");
    await r.discard(join(data, "b.request"), { trusted: true });
    const long = "y".repeat(5000);
    const again = await r.stage(join(data, "c.request"), enc.encode(long));
    assert.equal((await Deno.lstat(again)).ino, ino);
    assert.equal(await Deno.readTextFile(again), long);
    assert.deepEqual(r.stats.reused, 2);
    assert.deepEqual(r.stats.created, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("FileRecycler never writes through a hard link or a symlink", async () => {
  const { root, tmp, data } = await tempDirs();
  try {
    const r = new FileRecycler(tmp);
    // A response hard-linked elsewhere (a cp -al backup) is deleted, not recycled.
    const response = join(data, "x.response");
    const backup = join(root, "backup.response");
    await Deno.writeTextFile(response, "keep me");
    await Deno.link(response, backup);
    assert.equal(await r.discard(response, { share: true }), true);
    assert.equal(r.stats.deleted, 1);
    // A symlink in place of a response is deleted; its target is untouched.
    const target = join(root, "target.txt");
    await Deno.writeTextFile(target, "secret");
    const link = join(data, "y.response");
    await Deno.symlink(target, link);
    assert.equal(await r.discard(link, { share: true }), true);
    assert.equal(await fileExists(link), false);
    assert.equal(r.stats.deleted, 2);
    // A recycled file that gets linked while it waits is dropped, never overwritten.
    const mine = join(data, "z.request");
    await Deno.writeTextFile(mine, "old request");
    await r.discard(mine, { trusted: true });
    const [kept] = [...Deno.readDirSync(r.dir)].map((e) => join(r.dir, e.name));
    await Deno.link(kept!, join(root, "late-link"));
    const staged = await r.stage(join(data, "w.request"), enc.encode("new request"));
    assert.notEqual(staged, kept);
    assert.equal(await Deno.readTextFile(join(root, "late-link")), "old request");
    assert.equal(await Deno.readTextFile(backup), "keep me");
    assert.equal(await Deno.readTextFile(target), "secret");
    assert.equal(r.stats.created, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("FileRecycler: two processes never get the same file, and servers claim shared responses from hints", async () => {
  const { root, tmp, data } = await tempDirs();
  try {
    const client = new FileRecycler(tmp);
    const server = new FileRecycler(tmp);
    const names: string[] = [];
    for (let i = 0; i < 60; i++) {
      const name = `${crypto.randomUUID()}.response`;
      await Deno.writeFile(join(data, name), enc.encode(`response ${i}`));
      await client.discard(join(data, name), { share: true });
      names.push(name);
    }
    for (const name of names) server.hint(name);
    // Both write at once: every staged file is a distinct inode holding its own bytes.
    const stage = (r: FileRecycler, who: string, i: number) =>
      r.stage(join(data, `${who}${i}`), enc.encode(`${who} ${i}`)).then((p) => ({ p, who, i }));
    const staged = await Promise.all(
      Array.from({ length: 40 }, (_, i) => [stage(client, "c", i), stage(server, "s", i)]).flat(),
    );
    const inodes = new Set<number | null>();
    for (const { p, who, i } of staged) {
      inodes.add((await Deno.lstat(p)).ino);
      assert.equal(await Deno.readTextFile(p), `${who} ${i}`);
    }
    assert.equal(inodes.size, staged.length);
    assert.ok(server.stats.reused > 0, "the server reused shared responses");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("FileRecycler deletes a consumed response whose shared name is taken (cache-mode ids repeat)", async () => {
  const { root, tmp, data } = await tempDirs();
  try {
    const r = new FileRecycler(tmp);
    const name = `${crypto.randomUUID()}.response`;
    for (const text of ["first", "second"]) {
      await Deno.writeTextFile(join(data, name), text);
      assert.equal(await r.discard(join(data, name), { share: true }), true);
      assert.equal(await fileExists(join(data, name)), false);
    }
    assert.equal(r.stats.recycled, 1);
    assert.equal(r.stats.deleted, 1);
    assert.equal(await Deno.readTextFile(join(r.dir, name)), "first");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("FileRecycler keeps the shared directory bounded and sweeps files a crashed process left", async () => {
  const { root, tmp, data } = await tempDirs();
  try {
    const dir = join(tmp, "recycle");
    await Deno.mkdir(dir);
    for (let i = 0; i < CAPACITY + 40; i++) {
      await Deno.writeFile(join(dir, `f${i}`), enc.encode("x"));
    }
    const stale = join(dir, ".own.deadbeef-1");
    await Deno.writeFile(stale, enc.encode("left behind"));
    const hourAgo = new Date(Date.now() - 2 * 3_600_000);
    await Deno.utime(stale, hourAgo, hourAgo);
    const fresh = join(dir, ".own.alive-1");
    await Deno.writeFile(fresh, enc.encode("in use"));
    const r = new FileRecycler(tmp);
    // Nothing known yet: the write creates a file and lists the directory in the background.
    await r.stage(join(data, "a.request"), enc.encode("a"));
    await waitFor(async () => !(await fileExists(stale)));
    await waitFor(() =>
      [...Deno.readDirSync(dir)].filter((e) => !e.name.startsWith(".")).length <= CAPACITY
    );
    assert.equal(await fileExists(fresh), true);
    // What the listing found is reused.
    await r.stage(join(data, "b.request"), enc.encode("b"));
    assert.equal(r.stats.reused, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("FileRecycler disabled, or the staged file vanished: plain create, delete and commit", async () => {
  const { root, tmp, data } = await tempDirs();
  try {
    const r = new FileRecycler(tmp, { enabled: false });
    const f = join(data, "a.response");
    await Deno.writeTextFile(f, "x");
    assert.equal(await r.discard(f, { share: true }), true);
    assert.equal(r.stats.deleted, 1);
    assert.equal(await fileExists(join(tmp, "recycle")), false);
    const staged = await r.stage(join(data, "b.request"), enc.encode("bytes"));
    await Deno.remove(staged); // e.g. swept as stale meanwhile
    await commitFile(staged, join(data, "sub", "b.request"), enc.encode("bytes"));
    assert.equal(await Deno.readTextFile(join(data, "sub", "b.request")), "bytes");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("RpcClient and SyftEvents recycle consumed files: nothing is left in the datasite", async () => {
  await using ws = await rpcWorkspace();
  await using app = createEchoApp({ workspace: ws.workspace, cleanupInterval: 0 });
  await app.start();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const recycler = recyclerFor(ws.workspace.tmpDir);
  for (let i = 0; i < 30; i++) {
    const res = await client.call(app.url("/echo"), {
      method: "POST",
      body: { i },
      timeout: "10s",
    });
    assert.deepEqual(res.json(), { i });
  }
  assert.ok(recycler.stats.recycled >= 30, `recycled ${recycler.stats.recycled}`);
  assert.ok(recycler.stats.reused >= 20, `reused ${recycler.stats.reused}`);
  // Closing the client hands this process's private (dot-named) files to the shared pool.
  await client.close();
  const names = (await Array.fromAsync(Deno.readDir(recycler.dir))).map((e) => e.name);
  assert.ok(names.length > 0);
  assert.deepEqual(names.filter((n) => n.startsWith(".")), []);
  const senderDir = join(app.rpcDir, "echo", ws.workspace.email);
  await waitFor(() => [...Deno.readDirSync(senderDir)].length === 0);
});

Deno.test("FileRecycler recycles under the CLI's permissions (no umask access: the mode is learnt)", async () => {
  const { root, tmp, data } = await tempDirs();
  try {
    const script = join(root, "probe.ts");
    const recycle = new URL("../../../lib/rpc/_recycle.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { FileRecycler } from ${JSON.stringify(recycle)};
const r = new FileRecycler(${JSON.stringify(tmp)});
const enc = new TextEncoder();
for (let i = 0; i < 3; i++) {
  const path = ${JSON.stringify(data)} + "/" + i + ".request";
  await Deno.rename(await r.stage(path, enc.encode("request " + i)), path);
  await r.discard(path, { trusted: true });
}
console.log(JSON.stringify(r.stats));
`,
    );
    const config = new URL("../../../deno.json", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-q", "-P=cli", "--config", config, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const stats = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(stats.created, 1);
    assert.equal(stats.reused, 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
