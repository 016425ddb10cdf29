// deno-lint-ignore-file camelcase -- the proxy APIs are snake_case JSON
import assert from "node:assert/strict";
import { wireBodyValue } from "../../../servers/proxy/_body.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { appFixture, ME } from "./_fixture.ts";

const SEND = { app_name: "echo", func_name: "echo", destination: ME };

Deno.test("GET /, /info, /health and /metrics describe the proxy", async () => {
  await using fx = await appFixture();
  for (const path of ["/", "/info"]) {
    const res = await fx.app.request(path);
    assert.equal(res.status, 200);
    const info = await res.json();
    assert.equal(info.name, "syft-proxy");
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.equal(info.store, "memory");
    assert.equal(info.email, ME);
    assert.deepEqual(Object.keys(info.requests).sort(), [
      "completed",
      "failed",
      "pending",
      "total",
    ]);
  }
  const health = await fx.app.request("/health");
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, "ok");
  await (await fx.post("/rpc/send", { ...SEND, params: { n: 1 } })).body?.cancel();
  const metrics = await fx.app.request("/metrics");
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type")!, /^text\/plain/);
  const text = await metrics.text();
  assert.match(text, /rpc_requests_total\{app_name="echo",func_name="echo",status="completed"\} 1/);
  assert.match(
    text,
    /rpc_request_duration_seconds_count\{app_name="echo",func_name="echo",status="completed"\} 1/,
  );
  assert.match(
    text,
    /http_requests_total\{method="POST",route="\/rpc\/send",status="200",ok="true"\} 1/,
  );
  assert.match(text, /http_request_duration_seconds_bucket/);
  assert.match(text, /rpc_requests_in_flight 0/);
});

Deno.test("POST /rpc/send blocking returns the echo app's answer", async () => {
  await using fx = await appFixture();
  const res = await fx.post("/rpc/send", { ...SEND, params: { hello: "world", n: [1, 2] } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.match(body.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(body, {
    id: body.id,
    status: "completed",
    result: { hello: "world", n: [1, 2] },
    error: null,
    status_code: 200,
  });
  assert.match(res.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
  // Both files are consumed (their removal finishes just after the answer).
  const dir = `${fx.dataDir}/datasites/${ME}/app_data/echo/rpc/echo/${ME}`;
  await waitFor(() => [...Deno.readDirSync(dir)].length === 0, { what: `${dir} emptied` });
});

Deno.test("POST /rpc/send non-blocking returns pending; /rpc/status long-polls to completion", async () => {
  await using fx = await appFixture();
  const res = await fx.post("/rpc/send", { ...SEND, params: "text", blocking: false });
  assert.equal(res.status, 200);
  const sent = await res.json();
  assert.deepEqual(sent, { id: sent.id, status: "pending" });
  const status = await fx.app.request(`/rpc/status/${sent.id}?wait=10`);
  assert.equal(status.status, 200);
  const s = await status.json();
  assert.equal(s.status, "completed");
  assert.equal(s.result, "text");
  assert.equal(s.app_name, "echo");
  assert.equal(s.func_name, "echo");
  assert.equal(s.destination, ME);
  assert.equal(s.status_code, 200);
  assert.ok(Date.parse(s.completed_at) >= Date.parse(s.created_at));
});

Deno.test("an app error is reported as failed with its status and text", async () => {
  await using fx = await appFixture();
  const body = await (await fx.post("/rpc/send", { ...SEND, func_name: "/fail" })).json();
  assert.equal(body.status, "failed");
  assert.equal(body.status_code, 500);
  assert.equal(body.error, "Internal server error. Please try again later.");
  const s = await (await fx.app.request(`/rpc/status/${body.id}`)).json();
  assert.equal(s.status, "failed");
});

Deno.test("a blocking send whose wait runs out answers 202 pending", async () => {
  await using fx = await appFixture();
  const res = await fx.post("/rpc/send", { ...SEND, app_name: "nobody", timeout: 0.2 });
  assert.equal(res.status, 202);
  const body = await res.json();
  assert.deepEqual(body, { id: body.id, status: "pending" });
  // A long-poll with a short wait also comes back pending.
  const s = await fx.app.request(`/rpc/status/${body.id}?wait=0.1`);
  assert.equal((await s.json()).status, "pending");
});

Deno.test("malformed JSON is 422 (as FastAPI), a non-JSON type 415, an oversized body 413", async () => {
  await using fx = await appFixture({ maxBodyBytes: 1024 });
  const bad = await fx.post("/rpc/send", "{not json");
  assert.equal(bad.status, 422);
  const badBody = await bad.json();
  assert.equal(badBody.error, "validation_failed");
  assert.deepEqual(badBody.detail, [{
    type: "json_invalid",
    loc: ["body", 1],
    msg: "JSON decode error",
    input: {},
    ctx: { error: "Expecting property name enclosed in double quotes" },
  }]);
  const form = await fx.app.request("/rpc/send", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "a=1",
  });
  assert.equal(form.status, 415);
  assert.match((await form.json()).message, /Expected Content-Type: application\/json/);
  const big = await fx.post("/rpc/send", { ...SEND, params: "x".repeat(2000) });
  assert.equal(big.status, 413);
  assert.equal((await big.json()).error, "payload_too_large");
  // Also without Content-Length (chunked): the limit is enforced while reading.
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(JSON.stringify({ ...SEND, params: "y".repeat(3000) })));
      c.close();
    },
  });
  const chunked = await fx.app.request("/rpc", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stream,
  });
  assert.equal(chunked.status, 413);
  await chunked.body?.cancel();
});

