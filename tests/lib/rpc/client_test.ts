import assert from "node:assert/strict";
import { FakeClock } from "../../_helpers/clock.ts";
import { join } from "node:path";
import {
  createEchoApp,
  readRpcSchema,
  RpcClient,
  RpcTimeoutError,
  SyftBoxURL,
  SyftEvents,
  SyftRequest,
  SyftResponse,
} from "../../../lib/rpc/mod.ts";
import { REJECTED_MESSAGE } from "../../../lib/rpc/_resolve.ts";
import { forceSyncOps } from "../../../lib/rpc/_fastfs.ts";
import { fileExists, ME, rpcWorkspace, waitFor } from "./_fixtures.ts";

const NOBODY = "syft://carol@example.com/app_data/silent/rpc/void";

Deno.test("RpcClient sends to an echo app and resolves the future from the response file", async () => {
  await using ws = await rpcWorkspace();
  await using app = createEchoApp({ workspace: ws.workspace, cleanupInterval: 0 });
  await app.start();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const future = await client.send(app.url("/echo"), {
    method: "POST",
    body: { hello: "world" },
    headers: { "Content-Type": "application/json" },
  });
  assert.ok(await fileExists(future.requestPath) || future.done);
  assert.equal(future.request!.method, "POST");
  assert.equal(future.request!.sender, ME);
  const res = await future.wait({ timeout: "10s" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { hello: "world" });
  assert.equal(res.id, future.id);
  // Consumed: both files are deleted, and the future keeps its response.
  await waitFor(async () =>
    !(await fileExists(future.requestPath)) && !(await fileExists(future.responsePath))
  );
  assert.equal(future.done, true);
  assert.equal(await future.resolve(), res);
  assert.equal(client.pending.length, 0);
  const pong = await client.call(app.url("/ping"), { timeout: 10_000 });
  assert.equal(pong.json<{ msg: string }>().msg, "pong");
});

Deno.test("the deletion of consumed files, still running when wait() returns, is awaited by a resend of the same id, resolve() and close()", async () => {
  // Async file ops: the deletion is then still in flight when wait() returns.
  forceSyncOps(false);
  using _restore = { [Symbol.dispose]: () => forceSyncOps(undefined) };
  await using ws = await rpcWorkspace();
  await using app = createEchoApp({ workspace: ws.workspace, cleanupInterval: 0 });
  await app.start();
  const client = await RpcClient.open({ workspace: ws.workspace });
  const url = app.url("/echo");
  // Cache mode: the same request gets the same id. The second send must wait for the first one's
  // files to go (else it would reuse the consumed request file, which the deletion then removes).
  for (let round = 0; round < 20; round++) {
    const first = await client.send(url, { method: "POST", body: "same" });
    assert.equal((await first.wait({ timeout: "10s" })).text(), "same");
    const again = await client.send(url, { method: "POST", body: "same" });
    assert.equal(again.id, first.id);
    assert.notEqual(again, first);
    const res = await again.wait({ timeout: "10s" });
    assert.equal(res.statusCode, 200);
    // resolve() returns once the consumed files are gone.
    assert.equal(await again.resolve(), res);
    assert.equal(await fileExists(again.requestPath), false);
    assert.equal(await fileExists(again.responsePath), false);
  }
  // close() starts and waits for the deletions still deferred.
  const last = await client.send(url, { method: "POST", body: "last", cache: false });
  await last.wait({ timeout: "10s" });
  await client.close();
  assert.equal(await fileExists(last.requestPath), false);
  assert.equal(await fileExists(last.responsePath), false);
});

Deno.test("RpcClient cache mode reuses an identical pending request; ids follow get_message_id", async () => {
  await using ws = await rpcWorkspace();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const a = await client.send(NOBODY, { method: "POST", body: "same" });
  const b = await client.send(NOBODY, { method: "POST", body: "same" });
  assert.equal(a, b);
  const expected = new SyftRequest({ sender: ME, url: NOBODY, method: "POST", body: "same" })
    .cacheId();
  assert.equal(a.id, expected);
  // A fresh client (another process) reuses the file on disk without rewriting it.
  const before = await Deno.readTextFile(a.requestPath);
  await using other = await RpcClient.open({ workspace: ws.workspace });
  const c = await other.send(NOBODY, { method: "POST", body: "same" });
  assert.equal(c.id, a.id);
  assert.equal(await Deno.readTextFile(a.requestPath), before);
  // cache: false gives random ids; an explicit id is used as is.
  const d = await client.send(NOBODY, { method: "POST", body: "same", cache: false });
  assert.notEqual(d.id, a.id);
  const id = crypto.randomUUID();
  assert.equal((await client.send(NOBODY, { id })).id, id);
});

Deno.test("SyftFuture resolves 403 for both rejection markers and deletes them", async (t) => {
  await using ws = await rpcWorkspace();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  for (
    const marker of ["syftrejected.request", "rejected.request", "rejected.20250101120000.request"]
  ) {
    await t.step(marker, async () => {
      const future = await client.send(NOBODY, { cache: false });
      const waiting = future.wait({ timeout: "10s" });
      const markerPath = join(future.dir, `${future.id}.${marker}`);
      if (marker === "syftrejected.request") {
        // The legacy Python client writes a marker beside the request.
        await Deno.writeTextFile(markerPath, "");
      } else {
        // The Go client renames the request to the marker.
        await Deno.rename(future.requestPath, markerPath);
      }
      const res = await waiting;
      assert.equal(res.statusCode, 403);
      assert.equal(res.text(), REJECTED_MESSAGE);
      assert.equal(res.sender, "system@syftbox.localhost");
      assert.equal(await fileExists(markerPath), false);
      assert.equal(await fileExists(future.requestPath), false);
    });
  }
});

Deno.test("SyftFuture resolves 404 when the request vanishes", async () => {
  await using ws = await rpcWorkspace();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const future = await client.send(NOBODY, { cache: false });
  const waiting = future.wait({ timeout: "10s" });
  await Deno.remove(future.requestPath);
  const res = await waiting;
  assert.equal(res.statusCode, 404);
  assert.equal(res.text(), `Request with ${future.id} not found`);
});

Deno.test("SyftFuture resolves 419 when the request expires unanswered and deletes it", async () => {
  await using ws = await rpcWorkspace();
  const clock = new FakeClock(Date.now());
  await using client = await RpcClient.open({ workspace: ws.workspace, clock });
  const future = await client.send(NOBODY, { expiry: "100ms", cache: false });
  assert.equal(await future.resolve(), null);
  await clock.tick(60_000); // the request (written with the real time) is long expired by now
  const res = await future.resolve();
  assert.ok(res !== null);
  assert.equal(res.statusCode, 419);
  assert.match(
    res.text(),
    new RegExp(`^Request with ${future.id} expired on \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d`),
  );
  assert.equal(await fileExists(future.requestPath), false);
});

Deno.test("SyftFuture.wait() times out with RpcTimeoutError and stays pending", async () => {
  await using ws = await rpcWorkspace();
  const clock = new FakeClock(Date.now());
  await using client = await RpcClient.open({ workspace: ws.workspace, clock });
  const future = await client.send(NOBODY, { cache: false });
  const timedOut = future.wait({ timeout: 100 });
  let settled = false;
  timedOut.then(() => (settled = true), () => (settled = true));
  await clock.tick(99);
  assert.equal(settled, false);
  await clock.tick(1);
  await assert.rejects(timedOut, (err) => {
    assert.ok(err instanceof RpcTimeoutError);
    assert.equal(err.id, future.id);
    assert.equal(err.code, "RPC_TIMEOUT");
    return true;
  });
  assert.equal(await future.resolve(), null);
  assert.equal(future.done, false);
  const abort = new AbortController();
  const waiting = future.wait({ signal: abort.signal });
  abort.abort(new Error("stop waiting"));
  await assert.rejects(waiting, /stop waiting/);
  // A response written later (by a server that was down) still resolves it.
  const res = new SyftResponse({
    id: future.id,
    sender: "carol@example.com",
    url: NOBODY,
    body: "late",
  });
  await Deno.writeTextFile(future.responsePath, res.encode());
  assert.equal((await future.wait({ timeout: "10s" })).text(), "late");
});

Deno.test("SyftFuture gives a half-written response its grace period, then consumes garbage as 500", async () => {
  await using ws = await rpcWorkspace();
  // The grace runs from the file's mtime (real time): start the fake clock there.
  const clock = new FakeClock(Date.now());
  await using client = await RpcClient.open({ workspace: ws.workspace, graceMs: 400, clock });
  const future = await client.send(NOBODY, { cache: false });
  const waiting = future.wait({ timeout: "10s" });
  const full = new SyftResponse({
    id: future.id,
    sender: "carol@example.com",
    url: NOBODY,
    body: "whole",
  }).encode();
  const file = await Deno.open(future.responsePath, { write: true, create: true, truncate: true });
  await file.write(new TextEncoder().encode(full.slice(0, 30)));
  assert.equal(await future.resolve(), null);
  await clock.tick(399);
  assert.equal(await future.resolve(), null);
  assert.equal(future.done, false);
  await file.write(new TextEncoder().encode(full.slice(30)));
  file.close();
  assert.equal((await waiting).text(), "whole");

  const broken = await client.send(NOBODY, { cache: false });
  const answer = broken.wait({ timeout: "10s" });
  await Deno.writeTextFile(broken.responsePath, "{ garbage");
  const mtime = (await Deno.stat(broken.responsePath)).mtime!.getTime();
  assert.equal(await broken.resolve(), null);
  assert.equal(broken.done, false);
  await clock.tick(mtime + 400 - clock.now() + 10); // past the grace: the retry consumes it
  const res = await answer;
  assert.equal(res.statusCode, 500);
  assert.match(res.text(), /^Error loading response: /);
  await waitFor(async () =>
    !(await fileExists(broken.responsePath)) && !(await fileExists(broken.requestPath))
  );
});

Deno.test("SyftFuture turns an expired response into a 419 that keeps its body", async () => {
  await using ws = await rpcWorkspace();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const future = await client.send(NOBODY, { cache: false });
  const stale = new SyftResponse({
    id: future.id,
    sender: "carol@example.com",
    url: NOBODY,
    body: "too late",
    created: new Date(Date.now() - 60_000),
    expires: new Date(Date.now() - 1000),
  });
  await Deno.writeTextFile(future.responsePath, stale.encode());
  const res = await future.wait({ timeout: "10s" });
  assert.equal(res.statusCode, 419);
  assert.equal(res.text(), "too late");
});

Deno.test("a response nobody waits for is consumed by resolve(), as syft-rpc does", async () => {
  await using ws = await rpcWorkspace();
  await using app = createEchoApp({ workspace: ws.workspace, cleanupInterval: 0 });
  await app.start();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const future = await client.send(app.url("/echo"), { body: "kept", cache: false });
  await waitFor(() => fileExists(future.responsePath));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await fileExists(future.responsePath), true);
  const res = await future.resolve();
  assert.equal(res?.text(), "kept");
  assert.equal(await fileExists(future.responsePath), false);
});

