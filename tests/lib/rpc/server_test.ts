import assert from "node:assert/strict";
import { FakeClock } from "../../_helpers/clock.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import {
  createEchoApp,
  EventRouter,
  reply,
  SyftEvents,
  type SyftEventsOptions,
  SyftRequest,
  SyftResponse,
  type WatchEvent,
} from "../../../lib/rpc/mod.ts";
import { INTERNAL_ERROR_MESSAGE } from "../../../lib/rpc/_answer.ts";
import { RPC_PERMISSIONS_YAML } from "../../../lib/rpc/schema.ts";
import {
  ALICE,
  dropRequest,
  fileExists,
  ME,
  pythonRequest,
  rpcWorkspace,
  scriptedEventSource,
  senderDir,
  waitFor,
  waitResponse,
} from "./_fixtures.ts";

const APP = "testapp";

function urlOf(endpoint: string, app = APP, owner = ME): string {
  return `syft://${owner}/app_data/${app}/rpc/${endpoint}`;
}

async function startApp(
  ws: Awaited<ReturnType<typeof rpcWorkspace>>,
  setup: (box: SyftEvents) => void,
  options: SyftEventsOptions = {},
): Promise<SyftEvents> {
  const box = new SyftEvents(APP, { workspace: ws.workspace, cleanupInterval: 0, ...options });
  setup(box);
  await box.start();
  return box;
}

