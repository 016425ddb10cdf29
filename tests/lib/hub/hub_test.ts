import assert from "node:assert/strict";
import {
  createConnectionRouter,
  createEventRegister,
  createZapHub,
  type DisconnectInfo,
  HubError,
  type HubErrorInfo,
  type ZapHub,
} from "../../../lib/hub/mod.ts";
import { honoHandler } from "../../../lib/hub/hono.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import {
  deferred,
  delay,
  rawHttpStatus,
  rawPeer,
  startHub,
  tcpPeer,
  upgradeRequest,
} from "./_helpers.ts";

Deno.test("ZapHub fires connected, disconnected (with code and reason) and keeps ids zpt-uuid", async () => {
  const seen: string[] = [];
  const closes: DisconnectInfo[] = [];
  const ids: string[] = [];
  const register = createEventRegister()
    .on("connected", ({ connection, payload }) => {
      assert.equal(payload, null);
      ids.push(connection.id);
      seen.push("connected");
    })
    .on("disconnected", ({ payload }) => {
      closes.push(payload);
      seen.push("disconnected");
    });
  await using server = startHub(register);
  const peer = await rawPeer(server.url);
  await waitFor(() => seen.length === 1);
  peer.socket.close(4000, "bye now");
  await peer.closed;
  await waitFor(() => seen.length === 2);
  assert.deepEqual(seen, ["connected", "disconnected"]);
  assert.deepEqual(closes, [{ code: 4000, reason: "bye now" }]);
  assert.match(
    ids[0]!,
    /^zpt-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.equal(server.hub.stats.connectionsTotal, 1);
  assert.equal(server.hub.connections, 0);
});

Deno.test("ZapHub speaks the reference wire frames exactly (headers present, absent, null; payload absent)", async () => {
  const received: unknown[] = [];
  const register = createEventRegister()
    .on("header", ({ connection, payload, headers }) => {
      received.push({ payload, headers });
      connection.send("headerTest", { isOk: true }, { test: "headerTest" });
    })
    .on("empty-event", ({ connection, payload, headers }) => {
      received.push({ payload, headers });
      connection.send("empty-event");
    });
  await using server = startHub(register);
  await using peer = await rawPeer(server.url);
  // C→S exactly as the Python client writes it.
  peer.send('{"eventName": "header", "payload": {}, "headers": {"clientHeader": "client"}}');
  assert.equal(
    await peer.next(),
    '{"eventName":"headerTest","payload":{"isOk":true},"headers":{"test":"headerTest"}}',
  );
  // No payload, no headers.
  peer.send('{"eventName": "empty-event"}');
  assert.equal(await peer.next(), '{"eventName":"empty-event","payload":null,"headers":{}}');
  // headers: null (Go), payload absent.
  peer.send('{"eventName":"empty-event","headers":null}');
  assert.equal(await peer.next(), '{"eventName":"empty-event","payload":null,"headers":{}}');
  assert.deepEqual(received, [
    { payload: {}, headers: { clientHeader: "client" } },
    { payload: null, headers: {} },
    { payload: null, headers: {} },
  ]);
});

Deno.test("ZapHub runs one connection's events in order, awaiting each async handler", async () => {
  const order: number[] = [];
  let running = 0;
  let maxRunning = 0;
  const register = createEventRegister().on("step", async ({ payload }) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    // Later events sleep less: without ordering they would finish first.
    await delay(20 - (payload as number) * 4);
    order.push(payload as number);
    running--;
  });
  await using server = startHub(register);
  await using peer = await rawPeer(server.url);
  for (let i = 0; i < 5; i++) peer.send(JSON.stringify({ eventName: "step", payload: i }));
  await waitFor(() => order.length === 5);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(maxRunning, 1);
});

Deno.test("ZapHub never blocks other connections behind a slow handler", async () => {
  const gate = deferred();
  const register = createEventRegister()
    .on("slow", async () => {
      await gate.promise;
    })
    .on("fast", ({ connection }) => connection.send("fast-done"));
  await using server = startHub(register);
  await using a = await rawPeer(server.url);
  await using b = await rawPeer(server.url);
  a.send('{"eventName":"slow"}');
  a.send('{"eventName":"fast"}'); // queued behind the slow handler of its own connection
  b.send('{"eventName":"fast"}');
  assert.equal(await b.next(), '{"eventName":"fast-done","payload":null,"headers":{}}');
  await delay(50);
  assert.equal(a.frames.length, 0, "a's second event must wait for its first");
  gate.resolve();
  assert.equal(await a.next(), '{"eventName":"fast-done","payload":null,"headers":{}}');
});