Deno.test("validation failures are 422 and name every failing field", async () => {
  await using fx = await appFixture({ maxParamsBytes: 50 });
  const res = await fx.post("/rpc/send", {
    app_name: "ab",
    func_name: "../etc",
    destination: "bob@localhost",
    timeout: 301,
    params: "z".repeat(100),
    method: "TRACE",
    headers: { a: 1 },
  });
  assert.equal(res.status, 422);
  const body = await res.json();
  assert.equal(body.error, "validation_failed");
  const fields = body.fields.map((f: { field: string }) => f.field).sort();
  assert.deepEqual(fields, [
    "app_name",
    "destination",
    "func_name",
    "headers.a",
    "method",
    "params",
    "timeout",
  ]);
  assert.match(body.message, /timeout must be at most 300 seconds/);
  assert.match(body.message, /params must encode to at most 50 bytes/);
  const empty = await fx.post("/rpc/send", {});
  assert.equal(empty.status, 422);
  const names = (await empty.json()).fields.map((f: { field: string }) => f.field).sort();
  assert.deepEqual(names, ["app_name", "destination", "func_name"]);
  const wait = await fx.app.request("/rpc/status/3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10?wait=abc");
  assert.equal(wait.status, 422);
  assert.deepEqual((await wait.json()).fields.map((f: { field: string }) => f.field), ["wait"]);
});

Deno.test("unknown ids and routes are 404", async () => {
  await using fx = await appFixture();
  for (const id of [crypto.randomUUID(), "not-a-uuid", "x".repeat(5000)]) {
    const res = await fx.app.request(`/rpc/status/${id}`);
    assert.equal(res.status, 404);
    const body = await res.json();
    assert.equal(body.error, "not_found");
    assert.equal(body.status, "RPC_NOT_FOUND");
  }
  const route = await fx.app.request("/nope");
  assert.equal(route.status, 404);
  assert.equal((await route.json()).message, "No route GET /nope");
});

