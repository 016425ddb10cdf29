/**
 * The wire object and the file text of a message agree: `toJSON()` (built directly, without a
 * round trip through the text) is exactly `JSON.parse(encode())`, and `toBytes()` is the UTF-8 of
 * `encode()`, for requests and responses with awkward fields.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SyftRequest, SyftResponse } from "../../../lib/rpc/mod.ts";

const awkward = [
  { body: null, headers: {} },
  { body: "", headers: { "Content-Type": "application/json" } },
  { body: '{"msg":"héllo ✓ \u2028"}', headers: { b: "2", a: "1", "10": "x", "2": "y" } },
  { body: new Uint8Array([0xfb, 0xff, 0xfe, 0]), headers: { q: 'quote " and \\ slash\n' } },
  { body: { nested: [1, 2, { x: null }] }, headers: { "x-\u00e9": "\ud83d\ude00" } },
];

Deno.test("SyftRequest.toJSON() is JSON.parse(encode()), key order included", () => {
  for (const [i, fields] of awkward.entries()) {
    const req = new SyftRequest({
      sender: i % 2 ? 'a"lice@example.com' : "alice@example.com",
      url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
      method: "POST",
      created: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6) + i),
      expires: 1_800_000_000_123.456 + i,
      ...fields,
    });
    const parsed = JSON.parse(req.encode());
    const wire = req.toJSON();
    assert.deepStrictEqual(wire, parsed);
    assert.deepStrictEqual(Object.keys(wire), Object.keys(parsed));
    assert.deepStrictEqual(Object.keys(wire.headers as object), Object.keys(parsed.headers));
    assert.deepStrictEqual(JSON.stringify(wire), req.encode());
    assert.deepStrictEqual(new TextDecoder().decode(req.toBytes()), req.encode());
    // A fresh object each call: changing one does not change the next.
    (wire.headers as Record<string, string>).added = "x";
    assert.notStrictEqual(req.toJSON().headers, wire.headers);
    assert.deepStrictEqual(req.toJSON(), parsed);
    assert.deepStrictEqual(
      SyftRequest.decode(req.encode(), { fileId: req.id }).encode(),
      req.encode(),
    );
  }
});

Deno.test("SyftResponse.toJSON() is JSON.parse(encode())", () => {
  for (const [i, fields] of awkward.entries()) {
    const res = new SyftResponse({
      sender: "bob@example.com",
      url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
      statusCode: [200, 201, 404, 419, 500][i]!,
      created: `2026-01-02T03:04:05.${String(i).padStart(6, "0")}+00:00`,
      ...fields,
    });
    const parsed = JSON.parse(res.encode());
    assert.deepStrictEqual(res.toJSON(), parsed);
    assert.deepStrictEqual(Object.keys(res.toJSON()), Object.keys(parsed));
    assert.deepStrictEqual(JSON.stringify(res.toJSON()), res.encode());
  }
});

Deno.test("timestamps format as Python's isoformat() across seconds, with and without fractions", () => {
  const cases: [number, string][] = [
    [0, "1970-01-01T00:00:00+00:00"],
    [1, "1970-01-01T00:00:00.000001+00:00"],
    [-1, "1969-12-31T23:59:59.999999+00:00"],
    [1_767_323_045_000_000, "2026-01-02T03:04:05+00:00"],
    [1_767_323_045_999_999, "2026-01-02T03:04:05.999999+00:00"],
    [1_767_323_046_000_010, "2026-01-02T03:04:06.000010+00:00"],
    [253_402_300_799_000_000, "9999-12-31T23:59:59+00:00"],
  ];
  // Twice over, in an order that moves between seconds (the formatter keeps the last two).
  for (const _ of [1, 2]) {
    for (const [us, text] of cases) {
      const res = new SyftResponse({
        sender: "b@c.io",
        url: "syft://b@c.io/x",
        created: us / 1000,
      });
      assert.deepStrictEqual(res.toJSON().created, text);
      assert.deepStrictEqual(JSON.parse(res.encode()).created, text);
    }
  }
});
