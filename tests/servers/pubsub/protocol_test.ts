// The fastapi_websocket_pubsub protocol against our server, over raw WebSockets, with frames
// written exactly as section 13 of the reference shows them (Python's separators).
import assert from "node:assert/strict";
import { metric, rawPeer, testServer } from "./_helpers.ts";
import { FakeClock } from "../../_helpers/clock.ts";

const HEX32 = "[0-9a-f]{32}";

function ping(callId: string): string {
  return `{"request": {"method": "_ping_", "arguments": {}, "call_id": "${callId}"}, "response": null}`;
}
function pong(callId: string): string {
  return `{"request": null, "response": {"result": "pong", "result_type": "str", "call_id": "${callId}"}}`;
}
function subscribe(topics: string[], callId: string): string {
  return `{"request": {"method": "subscribe", "arguments": {"topics": ${
    JSON.stringify(topics).replaceAll('","', '", "')
  }}, "call_id": "${callId}"}, "response": null}`;
}
function publish(
  topic: string,
  data: string,
  sync: boolean,
  notifier: string | null,
  callId: string,
): string {
  return `{"request": {"method": "publish", "arguments": {"topics": ["${topic}"], "data": ${
    JSON.stringify(data)
  }, "sync": ${sync}, "notifier_id": ${
    notifier === null ? "null" : `"${notifier}"`
  }}, "call_id": "${callId}"}, "response": null}`;
}
function boolResult(value: boolean, callId: string): string {
  return `{"request": null, "response": {"result": ${value}, "result_type": "bool", "call_id": "${callId}"}}`;
}
function noneAnswer(callId: string): string {
  return `{"request": null, "response": {"result": "None", "result_type": "str", "call_id": "${callId}"}}`;
}
function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
/** The notify frame of section 6.2 in Python form; returns its call id and subscriber id. */
function assertNotify(
  frame: string,
  topic: string,
  data: string,
): { callId: string; subscriberId: string } {
  const re = new RegExp(
    `^\\{"request": \\{"method": "notify", "arguments": \\{"subscription": \\{"id": "${HEX32}", "subscriber_id": "(${HEX32})", "topic": "${
      escapeRe(topic)
    }", "notifier_id": null\\}, "data": ${
      escapeRe(JSON.stringify(data))
    }\\}, "call_id": "(${HEX32})"\\}, "response": null\\}$`,
  );
  const m = re.exec(frame);
  assert.ok(m, `not the expected notify frame: ${frame}`);
  return { subscriberId: m[1]!, callId: m[2]! };
}

const EVENT =
  '{"work": "heavy load", "seq": 0, "__eventhive__": {"time": 1796651919.4201748, "version": "0.5.0", "event": "net/worker-bee/work", "id": "5c09c114-043f-4309-8fb4-9c2aaca793a5"}}';

Deno.test("pub/sub server: readiness _ping_, subscribe, sync publish and notify in the frames of section 13", async () => {
  await using server = await testServer();
  await using sub = await rawPeer(server.url);
  await using pub = await rawPeer(server.url);

  sub.send(ping("285e0a1b2c3d4e5f60718293a4b5c6d7"));
  assert.equal(await sub.next(), pong("285e0a1b2c3d4e5f60718293a4b5c6d7"));
  sub.send(subscribe(["net/worker-bee/work"], "c2"));
  assert.equal(await sub.next(), boolResult(true, "c2"));

  pub.send(ping("p0"));
  assert.equal(await pub.next(), pong("p0"));
  pub.send(publish("net/worker-bee/work", EVENT, true, null, "p1"));
  const notify = assertNotify(await sub.next(), "net/worker-bee/work", EVENT);

  // sync: the server answers the publish only after the subscriber answered. A ping on the
  // publisher's connection comes back first, so the publish answer was not sent yet.
  pub.send(ping("p2"));
  assert.equal(await pub.next(), pong("p2"));
  sub.send(noneAnswer(notify.callId));
  assert.equal(await pub.next(), boolResult(true, "p1"));

  // _get_channel_id_ answers the id the notifications carry as subscriber_id.
  sub.send(
    '{"request": {"method": "_get_channel_id_", "arguments": {}, "call_id": "g1"}, "response": null}',
  );
  assert.equal(
    await sub.next(),
    `{"request": null, "response": {"result": "${notify.subscriberId}", "result_type": "str", "call_id": "g1"}}`,
  );
});

Deno.test("pub/sub server: a publish with sync false is answered before delivery completes", async () => {
  await using server = await testServer();
  await using sub = await rawPeer(server.url);
  await using pub = await rawPeer(server.url);
  sub.send(subscribe(["t"], "c1"));
  assert.equal(await sub.next(), boolResult(true, "c1"));
  pub.send(publish("t", "x", false, null, "p1"));
  assert.equal(await pub.next(), boolResult(true, "p1"));
  assertNotify(await sub.next(), "t", "x"); // never answered: the publisher did not wait for it
});