Deno.test("RpcClient.attach() picks up requests written before a restart", async () => {
  await using ws = await rpcWorkspace();
  const url = SyftBoxURL.rpc(ME, "echo", "echo");
  const first = await RpcClient.open({ workspace: ws.workspace });
  const f1 = await first.send(url, { body: "one", cache: false });
  const f2 = await first.send(url, { body: "two", cache: false });
  const f3 = await first.send(url, { body: "three", cache: false });
  const record = JSON.parse(JSON.stringify(f1));
  assert.deepEqual(Object.keys(record), ["id", "path", "expires", "url"]);
  await first.close();
  await assert.rejects(f1.wait(), /client was closed/);

  await using app = createEchoApp({ workspace: ws.workspace, cleanupInterval: 0 });
  await app.start();
  await using second = await RpcClient.open({ workspace: ws.workspace });
  const a1 = await second.attach(record);
  const a2 = await second.attach(f2.requestPath);
  const a3 = await second.attach({ url: url.href, id: f3.id });
  assert.equal(a1.expires?.equals(f1.expires!), true);
  assert.equal((await a1.wait({ timeout: "10s" })).text(), "one");
  assert.equal((await a2.wait({ timeout: "10s" })).text(), "two");
  assert.equal((await a3.wait({ timeout: "10s" })).text(), "three");
  assert.equal(a2.url?.href, url.href);
  await assert.rejects(second.attach({ url: url.href, id: "nope" }), /Invalid id/);
});