Deno.test("SyftEvents answers a Python-format request with the reference's response format", async () => {
  await using ws = await rpcWorkspace();
  await using box = await startApp(ws, (b) => {
    b.onRequest(
      "/hello",
      ({ name }: { name: string }, ctx) => `Hello, ${name}! (from ${ctx.sender})`,
    );
  });
  const dir = senderDir(ws.workspace, APP, "hello");
  const { id, text } = pythonRequest({
    url: urlOf("hello"),
    body: '{"name":"Ada"}',
    method: "POST",
  });
  await dropRequest(dir, id, text);
  const res = await waitResponse(dir, id);
  assert.equal(res.statusCode, 200);
  assert.equal(res.text(), `Hello, Ada! (from ${ALICE})`);
  assert.equal(res.id, id);
  assert.equal(res.sender, ME);
  assert.equal(res.url.href, urlOf("hello"));
  const raw = await Deno.readTextFile(join(dir, `${id}.response`));
  const request = SyftRequest.decode(text);
  // Key order, compact JSON, the request's expiry, padded URL-safe base64.
  assert.deepEqual(Object.keys(JSON.parse(raw)), [
    "id",
    "sender",
    "url",
    "body",
    "headers",
    "created",
    "expires",
    "status_code",
  ]);
  assert.equal(JSON.parse(raw).expires, JSON.parse(text).expires);
  assert.equal(res.expires.equals(request.expires), true);
  assert.match(raw, /"created":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00"/);
  assert.equal(box.stats.answered, 1);
});

const PYDANTIC = (await new Deno.Command("python3", {
  args: ["-c", "import pydantic"],
  stdout: "null",
  stderr: "null",
}).output().catch(() => undefined))?.code === 0;
if (!PYDANTIC) {
  // deno-lint-ignore no-console
  console.warn("pydantic interop test skipped: python3 with pydantic is not available");
}

Deno.test({
  name: "SyftEvents interoperates with a pydantic peer",
  ignore: !PYDANTIC,
}, async (t) => {
  await using ws = await rpcWorkspace();
  await using _box = await startApp(ws, (b) => {
    b.onRequest(
      "/add",
      { input: z.object({ a: z.number(), b: z.number() }) },
      ({ a, b }) => ({ sum: a + b }),
    );
  });
  const peer = fileURLToPath(new URL("./_pydantic_peer.py", import.meta.url));
  const dir = senderDir(ws.workspace, APP, "add");
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("python3", { args: [peer, ...args] }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  };
  await t.step(
    "a request written by pydantic is answered and pydantic reads the response",
    async () => {
      const id = await run("request", dir, ALICE, urlOf("add"), '{"a": 2, "b": 40}');
      await waitResponse(dir, id);
      const seen = JSON.parse(await run("read-response", join(dir, `${id}.response`)));
      assert.deepEqual(seen, {
        id,
        status_code: 200,
        body: '{"sum":42}',
        expired: false,
        sender: ME,
      });
    },
  );
});

Deno.test("SyftEvents writes syft.pub.yaml, rpc.schema.json and .syftkeep at start", async () => {
  await using ws = await rpcWorkspace();
  await using box = await startApp(ws, (b) => {
    b.onRequest(
      "/calculate",
      {
        input: z.object({
          a: z.number(),
          b: z.number().int(),
          operation: z.enum(["add", "multiply"]).default("add"),
          tags: z.array(z.string()).optional(),
        }),
        output: z.number(),
        description: "Add or multiply",
      },
      ({ a, b, operation }) => operation === "add" ? a + b : a * b,
    );
    b.onRequest("/user_code/create", {
      input: z.object({ code: z.string() }).meta({ title: "Code" }),
    }, () => "ok");
    b.onRequest("/echo", (body) => body);
  });
  const rpcDir = box.rpcDir;
  assert.equal(await Deno.readTextFile(join(rpcDir, "syft.pub.yaml")), RPC_PERMISSIONS_YAML);
  assert.match(RPC_PERMISSIONS_YAML, /pattern: '\*\*\/\{\{\.UserEmail\}\}\/\*\.request'/);
  const schemaText = await Deno.readTextFile(join(rpcDir, "rpc.schema.json"));
  assert.match(schemaText, /^\{\n {2}"\/calculate": \{\n {4}"description": "Add or multiply",/);
  const schema = JSON.parse(schemaText);
  // syft-event's shape: one argument, a model with pydantic's JSON Schema (schema_test.ts compares
  // it with pydantic's own output).
  assert.deepEqual(schema["/calculate"], {
    description: "Add or multiply",
    args: {
      body: {
        type: {
          type: "model",
          name: "CalculateRequest",
          schema: {
            properties: {
              a: { title: "A", type: "number" },
              b: { title: "B", type: "integer" },
              operation: {
                default: "add",
                enum: ["add", "multiply"],
                title: "Operation",
                type: "string",
              },
              tags: { default: null, items: { type: "string" }, title: "Tags", type: "array" },
            },
            required: ["a", "b"],
            title: "CalculateRequest",
            type: "object",
          },
        },
        required: true,
      },
    },
    returns: "float",
  });
  assert.equal(schema["/user_code/create"].args.body.type.name, "Code");
  assert.deepEqual(schema["/echo"], { description: null, args: {}, returns: "any" });
  for (const ep of ["calculate", "user_code/create", "echo"]) {
    assert.ok(await fileExists(join(rpcDir, ep, ".syftkeep")), ep);
  }
  assert.deepEqual(box.endpoints.sort(), ["/calculate", "/echo", "/user_code/create"]);
});

Deno.test("SyftEvents replies with custom status and headers, bytes, JSON and Fetch responses", async () => {
  await using ws = await rpcWorkspace();
  await using _box = await startApp(ws, (b) => {
    b.onRequest(
      "/create",
      () => reply({ message: "created" }, { status: 201, headers: { "X-Custom": "v" } }),
    );
    b.onRequest("/bytes", () => new Uint8Array([0xfb, 0xff, 0xfe]));
    b.onRequest("/none", () => undefined);
    b.onRequest("/list", () => [1, 2]);
    b.onRequest("/fetch", () => new Response("teapot", { status: 418, headers: { "x-a": "b" } }));
    b.onRequest(
      "/query",
      (_b, ctx) => ({ q: ctx.url.query, method: ctx.method, endpoint: ctx.endpoint }),
    );
    b.onRequest("/badstatus", () => reply("x", { status: 299 }));
  });
  const call = async (ep: string, url = urlOf(ep)) => {
    const dir = senderDir(ws.workspace, APP, ep);
    const { id, text } = pythonRequest({ url, method: "PUT" });
    await dropRequest(dir, id, text);
    return await waitResponse(dir, id);
  };
  const created = await call("create");
  assert.equal(created.statusCode, 201);
  assert.deepEqual(created.headers, { "X-Custom": "v" });
  assert.deepEqual(created.json(), { message: "created" });
  assert.deepEqual((await call("bytes")).body, new Uint8Array([0xfb, 0xff, 0xfe]));
  assert.equal((await call("none")).body, null);
  assert.equal((await call("list")).text(), "[1,2]");
  const teapot = await call("fetch");
  assert.equal(teapot.statusCode, 418);
  assert.equal(teapot.text(), "teapot");
  assert.equal(teapot.headers["x-a"], "b");
  assert.deepEqual((await call("query", urlOf("query") + "?x=1&y=2")).json(), {
    q: { x: "1", y: "2" },
    method: "PUT",
    endpoint: "/query",
  });
  const bad = await call("badstatus");
  assert.equal(bad.statusCode, 500);
  assert.equal(bad.text(), INTERNAL_ERROR_MESSAGE);
});

Deno.test("SyftEvents answers 419 to an expired request and 500 to a handler error", async () => {
  await using ws = await rpcWorkspace();
  let calls = 0;
  await using box = await startApp(ws, (b) => {
    b.onRequest("/boom", () => {
      calls++;
      throw new TypeError("kaput");
    });
  });
  const dir = senderDir(ws.workspace, APP, "boom");
  const past = Temporal.Now.instant().subtract({ minutes: 1 });
  const expired = pythonRequest({
    url: urlOf("boom"),
    created: past.subtract({ minutes: 5 }),
    expires: past,
  });
  await dropRequest(dir, expired.id, expired.text);
  const r419 = await waitResponse(dir, expired.id);
  assert.equal(r419.statusCode, 419);
  assert.equal(r419.text(), "Request expired");
  assert.equal(calls, 0);
  const failing = pythonRequest({ url: urlOf("boom") });
  await dropRequest(dir, failing.id, failing.text);
  const r500 = await waitResponse(dir, failing.id);
  assert.equal(r500.statusCode, 500);
  assert.equal(r500.text(), "Internal server error. Please try again later.");
  assert.deepEqual(r500.headers, {});
  assert.equal(box.stats.expired, 1);
  assert.equal(box.stats.errors, 1);
});

Deno.test("SyftEvents in debug mode answers handler errors with type, message and traceback", async () => {
  await using ws = await rpcWorkspace();
  await using _box = await startApp(ws, (b) => {
    b.onRequest("/boom", function explode() {
      throw new RangeError("out of range");
    });
  }, { debug: true });
  const dir = senderDir(ws.workspace, APP, "boom");
  const { id, text } = pythonRequest({ url: urlOf("boom") });
  await dropRequest(dir, id, text);
  const res = await waitResponse(dir, id);
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.headers, { "Content-Type": "application/json" });
  const body = res.json<Record<string, string>>();
  assert.equal(body.error_type, "RangeError");
  assert.equal(body.error_message, "out of range");
  assert.equal(body.function_name, "explode");
  assert.match(body.traceback!, /out of range/);
  assert.match(res.text(), /^\{\n {2}"error_type"/);
});

Deno.test("SyftEvents answers schema errors 400 with zod's field messages", async () => {
  await using ws = await rpcWorkspace();
  let calls = 0;
  await using _box = await startApp(ws, (b) => {
    b.onRequest("/calc", { input: z.object({ a: z.number(), b: z.number() }) }, ({ a, b }) => {
      calls++;
      return a + b;
    });
  });
  const dir = senderDir(ws.workspace, APP, "calc");
  const bad = pythonRequest({ url: urlOf("calc"), body: '{"a":"x"}' });
  await dropRequest(dir, bad.id, bad.text);
  const res = await waitResponse(dir, bad.id);
  assert.equal(res.statusCode, 400);
  assert.match(res.text(), /^Invalid request schema: /);
  assert.match(res.text(), /expected number, received string\n {2}→ at a/);
  assert.match(res.text(), /→ at b/);
  const notJson = pythonRequest({ url: urlOf("calc"), body: "plain text" });
  await dropRequest(dir, notJson.id, notJson.text);
  assert.match(
    (await waitResponse(dir, notJson.id)).text(),
    /^Invalid request schema: the body is not JSON/,
  );
  const good = pythonRequest({ url: urlOf("calc"), body: '{"a":1,"b":2}' });
  await dropRequest(dir, good.id, good.text);
  assert.equal((await waitResponse(dir, good.id)).text(), "3");
  assert.equal(calls, 1);
});

Deno.test("SyftEvents answers a half-written request once it completes, never with a 400", async () => {
  await using ws = await rpcWorkspace();
  const clock = new FakeClock();
  await using box = await startApp(ws, (b) => b.onRequest("/echo", (body) => body), {
    graceMs: 2000,
    clock,
  });
  const dir = senderDir(ws.workspace, APP, "echo");
  await Deno.mkdir(dir, { recursive: true });
  const { id, text } = pythonRequest({ url: urlOf("echo"), body: '{"k":"v"}' });
  const path = join(dir, `${id}.request`);
  const file = await Deno.open(path, { create: true, write: true, truncate: true });
  const bytes = new TextEncoder().encode(text);
  await file.write(bytes.subarray(0, 40));
  // The server may look at the partial file (a scan or a modify flush), but must not answer it,
  // not even when the grace period is nearly over.
  await box.rescan();
  await box.idle();
  assert.equal(await fileExists(join(dir, `${id}.response`)), false);
  await clock.tick(1999);
  await box.idle();
  assert.equal(await fileExists(join(dir, `${id}.response`)), false);
  await file.write(bytes.subarray(40));
  file.close();
  const res = await waitResponse(dir, id);
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { k: "v" });
  assert.equal(box.stats.badRequests, 0);
});

Deno.test("SyftEvents answers an unreadable request 400 after the grace period", async () => {
  await using ws = await rpcWorkspace();
  const clock = new FakeClock();
  await using box = await startApp(ws, (b) => b.onRequest("/echo", (body) => body), {
    graceMs: 300,
    clock,
  });
  const dir = senderDir(ws.workspace, APP, "echo");
  const id = crypto.randomUUID();
  await dropRequest(dir, id, "this is not json");
  await box.rescan();
  await box.idle();
  assert.equal(await fileExists(join(dir, `${id}.response`)), false, "answered at once");
  await clock.tick(299);
  await box.idle();
  assert.equal(await fileExists(join(dir, `${id}.response`)), false, "answered before the grace");
  await clock.tick(10);
  const res = await waitResponse(dir, id);
  assert.equal(res.statusCode, 400);
  assert.match(res.text(), /^Error loading request: RpcProtocolError\("Invalid request: /);
  // Written next to the request file, with the sender-folder URL (syft-event's write_response).
  assert.equal(res.url.href, `syft://${ME}/app_data/${APP}/rpc/echo/${ALICE}`);
  assert.equal(res.id, id);
  // Other invalid content: a bad method names the field.
  const bad = pythonRequest({ url: urlOf("echo"), method: "FETCH" });
  await dropRequest(dir, bad.id, bad.text);
  await box.rescan();
  await box.idle();
  await clock.tick(310);
  assert.match((await waitResponse(dir, bad.id)).text(), /Invalid method/);
  // Files that are not <uuid>.request (rejection markers, stray names) are left alone.
  await dropRequest(dir, "not-a-uuid", "{}");
  await Deno.writeTextFile(join(dir, `${id}.syftrejected.request`), "{}");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await fileExists(join(dir, "not-a-uuid.response")), false);
  assert.equal(box.stats.badRequests, 2);
});

Deno.test("SyftEvents refuses a request whose URL or sender disagree with its location", async () => {
  await using ws = await rpcWorkspace();
  let calls = 0;
  await using _box = await startApp(ws, (b) => b.onRequest("/echo", () => calls++));
  const dir = senderDir(ws.workspace, APP, "echo");
  const otherUrl = pythonRequest({ url: `syft://eve@example.com/app_data/x/rpc/y` });
  await dropRequest(dir, otherUrl.id, otherUrl.text);
  const r1 = await waitResponse(dir, otherUrl.id);
  assert.equal(r1.statusCode, 400);
  assert.match(r1.text(), /does not name the endpoint/);
  const otherSender = pythonRequest({ url: urlOf("echo"), sender: "../../x@example.com" });
  await dropRequest(dir, otherSender.id, otherSender.text);
  const r2 = await waitResponse(dir, otherSender.id);
  assert.equal(r2.statusCode, 400);
  assert.match(r2.text(), /does not match the folder/);
  assert.equal(calls, 0);
  assert.equal(await fileExists(join(ws.workspace.datasitesDir, "eve@example.com")), false);
});

Deno.test("SyftEvents serves pending requests at start, skips answered ones, and migrates the legacy layout", async () => {
  await using ws = await rpcWorkspace();
  const seen: string[] = [];
  const dir = senderDir(ws.workspace, APP, "echo");
  const pending = pythonRequest({ url: urlOf("echo"), body: "pending" });
  await dropRequest(dir, pending.id, pending.text);
  const answered = pythonRequest({ url: urlOf("echo"), body: "answered" });
  await dropRequest(dir, answered.id, answered.text);
  const oldResponse = new SyftResponse({
    id: answered.id,
    sender: ME,
    url: urlOf("echo"),
    body: "earlier",
  });
  await Deno.writeTextFile(join(dir, `${answered.id}.response`), oldResponse.encode());
  // Legacy flat layout: <endpoint>/<id>.request
  const legacyDir = join(ws.workspace.appRpcDir(APP), "echo");
  const legacy = pythonRequest({ url: urlOf("echo"), body: "legacy", sender: "carol@example.com" });
  await dropRequest(legacyDir, legacy.id, legacy.text);
  await using box = await startApp(
    ws,
    (b) => b.onRequest("/echo", (body) => (seen.push(String(body)), body)),
  );
  assert.equal((await waitResponse(dir, pending.id)).text(), "pending");
  const carolDir = join(legacyDir, "carol@example.com");
  assert.equal((await waitResponse(carolDir, legacy.id)).text(), "legacy");
  assert.equal(await fileExists(join(legacyDir, `${legacy.id}.request`)), false);
  assert.equal(await fileExists(join(carolDir, `${legacy.id}.request`)), true);
  await box.idle();
  assert.deepEqual(seen.sort(), ["legacy", "pending"]);
  assert.equal((await waitResponse(dir, answered.id)).text(), "earlier");
  assert.equal(box.stats.migrated, 1);
});

Deno.test("SyftEvents recovers after a restart: answers what arrived while down, never twice", async () => {
  await using ws = await rpcWorkspace();
  let calls = 0;
  const setup = (b: SyftEvents) => b.onRequest("/echo", (body) => (calls++, body));
  const dir = senderDir(ws.workspace, APP, "echo");
  const first = await startApp(ws, setup);
  const a = pythonRequest({ url: urlOf("echo"), body: "a" });
  await dropRequest(dir, a.id, a.text);
  await waitResponse(dir, a.id);
  await first.stop();
  const b = pythonRequest({ url: urlOf("echo"), body: "b" });
  await dropRequest(dir, b.id, b.text);
  await using _second = await startApp(ws, setup);
  assert.equal((await waitResponse(dir, b.id)).text(), "b");
  await _second.idle();
  assert.equal(calls, 2);
});

Deno.test("SyftEvents recovers from a watcher overflow by rescanning", async () => {
  await using ws = await rpcWorkspace();
  // An event source that delivers nothing but what the test pushes: files written now are invisible
  // until the overflow flag arrives.
  const { source, push } = scriptedEventSource();
  await using box = await startApp(ws, (b) => b.onRequest("/echo", (body) => body), {
    watcher: { source, reconcileMs: 0 },
  });
  const dir = senderDir(ws.workspace, APP, "echo");
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = pythonRequest({ url: urlOf("echo"), body: `n${i}` });
    ids.push(r.id);
    await dropRequest(dir, r.id, r.text);
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(box.stats.answered, 0);
  push({ kind: "any", paths: [box.rpcDir], flag: "rescan" });
  for (const id of ids) assert.equal((await waitResponse(dir, id)).statusCode, 200);
  assert.ok(box.stats.scans >= 2);
});

Deno.test("SyftEvents serves requests in brand-new sender folders", async () => {
  await using ws = await rpcWorkspace();
  await using box = await startApp(ws, (b) => b.onRequest("/echo", (body) => body));
  const written: { dir: string; id: string }[] = [];
  // mkdir -p then write at once: the case where Deno.watchFs misses ~30% of file events.
  await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const sender = `user${i}@example.org`;
    const dir = senderDir(ws.workspace, APP, "echo", sender);
    const { id, text } = pythonRequest({ url: urlOf("echo"), body: `u${i}`, sender });
    await dropRequest(dir, id, text);
    written.push({ dir, id });
  }));
  for (const { dir, id } of written) {
    assert.equal((await waitResponse(dir, id, 20_000)).statusCode, 200);
  }
  await box.idle();
  assert.equal(box.stats.answered, 200);
});