Deno.test("POST /rpc/broadcast sends to e-mails and syft URLs", async () => {
  await using fx = await appFixture();
  const res = await fx.post("/rpc/broadcast", {
    app_name: "echo",
    func_name: "ping",
    destinations: [ME, `syft://${ME}/app_data/echo/rpc/echo`],
    params: { b: 1 },
  });
  assert.equal(res.status, 200);
  const { request_ids: ids } = await res.json();
  assert.equal(ids.length, 2);
  const results = await Promise.all(
    ids.map(async (id: string) => (await fx.app.request(`/rpc/status/${id}?wait=10`)).json()),
  );
  assert.deepEqual(results.map((r) => [r.status, r.func_name, r.result.msg ?? r.result]), [
    ["completed", "ping", "pong"],
    ["completed", "echo", { b: 1 }],
  ]);
  const bad = await fx.post("/rpc/broadcast", {
    func_name: "ping",
    destinations: ["bob@example.org", "nonsense", "syft://x@y.org/../z"],
  });
  assert.equal(bad.status, 422);
  const fields = (await bad.json()).fields.map((f: { field: string }) => f.field).sort();
  assert.deepEqual(fields, ["app_name", "destinations.1", "destinations.2"]);
});

Deno.test("GET /rpc/schema/{app} reads the datasite's rpc.schema.json", async () => {
  await using fx = await appFixture();
  const res = await fx.app.request("/rpc/schema/echo");
  assert.equal(res.status, 200);
  const schema = await res.json();
  assert.equal(schema.app_name, "echo");
  assert.equal(schema.datasite, ME);
  assert.deepEqual(Object.keys(schema.functions).sort(), [
    "echo",
    "fail",
    "headers",
    "nocontent",
    "ping",
  ]);
  assert.equal(schema.functions.echo.description, "Returns the request body unchanged");
  assert.equal(schema.functions.fail.description, "Always fails");
  for (const f of Object.values(schema.functions) as Record<string, unknown>[]) {
    assert.deepEqual(Object.keys(f).sort(), ["description", "params", "returns"]);
  }
  const other = await fx.app.request(`/rpc/schema/echo?datasite=bob@example.org`);
  assert.equal(other.status, 404);
  assert.match(
    (await other.json()).message,
    /No rpc.schema.json for app "echo" on bob@example.org/,
  );
  const traversal = await fx.app.request("/rpc/schema/..%2F..%2Fetc");
  assert.equal(traversal.status, 422);
  assert.deepEqual((await traversal.json()).fields.map((f: { field: string }) => f.field), ["app"]);
  const site = await fx.app.request("/rpc/schema/echo?datasite=../x");
  assert.equal(site.status, 422);
  assert.deepEqual((await site.json()).fields.map((f: { field: string }) => f.field), ["datasite"]);
});

