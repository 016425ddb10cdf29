// deno-lint-ignore-file camelcase -- the proxy APIs are snake_case JSON
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  LoadBalancedProxyClient,
  ProxyClient,
  ProxyTimeoutError,
  ProxyUnavailableError,
  RpcError,
  RpcExecutionError,
  type SyftRequestJson,
  type SyftResponseJson,
} from "../../../lib/proxy/mod.ts";
import { SyftRequest } from "../../../lib/rpc/mod.ts";
import { type RpcBackend, startProxyServer } from "../../../servers/proxy/mod.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { ME, startEcho } from "./_fixture.ts";

async function workspace(root: string): Promise<{ email: string; dataDir: string }> {
  const dataDir = join(root, "data");
  await Deno.mkdir(join(dataDir, "datasites", ME), { recursive: true });
  return { email: ME, dataDir };
}

function freeUrl(): Promise<string> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  return Promise.resolve(url);
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

Deno.test("startProxyServer() serves every route over real HTTP on port 0", async () => {
  await using ws = await tempWorkspace();
  const wsp = await workspace(ws.path);
  await using _echo = await startEcho(wsp.dataDir);
  await using server = await startProxyServer({
    workspace: wsp,
    port: 0,
    store: "memory",
    accessLog: false,
    maxBodyBytes: 4096,
  });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const send = { app_name: "echo", func_name: "echo", destination: ME };
  const cases: [string, () => Promise<Response>, number][] = [
    ["GET /", () => fetch(`${server.url}/`), 200],
    ["GET /info", () => fetch(`${server.url}/info`), 200],
    ["GET /health", () => fetch(`${server.url}/health`), 200],
    ["GET /metrics", () => fetch(`${server.url}/metrics`), 200],
    ["send blocking", () => post(`${server.url}/rpc/send`, { ...send, params: 1 }), 200],
    [
      "send timeout",
      () => post(`${server.url}/rpc/send`, { ...send, app_name: "nobody", timeout: 0.1 }),
      202,
    ],
    [
      "send malformed JSON (422, as FastAPI)",
      () =>
        fetch(`${server.url}/rpc/send`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{",
        }),
      422,
    ],
    ["send 413", () => post(`${server.url}/rpc/send`, { ...send, params: "x".repeat(5000) }), 413],
    ["send 415", () => fetch(`${server.url}/rpc/send`, { method: "POST", body: "a=1" }), 415],
    ["send 422", () => post(`${server.url}/rpc/send`, { ...send, destination: "x" }), 422],
    ["broadcast", () => post(`${server.url}/rpc/broadcast`, { ...send, destinations: [ME] }), 200],
    ["status 404", () => fetch(`${server.url}/rpc/status/${crypto.randomUUID()}`), 404],
    ["schema", () => fetch(`${server.url}/rpc/schema/echo`), 200],
    ["schema 404", () => fetch(`${server.url}/rpc/schema/nothere`), 404],
    [
      "rpc blocking",
      () =>
        post(`${server.url}/rpc?blocking=true`, {
          app_name: "echo",
          url: `syft://${ME}/app_data/echo/rpc/ping`,
        }),
      200,
    ],
    [
      "rpc pending",
      () =>
        post(`${server.url}/rpc`, { app_name: "echo", url: `syft://${ME}/app_data/echo/rpc/ping` }),
      200,
    ],
  ];
  for (const [name, run, status] of cases) {
    const res = await run();
    assert.equal(res.status, status, name);
    await res.body?.cancel();
  }
  // Non-blocking then long-poll over HTTP.
  const { id } =
    await (await post(`${server.url}/rpc/send`, { ...send, params: { x: 1 }, blocking: false }))
      .json();
  const done = await (await fetch(`${server.url}/rpc/status/${id}?wait=10`)).json();
  assert.equal(done.status, "completed");
  assert.deepEqual(done.result, { x: 1 });
});

Deno.test("a KV-backed proxy keeps statuses and resumes pending requests after a restart", async () => {
  await using ws = await tempWorkspace();
  const wsp = await workspace(ws.path);
  const kvPath = join(ws.path, "state", "proxy.kv");
  let server = await startProxyServer({
    workspace: wsp,
    port: 0,
    store: "kv",
    kvPath,
    accessLog: false,
  });
  // One request answered before the restart, one that stays pending (no app running yet).
  const echoFirst = await startEcho(wsp.dataDir);
  const done = await (await post(`${server.url}/rpc/send`, {
    app_name: "echo",
    func_name: "echo",
    destination: ME,
    params: "before",
  })).json();
  assert.equal(done.status, "completed");
  await echoFirst.close();
  const sent = await (await post(`${server.url}/rpc/send`, {
    app_name: "echo",
    func_name: "echo",
    destination: ME,
    params: "across",
    blocking: false,
  })).json();
  await server.close();

  // While the proxy is down the app comes up and answers the request file.
  await using _echo = await startEcho(wsp.dataDir);
  const responseFile = join(
    wsp.dataDir,
    "datasites",
    ME,
    "app_data/echo/rpc/echo",
    ME,
    `${sent.id}.response`,
  );
  for (let i = 0; i < 100 && !(await Deno.stat(responseFile).catch(() => null)); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }

  server = await startProxyServer({
    workspace: wsp,
    port: 0,
    store: "kv",
    kvPath,
    accessLog: false,
  });
  try {
    assert.equal(server.resumed, 1);
    const before = await (await fetch(`${server.url}/rpc/status/${done.id}`)).json();
    assert.equal(before.status, "completed");
    assert.equal(before.result, "before");
    const after = await (await fetch(`${server.url}/rpc/status/${sent.id}?wait=10`)).json();
    assert.equal(after.status, "completed");
    assert.equal(after.result, "across");
  } finally {
    await server.close();
  }
});

