import assert from "node:assert/strict";
import {
  buildCommand,
  EnSyncAuthError,
  EnSyncError,
  formatConnPass,
  formatFail,
  formatRecord,
  jsonValue,
  matchesEventName,
  parseCommand,
  parseConnReply,
  parsePublishReply,
  parseRecord,
  parseReplyFields,
  parseServerMessage,
} from "../../../lib/ensync/mod.ts";

Deno.test("buildCommand() writes the KEY=:value form the SDKs send", () => {
  assert.equal(buildCommand("CONN", [["ACCESS_KEY", "k-1"]]), "CONN;ACCESS_KEY=:k-1");
  assert.equal(
    buildCommand("ACK", [["CLIENT_ID", "c1"], ["EVENT_IDEM", "e"], ["BLOCK", 3], [
      "EVENT_NAME",
      "a/b",
    ]]),
    "ACK;CLIENT_ID=:c1;EVENT_IDEM=:e;BLOCK=:3;EVENT_NAME=:a/b",
  );
  assert.equal(buildCommand("PING", []), "PING");
});

Deno.test("parseCommand() reads both KEY=:value and KEY=value", () => {
  assert.deepEqual(
    { ...parseCommand("SUB;CLIENT_ID=:c1;EVENT_NAME=:orders/*").fields },
    { CLIENT_ID: "c1", EVENT_NAME: "orders/*" },
  );
  assert.deepEqual(
    { ...parseCommand("SUB;CLIENT_ID=c1;EVENT_NAME=orders/created").fields },
    { CLIENT_ID: "c1", EVENT_NAME: "orders/created" },
  );
  const mixed = parseCommand(
    "ACK;CLIENT_ID=:c1;EVENT_IDEM=e1;PARTITION_BLOCK=:9;EVENT_NAME=undefined",
  );
  assert.equal(mixed.verb, "ACK");
  assert.deepEqual({ ...mixed.fields }, {
    CLIENT_ID: "c1",
    EVENT_IDEM: "e1",
    PARTITION_BLOCK: "9",
    EVENT_NAME: "undefined",
  });
  assert.deepEqual({ ...parseCommand("CONN;ACCESS_KEY=:abc\r\n").fields }, { ACCESS_KEY: "abc" });
  assert.equal(parseCommand("PONG").verb, "PONG");
});

Deno.test("parseCommand() keeps ';', '=' and ':' inside JSON, base64 and free text", () => {
  const meta = { note: "a;b=c:d", "x;EVENT_NAME=:y": [1, "}{;"], q: '"' };
  const payload = "eyJub25jZSI6IkFCQz0ifQ==";
  const frame =
    `PUB;CLIENT_ID=:c1;EVENT_NAME=:orders/created;PAYLOAD=:${payload};DELIVERY_TO=:pk+/=;METADATA=:${
      JSON.stringify(meta)
    };PAYLOAD_METADATA=:{"byte_size":12,"skeleton":{"a;b":"string"}}`;
  const { verb, fields } = parseCommand(frame);
  assert.equal(verb, "PUB");
  assert.equal(fields.PAYLOAD, payload);
  assert.equal(fields.DELIVERY_TO, "pk+/=");
  assert.deepEqual(JSON.parse(fields.METADATA!), meta);
  assert.deepEqual(JSON.parse(fields.PAYLOAD_METADATA!), {
    byte_size: 12,
    skeleton: { "a;b": "string" },
  });
  // free text with separators, a URL and a key-like word that was already seen
  const defer = parseCommand(
    "DEFER;CLIENT_ID=:c;EVENT_IDEM=:i;EVENT_NAME=:n;DELAY=:5000;REASON=:retry; see http://x/?a=b;EVENT_NAME=:again",
  );
  assert.equal(defer.fields.DELAY, "5000");
  assert.equal(defer.fields.REASON, "retry; see http://x/?a=b;EVENT_NAME=:again");
  assert.equal(parseCommand("DISCARD;CLIENT_ID=:c;EVENT_IDEM=:i;REASON=:").fields.REASON, "");
  // a value starting with ':' in the KEY=: form keeps its own colon
  assert.equal(parseCommand("PAUSE;CLIENT_ID=:c;EVENT_NAME=:n;REASON=::)").fields.REASON, ":)");
  // unknown keys are read when written KEY=:
  assert.equal(parseCommand("SUB;CLIENT_ID=:c;X_EXTRA=:1;EVENT_NAME=:n").fields.X_EXTRA, "1");
  // JSON with ';' escaped by jsonValue() is the same JSON
  const escaped = jsonValue({ s: "a;b" });
  assert.ok(!escaped.includes(";"));
  assert.deepEqual(JSON.parse(parseCommand(`PUB;METADATA=:${escaped}`).fields.METADATA!), {
    s: "a;b",
  });
});

