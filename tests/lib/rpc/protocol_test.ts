import assert from "node:assert/strict";
import {
  formatTimestamp,
  messageId,
  parseTimestamp,
  RpcProtocolError,
  SYFT_STATUS_CODES,
  SyftRequest,
  SyftResponse,
} from "../../../lib/rpc/mod.ts";
import { canonicalUuid, decodeBody, encodeBody } from "../../../lib/rpc/protocol.ts";

// The reference's examples (syftbox-rpc.md §1.5), produced by syft-rpc's pydantic models.
const REQUEST_TEXT =
  '{"id":"3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10","sender":"alice@example.com","url":"syft://bob@example.com/app_data/pingpong/rpc/ping","body":"eyJtc2ciOiJoZWxsbyEiLCJ0cyI6IjIwMjUtMTEtMDVUMTA6MDA6MDAuMDAwMDAxWiJ9","headers":{},"created":"2025-11-05T10:00:00.000001+00:00","expires":"2025-11-05T10:05:00.000001+00:00","method":"GET"}';
const RESPONSE_TEXT =
  '{"id":"3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10","sender":"bob@example.com","url":"syft://bob@example.com/app_data/pingpong/rpc/ping","body":"eyJtc2ciOiJQb25nIGZyb20gYm9iQGV4YW1wbGUuY29tIiwidHMiOiIyMDI1LTExLTA1VDEwOjAwOjAyLjUwMDAwMFoifQ==","headers":{},"created":"2025-11-05T10:00:02.500000+00:00","expires":"2025-11-05T10:05:00.000001+00:00","status_code":200}';
const GO_REQUEST_TEXT =
  '{"id":"0b0f8a52-7a3a-4c39-8a4e-6a1c2f7d9e10","sender":"guest@syftbox.net","headers":{"content-type":"application/json","user-agent":"curl/8.5.0","x-syft-from":"guest@syftbox.net","x-syft-url":"syft://demo@syftbox.net/app_data/calculator/rpc/compute"},"created":"2025-09-12T10:00:00.123456789Z","expires":"2025-09-13T10:00:00.123456789Z","method":"POST","url":"syft://demo@syftbox.net/app_data/calculator/rpc/compute","body":"eyJvcGVyYXRpb24iOiJtdWx0aXBseSJ9"}';

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("SyftRequest.encode() reproduces the reference request byte for byte", () => {
  const req = new SyftRequest({
    id: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10",
    sender: "alice@example.com",
    url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
    body: '{"msg":"hello!","ts":"2025-11-05T10:00:00.000001Z"}',
    created: "2025-11-05T10:00:00.000001+00:00",
    expires: "2025-11-05T10:05:00.000001+00:00",
  });
  assert.equal(req.encode(), REQUEST_TEXT);
  assert.deepEqual(req.toBytes(), enc.encode(REQUEST_TEXT));
  // Decoding and re-encoding is the identity.
  assert.equal(SyftRequest.decode(REQUEST_TEXT).encode(), REQUEST_TEXT);
});

Deno.test("SyftResponse.encode() reproduces the reference response byte for byte, padding included", () => {
  const res = new SyftResponse({
    id: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10",
    sender: "bob@example.com",
    url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
    body: '{"msg":"Pong from bob@example.com","ts":"2025-11-05T10:00:02.500000Z"}',
    created: "2025-11-05T10:00:02.500000+00:00",
    expires: "2025-11-05T10:05:00.000001+00:00",
    statusCode: 200,
  });
  assert.equal(res.encode(), RESPONSE_TEXT);
  const back = SyftResponse.decode(enc.encode(RESPONSE_TEXT));
  assert.equal(back.encode(), RESPONSE_TEXT);
  assert.deepEqual(back.json(), {
    msg: "Pong from bob@example.com",
    ts: "2025-11-05T10:00:02.500000Z",
  });
});