Deno.test("SyftEvents answers 10,000 requests dropped at once, each exactly once", async () => {
  await using ws = await rpcWorkspace();
  const handled = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  await using box = await startApp(ws, (b) => {
    b.onRequest("/echo", async (body, ctx) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      handled.set(ctx.id, (handled.get(ctx.id) ?? 0) + 1);
      await Promise.resolve();
      inFlight--;
      return body;
    });
  }, { concurrency: 32 });
  const dir = senderDir(ws.workspace, APP, "echo");
  await Deno.mkdir(dir, { recursive: true });
  const stage = join(ws.path, "stage");
  await Deno.mkdir(stage);
  const ids: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < 10_000) {
      const i = next++;
      const { id, text } = pythonRequest({ url: urlOf("echo"), body: String(i) });
      ids.push(id);
      await Deno.writeTextFile(join(stage, id), text);
      await Deno.rename(join(stage, id), join(dir, `${id}.request`));
    }
  }));
  await waitFor(() => box.stats.answered >= 10_000, { timeoutMs: 120_000, what: "10,000 answers" });
  await box.idle();
  await new Promise((r) => setTimeout(r, 300));
  const names = new Set<string>();
  for await (const e of Deno.readDir(dir)) names.add(e.name);
  const missing = ids.filter((id) => !names.has(`${id}.response`));
  assert.deepEqual(missing, []);
  assert.equal(handled.size, 10_000);
  assert.deepEqual([...handled.values()].filter((n) => n !== 1), []);
  assert.equal(box.stats.answered, 10_000);
  assert.ok(maxInFlight <= 32, `max in flight ${maxInFlight}`);
});