Deno.test("RpcClient.broadcast() gathers responses in completion order", async () => {
  await using ws = await rpcWorkspace();
  const apps: SyftEvents[] = [];
  for (const [email, delay] of [["slow@example.com", 300], ["fast@example.com", 0]] as const) {
    const app = new SyftEvents("hello", {
      workspace: { dataDir: ws.path, email },
      cleanupInterval: 0,
    });
    app.onRequest("/hi", async () => {
      await new Promise((r) => setTimeout(r, delay));
      return email;
    });
    await app.start();
    apps.push(app);
  }
  try {
    await using client = await RpcClient.open({ workspace: ws.workspace });
    const bulk = await client.broadcast([
      SyftBoxURL.rpc("slow@example.com", "hello", "hi"),
      SyftBoxURL.rpc("fast@example.com", "hello", "hi"),
      NOBODY,
    ]);
    assert.match(bulk.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4/);
    const got = await bulk.gather({ timeout: "1500ms" });
    assert.deepEqual(got.map((r) => r.text()), ["fast@example.com", "slow@example.com"]);
    assert.equal(bulk.pending.length, 1);
    assert.equal(bulk.successes.length, 2);
    assert.equal(bulk.failures.length, 0);
    assert.equal(bulk.allFailed, false);
  } finally {
    for (const app of apps) await app.stop();
  }
});

