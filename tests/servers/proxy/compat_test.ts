/**
 * Clients of the real syft-proxy 0.1.0 (a FastAPI app) work unchanged: every route of its API,
 * as recorded request/response pairs. `real` is what the real package answers (from its server
 * code, FastAPI's error handling and, for the 422 items, pydantic 2.13's own errors for the
 * package's `RPCSendRequest` model). Where this proxy deliberately differs, `ours` says what it
 * answers instead and `why`; docs/proxy.md's compatibility table lists the same differences.
 * Ids and times are matched by pattern; every other value, and the order of the real package's
 * keys, exactly. Keys the proxy adds (`error`, `message`, `fields`, `request_id`, info fields) are
 * allowed beside the real ones only where `extraKeys` says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { wireBodyValue } from "../../../servers/proxy/_body.ts";
import { pythonJsonError } from "../../../servers/proxy/_fastapi.ts";
import { appFixture, ME } from "./_fixture.ts";

// --- matchers ---------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** Python's `datetime.isoformat()` of an aware UTC time (microseconds omitted when zero). */
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/;
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** A value check inside an expected body. */
class Match {
  constructor(readonly what: string, readonly test: (v: unknown, ctx: Ctx) => boolean) {}
}
interface Ctx {
  /** Values remembered by `same()`. */
  seen: Map<string, unknown>;
}
const like = (re: RegExp): Match =>
  new Match(String(re), (v) => typeof v === "string" && re.test(v));
/** The same value wherever `name` appears in the body (the first occurrence sets it). */
const same = (name: string, re: RegExp = UUID): Match =>
  new Match(`${name} (${re})`, (v, ctx) => {
    if (typeof v !== "string" || !re.test(v)) return false;
    if (!ctx.seen.has(name)) ctx.seen.set(name, v);
    return ctx.seen.get(name) === v;
  });
const base64Of = (value: unknown): Match =>
  new Match(
    `URL-safe base64 of ${JSON.stringify(value)}`,
    (v) => typeof v === "string" && B64URL.test(v) && deepEq(wireBodyValue(v), value),
  );
const other = (name: string): Match =>
  new Match(
    `a UUID other than ${name}`,
    (v, ctx) => typeof v === "string" && UUID.test(v) && v !== ctx.seen.get(name),
  );

function deepEq(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Checks `actual` against `expected`: matchers test values; objects have the expected keys in
 * the expected order (extra keys only at the top level and only with `extraKeys`).
 */
function check(
  actual: unknown,
  expected: unknown,
  ctx: Ctx,
  path: string,
  extraKeys: boolean,
): void {
  if (expected instanceof Match) {
    assert.ok(
      expected.test(actual, ctx),
      `${path}: ${JSON.stringify(actual)} is not ${expected.what}`,
    );
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected a list, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${path}: ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => check(actual[i], e, ctx, `${path}[${i}]`, false));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    assert.ok(
      actual !== null && typeof actual === "object" && !Array.isArray(actual),
      `${path}: expected an object, got ${JSON.stringify(actual)}`,
    );
    const keys = Object.keys(expected);
    const got = Object.keys(actual as object);
    if (extraKeys) {
      assert.deepEqual(got.filter((k) => keys.includes(k)), keys, `${path}: keys and their order`);
    } else assert.deepEqual(got, keys, `${path}: keys and their order`);
    for (const k of keys) {
      check(
        (actual as Record<string, unknown>)[k],
        (expected as Record<string, unknown>)[k],
        ctx,
        `${path}.${k}`,
        false,
      );
    }
    return;
  }
  assert.deepEqual(actual, expected, path);
}

// --- the pairs --------------------------------------------------------------------------------

interface Answer {
  status: number;
  /** The JSON body (with matchers), or a text check for non-JSON answers. */
  json?: unknown;
  text?: RegExp;
  /** Keys beyond the real package's allowed at the top level. */
  extraKeys?: boolean;
}

interface Pair {
  name: string;
  method: "GET" | "POST" | "OPTIONS";
  /** The path; `{id}` is replaced by the id of the pair's `before` request. */
  path: string;
  /** A JSON body (sent with `Content-Type: application/json`). */
  json?: unknown;
  /** A raw body and its headers, for bodies FastAPI reads specially. */
  raw?: { body: string; headers: Record<string, string> };
  headers?: Record<string, string>;
  /** A request made first (its `id` is used in `path`); `wait` lets its app answer first. */
  before?: { path: string; json: unknown; wait?: boolean };
  /** What the real package answers. */
  real: Answer;
  /** What this proxy answers instead, and why (docs/proxy.md's compatibility table). */
  ours?: Answer & { why: string };
}

