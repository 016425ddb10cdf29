import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileBackend } from "../../../servers/proxy/_file_backend.ts";
import { ProxyGateway } from "../../../servers/proxy/_gateway.ts";
import { MemoryRequestStore } from "../../../lib/proxy/store.ts";
import { RedisRequestStore } from "../../../lib/proxy/store_redis.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { redisTest } from "../../_helpers/redis.ts";
import type { RequestRecord } from "../../../lib/proxy/types.ts";
import { createEchoApp } from "../../../lib/rpc/echo.ts";
import { RpcClient } from "../../../lib/rpc/client.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";

const ME = "me@example.org";
const URL = `syft://${ME}/app_data/echo/rpc/echo`;

function pendingRecord(request: RequestRecord["request"], owner: string): RequestRecord {
  return {
    id: request.id,
    api: "seed",
    owner,
    app_name: "echo",
    func_name: "echo",
    destination: ME,
    status: "pending",
    status_code: null,
    error: null,
    created_at: new Date().toISOString(),
    completed_at: null,
    request,
    response: null,
  };
}

function outgoing(body: string) {
  return {
    url: URL,
    destination: ME,
    appName: "echo",
    funcName: "echo",
    method: "POST",
    body: new TextEncoder().encode(body),
    headers: {},
    expiresAt: new Date(Date.now() + 600_000),
  };
}

Deno.test("ProxyGateway.start() writes accepted requests that never reached the disk, same bytes, and never resends answered ones", async () => {
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  const workspace = { email: ME, dataDir };
  const senderDir = join(dataDir, "datasites", ME, "app_data/echo/rpc/echo", ME);
  const store = new MemoryRequestStore();

  // A first proxy process accepted two requests (stored) and stopped: one before its file was
  // written, one whose file was written and already answered by the app.
  const first = await createFileBackend(workspace);
  const owner = new ProxyGateway({ backend: first, store });
  await owner.start();
  const lost = first.prepare(outgoing('"lost"'));
  await store.create(pendingRecord(lost.request, owner.owner));
  const answered = first.prepare(outgoing('"answered"'));
  await store.create(pendingRecord(answered.request, owner.owner));
  await answered.write();
  await first.close();
  const echo = createEchoApp({ workspace, cleanupInterval: 0 });
  await echo.start();
  await waitFor(() => Deno.stat(join(senderDir, `${answered.request.id}.response`)).catch(() => 0));
  await echo.stop();
  assert.equal(echo.stats.answered, 1);
  const answeredPath = join(senderDir, `${answered.request.id}.request`);
  const answeredIno = (await Deno.lstat(answeredPath)).ino;

  // The restarted proxy writes the missing file with the bytes first meant for it. (Results are
  // held back from the store for a moment, so the files stay to be looked at.)
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const finish = store.finish.bind(store);
  store.finish = async (record) => {
    await held;
    return await finish(record);
  };
  const backend = await createFileBackend(workspace);
  const gateway = new ProxyGateway({ backend, store });
  try {
    assert.equal(await gateway.start(), 2);
    const lostPath = join(senderDir, `${lost.request.id}.request`);
    // The file holds exactly the prepared request, byte for byte as the codec writes it.
    assert.equal(await Deno.readTextFile(lostPath), JSON.stringify(lost.request));
    // The answered one is not written again; it completes from the response on disk.
    const done = await gateway.waitFor(answered.request.id, 10_000);
    assert.equal(done?.status, "completed");
    assert.equal((await Deno.lstat(answeredPath)).ino, answeredIno);
    release();
    // The app answers the rewritten one; nothing is answered twice.
    await using again = createEchoApp({ workspace, cleanupInterval: 0 });
    await again.start();
    const second = await gateway.waitFor(lost.request.id, 10_000);
    assert.equal(second?.status, "completed");
    assert.equal(again.stats.answered, 1);
    // Both results are stored, then the files are consumed.
    await waitFor(async () => (await store.get(lost.request.id))?.status === "completed");
    await waitFor(() => [...Deno.readDirSync(senderDir)].length === 0, { what: "consumed files" });
  } finally {
    release();
    await gateway.close();
    await store.close();
  }
});

Deno.test("ProxyGateway keeps a response's files until its result is stored", async () => {
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  const workspace = { email: ME, dataDir };
  await using echo = createEchoApp({ workspace, cleanupInterval: 0 });
  await echo.start();
  const store = new MemoryRequestStore();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const finish = store.finish.bind(store);
  store.finish = async (record) => {
    await held;
    return await finish(record);
  };
  const gateway = new ProxyGateway({ backend: await createFileBackend(workspace), store });
  await gateway.start();
  try {
    const record = await gateway.send("seed", outgoing('"kept"'), { wait: true });
    const result = await gateway.waitFor(record.id, 10_000);
    assert.equal(result?.status, "completed");
    const dir = join(dataDir, "datasites", ME, "app_data/echo/rpc/echo", ME);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      `${record.id}.request`,
      `${record.id}.response`,
    ]);
    release();
    await waitFor(() => [...Deno.readDirSync(dir)].length === 0, { what: "consumed files" });
    // A later client of the same workspace sees nothing left behind.
    await using client = await RpcClient.open({ workspace });
    assert.equal(client.pending.length, 0);
  } finally {
    release();
    await gateway.close();
    await store.close();
  }
});