Deno.test("pub/sub server: notifier_id as the original treats it, without its sync deadlock", async () => {
  await using server = await testServer();
  await using peer = await rawPeer(server.url);
  peer.send(subscribe(["t"], "c1"));
  assert.equal(await peer.next(), boolResult(true, "c1"));

  // notifier_id null: the server uses the publisher's channel id, so it is not notified.
  peer.send(publish("t", "own", true, null, "p1"));
  assert.equal(await peer.next(), boolResult(true, "p1"));

  // notifier_id "other": the publisher gets its own notify; with sync the original deadlocks.
  peer.send(publish("t", "own2", true, "other", "p2"));
  const notify = assertNotify(await peer.next(), "t", "own2");
  peer.send(noneAnswer(notify.callId));
  assert.equal(await peer.next(), boolResult(true, "p2"));
});

Deno.test("pub/sub server: ALL_TOPICS gets every topic with the real topic name; unsubscribe stops delivery", async () => {
  await using server = await testServer();
  await using all = await rawPeer(server.url);
  await using one = await rawPeer(server.url);
  await using pub = await rawPeer(server.url);
  all.send(subscribe(["__EventNotifier_ALL_TOPICS__"], "a1"));
  assert.equal(await all.next(), boolResult(true, "a1"));
  one.send(subscribe(["t1", "t2"], "o1"));
  assert.equal(await one.next(), boolResult(true, "o1"));

  pub.send(publish("t1", "d1", true, null, "p1"));
  const fromAll = assertNotify(await all.next(), "t1", "d1");
  const fromOne = assertNotify(await one.next(), "t1", "d1");
  all.send(noneAnswer(fromAll.callId));
  one.send(noneAnswer(fromOne.callId));
  assert.equal(await pub.next(), boolResult(true, "p1"));

  one.send(
    '{"request": {"method": "unsubscribe", "arguments": {"topics": ["t1"]}, "call_id": "u1"}, "response": null}',
  );
  assert.equal(await one.next(), boolResult(true, "u1"));
  pub.send(publish("t1", "d2", false, null, "p2"));
  assert.equal(await pub.next(), boolResult(true, "p2"));
  assertNotify(await all.next(), "t1", "d2");
  pub.send(publish("t2", "d3", false, null, "p3"));
  assert.equal(await pub.next(), boolResult(true, "p3"));
  // `one` gets t2 but not the t1 published before it.
  assertNotify(await one.next(), "t2", "d3");
  assertNotify(await all.next(), "t2", "d3");
});

Deno.test("pub/sub server: _private methods get no answer, malformed frames are ignored, the connection stays", async () => {
  await using server = await testServer();
  await using peer = await rawPeer(server.url);
  peer.send(
    '{"request": {"method": "_secret_", "arguments": {}, "call_id": "x1"}, "response": null}',
  );
  peer.send("this is not json");
  peer.send("[1, 2, 3]");
  peer.send('{"request": {"method": 5}}');
  peer.send(
    '{"request": {"method": "publish", "arguments": {"topics": "not-a-list-but-a-topic", "data": {"deep": [1, {"x": null}]}}, "call_id": "p0"}, "response": null}',
  );
  peer.socket.send(new Uint8Array([1, 2, 3]));
  peer.send(
    '{"request": {"method": "subscribe", "arguments": {"topics": [1, 2]}, "call_id": "s0"}, "response": null}',
  );
  peer.send(ping("after"));
  // A single-string topic is one topic (answered true); topics of numbers are refused (false).
  assert.equal(await peer.next(), boolResult(true, "p0"));
  assert.equal(await peer.next(), boolResult(false, "s0"));
  assert.equal(await peer.next(), pong("after"));
  assert.equal(await metric(server.url, 'syft_pubsub_dropped_total{reason="malformed"}'), 4);
});

Deno.test("pub/sub server: an unknown method closes the connection with 1000, naming the method", async () => {
  await using server = await testServer();
  await using peer = await rawPeer(server.url);
  peer.send(
    '{"request": {"method": "no_such_method", "arguments": {}, "call_id": "m1"}, "response": null}',
  );
  const closed = await peer.closed;
  assert.equal(closed.code, 1000);
  assert.match(closed.reason, /unknown method "no_such_method"/);
});

Deno.test("pub/sub server: a sync publish is answered when a notified subscriber leaves without answering", async () => {
  await using server = await testServer();
  const sub = await rawPeer(server.url);
  await using pub = await rawPeer(server.url);
  sub.send(subscribe(["t"], "c1"));
  assert.equal(await sub.next(), boolResult(true, "c1"));
  pub.send(publish("t", "x", true, null, "p1"));
  assertNotify(await sub.next(), "t", "x");
  await sub[Symbol.asyncDispose]();
  assert.equal(await pub.next(), boolResult(true, "p1"));
});

Deno.test("pub/sub server: a sync publish whose subscriber never answers is answered after notifyTimeoutMs (injected clock)", async () => {
  const clock = new FakeClock();
  await using server = await testServer({ notifyTimeoutMs: 5_000, clock });
  await using sub = await rawPeer(server.url);
  await using pub = await rawPeer(server.url);
  sub.send(subscribe(["t"], "c1"));
  assert.equal(await sub.next(), boolResult(true, "c1"));
  pub.send(publish("t", "x", true, null, "p1"));
  assertNotify(await sub.next(), "t", "x"); // and never answered
  await clock.tick(4_999);
  assert.equal(pub.buffered, 0, "not answered before the timeout");
  await clock.tick(1);
  assert.equal(await pub.next(), boolResult(true, "p1"));
});