const URL_ECHO = `syft://${ME}/app_data/echo/rpc/echo`;
const URL_FAIL = `syft://${ME}/app_data/echo/rpc/fail`;
const URL_NOBODY = `syft://${ME}/app_data/nobody/rpc/x`;

/** The request as the real package puts it in an `RPCStatus` (`model_dump(mode="json")`). */
const request = (url: string, body: unknown) => ({
  id: same("id"),
  sender: ME,
  url,
  body: body === null ? null : base64Of(body),
  headers: {},
  created: like(TIME),
  expires: like(TIME),
  method: "GET",
});
/** The response of the echo app (its `SyftResponse`). */
const response = (url: string, body: unknown, status_code: number) => ({
  id: same("id"),
  sender: ME,
  url,
  body: base64Of(body),
  headers: {},
  created: like(TIME),
  expires: like(TIME),
  status_code,
});

const PAIRS: Pair[] = [
  {
    name: "GET / (the banner)",
    method: "GET",
    path: "/",
    real: { status: 200, text: /SyftBox HTTP Proxy/ },
    ours: {
      status: 200,
      json: { description: "SyftBox HTTP Proxy", version: like(/^\d+\.\d+\.\d+/) },
      extraKeys: true,
      why: "JSON (name, version, uptime, store, e-mail, counts) instead of ASCII art; its text " +
        "still says SyftBox HTTP Proxy, and clients only check that it answers",
    },
  },
  {
    name: "GET /info",
    method: "GET",
    path: "/info",
    real: { status: 200, json: { version: like(/^\d+\.\d+\.\d+/) }, extraKeys: true },
  },
  {
    name: "POST /rpc, non-blocking",
    method: "POST",
    path: "/rpc",
    json: { app_name: "echo", url: URL_ECHO, body: { a: 1 }, headers: {}, expiry: "15m" },
    real: {
      status: 200,
      json: {
        id: same("id"),
        status: "RPC_PENDING",
        request: request(URL_ECHO, { a: 1 }),
        response: null,
      },
    },
  },
  {
    name: "POST /rpc?blocking=false without a Content-Type (FastAPI reads it as JSON)",
    method: "POST",
    path: "/rpc?blocking=false",
    raw: { body: JSON.stringify({ app_name: "echo", url: URL_ECHO, body: "hi" }), headers: {} },
    real: {
      status: 200,
      json: {
        id: same("id"),
        status: "RPC_PENDING",
        request: request(URL_ECHO, "hi"),
        response: null,
      },
    },
  },
  {
    name: "POST /rpc?blocking=true",
    method: "POST",
    path: "/rpc?blocking=true",
    json: { app_name: "echo", url: URL_ECHO, body: { a: 1 } },
    real: {
      status: 200,
      json: {
        id: same("id"),
        status: "RPC_COMPLETED",
        request: request(URL_ECHO, { a: 1 }),
        response: response(URL_ECHO, { a: 1 }, 200),
      },
    },
  },
  {
    name:
      "POST /rpc?blocking=True to a failing handler: HTTP status = the app's, still RPC_COMPLETED",
    method: "POST",
    path: "/rpc?blocking=True",
    json: { app_name: "echo", url: URL_FAIL, body: null },
    real: {
      status: 500,
      json: {
        id: same("id"),
        status: "RPC_COMPLETED",
        request: request(URL_FAIL, null),
        response: {
          id: same("id"),
          sender: ME,
          url: URL_FAIL,
          body: base64Of("Internal server error. Please try again later."),
          headers: {},
          created: like(TIME),
          expires: like(TIME),
          status_code: 500,
        },
      },
    },
  },
  {
    name: "GET /rpc/status/{id} while pending",
    method: "GET",
    path: "/rpc/status/{id}",
    before: { path: "/rpc", json: { app_name: "nobody", url: URL_NOBODY, body: 1 } },
    real: {
      status: 200,
      json: {
        id: same("id"),
        status: "RPC_PENDING",
        request: request(URL_NOBODY, 1),
        response: null,
      },
    },
  },
  {
    name: "GET /rpc/status/{id} once completed",
    method: "GET",
    path: "/rpc/status/{id}",
    before: { path: "/rpc", json: { app_name: "echo", url: URL_ECHO, body: [1, 2] }, wait: true },
    real: {
      status: 200,
      json: {
        id: same("id"),
        status: "RPC_COMPLETED",
        request: request(URL_ECHO, [1, 2]),
        response: response(URL_ECHO, [1, 2], 200),
      },
    },
  },
  {
    name: "GET /rpc/status/{id} of an app error",
    method: "GET",
    path: "/rpc/status/{id}",
    before: { path: "/rpc", json: { app_name: "echo", url: URL_FAIL, body: null }, wait: true },
    real: {
      status: 500,
      json: {
        id: same("id"),
        status: "RPC_ERROR",
        request: request(URL_FAIL, null),
        response: {
          id: same("id"),
          sender: ME,
          url: URL_FAIL,
          body: base64Of("Internal server error. Please try again later."),
          headers: {},
          created: like(TIME),
          expires: like(TIME),
          status_code: 500,
        },
      },
    },
  },
  {
    name: "GET /rpc/status/non_existent_id",
    method: "GET",
    path: "/rpc/status/non_existent_id",
    real: {
      status: 404,
      json: { id: "non_existent_id", status: "RPC_NOT_FOUND", request: null, response: null },
      extraKeys: true,
    },
  },
  {
    name: "GET /rpc/schema/{app} (the app's rpc.schema.json)",
    method: "GET",
    path: "/rpc/schema/echo",
    real: { status: 200, json: "the file" }, // replaced by the file's content below
    ours: {
      status: 200,
      json: "the file",
      extraKeys: true,
      why: "the file as written, plus the seed API's summary under app_name, datasite and " +
        "functions (keys no endpoint can have: endpoints are /name)",
    },
  },
  {
    name: "GET /rpc/schema/{app} of an app without a schema",
    method: "GET",
    path: "/rpc/schema/non_existent_app",
    real: { status: 500, json: { detail: like(/No such file or directory/) } },
    ours: {
      status: 404,
      json: { detail: 'No rpc.schema.json for app "non_existent_app" on me@example.org' },
      extraKeys: true,
      why: "a missing schema is not a server fault",
    },
  },
  {
    name: "POST /rpc with {} (every required field missing)",
    method: "POST",
    path: "/rpc",
    json: {},
    real: {
      status: 422,
      json: {
        detail: [
          { type: "missing", loc: ["body", "app_name"], msg: "Field required", input: {} },
          { type: "missing", loc: ["body", "url"], msg: "Field required", input: {} },
          { type: "missing", loc: ["body", "body"], msg: "Field required", input: {} },
        ],
      },
      extraKeys: true,
    },
    ours: {
      status: 422,
      json: {
        detail: [
          { type: "missing", loc: ["body", "app_name"], msg: "Field required", input: {} },
          { type: "missing", loc: ["body", "url"], msg: "Field required", input: {} },
        ],
      },
      extraKeys: true,
      why: "a missing body is a request with no body (as body: null), not an error",
    },
  },
  {
    name: "POST /rpc with wrong types",
    method: "POST",
    path: "/rpc",
    json: { app_name: "e", url: 5, body: null, headers: { a: 1 }, expiry: 15, cache: "maybe" },
    real: {
      status: 422,
      json: {
        detail: [
          {
            type: "string_too_short",
            loc: ["body", "app_name"],
            msg: "String should have at least 3 characters",
            input: "e",
            ctx: { min_length: 3 },
          },
          {
            type: "string_type",
            loc: ["body", "url"],
            msg: "Input should be a valid string",
            input: 5,
          },
          {
            type: "string_type",
            loc: ["body", "headers", "a"],
            msg: "Input should be a valid string",
            input: 1,
          },
          {
            type: "string_type",
            loc: ["body", "expiry"],
            msg: "Input should be a valid string",
            input: 15,
          },
          {
            type: "bool_parsing",
            loc: ["body", "cache"],
            msg: "Input should be a valid boolean, unable to interpret input",
            input: "maybe",
          },
        ],
      },
      extraKeys: true,
    },
  },
  {
    name: "POST /rpc with a list as the body",
    method: "POST",
    path: "/rpc",
    json: [1],
    real: {
      status: 422,
      json: {
        detail: [{
          type: "model_attributes_type",
          loc: ["body"],
          msg: "Input should be a valid dictionary or object to extract fields from",
          input: [1],
        }],
      },
      extraKeys: true,
    },
  },
  {
    name: "POST /rpc with headers that are not an object",
    method: "POST",
    path: "/rpc",
    json: { app_name: "echo", url: URL_ECHO, body: 1, headers: [1], cache: [true] },
    real: {
      status: 422,
      json: {
        detail: [
          {
            type: "dict_type",
            loc: ["body", "headers"],
            msg: "Input should be a valid dictionary",
            input: [1],
          },
          {
            type: "bool_type",
            loc: ["body", "cache"],
            msg: "Input should be a valid boolean",
            input: [true],
          },
        ],
      },
      extraKeys: true,
    },
  },
  {
    name: "POST /rpc with malformed JSON",
    method: "POST",
    path: "/rpc",
    raw: { body: '{"app_name":', headers: { "content-type": "application/json" } },
    real: {
      status: 422,
      json: {
        detail: [{
          type: "json_invalid",
          loc: ["body", 12],
          msg: "JSON decode error",
          input: {},
          ctx: { error: "Expecting value" },
        }],
      },
      extraKeys: true,
    },
  },
  {
    name: "POST /rpc with JSON followed by more",
    method: "POST",
    path: "/rpc",
    raw: { body: '{"a": 1} {"b": 2}', headers: { "content-type": "application/json" } },
    real: {
      status: 422,
      json: {
        detail: [{
          type: "json_invalid",
          loc: ["body", 9],
          msg: "JSON decode error",
          input: {},
          ctx: { error: "Extra data" },
        }],
      },
      extraKeys: true,
    },
  },
  {
    name: "POST /rpc with an empty body",
    method: "POST",
    path: "/rpc",
    raw: { body: "", headers: { "content-type": "application/json" } },
    real: {
      status: 422,
      json: { detail: [{ type: "missing", loc: ["body"], msg: "Field required", input: null }] },
      extraKeys: true,
    },
  },
  {
    name: "POST /rpc?blocking=maybe",
    method: "POST",
    path: "/rpc?blocking=maybe",
    json: { app_name: "echo", url: URL_ECHO, body: 1 },
    real: {
      status: 422,
      json: {
        detail: [{
          type: "bool_parsing",
          loc: ["query", "blocking"],
          msg: "Input should be a valid boolean, unable to interpret input",
          input: "maybe",
        }],
      },
      extraKeys: true,
    },
  },
  {
    name: "POST /rpc to a URL that names no app endpoint",
    method: "POST",
    path: "/rpc",
    json: { app_name: "test_app", url: "syft://user@openmined.org", body: {} },
    real: {
      status: 200,
      json: {
        id: same("id"),
        status: "RPC_PENDING",
        request: request("syft://user@openmined.org", {}),
        response: null,
      },
    },
    ours: {
      status: 422,
      json: {
        detail: [{
          type: "value_error",
          loc: ["body", "url"],
          msg: "Value error, must name an app endpoint: syft://EMAIL/app_data/APP/rpc/ENDPOINT",
          input: "syft://user@openmined.org",
        }],
      },
      extraKeys: true,
      why: "no app can ever answer such a request; the real package writes it and waits",
    },
  },
  {
    name: "POST /rpc with an expiry that is not a duration",
    method: "POST",
    path: "/rpc",
    json: { app_name: "echo", url: URL_ECHO, body: 1, expiry: "1week" },
    real: { status: 500, json: { detail: like(/./) } },
    ours: {
      status: 422,
      json: {
        detail: [{
          type: "value_error",
          loc: ["body", "expiry"],
          msg: 'Value error, must be a number and one unit (d, h, m, s), such as "15m"',
          input: "1week",
        }],
      },
      extraKeys: true,
      why: "bad input is the client's error (422), not the server's (500)",
    },
  },
  {
    name: "POST /rpc to an app that never answers (blocking, expiry 1s): the synthetic 419",
    method: "POST",
    path: "/rpc?blocking=true",
    json: { app_name: "nobody", url: URL_NOBODY, body: null, expiry: "1s" },
    real: {
      status: 419,
      json: {
        id: other("id"), // the made-up response's own random id
        status: "RPC_COMPLETED",
        request: request(URL_NOBODY, null),
        response: {
          id: like(UUID),
          sender: "system@syftbox.localhost",
          url: "syft://system@syftbox.localhost",
          body: like(B64URL),
          headers: {},
          created: like(TIME),
          expires: like(TIME),
          status_code: 419,
        },
      },
    },
    ours: {
      status: 419,
      json: {
        id: same("id"),
        status: "RPC_COMPLETED",
        request: request(URL_NOBODY, null),
        response: {
          id: same("id"),
          sender: "system@syftbox.localhost",
          url: "syft://system@syftbox.localhost",
          body: like(B64URL),
          headers: {},
          created: like(TIME),
          expires: like(TIME),
          status_code: 419,
        },
      },
      why: "the top-level id (and the made-up response's) is the request's, so it can be " +
        "looked up; the real package's is a random id that names nothing",
    },
  },
  {
    name: "an unknown route",
    method: "GET",
    path: "/nope",
    real: { status: 404, json: { detail: "Not Found" }, extraKeys: true },
  },
  {
    name: "a CORS preflight from a web page",
    method: "OPTIONS",
    path: "/rpc",
    headers: { origin: "http://localhost:5173", "access-control-request-method": "POST" },
    real: { status: 200, text: /OK/ },
    ours: {
      status: 404,
      json: { detail: "Not Found" },
      extraKeys: true,
      why: "no CORS unless --cors names the origins: the proxy sends RPCs as the local user, " +
        "so any web page the user opens could otherwise use it",
    },
  },
];