Deno.test("POST /rpc (real package API) answers in the RPCStatus shape", async () => {
  await using fx = await appFixture();
  const url = `syft://${ME}/app_data/echo/rpc/echo`;
  const res = await fx.post("/rpc?blocking=true", { app_name: "echo", url, body: { a: 1 } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "RPC_COMPLETED");
  assert.equal(body.request.url, url);
  assert.equal(body.request.method, "GET");
  assert.equal(body.request.sender, ME);
  assert.equal(body.response.status_code, 200);
  assert.deepEqual(wireBodyValue(body.response.body), { a: 1 });
  assert.match(body.response.body, /^[A-Za-z0-9_-]+=*$/); // URL-safe base64 with padding

  const pending = await fx.post("/rpc", {
    app_name: "echo",
    url: `syft://${ME}/app_data/echo/rpc/fail`,
  });
  assert.equal(pending.status, 200);
  const p = await pending.json();
  assert.equal(p.status, "RPC_PENDING");
  assert.equal(p.response, null);
  const s = await fx.app.request(`/rpc/status/${p.id}?wait=10`);
  assert.equal(s.status, 500); // the RPC status code becomes the HTTP status
  const sb = await s.json();
  assert.equal(sb.status, "RPC_ERROR");
  assert.equal(sb.response.status_code, 500);

  const hdr = await fx.post("/rpc?blocking=1", {
    app_name: "echo",
    url: `syft://${ME}/app_data/echo/rpc/headers`,
  });
  assert.equal(hdr.status, 200);
  assert.equal(hdr.headers.get("x-custom"), "v"); // the response's headers are copied
  await hdr.body?.cancel();

  const invalid = await fx.post("/rpc?blocking=maybe", {
    app_name: "e",
    url: "syft://bob@localhost/x",
    expiry: "1week",
  });
  assert.equal(invalid.status, 422);
  const inv = await invalid.json();
  // As FastAPI: the query's failures and the body's in one answer, the query's first.
  assert.deepEqual(inv.fields.map((x: { field: string }) => x.field), [
    "blocking",
    "app_name",
    "url",
    "expiry",
  ]);
  assert.deepEqual(inv.detail.map((x: { loc: string[] }) => x.loc.join(".")), [
    "query.blocking",
    "body.app_name",
    "body.url",
    "body.expiry",
  ]);

  const invalidBody = await fx.post("/rpc", {
    app_name: "e",
    url: "syft://bob@localhost/x",
    expiry: "1week",
  });
  const g = (await invalidBody.json()).fields.map((x: { field: string }) => x.field).sort();
  assert.deepEqual(g, ["app_name", "expiry", "url"]);

  const timeout = await fx.post("/rpc?blocking=true&timeout=0.2", {
    app_name: "nobody",
    url: `syft://${ME}/app_data/nobody/rpc/x`,
  });
  assert.equal(timeout.status, 202);
  assert.equal((await timeout.json()).status, "RPC_PENDING");
});

Deno.test("an API key is required (X-API-Key or Bearer) on everything but /health", async () => {
  await using fx = await appFixture({ apiKey: "s3cret" });
  const none = await fx.app.request("/");
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="syft-proxy"');
  assert.match((await none.json()).message, /Missing API key/);
  const wrong = await fx.app.request("/", { headers: { "x-api-key": "nope" } });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).message, "Invalid API key");
  const send = await fx.post("/rpc/send", { ...SEND, params: 1 });
  assert.equal(send.status, 401);
  await send.body?.cancel();
  const ok1 = await fx.app.request("/", { headers: { "x-api-key": "s3cret" } });
  assert.equal(ok1.status, 200);
  await ok1.body?.cancel();
  const ok2 = await fx.post("/rpc/send", { ...SEND, params: 2 }, {
    authorization: "Bearer s3cret",
  });
  assert.equal(ok2.status, 200);
  assert.equal((await ok2.json()).result, 2);
  const health = await fx.app.request("/health");
  assert.equal(health.status, 200);
  await health.body?.cancel();
});

Deno.test("the rate limit answers 429 with Retry-After", async () => {
  await using fx = await appFixture({ rateLimit: { limit: 3, windowMs: 60_000 } });
  for (let i = 0; i < 3; i++) {
    const res = await fx.app.request("/");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("ratelimit-limit"), "3");
    await res.body?.cancel();
  }
  const limited = await fx.app.request("/");
  assert.equal(limited.status, 429);
  const retry = Number(limited.headers.get("retry-after"));
  assert.ok(retry > 0 && retry <= 60, `Retry-After ${retry}`);
  assert.equal((await limited.json()).error, "rate_limited");
  const health = await fx.app.request("/health"); // not limited
  assert.equal(health.status, 200);
  await health.body?.cancel();
});