redisTest("two proxies sharing Redis: send on one, status (long-poll) on the other", async (r) => {
  await using ws = await tempWorkspace();
  const wsp = await workspace(ws.path);
  const common = { workspace: wsp, port: 0, store: r.url, redisPrefix: r.prefix, accessLog: false };
  await using a = await startProxyServer(common);
  await using b = await startProxyServer(common);
  const sent = await (await post(`${a.url}/rpc/send`, {
    app_name: "echo",
    func_name: "echo",
    destination: ME,
    params: { shared: true },
    blocking: false,
  })).json();
  const pending = await (await fetch(`${b.url}/rpc/status/${sent.id}`)).json();
  assert.equal(pending.status, "pending");
  const waiting = fetch(`${b.url}/rpc/status/${sent.id}?wait=10`).then((res) => res.json());
  await new Promise((res) => setTimeout(res, 100));
  await using _echo = await startEcho(wsp.dataDir); // the app answers; proxy a picks it up
  const done = await waiting;
  assert.equal(done.status, "completed");
  assert.deepEqual(done.result, { shared: true });
  const info = await (await fetch(`${b.url}/`)).json();
  assert.match(info.store, /^redis:\/\/127\.0\.0\.1:6379$/);
});

redisTest("two proxies sharing Redis share the rate limit too", async (r) => {
  await using ws = await tempWorkspace();
  const wsp = await workspace(ws.path);
  const options = {
    workspace: wsp,
    port: 0,
    store: r.url,
    redisPrefix: r.prefix,
    accessLog: false,
    rateLimit: { limit: 3, windowMs: 60_000 },
  };
  await using a = await startProxyServer(options);
  await using b = await startProxyServer(options);
  const statuses: number[] = [];
  for (const url of [a.url, b.url, a.url, b.url]) {
    const res = await fetch(`${url}/info`);
    await res.body?.cancel();
    statuses.push(res.status);
  }
  // The fourth request in the window is over the limit although each proxy saw only two.
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  const limited = await fetch(`${a.url}/info`);
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("retry-after")) > 0);
  assert.match((await limited.json()).message, /at most 3 per 60 s/);
  const keys = await r.client.keys(`${r.prefix}ratelimit:*`);
  assert.equal(keys.length, 1);
});

Deno.test("ProxyClient calls, polls, broadcasts, batches and maps errors against a real proxy", async () => {
  await using ws = await tempWorkspace();
  const wsp = await workspace(ws.path);
  await using _echo = await startEcho(wsp.dataDir);
  await using server = await startProxyServer({
    workspace: wsp,
    port: 0,
    store: "memory",
    accessLog: false,
    apiKey: "k1",
  });
  const client = new ProxyClient(server.url, { apiKey: "k1", timeout: 10 });
  assert.deepEqual(await client.call("echo", "echo", { to: ME, params: { a: 1 } }), { a: 1 });
  assert.equal(((await client.call("echo", "ping", { to: ME })) as { msg: string }).msg, "pong");
  const id = await client.callAsync("echo", "echo", { to: ME, params: [1, 2] });
  const finished = await client.waitFor(id, { timeout: 10 });
  assert.equal(finished.status, "completed");
  assert.deepEqual(finished.result, [1, 2]);
  assert.equal((await client.status(id)).status, "completed");
  const ids = await client.broadcast("echo", "ping", [ME, ME]);
  assert.equal(ids.length, 2);
  for (const i of ids) assert.equal((await client.waitFor(i)).status, "completed");
  assert.deepEqual(Object.keys((await client.schema("echo")).functions).sort(), [
    "echo",
    "fail",
    "headers",
    "nocontent",
    "ping",
  ]);
  const out = await client.batch([
    { app: "echo", func: "echo", to: ME, params: 1 },
    { app: "echo", func: "fail", to: ME },
    { app: "echo", func: "echo", to: ME, params: 3 },
  ]);
  assert.deepEqual(out.map((o) => o.ok ? o.value : (o.error as RpcExecutionError).statusCode), [
    1,
    500,
    3,
  ]);
  assert.equal((await client.info()).requests.completed >= 5, true);
  assert.equal(await client.health(), true);

  await assert.rejects(client.call("echo", "fail", { to: ME }), (err: unknown) => {
    assert.ok(err instanceof RpcExecutionError);
    assert.equal(err.statusCode, 500);
    assert.equal(err.error, "Internal server error. Please try again later.");
    return true;
  });
  await assert.rejects(client.call("nobody", "x", { to: ME, timeout: 0.3 }), (err: unknown) => {
    assert.ok(err instanceof ProxyTimeoutError);
    assert.match(err.id!, /^[0-9a-f-]{36}$/);
    return true;
  });
  await assert.rejects(client.call("echo", "echo", { to: "not-an-email" }), (err: unknown) => {
    assert.ok(err instanceof RpcError && !(err instanceof RpcExecutionError));
    assert.equal(err.httpStatus, 422);
    assert.match(err.message, /destination must be an e-mail/);
    return true;
  });
  await assert.rejects(client.status(crypto.randomUUID()), (err: unknown) => {
    assert.ok(err instanceof RpcError);
    assert.equal(err.httpStatus, 404);
    return true;
  });
  await assert.rejects(new ProxyClient(server.url).info(), (err: unknown) => {
    assert.ok(err instanceof RpcError);
    assert.equal(err.httpStatus, 401);
    return true;
  });
  await assert.rejects(new ProxyClient(await freeUrl()).info(), ProxyUnavailableError);
});