Deno.test("ZapHub with concurrent: true runs a connection's events as they arrive", async () => {
  const gate = deferred();
  const started: string[] = [];
  const register = createEventRegister()
    .on("slow", async ({ connection }) => {
      started.push("slow");
      await gate.promise;
      connection.send("slow-done");
    })
    .on("fast", ({ connection }) => {
      started.push("fast");
      connection.send("fast-done");
    });
  await using server = startHub(register, { concurrent: true });
  await using peer = await rawPeer(server.url);
  peer.send('{"eventName":"slow"}');
  peer.send('{"eventName":"fast"}');
  assert.equal(JSON.parse(await peer.next()).eventName, "fast-done");
  gate.resolve();
  assert.equal(JSON.parse(await peer.next()).eventName, "slow-done");
  assert.deepEqual(started, ["slow", "fast"]);
});

Deno.test("ZapHub waits for an async connected handler before running events", async () => {
  const register = createEventRegister()
    .on("connected", async ({ connection }) => {
      await delay(30);
      connection.data.user = "ada";
    })
    .on("whoami", ({ connection }) => connection.send("you", connection.data.user));
  await using server = startHub(register);
  await using peer = await rawPeer(server.url);
  peer.send('{"eventName":"whoami"}');
  assert.equal(await peer.next(), '{"eventName":"you","payload":"ada","headers":{}}');
});

Deno.test("ZapHub raises error for a throwing handler and the connection stays up", async () => {
  const errors: HubErrorInfo[] = [];
  const register = createEventRegister()
    .on("boom", () => {
      throw new Error("kaput");
    })
    .on("reject", () => Promise.reject(new Error("async kaput")))
    .on("ping", ({ connection }) => connection.send("pong"))
    .on("error", ({ payload }) => {
      errors.push(payload);
    });
  await using server = startHub(register);
  await using peer = await rawPeer(server.url);
  await using other = await rawPeer(server.url);
  peer.send('{"eventName":"boom"}');
  peer.send('{"eventName":"reject"}');
  peer.send('{"eventName":"ping"}');
  assert.equal(JSON.parse(await peer.next()).eventName, "pong");
  other.send('{"eventName":"ping"}');
  assert.equal(JSON.parse(await other.next()).eventName, "pong");
  assert.equal(errors.length, 2);
  assert.equal(errors[0]!.code, "HANDLER_ERROR");
  assert.equal(errors[0]!.eventName, "boom");
  assert.match(errors[0]!.message, /The handler of event "boom" failed: kaput/);
  assert.ok(errors[0]!.error instanceof Error);
  assert.equal(errors[1]!.eventName, "reject");
  assert.equal(server.hub.stats.handlerErrors, 2);
  assert.equal(peer.frames.length, 1, "handler errors are not sent to the peer");
});

Deno.test("ZapHub answers each malformed frame with an error event and keeps serving", async () => {
  const errors: HubErrorInfo[] = [];
  const register = createEventRegister()
    .on("ping", ({ connection }) => connection.send("pong"))
    .on("error", ({ payload }) => {
      errors.push(payload);
    });
  await using server = startHub(register);
  await using peer = await rawPeer(server.url);
  await using bystander = await rawPeer(server.url);
  const cases: [string | Uint8Array<ArrayBuffer>, string, RegExp][] = [
    ["{oops", "INVALID_JSON", /invalid JSON/],
    ['{"payload": {}}', "MISSING_EVENT_NAME", /"eventName" is missing/],
    ['{"eventName": 7, "payload": null}', "INVALID_EVENT_NAME", /must be a string, got number 7/],
    ["[]", "NOT_AN_OBJECT", /expected a JSON object/],
    ['{"eventName": "ping", "headers": 5}', "INVALID_HEADERS", /"headers" must be an object/],
    [new Uint8Array([1, 2, 3]), "BINARY_FRAME", /binary frames are not supported/],
    ['{"eventName": "nobody-handles-this"}', "UNKNOWN_EVENT", /No handler for event/],
  ];
  for (const [frame, code, message] of cases) {
    peer.send(frame);
    const reply = JSON.parse(await peer.next());
    assert.equal(reply.eventName, "error", String(frame));
    assert.equal(reply.payload.code, code, String(frame));
    assert.match(reply.payload.message, message);
    assert.deepEqual(reply.headers, {});
    // The same connection and another one are still served.
    peer.send('{"eventName":"ping"}');
    assert.equal(JSON.parse(await peer.next()).eventName, "pong");
  }
  bystander.send('{"eventName":"ping"}');
  assert.equal(JSON.parse(await bystander.next()).eventName, "pong");
  assert.deepEqual(errors.map((e) => e.code), cases.map(([, code]) => code));
  assert.equal(server.hub.stats.framesRejected, 6);
});

