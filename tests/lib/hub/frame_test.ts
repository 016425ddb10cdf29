import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, FrameEncodeError, FrameError } from "../../../lib/hub/mod.ts";
import { exceedsBytes, utf8Length } from "../../../lib/hub/frame.ts";

Deno.test("encodeFrame() always sends headers as an object and payload null when absent", () => {
  assert.equal(
    encodeFrame("empty-event"),
    '{"eventName":"empty-event","payload":null,"headers":{}}',
  );
  assert.equal(
    encodeFrame("headerTest", { isOk: true }, { test: "headerTest" }),
    '{"eventName":"headerTest","payload":{"isOk":true},"headers":{"test":"headerTest"}}',
  );
  assert.equal(encodeFrame("x", undefined, null), '{"eventName":"x","payload":null,"headers":{}}');
  assert.equal(encodeFrame("s", "text"), '{"eventName":"s","payload":"text","headers":{}}');
});

Deno.test("encodeFrame() throws FrameEncodeError for unserialisable payloads and empty names", () => {
  assert.throws(() => encodeFrame("big", { n: 1n }), (err: unknown) => {
    assert.ok(err instanceof FrameEncodeError);
    assert.match(err.message, /Cannot encode event "big"/);
    assert.ok(err.cause instanceof TypeError);
    return true;
  });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeFrame("loop", cyclic), FrameEncodeError);
  assert.throws(() => encodeFrame(""), /non-empty string/);
});

Deno.test("decodeFrame() accepts the reference frames: headers present, absent, null; payload absent", () => {
  // Python ZapClient (json.dumps with spaces), headers present.
  assert.deepEqual(
    decodeFrame('{"eventName": "header", "payload": {}, "headers": {"clientHeader": "client"}}'),
    { eventName: "header", payload: {}, headers: { clientHeader: "client" } },
  );
  // No payload and no headers (Python e2e "empty-event").
  assert.deepEqual(decodeFrame('{"eventName": "empty-event"}'), {
    eventName: "empty-event",
    payload: null,
    headers: {},
  });
  // Python server >= 0.5.0: payload null, no headers key.
  assert.deepEqual(decodeFrame('{"eventName":"empty-event","payload":null}'), {
    eventName: "empty-event",
    payload: null,
    headers: {},
  });
  // Go server: headers null.
  assert.deepEqual(decodeFrame('{"eventName":"go","payload":[1,2],"headers":null}'), {
    eventName: "go",
    payload: [1, 2],
    headers: {},
  });
  // Payload of any JSON type.
  assert.equal(decodeFrame('{"eventName":"n","payload":0}').payload, 0);
  assert.equal(decodeFrame('{"eventName":"n","payload":false}').payload, false);
});

Deno.test("decodeFrame() names each malformed-frame problem with a FrameError code", () => {
  const cases: [string, string, RegExp][] = [
    ["{not json", "INVALID_JSON", /invalid JSON/],
    ["[1,2]", "NOT_AN_OBJECT", /got an array/],
    ['"hello"', "NOT_AN_OBJECT", /got string "hello"/],
    ["null", "NOT_AN_OBJECT", /got null/],
    ['{"payload": 1}', "MISSING_EVENT_NAME", /"eventName" is missing/],
    ['{"eventName": 42}', "INVALID_EVENT_NAME", /must be a string, got number 42/],
    ['{"eventName": null}', "INVALID_EVENT_NAME", /must be a string, got null/],
    ['{"eventName": ""}', "INVALID_EVENT_NAME", /is empty/],
    ['{"eventName": "x", "headers": "h"}', "INVALID_HEADERS", /"headers" must be an object/],
    ['{"eventName": "x", "headers": [1]}', "INVALID_HEADERS", /got an array/],
  ];
  for (const [text, code, message] of cases) {
    assert.throws(() => decodeFrame(text), (err: unknown) => {
      assert.ok(err instanceof FrameError, text);
      assert.equal(err.code, code, text);
      assert.match(err.message, message, text);
      return true;
    });
  }
});

Deno.test("utf8Length() and exceedsBytes() count UTF-8 bytes exactly", () => {
  for (const s of ["", "abc", "héllo", "日本語", "😀x", "\ud800lone"]) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).length, s);
  }
  assert.equal(exceedsBytes("abc", 3), false);
  assert.equal(exceedsBytes("abcd", 3), true);
  assert.equal(exceedsBytes("ééé", 6), false);
  assert.equal(exceedsBytes("ééé", 5), true);
  assert.equal(exceedsBytes("x".repeat(1000), 4000), false);
});