Deno.test("LoadBalancedProxyClient spreads calls and moves past a proxy that is down", async () => {
  await using ws = await tempWorkspace();
  const wsp = await workspace(ws.path);
  await using _echo = await startEcho(wsp.dataDir);
  await using a = await startProxyServer({
    workspace: wsp,
    port: 0,
    store: "memory",
    accessLog: false,
  });
  await using b = await startProxyServer({
    workspace: wsp,
    port: 0,
    store: "memory",
    accessLog: false,
  });
  const down = await freeUrl();
  const client = new LoadBalancedProxyClient([down, a.url, b.url], { timeout: 10 });
  for (let i = 0; i < 6; i++) {
    assert.equal(await client.call("echo", "echo", { to: ME, params: i }), i);
  }
  const [ia, ib] = await Promise.all([
    new ProxyClient(a.url).info(),
    new ProxyClient(b.url).info(),
  ]);
  assert.equal(ia.requests.total + ib.requests.total, 6);
  assert.ok(
    ia.requests.total >= 2 && ib.requests.total >= 2,
    `${ia.requests.total}/${ib.requests.total}`,
  );
  const allDown = new LoadBalancedProxyClient([down, await freeUrl()]);
  await assert.rejects(allDown.info(), (err: unknown) => {
    assert.ok(err instanceof ProxyUnavailableError);
    assert.equal(err.urls.length, 2);
    return true;
  });
  assert.throws(() => new LoadBalancedProxyClient([]), TypeError);
});

Deno.test("startProxyServer sends through a backend of the caller's (the backend option) and closes it on stop", async () => {
  await using ws = await tempWorkspace();
  const prepared: string[] = [];
  let closed = false;
  // The app never answers here; as the backend contract says, a close rejects what is pending.
  const { promise: answered, reject: stop } = Promise.withResolvers<SyftResponseJson>();
  answered.catch(() => {});
  const backend: RpcBackend = {
    email: ME,
    datasitesDir: join(ws.path, "datasites"),
    prepare(req) {
      prepared.push(req.url);
      const request = new SyftRequest({
        sender: ME,
        url: req.url,
        method: req.method as "POST",
        body: req.body,
        headers: req.headers,
        expires: req.expiresAt,
      }).toJSON() as unknown as SyftRequestJson;
      return {
        request,
        write: () => Promise.resolve({ response: () => answered, consume: async () => {} }),
      };
    },
    recover: () => Promise.resolve([]),
    readSchema: () => Promise.resolve(null),
    close: () => {
      closed = true;
      stop(new Error("backend closed"));
      return Promise.resolve();
    },
  };
  const server = await startProxyServer({
    workspace: { email: ME, dataDir: ws.path },
    port: 0,
    store: "memory",
    accessLog: false,
    backend,
  });
  try {
    const sent = await (await post(`${server.url}/rpc/send`, {
      app_name: "echo",
      func_name: "echo",
      destination: ME,
      params: { via: "backend" },
      blocking: false,
    })).json();
    assert.deepEqual(prepared, [`syft://${ME}/app_data/echo/rpc/echo`]);
    assert.equal(sent.status, "pending");
    assert.equal(await Deno.stat(join(ws.path, "datasites")).then(() => true, () => false), false);
  } finally {
    await server.close();
  }
  assert.equal(closed, true);
});
