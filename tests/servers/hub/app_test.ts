import assert from "node:assert/strict";
import { serveHub } from "../../../servers/hub/main.ts";
import { createHubApp } from "../../../servers/hub/app.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { rawHttpStatus, rawPeer, upgradeRequest } from "../../lib/hub/_helpers.ts";

Deno.test("relay hub: every connection joins lobby and events reach the other members of the room", async () => {
  const hub = await serveHub({ port: 0 });
  try {
    await using a = await rawPeer(hub.wsUrl);
    await using b = await rawPeer(hub.wsUrl);
    await using c = await rawPeer(hub.wsUrl);
    await waitFor(() => hub.relay.router.members("lobby").length === 3);
    a.send('{"eventName":"chat","payload":{"text":"hi"}}');
    const expected = '{"eventName":"chat","payload":{"text":"hi"},"headers":{}}';
    assert.equal(await b.next(), expected);
    assert.equal(await c.next(), expected);

    // $join / $leave and the room header.
    b.send('{"eventName":"$join","payload":{"room":"ops"}}');
    assert.equal(await b.next(), '{"eventName":"$joined","payload":{"room":"ops"},"headers":{}}');
    c.send('{"eventName":"$join","payload":{"room":"ops"}}');
    assert.equal(await c.next(), '{"eventName":"$joined","payload":{"room":"ops"},"headers":{}}');
    b.send('{"eventName":"deploy","payload":1,"headers":{"room":"ops"}}');
    assert.equal(await c.next(), '{"eventName":"deploy","payload":1,"headers":{"room":"ops"}}');
    c.send('{"eventName":"$leave","payload":{"room":"ops"}}');
    assert.equal(await c.next(), '{"eventName":"$left","payload":{"room":"ops"},"headers":{}}');
    b.send('{"eventName":"deploy","payload":2,"headers":{"room":"ops"}}');
    // c left: it gets nothing; a was never in ops.
    b.send('{"eventName":"chat","payload":"lobby again"}');
    assert.equal(await c.next(), '{"eventName":"chat","payload":"lobby again","headers":{}}');
    assert.equal(JSON.parse(await a.next()).payload, "lobby again");
    assert.equal(a.frames.length, 1, "the sender never gets its own event");
  } finally {
    await hub.shutdown();
  }
});

Deno.test("relay hub: refuses sends to rooms the client is not in, bad rooms and reserved names", async () => {
  const hub = await serveHub({ port: 0 });
  try {
    await using a = await rawPeer(hub.wsUrl);
    a.send('{"eventName":"x","headers":{"room":"secret"}}');
    let reply = JSON.parse(await a.next());
    assert.equal(reply.eventName, "error");
    assert.equal(reply.payload.code, "NOT_IN_ROOM");
    assert.match(reply.payload.message, /join it first/);
    a.send('{"eventName":"$join","payload":{"room":""}}');
    reply = JSON.parse(await a.next());
    assert.equal(reply.payload.code, "INVALID_ROOM");
    a.send('{"eventName":"$join","payload":"ops"}');
    assert.equal(JSON.parse(await a.next()).payload.code, "INVALID_ROOM");
    a.send('{"eventName":"$kick"}');
    assert.equal(JSON.parse(await a.next()).payload.code, "UNKNOWN_EVENT");
    // A peer cannot pass itself off as the hub: its `error` (or `connected`) is not relayed.
    await using b = await rawPeer(hub.wsUrl);
    await waitFor(() => hub.relay.router.all().length === 2);
    for (const name of ["error", "connected", "disconnected"]) {
      a.send(JSON.stringify({ eventName: name, payload: { code: "FAKE" } }));
      const refused = JSON.parse(await a.next());
      assert.equal(refused.payload.code, "RESERVED_EVENT", name);
    }
    a.send('{"eventName":"hello"}');
    assert.equal(JSON.parse(await b.next()).eventName, "hello"); // nothing fake came first
    a.send("{broken");
    assert.equal(JSON.parse(await a.next()).payload.code, "INVALID_JSON");
  } finally {
    await hub.shutdown();
  }
});