Deno.test("ZapHub ignores unknown events when unknownEvents is ignore, and onAny catches them", async () => {
  const register = createEventRegister().on("ping", ({ connection }) => connection.send("pong"));
  await using server = startHub(register, { unknownEvents: "ignore" });
  await using peer = await rawPeer(server.url);
  peer.send('{"eventName":"who"}');
  peer.send('{"eventName":"ping"}');
  assert.equal(JSON.parse(await peer.next()).eventName, "pong");

  const any = createEventRegister().onAny(({ connection, eventName }) =>
    connection.send("any", eventName)
  );
  await using server2 = startHub(any);
  await using peer2 = await rawPeer(server2.url);
  // A peer cannot trigger lifecycle handlers: "connected" from the wire is an ordinary event.
  peer2.send('{"eventName":"connected"}');
  assert.equal(await peer2.next(), '{"eventName":"any","payload":"connected","headers":{}}');
});

Deno.test("ZapHub closes a connection with 1009 for a frame over the limit", async () => {
  const errors: string[] = [];
  const register = createEventRegister()
    .on("ping", ({ connection }) => connection.send("pong"))
    .on("error", ({ payload }) => {
      errors.push(payload.code);
    });
  await using server = startHub(register, { maxFrameBytes: 1024 });
  await using peer = await rawPeer(server.url);
  await using other = await rawPeer(server.url);
  peer.send(JSON.stringify({ eventName: "ping", payload: "x".repeat(900) })); // < 1024 bytes
  assert.equal(JSON.parse(await peer.next()).eventName, "pong");
  peer.send(JSON.stringify({ eventName: "ping", payload: "é".repeat(600) })); // 1200+ bytes
  const closed = await peer.closed;
  assert.equal(closed.code, 1009);
  assert.match(closed.reason, /1024-byte limit/);
  assert.deepEqual(errors, ["FRAME_TOO_LARGE"]);
  other.send('{"eventName":"ping"}');
  assert.equal(JSON.parse(await other.next()).eventName, "pong");
});

Deno.test("ZapHub closes a consumer that does not read with 1013 once its send buffer passes the limit", async () => {
  const errors: HubErrorInfo[] = [];
  const sends: boolean[] = [];
  const chunk = "y".repeat(256 * 1024);
  const register = createEventRegister()
    .on("flood", ({ connection }) => {
      // Write until the hub refuses: the peer never reads, so the buffer must hit the limit.
      for (let i = 0; i < 400; i++) {
        const ok = connection.send("chunk", chunk);
        sends.push(ok);
        if (!ok) break;
      }
    })
    .on("error", ({ payload }) => {
      errors.push(payload);
    });
  await using server = startHub(register, { sendBufferLimit: 512 * 1024 });
  using peer = await tcpPeer(server.port);
  await peer.sendText('{"eventName":"flood"}');
  await waitFor(() => errors.length > 0, { timeoutMs: 10_000 });
  assert.equal(errors[0]!.code, "SEND_BUFFER_OVERFLOW");
  assert.equal(sends.at(-1), false);
  assert.ok(sends.length < 400, `stopped after ${sends.length} sends`);
  // The peer now reads everything queued and finds the 1013 close frame at the end.
  const { code, reason, dataBytes } = await peer.readUntilClose(20_000);
  assert.equal(code, 1013);
  assert.match(reason, /send buffer over 524288 bytes/);
  assert.ok(dataBytes > 512 * 1024);
  assert.equal(server.hub.stats.overflows, 1);
});

Deno.test("ZapHub closes a connection with 1013 when too many events wait for its handlers", async () => {
  const gate = deferred();
  const errors: string[] = [];
  const register = createEventRegister()
    .on("slow", () => gate.promise)
    .on("error", ({ payload }) => {
      errors.push(payload.code);
    });
  await using server = startHub(register, { maxQueuedEvents: 3 });
  await using peer = await rawPeer(server.url);
  for (let i = 0; i < 6; i++) peer.send('{"eventName":"slow"}');
  const closed = await peer.closed;
  assert.equal(closed.code, 1013);
  assert.deepEqual(errors, ["EVENT_QUEUE_OVERFLOW"]);
  gate.resolve();
});