Deno.test("SyftRequest.decode() reads the Go encoder's key order, nanoseconds and missing body", () => {
  const req = SyftRequest.decode(GO_REQUEST_TEXT);
  assert.equal(req.method, "POST");
  assert.equal(req.sender, "guest@syftbox.net");
  assert.equal(req.url.appName, "calculator");
  assert.equal(req.headers["x-syft-from"], "guest@syftbox.net");
  assert.deepEqual(req.json(), { operation: "multiply" });
  // Truncated to microseconds, as pydantic does.
  assert.equal(req.created.toString(), "2025-09-12T10:00:00.123456Z");
  assert.equal(formatTimestamp(req.expires), "2025-09-13T10:00:00.123456+00:00");
  const noBody = SyftRequest.decode(GO_REQUEST_TEXT.replace(/,"body":"[^"]*"/, ""));
  assert.equal(noBody.body, null);
  assert.match(noBody.encode(), /"body":null,/);
});

Deno.test("a request without a body encodes body as null, in key order, with no trailing newline", () => {
  const req = new SyftRequest({ sender: "a@b.com", url: "syft://x@y.org/p" });
  const text = req.encode();
  assert.deepEqual(Object.keys(JSON.parse(text)), [
    "id",
    "sender",
    "url",
    "body",
    "headers",
    "created",
    "expires",
    "method",
  ]);
  assert.match(
    text,
    /"body":null,"headers":\{\},"created":"[^"]+\+00:00","expires":"[^"]+\+00:00","method":"GET"\}$/,
  );
  assert.ok(!text.endsWith("\n"));
  assert.match(req.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // Default expiry: one day after creation.
  assert.equal(req.expires.since(req.created).total("hours"), 24);
});

Deno.test("encodeBody()/decodeBody() follow the reference base64 vectors", () => {
  assert.equal(encodeBody(new Uint8Array([0xfb, 0xff, 0xfe])), "-__-");
  assert.equal(
    encodeBody(enc.encode('{"msg": "hello?", "ts": 1}')),
    "eyJtc2ciOiAiaGVsbG8_IiwgInRzIjogMX0=",
  );
  assert.equal(encodeBody(enc.encode('{"utf8":["👍","🆗"]}')), "eyJ1dGY4IjpbIvCfkY0iLCLwn4aXIl19");
  // Standard and unpadded input is accepted on read, as pydantic does.
  for (const text of ["ZXhwaXJlZA", "ZXhwaXJlZA=="]) {
    assert.equal(dec.decode(decodeBody(text)), "expired");
  }
  assert.deepEqual(decodeBody("+//+"), new Uint8Array([0xfb, 0xff, 0xfe]));
  assert.deepEqual(decodeBody("-__-"), new Uint8Array([0xfb, 0xff, 0xfe]));
  assert.throws(
    () => decodeBody("not base64!"),
    (err) => err instanceof RpcProtocolError && err.field === "body",
  );
});

Deno.test("messageId() matches the reference cache-id vector", () => {
  const req = new SyftRequest({
    sender: "alice@example.com",
    url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
    body: '{"msg": "hello?", "ts": 1}',
    headers: { "Content-Type": "application/json" },
    method: "POST",
  });
  assert.equal(req.cacheId(), "597b5a94-a6c8-4dba-9896-04dcc54c43a2");
  // Times and ids do not take part; method does.
  assert.equal(
    messageId({ ...req, url: req.url, method: "POST" }),
    "597b5a94-a6c8-4dba-9896-04dcc54c43a2",
  );
  assert.notEqual(messageId({ ...req, url: req.url, method: "GET" }), req.cacheId());
});

Deno.test("timestamps are written Python-style and read in RFC 3339 variants", () => {
  assert.equal(
    formatTimestamp(parseTimestamp("2025-11-05T10:00:02Z")),
    "2025-11-05T10:00:02+00:00",
  );
  assert.equal(
    formatTimestamp(parseTimestamp("2025-11-05T10:00:02.5Z")),
    "2025-11-05T10:00:02.500000+00:00",
  );
  assert.equal(
    formatTimestamp(parseTimestamp("2025-11-05T12:00:02.123456789+02:00")),
    "2025-11-05T10:00:02.123456+00:00",
  );
  assert.equal(
    formatTimestamp(parseTimestamp("2025-11-05T10:00:00.000001+00:00"), " "),
    "2025-11-05 10:00:00.000001+00:00",
  );
  assert.throws(
    () => parseTimestamp("2025-11-05T10:00:02", "created"),
    (err) =>
      err instanceof RpcProtocolError && err.field === "created" && /no timezone/.test(err.message),
  );
  assert.throws(() => parseTimestamp("2025-02-30T10:00:00Z", "expires"), RpcProtocolError);
  assert.throws(() => parseTimestamp("yesterday", "expires"), /not an ISO 8601 timestamp/);
});

Deno.test("decode() names the invalid field", () => {
  const base = JSON.parse(REQUEST_TEXT);
  const cases: [Record<string, unknown>, string][] = [
    [{ ...base, method: "post" }, "method"],
    [{ ...base, method: "OPTIONS" }, "method"],
    [{ ...base, id: "not-a-uuid" }, "id"],
    [{ ...base, sender: 7 }, "sender"],
    [{ ...base, url: "http://bob@example.com/x" }, "url"],
    [{ ...base, url: "syft://bob@localhost/x" }, "url"],
    [{ ...base, headers: { a: 1 } }, "headers"],
    [{ ...base, headers: [] }, "headers"],
    [{ ...base, created: "2025-11-05T10:00:00" }, "created"],
    [{ ...base, expires: 12 }, "expires"],
    [{ ...base, body: "%%%" }, "body"],
    [{ ...base, body: 5 }, "body"],
  ];
  for (const [obj, field] of cases) {
    assert.throws(
      () => SyftRequest.decode(JSON.stringify(obj)),
      (err) => err instanceof RpcProtocolError && err.field === field,
      `expected an error on ${field} for ${JSON.stringify(obj)}`,
    );
  }
  assert.throws(
    () => SyftRequest.decode("{not json"),
    (err) => err instanceof RpcProtocolError && err.field === "json",
  );
  assert.throws(() => SyftRequest.decode(""), /the file is empty/);
  assert.throws(() => SyftRequest.decode("[1]"), /expected a JSON object/);
  assert.throws(() => SyftRequest.decode(new Uint8Array([0xff, 0xfe])), /not UTF-8/);
});

Deno.test("decode() accepts what pydantic accepts: extra keys, defaults, upper-case ids", () => {
  const obj = JSON.parse(REQUEST_TEXT);
  obj.status_code = 200; // the Go codec writes both when set
  obj.extra = { anything: true };
  obj.id = obj.id.toUpperCase();
  delete obj.method;
  delete obj.headers;
  const req = SyftRequest.decode(JSON.stringify(obj), {
    fileId: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10",
  });
  assert.equal(req.id, "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10");
  assert.equal(req.method, "GET");
  assert.deepEqual(req.headers, {});
  // Missing id: taken from the file name.
  delete obj.id;
  assert.equal(
    SyftRequest.decode(JSON.stringify(obj), { fileId: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10" }).id,
    "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10",
  );
  // An id that differs from the file name is refused.
  assert.throws(
    () => SyftRequest.decode(REQUEST_TEXT, { fileId: "00000000-0000-4000-8000-000000000000" }),
    (err) => err instanceof RpcProtocolError && err.field === "id",
  );
});

Deno.test("SyftResponse accepts only SyftBox status codes", () => {
  const base = JSON.parse(RESPONSE_TEXT);
  for (const code of [100, 226, 418, 419, 451, 499, 511]) {
    assert.equal(
      SyftResponse.decode(JSON.stringify({ ...base, status_code: code })).statusCode,
      code,
    );
  }
  for (const code of [299, 420, 306, 600, 0, "200"]) {
    assert.throws(
      () => SyftResponse.decode(JSON.stringify({ ...base, status_code: code })),
      (err) => err instanceof RpcProtocolError && err.field === "status_code",
    );
  }
  assert.equal(SYFT_STATUS_CODES.size, 64);
  assert.throws(
    () => new SyftResponse({ sender: "a@b.co", url: "syft://a@b.co/x", statusCode: 420 }),
    RpcProtocolError,
  );
});

Deno.test("SyftResponse helpers: system responses, status checks, expiry", () => {
  const res = SyftResponse.system(404, "Request with x not found", {
    id: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10",
  });
  assert.equal(res.sender, "system@syftbox.localhost");
  assert.equal(res.url.href, "syft://system@syftbox.localhost");
  assert.equal(res.text(), "Request with x not found");
  assert.equal(res.isError, true);
  assert.equal(res.ok, false);
  assert.throws(() => res.raiseForStatus(), /failed with status 404: Request with x not found/);
  const ok = new SyftResponse({ sender: "a@b.co", url: "syft://a@b.co/x", statusCode: 201 });
  assert.equal(ok.raiseForStatus(), ok);
  assert.equal(ok.isSuccess, true);
  const old = new SyftResponse({
    sender: "a@b.co",
    url: "syft://a@b.co/x",
    created: new Date(0),
    expires: new Date(1000),
  });
  assert.equal(old.isExpired(), true);
});

Deno.test("canonicalUuid() normalises UUIDs and refuses other text", () => {
  assert.equal(
    canonicalUuid("3F2C8F6E0D6A4F0E9A551C2B7D9E4A10"),
    "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10",
  );
  assert.equal(canonicalUuid("3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10.syftrejected"), undefined);
  assert.equal(canonicalUuid("../../etc/passwd"), undefined);
});