Deno.test("ProxyGateway: a blocking send answered before its record is stored still ends stored as completed", async () => {
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  const workspace = { email: ME, dataDir };
  await using echo = createEchoApp({ workspace, cleanupInterval: 0 });
  await echo.start();
  const store = new MemoryRequestStore();
  // A slow store: the app answers before the pending record is written.
  const create = store.create.bind(store);
  const gate = Promise.withResolvers<void>();
  store.create = async (record) => {
    await gate.promise;
    await create(record);
  };
  const gateway = new ProxyGateway({ backend: await createFileBackend(workspace), store });
  await gateway.start();
  try {
    const record = await gateway.send("seed", outgoing('"slow store"'), { wait: true });
    const result = await gateway.waitFor(record.id, 10_000);
    assert.equal(result?.status, "completed");
    assert.equal(await store.get(record.id), null); // not stored yet
    gate.resolve();
    await gateway.accepted(record.id);
    await waitFor(async () => (await store.get(record.id))?.status === "completed", {
      what: "the stored result",
    });
  } finally {
    gate.resolve();
    await gateway.close();
    await store.close();
  }
});

Deno.test("ProxyGateway.start() removes the files a killed proxy left of requests whose result is stored", async () => {
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  const workspace = { email: ME, dataDir };
  const senderDir = join(dataDir, "datasites", ME, "app_data/echo/rpc/echo", ME);
  const store = new MemoryRequestStore();
  // A first proxy stored two results and was killed before it consumed their files.
  const first = await createFileBackend(workspace);
  const owner = new ProxyGateway({ backend: first, store });
  await owner.start();
  const answered = [first.prepare(outgoing('"a"')), first.prepare(outgoing('"b"'))];
  for (const p of answered) {
    await store.create(pendingRecord(p.request, owner.owner));
    await p.write();
  }
  // One more file pair of a request the store does not know (another client's): kept.
  const foreign = first.prepare(outgoing('"c"'));
  await foreign.write();
  await first.close();
  await using echo = createEchoApp({ workspace, cleanupInterval: 0 });
  await echo.start();
  await waitFor(() => [...Deno.readDirSync(senderDir)].length === 6, { what: "responses" });
  for (const p of answered) {
    const response = JSON.parse(
      await Deno.readTextFile(join(senderDir, `${p.request.id}.response`)),
    );
    await store.finish({
      ...pendingRecord(p.request, owner.owner),
      status: "completed",
      status_code: 200,
      response,
    });
  }
  const gateway = new ProxyGateway({ backend: await createFileBackend(workspace), store });
  try {
    assert.equal(await gateway.start(), 0);
    assert.equal(gateway.cleaned, 2);
    assert.deepEqual([...Deno.readDirSync(senderDir)].map((e) => e.name).sort(), [
      `${foreign.request.id}.request`,
      `${foreign.request.id}.response`,
    ]);
  } finally {
    await gateway.close();
    await store.close();
  }
});

redisTest(
  "ProxyGateway on Redis: a proxy that stops renewing has its pending requests followed by another",
  async (r) => {
    await using ws = await tempWorkspace();
    const dataDir = join(ws.path, "data");
    const workspace = { email: "me@example.org", dataDir };
    const clock = new FakeClock(Date.now());
    const open = () =>
      RedisRequestStore.connect(r.url, { prefix: r.prefix, leaseMs: 3_000, clock });
    const storeA = await open();
    const storeB = await open();
    const a = new ProxyGateway({
      backend: await createFileBackend(workspace),
      store: storeA,
      clock,
    });
    const b = new ProxyGateway({
      backend: await createFileBackend(workspace),
      store: storeB,
      clock,
    });
    await a.start();
    await b.start();
    assert.notEqual(a.owner, b.owner);
    try {
      const sent = await a.send("seed", {
        url: "syft://me@example.org/app_data/echo/rpc/echo",
        destination: "me@example.org",
        appName: "echo",
        funcName: "echo",
        method: "POST",
        body: new TextEncoder().encode('"hi"'),
        headers: {},
        expiresAt: new Date(Date.now() + 600_000),
      });
      // A stops (its lease is no longer renewed; its request stays pending in the store).
      await a.close();
      await using echo = createEchoApp({ workspace, cleanupInterval: 0 });
      await echo.start();
      // B's renewals keep running on the clock; within the lease nothing moves.
      await clock.tick(2_000);
      assert.equal((await storeB.get(sent.id))?.owner, a.owner);
      // After it, B claims the request and follows its response file to the end.
      await clock.tick(2_000);
      await waitFor(async () => (await storeB.get(sent.id))?.status === "completed", {
        what: "the request completed by the other proxy",
      });
      assert.equal((await storeB.get(sent.id))?.owner, b.owner);
    } finally {
      await b.close();
      await storeA.close();
      await storeB.close();
    }
  },
);