Deno.test("relay hub: POST /publish pushes to everyone or one room and validates the body", async () => {
  const hub = await serveHub({ port: 0 });
  try {
    await using a = await rawPeer(hub.wsUrl);
    await using b = await rawPeer(hub.wsUrl);
    b.send('{"eventName":"$join","payload":{"room":"ops"}}');
    await b.next();
    const post = (body: unknown) =>
      fetch(`${hub.url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    let res = await post({ eventName: "notice", payload: "all hands" });
    assert.deepEqual(await res.json(), { delivered: 2, room: null });
    const expected = '{"eventName":"notice","payload":"all hands","headers":{}}';
    assert.equal(await a.next(), expected);
    assert.equal(await b.next(), expected);
    res = await post({ eventName: "ops", payload: { n: 1 }, headers: { from: "ci" }, room: "ops" });
    assert.deepEqual(await res.json(), { delivered: 1, room: "ops" });
    assert.equal(await b.next(), '{"eventName":"ops","payload":{"n":1},"headers":{"from":"ci"}}');

    res = await post({ payload: 1 });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /eventName/);
    res = await post({ eventName: "x", headers: [1] });
    assert.equal(res.status, 400);
    await res.body?.cancel();
    res = await post("{nope");
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /JSON/i);
    assert.equal(a.frames.length, 1, "refused publishes deliver nothing");
  } finally {
    await hub.shutdown();
  }
});

Deno.test("relay hub: --token is required on upgrade and on /publish", async () => {
  const hub = await serveHub({ port: 0, token: "s3cret" });
  try {
    const port = hub.port;
    assert.equal((await rawHttpStatus(port, upgradeRequest(port, "/ws"))).status, 401);
    assert.equal((await rawHttpStatus(port, upgradeRequest(port, "/ws?token=nope"))).status, 401);
    assert.equal(
      (await rawHttpStatus(port, upgradeRequest(port, "/ws", "Authorization: Bearer s3cret\r\n")))
        .status,
      101,
    );
    await using a = await rawPeer(`${hub.wsUrl}?token=s3cret`);
    let res = await fetch(`${hub.url}/publish`, {
      method: "POST",
      body: JSON.stringify({ eventName: "x" }),
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    res = await fetch(`${hub.url}/publish`, {
      method: "POST",
      headers: { authorization: "Bearer s3cret" },
      body: JSON.stringify({ eventName: "x" }),
    });
    assert.equal(res.status, 415);
    assert.match((await res.json()).error, /Content-Type: application\/json/);
    res = await fetch(`${hub.url}/publish`, {
      method: "POST",
      headers: { authorization: "Bearer s3cret", "content-type": "application/json" },
      body: JSON.stringify({ eventName: "x" }),
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(JSON.parse(await a.next()).eventName, "x");
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    assert.match(metrics, /^syft_hub_auth_refused_total 3$/m);
  } finally {
    await hub.shutdown();
  }
});

Deno.test("relay hub: GET / shows connections and rooms; GET /metrics is Prometheus text", async () => {
  const hub = await serveHub({ port: 0 });
  try {
    await using a = await rawPeer(hub.wsUrl);
    await using b = await rawPeer(hub.wsUrl);
    a.send('{"eventName":"$join","payload":{"room":"ops"}}');
    await a.next();
    a.send('{"eventName":"hello"}');
    await b.next();
    const status = await (await fetch(`${hub.url}/`)).json();
    assert.equal(status.service, "syft-hub");
    assert.equal(status.path, "/ws");
    assert.equal(status.connections, 2);
    assert.deepEqual(status.rooms, { lobby: 2, ops: 1 });
    assert.equal(status.clients.length, 2);
    assert.match(status.clients[0].id, /^zpt-/);
    const res = await fetch(`${hub.url}/metrics`);
    assert.match(res.headers.get("content-type")!, /text\/plain/);
    const text = await res.text();
    assert.match(text, /^# TYPE syft_hub_connections gauge$/m);
    assert.match(text, /^syft_hub_connections 2$/m);
    assert.match(text, /^syft_hub_rooms 2$/m);
    assert.match(text, /^syft_hub_events_received_total 2$/m);
    assert.match(text, /^syft_hub_events_relayed_total 1$/m);
    assert.match(text, /^syft_hub_deliveries_total 1$/m);
    assert.match(text, /^syft_hub_connections_total 2$/m);
  } finally {
    await hub.shutdown();
  }
});

Deno.test("relay hub: frames over --max-frame close with 1009; /publish bodies over it get 413", async () => {
  const hub = await serveHub({ port: 0, maxFrameBytes: 256 });
  try {
    const a = await rawPeer(hub.wsUrl);
    a.send(JSON.stringify({ eventName: "x", payload: "p".repeat(300) }));
    assert.equal((await a.closed).code, 1009);
    const res = await fetch(`${hub.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ eventName: "x", payload: "p".repeat(300) }),
    });
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, /over 256 bytes/);
  } finally {
    await hub.shutdown();
  }
});