Deno.test("SyftEvents never handles a request twice: duplicate events and rewrites after the answer", async () => {
  await using ws = await rpcWorkspace();
  let calls = 0;
  await using box = await startApp(ws, (b) => b.onRequest("/echo", (body) => (calls++, body)));
  const dir = senderDir(ws.workspace, APP, "echo");
  const { id, text } = pythonRequest({ url: urlOf("echo"), body: "once" });
  const path = await dropRequest(dir, id, text);
  await waitResponse(dir, id);
  // The same content rewritten (a sync client re-downloading it), touched, and rescanned.
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, 0o644);
  await box.rescan();
  await new Promise((r) => setTimeout(r, 300));
  await box.idle();
  assert.equal(calls, 1);
  // Once the requester consumed the response, a new request with the same id is new work.
  await Deno.remove(join(dir, `${id}.response`));
  const again = pythonRequest({ id, url: urlOf("echo"), body: "twice" });
  await Deno.writeTextFile(path, again.text);
  assert.equal((await waitResponse(dir, id)).text(), "twice");
  assert.equal(calls, 2);
});

Deno.test("SyftEvents bounds the handlers in flight", async () => {
  await using ws = await rpcWorkspace();
  let inFlight = 0;
  let maxInFlight = 0;
  await using box = await startApp(ws, (b) => {
    b.onRequest("/slow", async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return "done";
    });
  }, { concurrency: 4 });
  const dir = senderDir(ws.workspace, APP, "slow");
  const ids = await Promise.all(Array.from({ length: 40 }, async () => {
    const { id, text } = pythonRequest({ url: urlOf("slow") });
    await dropRequest(dir, id, text);
    return id;
  }));
  for (const id of ids) assert.equal((await waitResponse(dir, id)).text(), "done");
  assert.equal(maxInFlight, 4);
  assert.equal(box.stats.answered, 40);
});

