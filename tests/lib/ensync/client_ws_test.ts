/**
 * The WebSocket client against a scripted WebSocket server (a real server on 127.0.0.1), for wire
 * behaviour the real engine never shows: exact frames, odd replies, silence, dropped sockets.
 */
import assert from "node:assert/strict";
import {
  encryptPayload,
  EnSyncConnectionError,
  EnSyncTimeoutError,
  EnSyncWebSocketEngine,
  formatRecord,
  generateKeyPair,
} from "../../../lib/ensync/mod.ts";
import { RecordingClock, sleep } from "./_fixture.ts";

type Reply = string | string[] | undefined;

/** A WebSocket server that records every frame and answers through `script`. */
function scriptedServer(script: (frame: string, conn: number, socket: WebSocket) => Reply) {
  const frames: Array<{ conn: number; frame: string }> = [];
  const sockets: WebSocket[] = [];
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    paths.push(new URL(req.url).pathname);
    const { socket, response } = Deno.upgradeWebSocket(req);
    const conn = sockets.length;
    sockets.push(socket);
    socket.onmessage = (ev) => {
      const frame = String(ev.data);
      frames.push({ conn, frame });
      if (frame === "PONG") return; // not a command: no reply
      const reply = script(frame, conn, socket);
      for (const r of [reply ?? []].flat()) socket.send(r);
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}`,
    frames,
    sockets,
    paths,
    framesOf: (conn: number) => frames.filter((f) => f.conn === conn).map((f) => f.frame),
    async [Symbol.asyncDispose]() {
      for (const s of sockets) {
        try {
          s.close();
        } catch { /* closed */ }
      }
      await server.shutdown();
    },
  };
}

/** Answers CONN like the SDKs expect and everything else with +PASS. */
function passAll(frame: string, conn: number): Reply {
  if (frame.startsWith("CONN;")) return `+PASS:{clientId=c${conn},clientHash=AAAA=}`;
  if (frame.startsWith("PUB;")) return `+PASS:PUBLISHED;IDEM=id-${frame.length};TIMESTAMP=1`;
  return "+PASS:OK";
}

Deno.test("EnSyncWebSocketEngine speaks KEY=:value to /message and parses +PASS:{clientId=..,clientHash=..}", async () => {
  await using srv = scriptedServer(passAll);
  const me = generateKeyPair();
  const engine = new EnSyncWebSocketEngine(srv.url.replace("ws:", "http:"));
  try {
    const client = await engine.createClient("key-1", { appSecretKey: me.secretKey });
    assert.equal(client.clientId, "c0");
    assert.equal(srv.paths[0], "/message");
    const sub = await client.subscribe("orders/created");
    await sub.pause("lunch; back soon");
    await sub.continue();
    await sub.discard("e1", "bad\nline");
    await sub.defer("e2", 1500, "later");
    await sub.unsubscribe();
    assert.deepEqual(srv.framesOf(0), [
      "CONN;ACCESS_KEY=:key-1",
      "SUB;CLIENT_ID=:c0;EVENT_NAME=:orders/created",
      "PAUSE;CLIENT_ID=:c0;EVENT_NAME=:orders/created;REASON=:lunch; back soon",
      "CONTINUE;CLIENT_ID=:c0;EVENT_NAME=:orders/created",
      "DISCARD;CLIENT_ID=:c0;EVENT_IDEM=:e1;EVENT_NAME=:orders/created;REASON=:bad line",
      "DEFER;CLIENT_ID=:c0;EVENT_IDEM=:e2;EVENT_NAME=:orders/created;DELAY=:1500;REASON=:later",
      "UNSUB;CLIENT_ID=:c0;EVENT_NAME=:orders/created",
    ]);
    const [id] = await client.publish("a/b", [me.publicKey], { x: 1 }, {
      persist: false,
      headers: { h: "a;b" },
    });
    const pub = srv.framesOf(0).at(-1)!;
    assert.equal(id, `id-${pub.length}`);
    assert.match(pub, /^PUB;CLIENT_ID=:c0;EVENT_NAME=:a\/b;PAYLOAD=:[A-Za-z0-9+/=]+;DELIVERY_TO=:/);
    assert.ok(
      pub.includes(
        `;DELIVERY_TO=:${me.publicKey};METADATA=:{"persist":false,"headers":{"h":"a\\u003bb"}};PAYLOAD_METADATA=:{"byte_size":7,"skeleton":{"x":"number"}}`,
      ),
      pub,
    );
  } finally {
    await engine.close();
  }
});

Deno.test("the WebSocket client correlates replies strictly in order, even hundreds in the same millisecond", async () => {
  let n = 0;
  const queue: Array<{ socket: WebSocket; reply: string }> = [];
  await using srv = scriptedServer((frame, conn, socket) => {
    if (frame.startsWith("CONN;")) return `+PASS:{clientId=c${conn},clientHash=h}`;
    // answer in order, in bursts, with a reply that names the request
    queue.push({
      socket,
      reply: `+PASS:PUBLISHED;IDEM=${frame.match(/"n":(\d+)/)?.[1] ?? "?"}-${n++}`,
    });
    if (queue.length >= 50) { for (const q of queue.splice(0)) q.socket.send(q.reply); }
    return undefined;
  });
  const me = generateKeyPair();
  const engine = new EnSyncWebSocketEngine(srv.url);
  try {
    const client = await engine.createClient("key-1", { appSecretKey: me.secretKey });
    // payload_metadata carries byte_size only; put n into metadata so the server can echo it
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => client.publish("a/b", [me.publicKey], null, { n: i })),
    );
    assert.deepEqual(
      results.map((r) => r[0]!.split("-")[0]),
      Array.from({ length: 300 }, (_, i) => String(i)),
    );
  } finally {
    await engine.close();
  }
});

/** A promise and a flag that says whether it settled yet. */
function watch<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  return { promise, settled: () => settled };
}

Deno.test("a request with no reply times out on the client's clock, and the client reconnects after its backoff with a new id and re-subscribes", async () => {
  let silent = false;
  await using srv = scriptedServer((frame, conn) => {
    if (frame.startsWith("CONN;")) return `+PASS:{clientId=c${conn},clientHash=h}`;
    if (silent && frame.startsWith("PUB;")) return undefined;
    return "+PASS:OK";
  });
  const me = generateKeyPair();
  const reconnected = Promise.withResolvers<{ clientId: string; attempt: number }>();
  const clock = new RecordingClock();
  const engine = new EnSyncWebSocketEngine(srv.url, {
    requestTimeout: 5_000,
    reconnectInterval: 10_000,
    clock,
  });
  try {
    const client = await engine.createClient("key-1", {
      appSecretKey: me.secretKey,
      onReconnect: (info) => reconnected.resolve(info),
      onError: () => {},
    });
    const sub = await client.subscribe("orders/*");
    await sub.pause("hold");
    silent = true;
    const publish = watch(client.publish("a/b", [me.publicKey], 1));
    await clock.tick(4_999);
    assert.equal(publish.settled(), false, "still waiting 1 ms before the request timeout");
    await clock.tick(1);
    assert.equal(publish.settled(), true, "timed out at the request timeout");
    await assert.rejects(publish.promise, (e: Error) => e.cause instanceof EnSyncTimeoutError);
    silent = false;
    // The lost connection is retried after reconnectInterval ± 10 %, on the client's clock.
    const backoff = await clock.timer((ms) => ms >= 9_000 && ms <= 11_000);
    // Meanwhile a request waits for the reconnect, up to the request timeout.
    const waiting = watch(client.publish("a/b", [me.publicKey], 2));
    await clock.tick(4_999);
    assert.equal(waiting.settled(), false);
    await clock.tick(1);
    assert.equal(
      waiting.settled(),
      true,
      "gave up waiting for the reconnect at the request timeout",
    );
    await assert.rejects(
      waiting.promise,
      (e: Error) =>
        e.cause instanceof EnSyncTimeoutError && /Not reconnected within 5000 ms/.test(e.message),
    );
    await clock.tick(3_999); // 8,999 ms after the loss: before the earliest backoff
    assert.equal(backoff.fired, false, "no reconnect attempt before the backoff");
    assert.equal(srv.sockets.length, 1);
    await clock.tick(2_001); // 11,000 ms: past the latest one
    assert.equal(backoff.fired, true);
    assert.deepEqual(await reconnected.promise, { clientId: "c1", attempt: 1 });
    assert.equal(client.clientId, "c1");
    // the new connection restores the subscription and its pause, under the new client id
    assert.deepEqual(srv.framesOf(1), [
      "CONN;ACCESS_KEY=:key-1",
      "SUB;CLIENT_ID=:c1;EVENT_NAME=:orders/*",
      "PAUSE;CLIENT_ID=:c1;EVENT_NAME=:orders/*;REASON=:hold",
    ]);
    const [id] = await client.publish("a/b", [me.publicKey], 3);
    assert.equal(id, "OK");
  } finally {
    await engine.close();
  }
});

Deno.test("the request timeout counts from each request: answered ones and younger ones never time a session out", async () => {
  let held: (() => void) | undefined;
  await using srv = scriptedServer((frame, conn, socket) => {
    if (frame.startsWith("PUB;") && frame.includes('"hold"')) {
      held = () => socket.send("+PASS:PUBLISHED;IDEM=late");
      return undefined;
    }
    return passAll(frame, conn);
  });
  const me = generateKeyPair();
  const clock = new RecordingClock();
  const engine = new EnSyncWebSocketEngine(srv.url, { requestTimeout: 5_000, clock });
  try {
    const client = await engine.createClient("key-1", { appSecretKey: me.secretKey });
    await clock.tick(4_000);
    await client.publish("a/b", [me.publicKey], 1); // answered 4 s after CONN
    const late = watch(client.publish("a/b", [me.publicKey], 2, { hold: true }));
    await clock.tick(1_000); // CONN's deadline: only a 1 s old request is waiting
    assert.equal(client.clientId, "c0", "the connection was kept");
    assert.equal(late.settled(), false);
    held!();
    assert.deepEqual(await late.promise, ["late"]);
    await clock.tick(60_000); // nothing is waiting: nothing times out
    assert.equal(client.clientId, "c0");
    assert.equal((await client.publish("a/b", [me.publicKey], 3)).length, 1);
    assert.equal(srv.sockets.length, 1, "never reconnected");
  } finally {
    await engine.close();
  }
});

Deno.test("reconnect attempts back off ×1.5 per attempt up to 30 s on the client's clock; after maxReconnectAttempts the client gives up with EnSyncConnectionError", async () => {
  let refuse = false;
  await using srv = scriptedServer((frame, conn) => {
    if (frame.startsWith("CONN;")) {
      return refuse
        ? "-FAIL:CLIENT_NOT_FOUND;MESSAGE=Invalid access key"
        : `+PASS:{clientId=c${conn},clientHash=h}`;
    }
    return "+PASS:OK";
  });
  const me = generateKeyPair();
  const clock = new RecordingClock();
  const engine = new EnSyncWebSocketEngine(srv.url, {
    reconnectInterval: 10_000,
    maxReconnectAttempts: 5,
    clock,
  });
  const errors: Error[] = [];
  try {
    const client = await engine.createClient("key-1", {
      appSecretKey: me.secretKey,
      onError: (e) => errors.push(e),
    });
    const sub = await client.subscribe("x/y");
    const iterating = watch((async () => {
      for await (const _ of sub) { /* nothing arrives */ }
    })());
    refuse = true;
    srv.sockets[0]!.close();
    const closed = watch(client.closed);
    // 10 s, 15 s, 22.5 s, then capped at 30 s; each ± 10 % jitter. (The request timeout is 30 s
    // too, but those timers are cleared as each refused attempt's socket closes.)
    for (const [n, base] of [10_000, 15_000, 22_500, 30_000, 30_000].entries()) {
      const backoff = await clock.timer((ms) => ms >= base * 0.9 && ms <= base * 1.1);
      await clock.tick(backoff.due - clock.now() - 1);
      assert.equal(backoff.fired, false, `attempt ${n + 1} waits its backoff`);
      assert.equal(srv.sockets.length, n + 1, `no attempt ${n + 1} before its backoff`);
      await clock.tick(1);
      assert.equal(backoff.fired, true);
    }
    const reason = await closed.promise;
    assert.ok(reason instanceof EnSyncConnectionError, String(reason));
    assert.match(reason!.message, /Gave up reconnecting after 5 attempt/);
    await assert.rejects(iterating.promise, EnSyncConnectionError);
    assert.equal(srv.sockets.length, 6, "five reconnect attempts");
    assert.ok(errors.includes(reason!));
  } finally {
    await engine.close();
  }
});

Deno.test("records are routed by name, PING gets PONG, junk is ignored, and auto-ack never blocks the reader", async () => {
  const me = generateKeyPair();
  const record = (idem: string, name: string, payload: unknown) =>
    formatRecord({
      idem,
      name,
      block: 7,
      payload: encryptPayload(payload, me.publicKey),
      loggedAt: 1_700_000_000_000,
      metadata: { m: 1 },
      sender: "s",
    });
  let socket0: WebSocket | undefined;
  await using srv = scriptedServer((frame, conn, socket) => {
    if (frame.startsWith("CONN;")) {
      socket0 = socket;
      return `+PASS:{clientId=c${conn},clientHash=h}`;
    }
    if (frame.startsWith("SUB;")) {
      return [
        "+PASS:SUBSCRIBED",
        "PING",
        "+HELLO:whatever",
        "+RECORD:{not json",
        record("e0", "other/name", "not mine"),
        record("e1", "orders/created", { first: true }),
      ];
    }
    if (frame.startsWith("PUB;")) return "+PASS:PUBLISHED;IDEM=p1";
    return "+PASS:OK";
  });
  const engine = new EnSyncWebSocketEngine(srv.url);
  try {
    const client = await engine.createClient("key-1", { appSecretKey: me.secretKey });
    const sub = await client.subscribe("orders/*");
    const got: unknown[] = [];
    const done = Promise.withResolvers<void>();
    sub.on(async (event) => {
      got.push(event);
      // A handler that waits for another reply: with auto-ack inside the reader (the Python SDK
      // defect) this would deadlock.
      const ids = await client.publish("audit/seen", [me.publicKey], event.idem);
      got.push(ids);
      done.resolve();
    });
    await done.promise;
    await sleep(50);
    assert.deepEqual(got, [
      {
        idem: "e1",
        block: 7,
        eventName: "orders/created",
        payload: { first: true },
        timestamp: 1_700_000_000_000,
        metadata: { m: 1 },
        sender: "s",
      },
      ["p1"],
    ]);
    const frames = srv.framesOf(0);
    assert.ok(frames.includes("PONG"), "answered PING");
    assert.equal(
      frames.at(-1),
      "ACK;CLIENT_ID=:c0;EVENT_IDEM=:e1;BLOCK=:7;EVENT_NAME=:orders/created",
    );
    assert.ok(
      !frames.some((f) => f.includes("EVENT_IDEM=:e0")),
      "the record for another name was not acked",
    );
    assert.ok(socket0);
  } finally {
    await engine.close();
  }
});
