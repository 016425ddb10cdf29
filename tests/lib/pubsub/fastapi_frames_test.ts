// deno-lint-ignore-file no-console -- a visible skip message
import assert from "node:assert/strict";
import {
  ALL_TOPICS,
  callIdFactory,
  decodeRpcMessage,
  encodeNotify,
  encodeRequest,
  encodeResponse,
  pyJson,
  pyString,
  pythonTypeName,
} from "../../../lib/pubsub/rpc_frames.ts";
import { RpcFrameError } from "../../../lib/pubsub/fastapi_errors.ts";

function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  if (message === undefined) assert.deepEqual(actual, expected);
  else assert.deepEqual(actual, expected, message);
}

function thrown(fn: () => unknown): RpcFrameError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RpcFrameError, `expected an RpcFrameError, got ${err}`);
    return err;
  }
  throw new Error("expected an RpcFrameError, nothing was thrown");
}

// Frames exactly as section 13 of the reference shows them (Python separators).
const PY_PING =
  '{"request": {"method": "_ping_", "arguments": {}, "call_id": "285e0a1b2c3d4e5f60718293a4b5c6d7"}, "response": null}';
const PY_PONG =
  '{"request": null, "response": {"result": "pong", "result_type": "str", "call_id": "285e0a1b2c3d4e5f60718293a4b5c6d7"}}';
// The compact form of section 6.2.
const COMPACT_SUBSCRIBE =
  '{"request":{"method":"subscribe","arguments":{"topics":["my-hive/worker/action"]},"call_id":"c2"},"response":null}';
const COMPACT_TRUE =
  '{"request":null,"response":{"result":true,"result_type":"bool","call_id":"c2"}}';

Deno.test("encodeRequest() writes the Python form of section 13", () => {
  assertEquals(encodeRequest("_ping_", {}, "285e0a1b2c3d4e5f60718293a4b5c6d7"), PY_PING);
  assertEquals(
    encodeRequest("publish", {
      topics: ["net/w/e"],
      data: '{"a": 1}',
      sync: true,
      notifier_id: null,
    }, "p1"),
    '{"request": {"method": "publish", "arguments": {"topics": ["net/w/e"], "data": "{\\"a\\": 1}", "sync": true, "notifier_id": null}, "call_id": "p1"}, "response": null}',
  );
});

Deno.test("encodeResponse() writes the Python form and Python type names", () => {
  assertEquals(encodeResponse("285e0a1b2c3d4e5f60718293a4b5c6d7", "pong", "str"), PY_PONG);
  assertEquals(
    encodeResponse("s1", "None", "str"),
    '{"request": null, "response": {"result": "None", "result_type": "str", "call_id": "s1"}}',
  );
  assertEquals(
    encodeResponse("p1", true),
    '{"request": null, "response": {"result": true, "result_type": "bool", "call_id": "p1"}}',
  );
  assertEquals(
    encodeResponse(null, null),
    '{"request": null, "response": {"result": null, "result_type": "NoneType", "call_id": null}}',
  );
});

Deno.test("encodeNotify() matches the server's notify call of section 6.2", () => {
  const frame = encodeNotify(
    "a".repeat(32),
    "b".repeat(32),
    pyString("my-hive/worker/action"),
    pyJson('{"x": 1}'),
    "s1",
  );
  assertEquals(
    frame,
    `{"request": {"method": "notify", "arguments": {"subscription": {"id": "${
      "a".repeat(32)
    }", "subscriber_id": "${
      "b".repeat(32)
    }", "topic": "my-hive/worker/action", "notifier_id": null}, "data": "{\\"x\\": 1}"}, "call_id": "s1"}, "response": null}`,
  );
  assertEquals(decodeRpcMessage(frame).request?.arguments.data, '{"x": 1}');
});

