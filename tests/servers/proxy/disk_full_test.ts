// deno-lint-ignore-file camelcase -- the proxy APIs are snake_case JSON
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileBackend } from "../../../servers/proxy/_file_backend.ts";
import { ProxyGateway } from "../../../servers/proxy/_gateway.ts";
import { KvRequestStore } from "../../../lib/proxy/store_kv.ts";
import { MemoryRequestStore, type RequestStore } from "../../../lib/proxy/store.ts";
import { createProxyApp } from "../../../servers/proxy/app.ts";
import { WriteProbe } from "../../../servers/proxy/_health.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { ME, startEcho } from "./_fixture.ts";
import { mountTmpfs } from "./_tmpfs.ts";

const SEND = { app_name: "echo", func_name: "echo", destination: ME };

async function proxyOver(dataDir: string, store: RequestStore) {
  const gateway = new ProxyGateway({
    backend: await createFileBackend({ email: ME, dataDir }),
    store,
  });
  await gateway.start();
  const { app } = createProxyApp({ gateway, accessLog: false, healthIntervalMs: 0 });
  const post = (path: string, body: unknown): Promise<Response> =>
    Promise.resolve(app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }));
  return { gateway, app, post };
}

Deno.test("a blocking send whose status cannot be stored (full disk) answers 503, keeps the response file, and /health says why", async () => {
  await using tmpfs = await mountTmpfs();
  if (tmpfs === null) return;
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  await Deno.mkdir(join(dataDir, "datasites", ME), { recursive: true });
  await using _echo = await startEcho(dataDir);
  const store = await KvRequestStore.open(join(tmpfs.path, "proxy.kv"));
  const { gateway, app, post } = await proxyOver(dataDir, store);
  try {
    const ok = await post("/rpc/send", { ...SEND, params: { n: 1 } });
    assert.equal((await ok.json()).status, "completed");
    assert.equal((await app.request("/health")).status, 200);

    await tmpfs.fill();
    const res = await post("/rpc/send", { ...SEND, params: { n: 2 } });
    const body = await res.json();
    assert.equal(res.status, 503, JSON.stringify(body));
    assert.equal(body.error, "store_unavailable");
    assert.match(body.message, /database or disk is full/);
    // The app's answer is kept in its response file (as a restart would find it).
    const dir = join(dataDir, "datasites", ME, "app_data/echo/rpc/echo", ME);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(names.some((n) => n.endsWith(".response")), names.join(", "));

    const health = await app.request("/health");
    assert.equal(health.status, 503);
    const h = await health.json();
    assert.equal(h.status, "unhealthy");
    assert.match(h.store, /Cannot write to the KV request store: .*disk is full/);
    assert.equal(h.data, "ok");

    await tmpfs.free();
    assert.equal((await app.request("/health")).status, 200);
  } finally {
    await gateway.close();
    await store.close();
  }
});

Deno.test("/health answers 503 naming the data dir when it does not accept writes", async () => {
  await using tmpfs = await mountTmpfs();
  if (tmpfs === null) return;
  const dataDir = join(tmpfs.path, "data");
  await Deno.mkdir(join(dataDir, "datasites", ME), { recursive: true });
  const store = new MemoryRequestStore();
  const { gateway, app, post } = await proxyOver(dataDir, store);
  try {
    assert.equal((await app.request("/health")).status, 200);
    await tmpfs.fill();
    const health = await app.request("/health");
    const h = await health.json();
    assert.equal(health.status, 503, JSON.stringify(h));
    assert.equal(h.store, "ok");
    assert.match(h.data, /Cannot write to the data dir .*No space left on device/);
    // A send whose file cannot be written is a stored failure, not a success.
    const res = await post("/rpc/send", { ...SEND, params: { n: 3 } });
    const body = await res.json();
    assert.equal(body.status, "failed");
    assert.match(body.error, /Cannot write the request file/);
    assert.equal((await store.get(body.id))?.status, "failed");
    await tmpfs.free();
    assert.equal((await app.request("/health")).status, 200);
  } finally {
    await gateway.close();
    await store.close();
  }
});

Deno.test("WriteProbe writes at most once per interval on its clock and shares a running probe", async () => {
  const clock = new FakeClock();
  let probes = 0;
  let answer = "ok";
  const probe = new WriteProbe(() => {
    probes++;
    return Promise.resolve({ store: answer, data: "ok" });
  }, { intervalMs: 5_000, clock });
  const [a, b] = await Promise.all([probe.check(), probe.check()]);
  assert.deepEqual(a, { store: "ok", data: "ok" });
  assert.equal(b, a);
  assert.equal(probes, 1);
  answer = "disk full";
  await clock.tick(4_999);
  assert.equal((await probe.check()).store, "ok");
  assert.equal(probes, 1);
  await clock.tick(1);
  assert.equal((await probe.check()).store, "disk full");
  assert.equal(probes, 2);
});
