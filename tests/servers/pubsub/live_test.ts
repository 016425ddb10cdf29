// The pub/sub server's live source (what the dashboard shows) and its /live routes.
import assert from "node:assert/strict";
import { connectFastApiPubSub } from "../../../lib/pubsub/fastapi_client.ts";
import type { PubSubLiveEvent, PubSubLiveState } from "../../../lib/live/mod.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { httpBase, rawPeer, testServer } from "./_helpers.ts";

Deno.test("PubSubServer.live reports connections, topics by network with subscribers and event counts, published, delivered and dropped", async () => {
  await using server = await testServer();
  await using sub = connectFastApiPubSub(server.url);
  await using pub = connectFastApiPubSub(server.url);
  let got = 0;
  sub.onNotify(() => got++);
  await sub.subscribe(["hive/worker/work", "hive/worker/rest"]);
  const batches: PubSubLiveEvent[] = [];
  const unsubscribe = server.live.feed.subscribe((events) => batches.push(...events));
  try {
    await pub.publish(["hive/worker/work"], "a");
    await pub.publish(["hive/worker/work"], "b");
    await pub.publish(["other/queen/done"], "c");
    await waitFor(() => got === 2);
    // A malformed frame is dropped and counted.
    await using raw = await rawPeer(server.url);
    raw.send("not json");
    await waitFor(async () => (await server.live.state()).dropped.malformed === 1);

    const state = await server.live.state() as PubSubLiveState;
    assert.equal(state.part, "pubsub");
    assert.equal(state.name, server.url);
    assert.equal(state.gauges.connections, 3);
    assert.equal(state.gauges.subscribers, 1);
    assert.equal(state.gauges.topics, 2);
    assert.equal(state.counters.published, 3);
    assert.equal(state.counters.delivered, 2);
    assert.equal(state.counters.dropped, 1);
    const hive = state.networks.find((n) => n.name === "hive");
    assert.ok(hive, JSON.stringify(state.networks));
    assert.equal(hive.transport, "websocket");
    assert.deepEqual(hive.topics, [
      { name: "hive/worker/work", subscribers: 1, events: 2 },
      { name: "hive/worker/rest", subscribers: 1, events: 0 },
    ]);
    assert.deepEqual(state.networks.find((n) => n.name === "other")?.topics, [
      { name: "other/queen/done", subscribers: 0, events: 1 },
    ]);

    await waitFor(() => batches.some((e) => e.type === "dropped"));
    assert.deepEqual(
      batches.filter((e) => e.type === "event").map((e) => [e.network, e.topic]),
      [["hive", "hive/worker/work"], ["hive", "hive/worker/work"], ["other", "other/queen/done"]],
    );
    assert.equal(batches.find((e) => e.type === "dropped")?.reason, "malformed");
  } finally {
    unsubscribe();
  }
});

Deno.test("createPubSubApp() serves GET /live, and with a token only to requests that carry it", async () => {
  await using open = await testServer();
  const res = await fetch(`${httpBase(open.url)}/live`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.part, "pubsub");
  assert.deepEqual(body.state.networks, []);

  await using locked = await testServer({ token: "t0k" });
  const refused = await fetch(`${httpBase(locked.url)}/live`);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  const allowed = await fetch(`${httpBase(locked.url)}/live`, {
    headers: { authorization: "Bearer t0k" },
  });
  assert.equal(allowed.status, 200);
  assert.equal((await allowed.json()).part, "pubsub");
});

Deno.test("the pub/sub server reports syft_receivers on sync publishes to clients that ask on upgrade, and only to them", async () => {
  await using server = await testServer();
  await using sub = connectFastApiPubSub(server.url);
  await sub.subscribe(["t"]);
  const frame = (id: string) =>
    `{"request": {"method": "publish", "arguments": {"topics": ["t"], "data": "x", "sync": true, "notifier_id": null}, "call_id": "${id}"}, "response": null}`;
  await using asks = await rawPeer(server.url, { "x-syft-pubsub": "receivers" });
  asks.send(frame("p1"));
  assert.equal(
    await asks.next(),
    '{"request": null, "response": {"result": true, "result_type": "bool", "call_id": "p1", "syft_receivers": 1}}',
  );
  await using plain = await rawPeer(server.url);
  plain.send(frame("p2"));
  assert.equal(
    await plain.next(),
    '{"request": null, "response": {"result": true, "result_type": "bool", "call_id": "p2"}}',
  );
});