Deno.test("parseCommand() rejects frames without a verb or with a field lacking KEY=", () => {
  const malformed = (e: unknown) => e instanceof EnSyncError && e.code === "MALFORMED_COMMAND";
  assert.throws(() => parseCommand(""), malformed);
  assert.throws(() => parseCommand("hello world"), malformed);
  assert.throws(() => parseCommand("SUB;nonsense"), malformed);
  assert.throws(() => parseCommand("SUB;CLIENT_ID"), malformed);
});

Deno.test("parseServerMessage() classifies PASS, FAIL, RECORD, REPLAY, PING and the rest", () => {
  assert.deepEqual(parseServerMessage("+PASS:SUBSCRIBED;EVENT_NAME=a"), {
    kind: "pass",
    body: "SUBSCRIBED;EVENT_NAME=a",
  });
  assert.deepEqual(
    parseServerMessage("-FAIL:PERMISSION_DENIED;MESSAGE=No send; permission for a/b"),
    {
      kind: "fail",
      code: "PERMISSION_DENIED",
      message: "No send; permission for a/b",
      body: "PERMISSION_DENIED;MESSAGE=No send; permission for a/b",
    },
  );
  const f2 = parseServerMessage("-FAIL:CLIENT_NOT_FOUND;MESSAGE=:Invalid access key");
  assert.ok(f2.kind === "fail" && f2.message === "Invalid access key");
  const f3 = parseServerMessage("-FAIL:Client not found");
  assert.ok(f3.kind === "fail" && f3.code === "FAIL" && f3.message === "Client not found");
  const f4 = parseServerMessage("-FAIL:NOT_FOUND");
  assert.ok(f4.kind === "fail" && f4.code === "NOT_FOUND");
  const rec = parseServerMessage(
    '+RECORD:{"id":"1uTW","idem":"1uTW","name":"order/created","block":81404,"loggedAt":1733400000000,"payload":"eyJ9","metadata":{"persist":true,"headers":{}},"sender":"pk"}',
  );
  assert.deepEqual(rec, {
    kind: "record",
    record: {
      idem: "1uTW",
      name: "order/created",
      block: 81404,
      payload: "eyJ9",
      loggedAt: 1733400000000,
      metadata: { persist: true, headers: {} },
      sender: "pk",
    },
  });
  const rep = parseServerMessage(
    '+REPLAY:{"id":"e2","name":"a","block":"5","payload":"","metadata":"{\\"k\\":1}"}',
  );
  assert.ok(rep.kind === "replay");
  assert.equal(rep.record.idem, "e2");
  assert.equal(rep.record.block, 5);
  assert.deepEqual(rep.record.metadata, { k: 1 });
  assert.equal(rep.record.sender, "");
  assert.deepEqual(parseServerMessage("PING"), { kind: "ping" });
  assert.deepEqual(parseServerMessage("HELLO"), { kind: "unknown", text: "HELLO" });
});

Deno.test("parseRecord() names the bad field of a malformed record", () => {
  const bad = (re: RegExp) => (e: unknown) =>
    e instanceof EnSyncError && e.code === "MALFORMED_RECORD" && re.test(e.message);
  assert.throws(() => parseRecord("{"), bad(/not JSON/));
  assert.throws(() => parseRecord("[]"), bad(/object/));
  assert.throws(() => parseRecord('{"name":"a","block":1,"payload":""}'), bad(/idem/));
  assert.throws(() => parseRecord('{"id":"e","block":1,"payload":""}'), bad(/name/));
  assert.throws(() => parseRecord('{"id":"e","name":"a","block":"x","payload":""}'), bad(/block/));
  assert.throws(() => parseRecord('{"id":"e","name":"a","block":1}'), bad(/payload/));
  assert.throws(
    () => parseRecord('{"id":"e","name":"a","block":1,"payload":"","metadata":"{"}'),
    bad(/metadata/),
  );
});

