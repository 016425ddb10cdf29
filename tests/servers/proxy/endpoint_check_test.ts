import assert from "node:assert/strict";
import { join } from "node:path";
import { startProxyServer } from "../../../servers/proxy/mod.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { ME, startEcho } from "./_fixture.ts";

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

Deno.test("startProxyServer({ checkEndpoints }) answers 404 at once for endpoints not in the local datasites", async () => {
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  await Deno.mkdir(join(dataDir, "datasites", ME), { recursive: true });
  await using _echo = await startEcho(dataDir);
  await using server = await startProxyServer({
    workspace: { email: ME, dataDir },
    port: 0,
    store: "memory",
    accessLog: false,
    checkEndpoints: true,
  });
  const send = (destination: string, app: string, func: string) =>
    post(`${server.url}/rpc/send`, {
      app_name: app,
      func_name: func,
      destination,
      params: { hi: 1 },
      timeout: 60,
    });
  const cases: [string, string, string, string, RegExp][] = [
    ["nobody@example.com", "echo", "echo", "datasite", /^No datasite nobody@example\.com in /],
    [ME, "calc", "add", "app", /^No app "calc" on /],
    [ME, "echo", "nope", "endpoint", /^App "echo" on .* has no endpoint "\/nope"/],
  ];
  for (const [destination, app, func, missing, message] of cases) {
    const started = performance.now();
    const res = await send(destination, app, func);
    const body = await res.json();
    assert.equal(res.status, 404, JSON.stringify(body));
    assert.equal(body.error, "endpoint_not_found");
    assert.equal(body.missing, missing);
    assert.match(body.message, message);
    assert.ok(performance.now() - started < 5_000, "answered at once, not after the timeout");
  }
  // The real package's API, blocking: the same, in its RPCStatus shape.
  const rpc = await post(`${server.url}/rpc?blocking=true`, {
    app_name: "echo",
    url: "syft://nobody@example.com/app_data/echo/rpc/ping",
  });
  const rpcBody = await rpc.json();
  assert.equal(rpc.status, 404);
  assert.equal(rpcBody.status, "RPC_NOT_FOUND");
  assert.equal(rpcBody.missing, "datasite");
  // What exists still answers.
  const ok = await send(ME, "echo", "echo");
  assert.equal(ok.status, 200);
  assert.deepEqual((await ok.json()).result, { hi: 1 });
});

Deno.test("startProxyServer() without checkEndpoints accepts a send to a missing endpoint (sync may bring it)", async () => {
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  await Deno.mkdir(join(dataDir, "datasites", ME), { recursive: true });
  await using server = await startProxyServer({
    workspace: { email: ME, dataDir },
    port: 0,
    store: "memory",
    accessLog: false,
  });
  const res = await post(`${server.url}/rpc/send`, {
    app_name: "later",
    func_name: "x",
    destination: "bob@example.com",
    blocking: false,
  });
  const body = await res.json();
  assert.equal(res.status, 200);
  assert.equal(body.status, "pending");
});