Deno.test("SyftEvents.includeRouter() registers routes under a prefix; state is shared", async () => {
  await using ws = await rpcWorkspace();
  const users = new EventRouter();
  users.onRequest("/get", (body: { id: string }, ctx) => {
    ctx.app.state.count = Number(ctx.app.state.count ?? 0) + 1;
    return { id: body.id, count: ctx.app.state.count };
  });
  await using box = await startApp(ws, (b) => {
    b.state.count = 10;
    b.includeRouter(users, { prefix: "/api/v1/users" });
  });
  assert.deepEqual(box.endpoints, ["/api/v1/users/get"]);
  const dir = senderDir(ws.workspace, APP, "api/v1/users/get");
  const { id, text } = pythonRequest({ url: urlOf("api/v1/users/get"), body: '{"id":"u1"}' });
  await dropRequest(dir, id, text);
  assert.deepEqual((await waitResponse(dir, id)).json(), { id: "u1", count: 11 });
  assert.throws(() => box.onRequest("/a/*", () => 1), /wildcards/);
  assert.throws(() => box.onRequest("/a/../b", () => 1), /segment/);
  assert.throws(() => new SyftEvents("../evil"), /Invalid app name/);
});

Deno.test("SyftEvents.watch() delivers matching files with placeholders and event filters", async () => {
  await using ws = await rpcWorkspace();
  const events: WatchEvent[] = [];
  const removed: WatchEvent[] = [];
  await using box = await startApp(ws, (b) => {
    b.watch(["{datasite}/**/*.json"], (e) => void events.push(e));
    b.watch("{app_data}/*.txt", (e) => void removed.push(e), { events: ["remove"] });
  });
  const mine = join(ws.workspace.myDatasite, "public", "data.json");
  await Deno.mkdir(join(ws.workspace.myDatasite, "public"), { recursive: true });
  await Deno.writeTextFile(mine, "{}");
  await Deno.mkdir(join(ws.workspace.datasitesDir, "other@example.com"), { recursive: true });
  await Deno.writeTextFile(join(ws.workspace.datasitesDir, "other@example.com", "x.json"), "{}");
  await waitFor(() => events.some((e) => e.path === mine), {
    what: `data.json in ${JSON.stringify(events)}`,
  });
  assert.ok(events.every((e) => e.path.includes(`/${ME}/`)), JSON.stringify(events));
  await Deno.writeTextFile(join(box.appDir, "note.txt"), "x");
  await Deno.remove(join(box.appDir, "note.txt"));
  await waitFor(() => removed.length > 0, { what: "a removal" });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(removed.length, 1, JSON.stringify(removed));
  assert.equal(removed[0]!.kind, "remove");
});