Deno.test("ZapHub heartbeat closes a peer that does not answer pings, and keeps live ones", async () => {
  const gone: DisconnectInfo[] = [];
  const register = createEventRegister()
    .on("ping", ({ connection }) => connection.send("pong"))
    .on("disconnected", ({ payload }) => {
      gone.push(payload);
    });
  await using server = startHub(register, { idleTimeout: 1 });
  using dead = await tcpPeer(server.port); // never answers pings
  await using live = await rawPeer(server.url); // the WebSocket answers pings itself
  // A raw peer that answers each ping by hand: Deno's own heartbeat timer (not ours, so no fake
  // clock can drive it) marks the time, and its pings are the real events awaited.
  using watcher = await tcpPeer(server.port);
  let pings = 0;
  let watcherClosed = false;
  const answering = (async () => {
    for (;;) {
      const { opcode, body } = await watcher.readFrame(5_000);
      if (opcode === 0x8) {
        watcherClosed = true;
        return;
      }
      if (opcode === 0x9) {
        await watcher.sendFrame(0xa, body);
        pings++;
      }
    }
  })().catch(() => {});
  await waitFor(() => gone.length === 1, { timeoutMs: 5_000, what: "the dead peer to be dropped" });
  assert.equal(gone[0]!.code, 1001);
  assert.match(gone[0]!.reason, /ping/i);
  // Two more answered pings after the dead peer went: more than a whole heartbeat has passed.
  const seen = pings;
  await waitFor(() => pings >= seen + 2 || watcherClosed, {
    timeoutMs: 5_000,
    what: "two more heartbeat pings",
  });
  assert.equal(watcherClosed, false, "the hub must not close a peer that answers pings");
  assert.equal(gone.length, 1, "the live peers must stay connected");
  live.send('{"eventName":"ping"}');
  assert.equal(JSON.parse(await live.next()).eventName, "pong");
  dead.conn.close();
  watcher.conn.close();
  await answering;
});

Deno.test("ZapHub authenticate() refuses with 401 and passes its object as connection data", async () => {
  const register = createEventRegister().on(
    "whoami",
    ({ connection }) => connection.send("you", connection.data),
  );
  await using server = startHub(register, {
    path: "/ws",
    authenticate: (req) => {
      const token = new URL(req.url).searchParams.get("token");
      if (token === "throw") throw new Error("auth backend down");
      return token === "good" ? { user: "ada" } : false;
    },
  });
  const refused = await rawHttpStatus(server.port, upgradeRequest(server.port, "/ws?token=bad"));
  assert.equal(refused.status, 401);
  const threw = await rawHttpStatus(server.port, upgradeRequest(server.port, "/ws?token=throw"));
  assert.equal(threw.status, 401);
  const wrongPath = await rawHttpStatus(server.port, upgradeRequest(server.port, "/other"));
  assert.equal(wrongPath.status, 404);
  const plain = await fetch(`http://127.0.0.1:${server.port}/ws`);
  assert.equal(plain.status, 426);
  assert.match((await plain.json()).error, /WebSocket upgrade/);
  await using peer = await rawPeer(`${server.url}?token=good`);
  peer.send('{"eventName":"whoami"}');
  assert.equal(await peer.next(), '{"eventName":"you","payload":{"user":"ada"},"headers":{}}');
  assert.equal(server.hub.stats.authRefused, 2);
});

Deno.test("ZapHub with a router adds connections on connect and removes them on disconnect", async () => {
  const router = createConnectionRouter();
  const register = createEventRegister()
    .on("connected", ({ connection }) => router.join(connection, "all"))
    .on("shout", ({ connection, payload }) => {
      router.to("all").send("shout", payload, { exclude: connection });
    });
  await using server = startHub(register, { router });
  await using a = await rawPeer(server.url);
  const b = await rawPeer(server.url);
  await waitFor(() => router.size === 2);
  a.send('{"eventName":"shout","payload":"hi"}');
  assert.equal(await b.next(), '{"eventName":"shout","payload":"hi","headers":{}}');
  await b.close();
  await waitFor(() => router.size === 1);
  assert.deepEqual([...router.rooms()], [["all", 1]]);
  assert.equal(a.frames.length, 0, "the sender is excluded");
});