Deno.test("clients of the real syft-proxy work unchanged: every route against recorded pairs", async () => {
  await using fx = await appFixture();
  const schemaFile = join(
    fx.dataDir,
    "datasites",
    ME,
    "app_data",
    "echo",
    "rpc",
    "rpc.schema.json",
  );
  const file = JSON.parse(await Deno.readTextFile(schemaFile));
  const asked = async (
    method: string,
    path: string,
    init: { json?: unknown; raw?: Pair["raw"]; headers?: Record<string, string> },
  ): Promise<Response> => {
    if (init.raw !== undefined) {
      return await fx.app.request(path, {
        method,
        headers: init.raw.headers,
        // Bytes, not a string: a string body would get `Content-Type: text/plain`.
        body: new TextEncoder().encode(init.raw.body),
      });
    }
    if (init.json !== undefined) {
      return await fx.post(path, init.json, init.headers);
    }
    return await fx.app.request(path, { method, headers: init.headers ?? {} });
  };
  for (const pair of PAIRS) {
    const ctx: Ctx = { seen: new Map() };
    let path = pair.path;
    if (pair.before !== undefined) {
      const first = await (await fx.post(pair.before.path, pair.before.json)).json();
      ctx.seen.set("id", first.id);
      if (pair.before.wait) await fx.gateway.waitFor(first.id, 10_000);
      path = path.replace("{id}", first.id);
    }
    const res = await asked(pair.method, path, pair);
    const expected = pair.ours ?? pair.real;
    assert.equal(res.status, expected.status, `${pair.name}: status`);
    if (expected.text !== undefined) {
      assert.match(await res.text(), expected.text, pair.name);
      continue;
    }
    const body = await res.json();
    const want = expected.json === "the file" ? file : expected.json;
    try {
      check(body, want, ctx, "body", expected.extraKeys ?? false);
    } catch (err) {
      throw new Error(`${pair.name}: ${(err as Error).message}\n${JSON.stringify(body)}`);
    }
  }
});