Deno.test("readRpcSchema() reads a datasite's rpc.schema.json and names a missing one", async () => {
  await using ws = await rpcWorkspace();
  await using app = createEchoApp({ workspace: ws.workspace, cleanupInterval: 0 });
  await app.start();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const schema = await client.readSchema("echo");
  assert.deepEqual(Object.keys(schema).sort(), ["/echo", "/ping"]);
  await assert.rejects(
    readRpcSchema(ws.workspace, "nope", { datasite: "x@example.com" }),
    (err) => (err as { code?: string }).code === "RPC_NO_SCHEMA",
  );
  await assert.rejects(client.send("syft://bob@example.com/../x"), /leave the datasite/);
});

Deno.test("SyftFuture.wait() honours timeouts and expiries longer than setTimeout's ~24.8 days", async () => {
  await using ws = await rpcWorkspace();
  await using client = await RpcClient.open({ workspace: ws.workspace });
  const future = await client.send(NOBODY, { cache: false, expiry: "30d" });
  const abort = new AbortController();
  const outcome = future.wait({ timeout: "30d", signal: abort.signal }).then(
    (r) => `resolved ${r.statusCode}`,
    (err) => `rejected ${err instanceof Error ? err.message : err}`,
  );
  const early = await Promise.race([
    outcome,
    new Promise((r) => setTimeout(() => r("still waiting"), 300)),
  ]);
  assert.equal(early, "still waiting");
  abort.abort(new Error("done"));
  assert.equal(await outcome, "rejected done");
  await assert.rejects(
    client.send(NOBODY, { cache: false, expiry: "2914000d" }),
    /after 9999-12-31/,
  );
});