Deno.test("relay hub: shutdown closes clients with 1001", async () => {
  const hub = await serveHub({ port: 0 });
  const a = await rawPeer(hub.wsUrl);
  await hub.shutdown();
  const closed = await a.closed;
  assert.equal(closed.code, 1001);
  assert.equal(closed.reason, "server shutting down");
});

Deno.test("createHubApp() answers non-upgrade requests on the WebSocket path with 426", async () => {
  const relay = createHubApp();
  const res = await relay.app.request("/ws");
  assert.equal(res.status, 426);
  await res.body?.cancel();
  await relay.close();
});

redisTest(
  "relay hub: two instances on one Redis relay a room across instances and /publish reaches both",
  async (r) => {
    const one = await serveHub({ port: 0, redisUrl: r.url, redisPrefix: r.prefix });
    const two = await serveHub({ port: 0, redisUrl: r.url, redisPrefix: r.prefix });
    try {
      await using a = await rawPeer(one.wsUrl);
      await using b = await rawPeer(two.wsUrl);
      await waitFor(async () => (await r.client.hlen(`${r.prefix}:conns`)) === 2);
      a.send('{"eventName":"chat","payload":"across"}');
      assert.equal(await b.next(), '{"eventName":"chat","payload":"across","headers":{}}');
      const res = await fetch(`${two.url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ eventName: "news" }),
      });
      assert.deepEqual(await res.json(), { delivered: 1, room: null });
      assert.equal(await a.next(), '{"eventName":"news","payload":null,"headers":{}}');
      assert.equal(await b.next(), '{"eventName":"news","payload":null,"headers":{}}');
    } finally {
      await one.shutdown();
      await two.shutdown();
    }
  },
);

Deno.test("relay hub: a connection may be in 100 rooms at most; GET / lists the largest 200", async () => {
  const hub = await serveHub({ port: 0 });
  try {
    await using a = await rawPeer(hub.wsUrl);
    for (let i = 1; i < 100; i++) { // the lobby is the first room
      a.send(JSON.stringify({ eventName: "$join", payload: { room: `r${i}` } }));
      assert.equal(JSON.parse(await a.next()).eventName, "$joined");
    }
    a.send('{"eventName":"$join","payload":{"room":"one-too-many"}}');
    const refused = JSON.parse(await a.next());
    assert.equal(refused.payload.code, "TOO_MANY_ROOMS");
    a.send('{"eventName":"$join","payload":{"room":"r5"}}'); // already in: fine
    assert.equal(JSON.parse(await a.next()).eventName, "$joined");
    const status = await (await fetch(`${hub.url}/`)).json();
    assert.equal(status.roomsTotal, 100);
    assert.equal(status.roomsTruncated, false);
    assert.equal(status.clients[0].rooms.length, 100);
  } finally {
    await hub.shutdown();
  }
});