Deno.test("the real package's COMPLETED status is deleted by its first read; ours stays readable", async () => {
  await using fx = await appFixture();
  const sent = await (await fx.post("/rpc", { app_name: "echo", url: URL_ECHO, body: 1 })).json();
  await fx.gateway.waitFor(sent.id, 10_000);
  const first = await fx.app.request(`/rpc/status/${sent.id}`);
  assert.equal(first.status, 200);
  assert.equal((await first.json()).status, "RPC_COMPLETED");
  // The real package answers 404 RPC_NOT_FOUND here: a client that reads once sees the same; one
  // that retries after a lost answer gets it again (until the --ttl, default 1 h).
  const second = await fx.app.request(`/rpc/status/${sent.id}`);
  assert.equal(second.status, 200);
  assert.equal((await second.json()).status, "RPC_COMPLETED");
});

Deno.test("errors carry FastAPI's detail: a string for HTTP errors, the item list for 422", async () => {
  await using fx = await appFixture({ apiKey: "k" });
  const unauthorized = await fx.app.request("/info");
  assert.equal(unauthorized.status, 401);
  const u = await unauthorized.json();
  assert.equal(typeof u.detail, "string");
  assert.equal(u.detail, u.message);
  const notUtf8 = await fx.app.request("/rpc", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "k" },
    body: new Uint8Array([0x7b, 0xff, 0x7d]),
  });
  assert.equal(notUtf8.status, 400);
  assert.equal((await notUtf8.json()).detail, "There was an error parsing the body");
  const form = await fx.app.request("/rpc", {
    method: "POST",
    headers: { "content-type": "text/plain", "x-api-key": "k" },
    body: "{}",
  });
  assert.equal(form.status, 415); // FastAPI: 422 model_attributes_type on the raw text
  assert.match((await form.json()).detail, /Expected Content-Type: application\/json/);
  // The seed API's routes answer in the same shape.
  const seed = await fx.post("/rpc/send", { app_name: "ab" }, { "x-api-key": "k" });
  assert.equal(seed.status, 422);
  const s = await seed.json();
  assert.deepEqual(s.detail[0], {
    type: "string_too_short",
    loc: ["body", "app_name"],
    msg: "String should have at least 3 characters",
    input: "ab",
    ctx: { min_length: 3 },
  });
  assert.deepEqual(s.detail.slice(1).map((d: { type: string; loc: string[] }) => [d.type, d.loc]), [
    ["missing", ["body", "func_name"]],
    ["missing", ["body", "destination"]],
  ]);
  const wait = await fx.app.request(`/rpc/status/${crypto.randomUUID()}?wait=abc`, {
    headers: { "x-api-key": "k" },
  });
  assert.equal(wait.status, 422);
  assert.deepEqual((await wait.json()).detail[0].loc, ["query", "wait"]);
});