Deno.test("SyftEvents.cleanup() deletes requests older than the expiry", async () => {
  await using ws = await rpcWorkspace();
  await using box = await startApp(ws, (b) => b.onRequest("/echo", (body) => body), {
    cleanupExpiry: "30d",
    processPending: false,
  });
  const dir = senderDir(ws.workspace, APP, "echo");
  const old = pythonRequest({
    url: urlOf("echo"),
    created: Temporal.Now.instant().subtract({ hours: 24 * 40 }),
    expires: Temporal.Now.instant().subtract({ hours: 24 * 39 }),
  });
  const oldPath = await dropRequest(dir, old.id, old.text);
  await Deno.writeTextFile(join(dir, `${old.id}.response`), "{}");
  const fresh = pythonRequest({ url: urlOf("echo") });
  const freshPath = await dropRequest(dir, fresh.id, fresh.text);
  await waitResponse(dir, fresh.id);
  assert.equal(await box.cleanup(), 1);
  assert.equal(await fileExists(oldPath), false);
  assert.equal(await fileExists(join(dir, `${old.id}.response`)), false);
  assert.equal(await fileExists(freshPath), true);
});

Deno.test("createEchoApp() echoes bodies and answers ping", async () => {
  await using ws = await rpcWorkspace();
  await using app = createEchoApp({ workspace: ws.workspace, cleanupInterval: 0 });
  await app.start();
  const echoDir = senderDir(ws.workspace, "echo", "echo");
  const e = pythonRequest({
    url: app.url("/echo"),
    body: '{"hello":"world"}',
    headers: { "content-type": "application/json" },
  });
  await dropRequest(echoDir, e.id, e.text);
  const echoed = await waitResponse(echoDir, e.id);
  assert.deepEqual(echoed.json(), { hello: "world" });
  assert.deepEqual(echoed.headers, { "content-type": "application/json" });
  const pingDir = senderDir(ws.workspace, "echo", "ping");
  const p = pythonRequest({ url: app.url("/ping") });
  await dropRequest(pingDir, p.id, p.text);
  const pong = (await waitResponse(pingDir, p.id)).json<{ msg: string; ts: string }>();
  assert.equal(pong.msg, "pong");
  assert.ok(!Number.isNaN(Date.parse(pong.ts)));
});