Deno.test("formatRecord() output round-trips through parseRecord() with both id and idem", () => {
  const record = {
    idem: "e1",
    name: "a/b",
    block: 2,
    payload: "e30=",
    loggedAt: 5,
    metadata: { a: ";" },
    sender: "s",
  };
  const frame = formatRecord(record);
  assert.ok(frame.startsWith("+RECORD:"));
  const json = JSON.parse(frame.slice(8));
  assert.equal(json.id, "e1");
  assert.equal(json.idem, "e1");
  assert.deepEqual(parseRecord(frame.slice(8)), record);
  assert.ok(formatRecord(record, "REPLAY").startsWith("+REPLAY:{"));
});

Deno.test("parseConnReply() reads the SDK form tolerantly and keeps '=' in values", () => {
  assert.deepEqual(parseConnReply("{clientId=c-1,clientHash=AAAA=}"), {
    clientId: "c-1",
    clientHash: "AAAA=",
  });
  assert.deepEqual(parseConnReply("{ clientId = c-2 , clientHash = h }"), {
    clientId: "c-2",
    clientHash: "h",
  });
  assert.deepEqual(parseConnReply("clientId=c-3,clientHash=h3}"), {
    clientId: "c-3",
    clientHash: "h3",
  });
  assert.deepEqual(parseConnReply('{"clientId":"c-4","clientHash":"h4"}'), {
    clientId: "c-4",
    clientHash: "h4",
  });
  assert.deepEqual(parseConnReply("CONNECTED;CLIENT_ID=c-5"), { clientId: "c-5", clientHash: "" });
  assert.throws(() => parseConnReply("OK"), EnSyncAuthError);
  assert.equal(formatConnPass("c-9", "abc"), "+PASS:{clientId=c-9,clientHash=abc}");
  assert.throws(() => formatConnPass("c", "a=b"), EnSyncError);
});

Deno.test("parsePublishReply() and parseReplyFields() read every reply form", () => {
  assert.equal(parsePublishReply("PUBLISHED;IDEM=evt-1;TIMESTAMP=17"), "evt-1");
  assert.equal(parsePublishReply("PUBLISHED;IDEM=:evt-2"), "evt-2");
  assert.equal(parsePublishReply("evt-3"), "evt-3");
  assert.equal(parsePublishReply("{idem=evt-4}"), "evt-4");
  assert.equal(parsePublishReply('{"idem":"evt-5","timestamp":1}'), "evt-5");
  assert.deepEqual(parseReplyFields("DEFERRED;IDEM=e;DELIVERY_TIME=123"), {
    status: "DEFERRED",
    fields: Object.assign(Object.create(null), { IDEM: "e", DELIVERY_TIME: "123" }),
  });
  assert.equal(formatFail("NOT_FOUND", "gone"), "-FAIL:NOT_FOUND;MESSAGE=gone");
});

Deno.test("matchesEventName() handles exact names, * within a segment, ** and the catch-all *", () => {
  assert.ok(matchesEventName("orders/created", "orders/created"));
  assert.ok(!matchesEventName("orders/created", "orders/created2"));
  assert.ok(matchesEventName("orders/*", "orders/created"));
  assert.ok(!matchesEventName("orders/*", "orders/a/b"));
  assert.ok(!matchesEventName("orders/*", "billing/created"));
  assert.ok(matchesEventName("orders/**", "orders/a/b"));
  assert.ok(matchesEventName("*", "anything/at/all"));
  assert.ok(matchesEventName("*/created", "orders/created"));
  assert.ok(matchesEventName("order*/c", "orders/c"));
  assert.ok(!matchesEventName("a.b/*", "aXb/c"), "regex characters are literal");
  assert.ok(matchesEventName("a/**/z", "a/b/c/z"));
  assert.ok(matchesEventName("a/*x*y", "a/1x2y"));
  assert.ok(!matchesEventName("a/*x*y", "a/1x/y"), "* stays within a segment");
  assert.ok(matchesEventName("**/end", "x/y/end"));
  assert.ok(matchesEventName("orders/*", "orders/"), "* matches the empty string");
});

Deno.test("matchesEventName() stays linear on patterns that make a backtracking regex explode", () => {
  // A regular expression compiled from this pattern takes longer than the universe's age here.
  const pattern = "orders/" + "*a".repeat(24) + "c";
  const name = "orders/" + "a".repeat(400);
  assert.equal(matchesEventName(pattern, name), false);
  assert.equal(matchesEventName(pattern, name + "c"), true);
  assert.equal(matchesEventName("**" + "*a".repeat(24) + "c", name.replaceAll("/", "a")), false);
});
