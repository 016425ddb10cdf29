// The pub/sub server's HTTP side: /health, /metrics, refusals, port in use, graceful close.
import assert from "node:assert/strict";
import { PubSubServerError, startPubSubServer } from "../../../servers/pubsub/mod.ts";
import { connectFastApiPubSub } from "../../../lib/pubsub/fastapi_client.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { httpBase, metric, rawPeer, testServer } from "./_helpers.ts";

Deno.test("startPubSubServer() serves /health and Prometheus /metrics with connections, topics, published, delivered and dropped", async () => {
  await using server = await testServer();
  assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+\/pubsub$/);
  await using sub = connectFastApiPubSub(server.url);
  await using pub = connectFastApiPubSub(server.url);
  let got = 0;
  sub.onNotify(() => got++);
  await sub.subscribe(["a", "b"]);
  await pub.publish(["a"], 1);
  await pub.publish(["b", "c"], 2);
  await waitFor(() => got === 2);

  const health = await fetch(`${httpBase(server.url)}/health`);
  assert.equal(health.status, 200);
  const body = await health.json();
  assert.equal(body.status, "ok");
  assert.equal(body.service, "syft-pubsub");
  assert.equal(body.connections, 2);
  assert.equal(body.topics, 2);
  assert.equal(body.redis, "off");

  const res = await fetch(`${httpBase(server.url)}/metrics`);
  assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
  const text = await res.text();
  for (
    const [sample, value] of [
      ["syft_pubsub_connections", 2],
      ["syft_pubsub_topics", 2],
      ["syft_pubsub_published_total", 2],
      ["syft_pubsub_delivered_total", 2],
      ['syft_pubsub_dropped_total{reason="slow_subscriber"}', 0],
      ['syft_pubsub_dropped_total{reason="malformed"}', 0],
    ] as const
  ) {
    assert.ok(text.includes(`\n${sample} ${value}\n`), `${sample} ${value} not in\n${text}`);
  }
});

Deno.test("startPubSubServer() answers 426 to plain GETs on the path, 401 to upgrades without the token, 404 elsewhere", async () => {
  await using server = await testServer({ token: "t0k" });
  const base = httpBase(server.url);
  const plain = await fetch(`${base}/pubsub`);
  assert.equal(plain.status, 426);
  assert.match((await plain.json()).error, /WebSocket upgrade/);
  const other = await fetch(`${base}/nope`);
  assert.equal(other.status, 404);
  await other.body?.cancel();
  const upgrade = (headers: Record<string, string>, query = "") =>
    fetch(`${base}/pubsub${query}`, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...headers,
      },
    });
  const missing = await upgrade({});
  assert.equal(missing.status, 401);
  assert.match((await missing.json()).error, /needs a token/);
  const wrong = await upgrade({ authorization: "Bearer bad" });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  assert.equal(await metric(server.url, "syft_pubsub_auth_refused_total"), 2);
  // ?token= works too (for clients that cannot set headers).
  await using peer = await rawPeer(`${server.url}?token=t0k`);
  peer.send('{"request": {"method": "_ping_", "arguments": {}, "call_id": "c"}, "response": null}');
  assert.match(await peer.next(), /"result": "pong"/);
});

Deno.test("startPubSubServer() names host:port when the port is in use and keeps Deno's AddrInUse as cause", async () => {
  await using first = await testServer();
  try {
    await startPubSubServer({ port: first.port });
    assert.fail("expected PUBSUB_ADDR_IN_USE");
  } catch (err) {
    assert.ok(err instanceof PubSubServerError);
    assert.equal(err.code, "PUBSUB_ADDR_IN_USE");
    assert.equal(err.host, "127.0.0.1");
    assert.equal(err.port, first.port);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${first.port} is already in use`));
    assert.ok(err.cause instanceof Deno.errors.AddrInUse);
  }
  await assert.rejects(() => startPubSubServer({ port: 0, maxQueue: 0 }), PubSubServerError);
  await assert.rejects(() => startPubSubServer({ port: 0, path: "pubsub" }), PubSubServerError);
});

Deno.test("PubSubServer.close() drains and closes sockets with 1001 (1012 for a restart), then refuses upgrades", async () => {
  const server = await testServer();
  const peer = await rawPeer(server.url);
  const restart = await testServer();
  const peer2 = await rawPeer(restart.url);
  await waitFor(() => server.connections === 1 && restart.connections === 1);
  await server.close();
  assert.deepEqual(await peer.closed, { code: 1001, reason: "server shutting down" });
  await restart.close({ code: 1012 });
  assert.deepEqual(await peer2.closed, { code: 1012, reason: "server restarting" });
  await assert.rejects(() => fetch(`${httpBase(server.url)}/health`));
});