Deno.test("SyftEvents removes FIFOs from its folder, does not follow symlinks, and answers oversized requests 413", async () => {
  await using ws = await rpcWorkspace();
  // A short reconcile: a FIFO stalls Deno's watcher thread, so only a scan finds it.
  await using box = await startApp(ws, (b) => b.onRequest("/echo", (body) => body), {
    maxRequestBytes: 4096,
    watcher: { reconcileMs: 300 },
  });
  const dir = senderDir(ws.workspace, APP, "echo");
  await Deno.mkdir(dir, { recursive: true });
  const fifoRequest = join(dir, `${crypto.randomUUID()}.request`);
  const fifoOther = join(dir, "notes.fifo");
  for (const path of [fifoRequest, fifoOther]) {
    const made = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(made.success, `mkfifo ${path}`);
  }
  // A symlink to an endless device and one to a valid request outside the tree: neither is read.
  const outside = pythonRequest({ url: urlOf("echo"), body: "outside" });
  const outsidePath = join(ws.path, `${outside.id}.request`);
  await Deno.writeTextFile(outsidePath, outside.text);
  await Deno.symlink(outsidePath, join(dir, `${outside.id}.request`));
  const zero = crypto.randomUUID();
  await Deno.symlink("/dev/zero", join(dir, `${zero}.request`));
  const big = pythonRequest({ url: urlOf("echo"), body: "x".repeat(8192) });
  await dropRequest(dir, big.id, big.text);
  // The app keeps serving, and the FIFOs go.
  const ok = pythonRequest({ url: urlOf("echo"), body: "still here" });
  await dropRequest(dir, ok.id, ok.text);
  assert.equal((await waitResponse(dir, ok.id)).text(), "still here");
  const tooLarge = await waitResponse(dir, big.id);
  assert.equal(tooLarge.statusCode, 413);
  assert.match(tooLarge.text(), /bytes; the limit is 4096/);
  await waitFor(async () => !(await fileExists(fifoRequest)) && !(await fileExists(fifoOther)));
  // Requests after the FIFOs went are served as they arrive (the watcher is not stuck).
  const after = pythonRequest({ url: urlOf("echo"), body: "after" });
  await dropRequest(dir, after.id, after.text);
  assert.equal((await waitResponse(dir, after.id)).text(), "after");
  for (let i = 0; i < 2; i++) { // two more full scans, each with what it found settled
    await box.rescan();
    await box.idle();
  }
  assert.equal(await fileExists(join(dir, `${outside.id}.response`)), false);
  assert.equal(await fileExists(join(dir, `${zero}.response`)), false);
  assert.ok(box.stats.answered >= 3);
});