Deno.test("pythonJsonError() reports the position and message of Python's json.loads", () => {
  // Recorded from CPython 3.11's json.loads (JSONDecodeError.pos and .msg).
  const cases: [string, number, string][] = [
    ['{"a":', 5, "Expecting value"],
    ["{x", 1, "Expecting property name enclosed in double quotes"],
    ['{"a":1}x', 7, "Extra data"],
    ['{"a" 1}', 5, "Expecting ':' delimiter"],
    ["[1,]", 3, "Expecting value"],
    ['{"a":"\u0001"}', 6, "Invalid control character at"],
    ["nul", 0, "Expecting value"],
    ['{"a":1,}', 7, "Expecting property name enclosed in double quotes"],
    ['{"a":1 "b":2}', 7, "Expecting ',' delimiter"],
    ["[1 2]", 3, "Expecting ',' delimiter"],
    ['"abc', 0, "Unterminated string starting at"],
    ['{"a":"\\q"}', 6, "Invalid \\escape"],
    ['{"a":"\\u12"}', 7, "Invalid \\uXXXX escape"],
    ["  ", 2, "Expecting value"],
    ['{"a":tru}', 5, "Expecting value"],
    ['{"a":-}', 5, "Expecting value"],
    ['{"a":01}', 6, "Expecting ',' delimiter"],
    ['{"a":1.}', 6, "Expecting ',' delimiter"],
    ['{"a":1e}', 6, "Expecting ',' delimiter"],
    ['{"a":[1,2}', 9, "Expecting ',' delimiter"],
    ["{,}", 1, "Expecting property name enclosed in double quotes"],
    ["[", 1, "Expecting value"],
    ['{"a":"x"  ,  }', 13, "Expecting property name enclosed in double quotes"],
    ['{"é":"😀", x}', 10, "Expecting property name enclosed in double quotes"],
    ['{"a":- 1}', 5, "Expecting value"],
    ['{"a":1}\n\n  x', 11, "Extra data"],
    ['{"a"', 4, "Expecting ':' delimiter"],
    ['{"a":"b"', 8, "Expecting ',' delimiter"],
    ["true false", 5, "Extra data"],
    ['{"a":1}}', 7, "Extra data"],
  ];
  for (const [text, pos, msg] of cases) {
    assert.deepEqual(pythonJsonError(text), { pos, msg }, JSON.stringify(text));
  }
  // Deeper than the stack: no crash.
  assert.deepEqual(pythonJsonError("[".repeat(200_000)), { pos: 0, msg: "Expecting value" });
});