Deno.test("decodeRpcMessage() reads the Python form and the compact form", () => {
  assertEquals(decodeRpcMessage(PY_PING), {
    request: { method: "_ping_", arguments: {}, call_id: "285e0a1b2c3d4e5f60718293a4b5c6d7" },
    response: null,
  });
  assertEquals(decodeRpcMessage(PY_PONG), {
    request: null,
    response: { result: "pong", result_type: "str", call_id: "285e0a1b2c3d4e5f60718293a4b5c6d7" },
  });
  assertEquals(decodeRpcMessage(COMPACT_SUBSCRIBE).request, {
    method: "subscribe",
    arguments: { topics: ["my-hive/worker/action"] },
    call_id: "c2",
  });
  assertEquals(decodeRpcMessage(COMPACT_TRUE).response, {
    result: true,
    result_type: "bool",
    call_id: "c2",
  });
  // #46's frame: no call_id, no response key, arguments null.
  assertEquals(decodeRpcMessage('{"request":{"method":"subscribe","arguments":null}}').request, {
    method: "subscribe",
    arguments: {},
    call_id: null,
  });
  // Both sides in one frame, as pydantic allows.
  const both = decodeRpcMessage(
    '{"request": {"method": "x", "call_id": 7}, "response": {"result": 1, "call_id": "c"}}',
  );
  assertEquals(both.request?.call_id, "7");
  assertEquals(both.response, { result: 1, result_type: null, call_id: "c" });
});

Deno.test("decodeRpcMessage() refuses malformed frames with a code", () => {
  const cases: [string, string][] = [
    ["not json", "NOT_JSON"],
    ["[1, 2]", "NOT_AN_OBJECT"],
    ['"str"', "NOT_AN_OBJECT"],
    ["{}", "EMPTY_MESSAGE"],
    ['{"request": null, "response": null}', "EMPTY_MESSAGE"],
    ['{"request": {"arguments": {}}}', "BAD_REQUEST"],
    ['{"request": {"method": 1}}', "BAD_REQUEST"],
    ['{"request": {"method": "x", "arguments": [1]}}', "BAD_REQUEST"],
    ['{"request": {"method": "x", "call_id": {}}}', "BAD_REQUEST"],
    ['{"response": "yes"}', "BAD_RESPONSE"],
    ['{"response": {"result": 1, "result_type": 5}}', "BAD_RESPONSE"],
  ];
  for (const [text, code] of cases) {
    const err = thrown(() => decodeRpcMessage(text));
    assertEquals(err.code, code, text);
  }
});

Deno.test("pyJson() writes what Python's json.dumps writes (checked with python3 at test time)", async () => {
  const values: unknown[] = [
    { a: 1, b: [1, 2, { c: null }], d: "x" },
    'é ü \u007f \u2028 😀 / \\ " \n\t\b\f\r \u0001',
    [true, false, null, 0, -1, 123456789012],
    [0.5, 1.5e-7, 1e-5, 0.0001, 123.456, -2.5e-10, 1e300],
    { "": {}, "nested": { "arr": [] }, "ключ": "значение" },
  ];
  const cmd = new Deno.Command("python3", {
    args: ["-c", "import json,sys\nfor line in sys.stdin: print(json.dumps(json.loads(line)))"],
    stdin: "piped",
    stdout: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = cmd.spawn();
  } catch {
    console.warn("%cpython3 not found: skipping the json.dumps comparison", "color: yellow");
    return;
  }
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(values.map((v) => JSON.stringify(v)).join("\n") + "\n"),
  );
  await writer.close();
  const out = await child.output();
  const expected = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  assertEquals(values.map((v) => pyJson(v)), expected);
});

Deno.test("pyJson() follows JSON.stringify for values JSON cannot hold", () => {
  assertEquals(pyJson({ a: undefined, b: () => 1, c: [undefined] }), '{"c": [null]}');
  assertEquals(pyJson([NaN, Infinity]), "[null, null]");
  assertEquals(pyJson(10n ** 30n), "1" + "0".repeat(30));
  assertEquals(pyJson([2 ** 60, 1e16, 1e21]), "[1.152921504606847e+18, 1e+16, 1e+21]");
  assertEquals(pyJson(new Date(0)), '"1970-01-01T00:00:00.000Z"');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assertEquals(thrown(() => pyJson(cyclic)).code, "ENCODE");
  // Shared (not cyclic) references are fine.
  const shared = { x: 1 };
  assertEquals(pyJson([shared, shared]), '[{"x": 1}, {"x": 1}]');
});

Deno.test("pythonTypeName() and callIdFactory() match Python's shapes", () => {
  assertEquals(["s", true, 1, 1.5, null, [], {}].map(pythonTypeName), [
    "str",
    "bool",
    "int",
    "float",
    "NoneType",
    "list",
    "dict",
  ]);
  const next = callIdFactory();
  const a = next();
  const b = next();
  assertEquals(/^[0-9a-f]{32}$/.test(a) && /^[0-9a-f]{32}$/.test(b), true);
  assertEquals(a === b, false);
  assertEquals(ALL_TOPICS, "__EventNotifier_ALL_TOPICS__");
});