Deno.test("ZapHub runs disconnected after the events the peer sent before closing", async () => {
  const log: string[] = [];
  const register = createEventRegister()
    .on("work", async ({ payload }) => {
      await delay(20);
      log.push(`work ${payload}`);
    })
    .on("disconnected", () => {
      log.push("disconnected");
    });
  await using server = startHub(register);
  const peer = await rawPeer(server.url);
  peer.send('{"eventName":"work","payload":1}');
  peer.send('{"eventName":"work","payload":2}');
  await peer.close();
  await waitFor(() => log.length === 3);
  assert.deepEqual(log, ["work 1", "work 2", "disconnected"]);
});

Deno.test("honoHandler() serves the same hub behind a Hono route, with 401 and 426", async () => {
  const { Hono } = await import("hono");
  const register = createEventRegister().on(
    "echo",
    ({ connection, payload, headers }) => connection.send("echo", payload, headers),
  );
  const hub = createZapHub(register, {
    authenticate: (req) =>
      req.headers.get("authorization") === "Bearer s3cret" ||
      new URL(req.url).searchParams.get("token") === "s3cret",
  });
  const app = new Hono();
  app.get("/ws", honoHandler(hub));
  // Without the network: plain request and refused credentials.
  const plain = await app.request("/ws");
  assert.equal(plain.status, 426);
  await plain.body?.cancel();
  const refused = await app.request("/ws", {
    headers: { upgrade: "websocket", connection: "Upgrade" },
  });
  assert.equal(refused.status, 401);
  assert.match((await refused.json()).error, /Unauthorized/);
  // Over a real socket.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    await using peer = await rawPeer(`ws://127.0.0.1:${server.addr.port}/ws?token=s3cret`);
    peer.send('{"eventName":"echo","payload":[1,"two"],"headers":{"h":1}}');
    assert.equal(await peer.next(), '{"eventName":"echo","payload":[1,"two"],"headers":{"h":1}}');
    peer.send("not json");
    assert.equal(JSON.parse(await peer.next()).payload.code, "INVALID_JSON");
    assert.equal(hub.connections, 1);
  } finally {
    await hub.close();
    await server.shutdown();
  }
});

Deno.test("honoHandler() refuses an object that only looks like a hub, with HUB_OPTIONS", () => {
  const real = createZapHub(createEventRegister());
  const lookalike: ZapHub = { ...real, fetch: real.fetch };
  assert.throws(
    () => honoHandler(lookalike),
    (err) =>
      err instanceof HubError && err.code === "HUB_OPTIONS" &&
      /made by createZapHub\(\)/.test(err.message),
  );
  assert.equal(typeof honoHandler(real), "function");
});

Deno.test("ZapHub.close() closes every connection with 1001 and refuses new ones with 503", async () => {
  const register = createEventRegister();
  await using server = startHub(register);
  const a = await rawPeer(server.url);
  const b = await rawPeer(server.url);
  await waitFor(() => server.hub.connections === 2);
  await server.hub.close();
  assert.equal((await a.closed).code, 1001);
  assert.equal((await b.closed).code, 1001);
  assert.equal(server.hub.connections, 0);
  const late = await rawHttpStatus(server.port, upgradeRequest(server.port, "/ws"));
  assert.equal(late.status, 503);
});

Deno.test("ZapHub rejects invalid options with a HubError naming the option", () => {
  assert.throws(() => createZapHub(createEventRegister(), { maxFrameBytes: 0 }), /maxFrameBytes 0/);
  assert.throws(() => createZapHub(createEventRegister(), { idleTimeout: -1 }), /idleTimeout -1/);
  assert.throws(
    () => createEventRegister().on("x", () => {}).on("x", () => {}),
    /already has one/,
  );
});

Deno.test("ZapHub.close() waits for disconnected handlers up to timeoutMs on its clock", async () => {
  const clock = new FakeClock();
  const gate = deferred();
  const register = createEventRegister().on("disconnected", () => gate.promise);
  await using server = startHub(register, { clock });
  await using peer = await rawPeer(server.url);
  await waitFor(() => server.hub.connections === 1);
  let closed = false;
  const closing = server.hub.close({ timeoutMs: 1_000 }).then(() => closed = true);
  await peer.closed; // the close frame went out for real
  await clock.tick(999);
  assert.equal(closed, false, "the handler still runs and the time is not up");
  await clock.tick(1);
  await closing;
  assert.equal(closed, true);
  gate.resolve();
});