Deno.test("wrong API keys count against the caller's rate limit (no free key guessing)", async () => {
  await using fx = await appFixture({ apiKey: "right", rateLimit: { limit: 3, windowMs: 60_000 } });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await fx.app.request("/", { headers: { "x-api-key": `guess-${i}` } });
    await res.body?.cancel();
    statuses.push(res.status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 429]);
  // The right key has its own bucket.
  const ok = await fx.app.request("/", { headers: { "x-api-key": "right" } });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("CORS preflight and headers follow --cors; request ids are echoed", async () => {
  await using fx = await appFixture({ cors: ["http://localhost:5173"], apiKey: "k" });
  const pre = await fx.app.request("/rpc/send", {
    method: "OPTIONS",
    headers: {
      origin: "http://localhost:5173",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,x-api-key",
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "http://localhost:5173");
  assert.match(pre.headers.get("access-control-allow-headers")!, /X-API-Key/i);
  const other = await fx.app.request("/health", { headers: { origin: "http://evil.example" } });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  await other.body?.cancel();
  const withId = await fx.app.request("/health", { headers: { "x-request-id": "abc-123" } });
  assert.equal(withId.headers.get("x-request-id"), "abc-123");
  await withId.body?.cancel();
});

Deno.test("POST /rpc: an app's 204 is reported with HTTP 200 (HTTP forbids a 204 body)", async () => {
  await using fx = await appFixture();
  const url = `syft://${ME}/app_data/echo/rpc/nocontent`;
  const res = await fx.post("/rpc?blocking=true", { app_name: "echo", url });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "RPC_COMPLETED");
  assert.equal(body.response.status_code, 204);
  const status = await fx.app.request(`/rpc/status/${body.id}`);
  assert.equal(status.status, 200);
  assert.equal((await status.json()).response.status_code, 204);
});

Deno.test("an expiry past what Python's datetime reads is a 422, not a 500", async () => {
  await using fx = await appFixture();
  const url = `syft://${ME}/app_data/echo/rpc/echo`;
  for (const expiry of ["99999999d", "2914000d"]) {
    const res = await fx.post("/rpc?blocking=true", { app_name: "echo", url, expiry });
    assert.equal(res.status, 422, expiry);
    const body = await res.json();
    assert.deepEqual(body.fields.map((f: { field: string }) => f.field), ["expiry"]);
    assert.match(body.fields[0].message, /after 9999-12-31/);
  }
  // A long but valid expiry (over setTimeout's ~24.8-day limit) is answered, not expired at once.
  const res = await fx.post("/rpc?blocking=true", { app_name: "echo", url, expiry: "30d" });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "RPC_COMPLETED");
});

Deno.test("POST /rpc refuses a URL that names no app endpoint; status ids match in any case", async () => {
  await using fx = await appFixture();
  for (const url of [`syft://${ME}`, `syft://${ME}/app_data/echo/rpc/`, `syft://${ME}/public/x`]) {
    const res = await fx.post("/rpc", { app_name: "echo", url });
    assert.equal(res.status, 422, url);
    const body = await res.json();
    assert.deepEqual(body.fields.map((f: { field: string }) => f.field), ["url"]);
    assert.match(body.fields[0].message, /app endpoint/);
  }
  const sent = await (await fx.post("/rpc?blocking=true", {
    app_name: "echo",
    url: `syft://${ME}/app_data/echo/rpc/echo`,
    body: { a: 1 },
  })).json();
  const upper = await fx.app.request(`/rpc/status/${sent.id.toUpperCase()}`);
  assert.equal(upper.status, 200);
  assert.equal((await upper.json()).id, sent.id);
});

Deno.test("every answer carries its request id, the client's when valid, in plain and CORS apps", async () => {
  // Plain (no CORS, no rate limit): send answers carry the id themselves, the front middleware
  // adds it to the others. With CORS: the front middleware sets it up front.
  for (const options of [{ echo: false }, { echo: false, cors: ["*"] }]) {
    await using fx = await appFixture(options);
    const answers = [
      await fx.post("/rpc/send", { ...SEND, blocking: false }, { "x-request-id": "abc-123" }),
      await fx.post("/rpc/send", { ...SEND, app_name: "x" }, { "x-request-id": "abc-124" }),
      await fx.app.request("/metrics", { headers: { "x-request-id": "abc-125" } }),
      await fx.app.request("/no/such/route", { headers: { "x-request-id": "abc-126" } }),
      await fx.app.request("/info", { method: "HEAD", headers: { "x-request-id": "abc-127" } }),
    ];
    assert.deepEqual(answers.map((r) => r.status), [200, 422, 200, 404, 200]);
    assert.deepEqual(
      answers.map((r) => r.headers.get("x-request-id")),
      ["abc-123", "abc-124", "abc-125", "abc-126", "abc-127"],
    );
    assert.equal(answers[0]!.headers.get("content-type"), "application/json");
    for (const r of answers) await r.body?.cancel();
    // Not a usable id (a space; over 255 characters): a new UUID instead.
    for (const bad of ["a b", "x".repeat(256)]) {
      const res = await fx.post("/rpc/send", { ...SEND, blocking: false }, { "x-request-id": bad });
      assert.match(res.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
      await res.body?.cancel();
    }
  }
});
