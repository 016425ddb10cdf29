import assert from "node:assert/strict";
import { decryptPayload, encryptPayload } from "../../../lib/ensync/crypto.ts";
import type { TimerHandle } from "../../../lib/_clock.ts";
import {
  addEnSyncApp,
  EnSyncConfigError,
  startEnSyncServer,
  writeEnSyncConfig,
} from "../../../servers/ensync/mod.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { tcpPeer } from "../../lib/hub/_helpers.ts";
import {
  ackFrame,
  configOf,
  connected,
  pubFrame,
  rawClient,
  startTestEngine,
  testApp,
} from "./_helpers.ts";

const P = "e30="; // an opaque payload: the engine never decrypts

Deno.test("ws: CONN answers {clientId,clientHash} on / and /message; a bad key fails and the socket stays open", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  for (const path of ["/message", "/", "/any/path"]) {
    await using c = await rawClient(`${engine.wsUrl}${path}`);
    const bad = await c.request("CONN;ACCESS_KEY=:nope");
    assert.match(bad, /^-FAIL:CLIENT_NOT_FOUND;MESSAGE=/);
    const ok = await c.conn(a.accessKey);
    const m = /^\+PASS:\{clientId=([^,=}]+),clientHash=([^,=}]+)\}$/.exec(ok);
    assert.ok(m, ok);
    assert.equal(m[2], a.appId.replace(/=+$/, ""));
    // A second connection of the same app gets its own client id.
    await using d = await connected(engine, a, path);
    assert.notEqual(d.clientId, c.clientId);
  }
});

Deno.test("ws: echoes the ensync-protocol subprotocol when offered", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using c = await rawClient(`${engine.wsUrl}/message`, ["ensync-protocol"]);
  assert.equal(c.socket.protocol, "ensync-protocol");
  await using d = await rawClient(`${engine.wsUrl}/message`);
  assert.equal(d.socket.protocol, "");
});

Deno.test("ws: PUB is delivered as +RECORD with the payload untouched; blocks start at 1; ACK sends the next", async () => {
  const a = testApp("a");
  const b = testApp("b");
  await using engine = await startTestEngine([a, b]);
  await using pub = await connected(engine, a);
  await using sub = await connected(engine, b);
  assert.match(
    await sub.request(`SUB;CLIENT_ID=:${sub.clientId};EVENT_NAME=:orders/created`),
    /^\+PASS:SUBSCRIBED;EVENT_NAME=orders\/created$/,
  );
  const payloads = [1, 2, 3].map((n) => encryptPayload({ n }, b.appId));
  const ids: string[] = [];
  for (const p of payloads) {
    const reply = await pub.request(pubFrame(pub, "orders/created", b.appId, p));
    const m = /^\+PASS:PUBLISHED;IDEM=([^;]+);TIMESTAMP=(\d+)$/.exec(reply);
    assert.ok(m, reply);
    ids.push(m[1]!);
  }
  const first = await sub.record();
  assert.deepEqual(Object.keys(first), [
    "id",
    "idem",
    "name",
    "block",
    "loggedAt",
    "payload",
    "metadata",
    "sender",
  ]);
  assert.equal(first.id, ids[0]);
  assert.equal(first.idem, ids[0]);
  assert.equal(first.name, "orders/created");
  assert.equal(first.block, 1);
  assert.equal(first.payload, payloads[0]);
  assert.equal(first.sender, a.appId);
  assert.deepEqual(first.metadata, { persist: true, headers: {} });
  assert.deepEqual(decryptPayload(first.payload as string, b.secretKey), { n: 1 });
  // One in flight: nothing else until the ack.
  assert.ok(await sub.noRecord(150));
  assert.equal(await sub.request(ackFrame(sub, first)), `+PASS:ACKNOWLEDGED;IDEM=${ids[0]}`);
  const second = await sub.record();
  assert.equal(second.block, 2);
  assert.equal(
    await sub.request(ackFrame(sub, second, "orders/created")),
    `+PASS:ACKNOWLEDGED;IDEM=${ids[1]}`,
  );
  const third = await sub.record();
  assert.equal(third.block, 3);
  // Acking twice is harmless.
  assert.match(await sub.request(ackFrame(sub, third)), /^\+PASS:ACKNOWLEDGED/);
  assert.match(await sub.request(ackFrame(sub, third)), /^\+PASS:ACKNOWLEDGED/);
});

Deno.test("ws: every command is answered exactly once and in order, malformed or unknown ones with -FAIL", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using c = await rawClient(`${engine.wsUrl}/message`);
  const frames = [
    "SUB;CLIENT_ID=:x;EVENT_NAME=:a/b", // before CONN
    `CONN;ACCESS_KEY=:${a.accessKey}`,
    "",
    "hello world",
    ";;;",
    "FROB;CLIENT_ID=:x",
    "SUB;EVENT_NAME=:a/b",
    `PUB;EVENT_NAME=:a/b;PAYLOAD=:${P};DELIVERY_TO=:${a.appId}`,
    "PUB;EVENT_NAME=:a/b;PAYLOAD=:e30=",
    "ACK;EVENT_IDEM=:does-not-exist;BLOCK=:1",
    "PING",
    "SUB;EVENT_NAME=:a/b",
  ];
  for (const f of frames) c.send(f);
  const replies: string[] = [];
  for (const _ of frames) replies.push(await c.reply());
  assert.match(replies[0]!, /^-FAIL:CLIENT_NOT_FOUND;/);
  assert.match(replies[1]!, /^\+PASS:\{clientId=/);
  assert.match(replies[2]!, /^-FAIL:MALFORMED_COMMAND;/);
  assert.match(replies[3]!, /^-FAIL:MALFORMED_COMMAND;/);
  assert.match(replies[4]!, /^-FAIL:MALFORMED_COMMAND;/);
  assert.match(replies[5]!, /^-FAIL:UNKNOWN_COMMAND;MESSAGE=Unknown command "FROB"/);
  assert.match(replies[6]!, /^\+PASS:SUBSCRIBED;EVENT_NAME=a\/b$/);
  assert.match(replies[7]!, /^\+PASS:PUBLISHED;IDEM=/);
  assert.match(replies[8]!, /^-FAIL:MISSING_PARAMETERS;MESSAGE=DELIVERY_TO is required/);
  assert.match(replies[9]!, /^-FAIL:NOT_FOUND;/);
  assert.equal(replies[10], "+PASS:PONG");
  assert.match(replies[11]!, /^\+PASS:SUBSCRIBED/);
  // Nothing extra arrives, and the connection is still usable.
  const rec = await c.record();
  assert.equal(rec.name, "a/b");
  assert.match(await c.request(ackFrame(c, rec)), /^\+PASS:ACKNOWLEDGED/);
  assert.ok(await c.noRecord(100));
  assert.equal(c.socket.readyState, WebSocket.OPEN);
  // A binary frame is refused the same way.
  c.socket.send(new Uint8Array([1, 2, 3]));
  assert.match(await c.reply(), /^-FAIL:MALFORMED_COMMAND;|^-FAIL:UNKNOWN_COMMAND;/);
});

Deno.test("ws: reads KEY=value as well as KEY=:value, metadata and reasons containing ; = :", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using c = await connected(engine, a);
  assert.match(
    await c.request(`SUB;CLIENT_ID=${c.clientId};EVENT_NAME=x/y`),
    /^\+PASS:SUBSCRIBED;EVENT_NAME=x\/y$/,
  );
  const meta = '{"persist":true,"headers":{"note":"a;b=c:d","EVENT_NAME":"=:x"}}';
  assert.match(
    await c.request(
      `PUB;CLIENT_ID=${c.clientId};EVENT_NAME=x/y;PAYLOAD=${P};DELIVERY_TO=${a.appId};METADATA=${meta}`,
    ),
    /^\+PASS:PUBLISHED/,
  );
  const rec = await c.record();
  assert.deepEqual(rec.metadata, JSON.parse(meta));
  // DISCARD with a reason holding separators, PARTITION_BLOCK instead of BLOCK for the next one.
  assert.match(
    await c.request(
      `DISCARD;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};EVENT_NAME=:x/y;REASON=:bad; really=bad: yes`,
    ),
    /^\+PASS:DISCARDED/,
  );
  const res = await fetch(`${engine.wsUrl!.replace("ws", "http")}/discarded`, {
    headers: { authorization: `Bearer ${a.accessKey}` },
  });
  const body = await res.json();
  assert.equal(body.discarded[0].reason, "bad; really=bad: yes");
  await c.request(`PUB;CLIENT_ID=${c.clientId};EVENT_NAME=x/y;PAYLOAD=${P};DELIVERY_TO=${a.appId}`);
  const next = await c.record();
  assert.deepEqual(next.metadata, {});
  assert.match(
    await c.request(
      `ACK;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${next.id};PARTITION_BLOCK=:${next.block}`,
    ),
    /^\+PASS:ACKNOWLEDGED/,
  );
});

Deno.test("ws: another client's id fails with CLIENT_NOT_FOUND; invalid metadata and names are refused", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using c = await connected(engine, a);
  await using d = await connected(engine, a);
  assert.match(
    await c.request(`SUB;CLIENT_ID=:${d.clientId};EVENT_NAME=:a/b`),
    /^-FAIL:CLIENT_NOT_FOUND;/,
  );
  assert.match(
    await c.request(pubFrame(c, "a/b", a.appId, P, "not json")),
    /^-FAIL:INVALID_METADATA;/,
  );
  assert.match(await c.request(pubFrame(c, "a/*", a.appId, P)), /^-FAIL:INVALID_EVENT_NAME;/);
  assert.match(
    await c.request(pubFrame(c, "a/b", a.appId, 'not base64 "at all"')),
    /^-FAIL:INVALID_PAYLOAD;/,
  );
  assert.match(await c.request(pubFrame(c, "", a.appId, P)), /^-FAIL:MISSING_PARAMETERS;/);
  assert.match(await c.request(pubFrame(c, "a/b", "bm9ib2R5", P)), /^-FAIL:NOT_FOUND;/);
});

Deno.test("ws: PERMISSION_DENIED for names outside the send and receive patterns", async () => {
  const shop = testApp("shop", ["orders/*"], ["payments/**"]);
  const bank = testApp("bank", ["payments/**"], ["orders/created"]);
  await using engine = await startTestEngine([shop, bank]);
  await using s = await connected(engine, shop);
  await using b = await connected(engine, bank);
  assert.match(await s.request(pubFrame(s, "orders/created", bank.appId, P)), /^\+PASS:PUBLISHED/);
  assert.match(
    await s.request(pubFrame(s, "payments/done", bank.appId, P)),
    /^-FAIL:PERMISSION_DENIED;MESSAGE=App "shop" cannot send "payments\/done"/,
  );
  assert.match(
    await s.request(pubFrame(s, "orders/a/b", bank.appId, P)),
    /^-FAIL:PERMISSION_DENIED;/,
  );
  // The recipient cannot receive orders/updated.
  assert.match(
    await s.request(pubFrame(s, "orders/updated", bank.appId, P)),
    /^-FAIL:PERMISSION_DENIED;MESSAGE=App "bank" cannot receive/,
  );
  assert.match(
    await b.request(`SUB;CLIENT_ID=:${b.clientId};EVENT_NAME=:orders/updated`),
    /^-FAIL:PERMISSION_DENIED;/,
  );
  assert.match(
    await b.request(`SUB;CLIENT_ID=:${b.clientId};EVENT_NAME=:orders/*`),
    /^-FAIL:PERMISSION_DENIED;/,
  );
  assert.match(
    await s.request(`SUB;CLIENT_ID=:${s.clientId};EVENT_NAME=:payments/*`),
    /^\+PASS:SUBSCRIBED/,
  );
  assert.match(
    await b.request(pubFrame(b, "payments/eu/done", shop.appId, P)),
    /^\+PASS:PUBLISHED/,
  );
  // payments/* is one level: payments/eu/done waits for a matching subscription.
  assert.ok(await s.noRecord(150));
  assert.match(
    await s.request(`SUB;CLIENT_ID=:${s.clientId};EVENT_NAME=:payments/**`),
    /^\+PASS:SUBSCRIBED/,
  );
  const rec = await s.record();
  assert.equal(rec.name, "payments/eu/done");
});

Deno.test("ws: competing consumers of one app get each event exactly once, one in flight each", async () => {
  const a = testApp("a");
  const b = testApp("b");
  await using engine = await startTestEngine([a, b]);
  await using pub = await connected(engine, a);
  const workers = await Promise.all([1, 2, 3].map(() => connected(engine, b)));
  try {
    for (const w of workers) {
      assert.match(
        await w.request(`SUB;CLIENT_ID=:${w.clientId};EVENT_NAME=:jobs/run`),
        /^\+PASS:/,
      );
    }
    const n = 30;
    for (let i = 0; i < n; i++) pub.send(pubFrame(pub, "jobs/run", b.appId, P));
    for (let i = 0; i < n; i++) assert.match(await pub.reply(), /^\+PASS:PUBLISHED/);
    const seen: string[] = [];
    const perWorker = [0, 0, 0];
    await Promise.all(workers.map(async (w, i) => {
      while (true) {
        let rec;
        try {
          rec = await w.record(300);
        } catch {
          return;
        }
        seen.push(rec.id as string);
        perWorker[i]!++;
        // While this one is held, this worker gets nothing else.
        assert.ok(await w.noRecord(5));
        assert.match(await w.request(ackFrame(w, rec)), /^\+PASS:ACKNOWLEDGED/);
      }
    }));
    assert.equal(seen.length, n);
    assert.equal(new Set(seen).size, n);
    assert.ok(perWorker.every((k) => k > 0), `every worker got some: ${perWorker}`);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
});

Deno.test("ws: an unacked event is redelivered after disconnect and after UNSUB", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using pub = await connected(engine, a);
  const first = await connected(engine, a);
  await first.request(`SUB;CLIENT_ID=:${first.clientId};EVENT_NAME=:t/x`);
  await pub.request(pubFrame(pub, "t/x", a.appId, P));
  const rec = await first.record();
  await first.close();
  await using second = await connected(engine, a);
  await second.request(`SUB;CLIENT_ID=:${second.clientId};EVENT_NAME=:t/x`);
  const again = await second.record();
  assert.equal(again.id, rec.id);
  assert.equal(again.block, rec.block);
  // UNSUB returns the in-flight event to the queue.
  assert.match(
    await second.request(`UNSUB;CLIENT_ID=:${second.clientId};EVENT_NAME=:t/x`),
    new RegExp(`^\\+PASS:UNSUBSCRIBED;EVENT_NAME=t/x;CLIENT_ID=${second.clientId}$`),
  );
  assert.match(
    await second.request(`UNSUB;CLIENT_ID=:${second.clientId};EVENT_NAME=:t/x`),
    /^-FAIL:NOT_SUBSCRIBED;/,
  );
  await second.request(`SUB;CLIENT_ID=:${second.clientId};EVENT_NAME=:t/x`);
  assert.equal((await second.record()).id, rec.id);
});

Deno.test("ws: an event not acked within the ack timeout (on the engine's clock) is redelivered, not before", async () => {
  const a = testApp("a");
  const clock = new FakeClock(Date.now());
  await using engine = await startTestEngine([a], { ackTimeoutMs: 60_000, clock });
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:slow/job`);
  await c.request(pubFrame(c, "slow/job", a.appId, P));
  const rec = await c.record();
  const deliveredAt = clock.now();
  const session = [...engine.broker.sessions()].find((s) => s.id === c.clientId)!;
  const sub = session.subs.get("slow/job")!;
  await clock.tick(59_000);
  assert.equal(sub.inflight?.at, deliveredAt, "still the first delivery before the timeout");
  await clock.tick(2_000);
  const again = await c.record();
  assert.equal(again.id, rec.id);
  assert.ok(sub.inflight!.at > deliveredAt, "delivered again");
  assert.match(await c.request(ackFrame(c, again)), /^\+PASS:ACKNOWLEDGED/);
  await clock.tick(61_000);
  assert.equal(sub.inflight, undefined, "an acked event is not redelivered");
  assert.equal((await engine.broker.store.lookup(rec.id as string))?.state, "acked");
});

Deno.test("ws: DEFER redelivers after the delay (on the engine's clock) and not before; the delay must be 1 s to 24 h", async () => {
  const a = testApp("a");
  const clock = new FakeClock(Date.now());
  await using engine = await startTestEngine([a], { clock });
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:d/x`);
  await c.request(pubFrame(c, "d/x", a.appId, P));
  await c.request(pubFrame(c, "d/x", a.appId, P));
  const rec = await c.record();
  const defer = (delay: number | string): string =>
    `DEFER;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};EVENT_NAME=:d/x;DELAY=:${delay};REASON=:later; please`;
  assert.match(
    await c.request(defer(999)),
    /^-FAIL:INVALID_DELAY;MESSAGE=Delay must be between 1000ms and 24 hours/,
  );
  assert.match(await c.request(defer(86_400_001)), /^-FAIL:INVALID_DELAY;/);
  assert.match(await c.request(defer("soon")), /^-FAIL:INVALID_DELAY;/);
  const reply = await c.request(defer(60_000));
  const m = /^\+PASS:DEFERRED;IDEM=([^;]+);DELIVERY_TIME=(\d+)$/.exec(reply);
  assert.ok(m, reply);
  assert.equal(Number(m[2]), clock.now() + 60_000, "DELIVERY_TIME");
  // The next event comes at once; the deferred one after the delay.
  const other = await c.record();
  assert.notEqual(other.id, rec.id);
  await c.request(ackFrame(c, other));
  await clock.tick(59_999);
  assert.equal((await engine.broker.store.lookup(rec.id as string))?.state, "deferred");
  await clock.tick(1);
  const back = await c.record();
  assert.equal(back.id, rec.id);
});

Deno.test("ws: DISCARD removes an event for good and keeps it for inspection", async () => {
  const a = testApp("a");
  const b = testApp("b");
  await using engine = await startTestEngine([a, b]);
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:x/y`);
  await c.request(pubFrame(c, "x/y", a.appId, P));
  const rec = await c.record();
  assert.equal(
    await c.request(
      `DISCARD;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};EVENT_NAME=:x/y;REASON=:`,
    ),
    `+PASS:DISCARDED;IDEM=${rec.id}`,
  );
  assert.ok(await c.noRecord(200));
  const http = engine.wsUrl!.replace("ws", "http");
  const res = await fetch(`${http}/discarded`, {
    headers: { authorization: `Bearer ${a.accessKey}` },
  });
  const body = await res.json();
  assert.equal(body.app, "a");
  assert.equal(body.discarded.length, 1);
  assert.equal(body.discarded[0].idem, rec.id);
  assert.equal(body.discarded[0].reason, "");
  const other = await fetch(`${http}/discarded`, {
    headers: { authorization: `Bearer ${b.accessKey}` },
  });
  assert.deepEqual((await other.json()).discarded, []);
  const denied = await fetch(`${http}/discarded`);
  assert.equal(denied.status, 401);
  await denied.body?.cancel();
  const health = await fetch(`${http}/health`);
  assert.equal((await health.json()).status, "ok");
  // Settling it again fails.
  assert.match(await c.request(ackFrame(c, rec)), /^-FAIL:NOT_FOUND;/);
});

Deno.test("ws: REPLAY returns an acked event with replay info, without pushing it", async () => {
  const a = testApp("a");
  const b = testApp("b");
  await using engine = await startTestEngine([a, b]);
  await using c = await connected(engine, a);
  await using other = await connected(engine, b);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:r/x`);
  const payload = encryptPayload({ v: 7 }, a.appId);
  await c.request(pubFrame(c, "r/x", a.appId, payload));
  const rec = await c.record();
  const replayBefore = await c.request(
    `REPLAY;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};EVENT_NAME=:r/x`,
  );
  assert.ok(replayBefore.startsWith("+REPLAY:"), replayBefore);
  assert.equal(
    JSON.parse(replayBefore.slice(8)).metadata.$internal.replay_info.wasAcknowledged,
    false,
  );
  await c.request(ackFrame(c, rec));
  const reply = await c.request(
    `REPLAY;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};EVENT_NAME=:r/x`,
  );
  const body = JSON.parse(reply.slice(8));
  assert.equal(body.id, rec.id);
  assert.equal(body.block, rec.block);
  assert.equal(body.payload, payload);
  assert.deepEqual(decryptPayload(body.payload, a.secretKey), { v: 7 });
  assert.equal(body.metadata.persist, true);
  assert.equal(body.metadata.$internal.replay_info.isReplayed, true);
  assert.equal(body.metadata.$internal.replay_info.wasAcknowledged, true);
  assert.ok(await c.noRecord(150));
  // Another app cannot replay it; an unknown idem is NOT_FOUND.
  assert.match(
    await other.request(`REPLAY;CLIENT_ID=:${other.clientId};EVENT_IDEM=:${rec.id}`),
    /^-FAIL:NOT_FOUND;/,
  );
  assert.match(
    await c.request(`REPLAY;CLIENT_ID=:${c.clientId};EVENT_IDEM=:nope`),
    /^-FAIL:NOT_FOUND;/,
  );
  // persist:false events cannot be replayed once acked.
  await c.request(pubFrame(c, "r/x", a.appId, P, '{"persist":false}'));
  const eph = await c.record();
  await c.request(ackFrame(c, eph));
  assert.match(
    await c.request(`REPLAY;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${eph.id}`),
    /^-FAIL:NOT_FOUND;/,
  );
});

Deno.test("ws: PAUSE holds deliveries to one client while others keep receiving; CONTINUE resumes", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using pub = await connected(engine, a);
  await using c1 = await connected(engine, a);
  await using c2 = await connected(engine, a);
  const sub = (c: typeof c1) => c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:p/x`);
  await sub(c1);
  await sub(c2);
  assert.equal(
    await c1.request(`PAUSE;CLIENT_ID=:${c1.clientId};EVENT_NAME=:p/x;REASON=:maintenance`),
    "+PASS:PAUSED;EVENT_NAME=p/x",
  );
  assert.match(
    await c1.request(`PAUSE;CLIENT_ID=:${c1.clientId};EVENT_NAME=:p/x`),
    /^-FAIL:ALREADY_PAUSED;/,
  );
  assert.match(
    await c1.request(`PAUSE;CLIENT_ID=:${c1.clientId};EVENT_NAME=:q/x`),
    /^-FAIL:NOT_SUBSCRIBED;/,
  );
  assert.match(
    await c2.request(`CONTINUE;CLIENT_ID=:${c2.clientId};EVENT_NAME=:p/x`),
    /^-FAIL:NOT_PAUSED;/,
  );
  for (let i = 0; i < 3; i++) await pub.request(pubFrame(pub, "p/x", a.appId, P));
  for (let i = 0; i < 3; i++) {
    const rec = await c2.record();
    await c2.request(ackFrame(c2, rec));
  }
  assert.ok(await c1.noRecord(150));
  // With c2 paused too, events wait in the queue.
  await c2.request(`PAUSE;CLIENT_ID=:${c2.clientId};EVENT_NAME=:p/x`);
  await pub.request(pubFrame(pub, "p/x", a.appId, P));
  assert.ok(await c1.noRecord(150));
  assert.equal(
    await c1.request(`CONTINUE;CLIENT_ID=:${c1.clientId};EVENT_NAME=:p/x`),
    "+PASS:CONTINUED;EVENT_NAME=p/x",
  );
  const rec = await c1.record();
  assert.equal(rec.block, 4);
  assert.ok(await c2.noRecord(100));
});

Deno.test("ws: a wildcard subscription delivers concrete names, also of queues created later", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using c = await connected(engine, a);
  await c.request(pubFrame(c, "orders/created", a.appId, P));
  await c.request(pubFrame(c, "billing/created", a.appId, P));
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:orders/*`);
  const first = await c.record();
  assert.equal(first.name, "orders/created");
  await c.request(ackFrame(c, first));
  await c.request(pubFrame(c, "orders/shipped", a.appId, P));
  const second = await c.record();
  assert.equal(second.name, "orders/shipped");
  assert.equal(second.block, 1);
  await c.request(ackFrame(c, second, "orders/shipped"));
  assert.ok(await c.noRecord(150));
});

Deno.test("ws: events wait for a subscriber; ROLLBACK puts the held event back", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using c = await connected(engine, a);
  for (let i = 0; i < 2; i++) await c.request(pubFrame(c, "w/x", a.appId, P));
  assert.ok(await c.noRecord(100));
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:w/x`);
  const rec = await c.record();
  assert.equal(rec.block, 1);
  assert.equal(
    await c.request(`ROLLBACK;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};BLOCK=:${rec.block}`),
    `+PASS:ROLLED_BACK;IDEM=${rec.id}`,
  );
  const again = await c.record();
  assert.equal(again.id, rec.id);
  await c.request(ackFrame(c, again));
  const next = await c.record();
  assert.equal(next.block, 2);
  await c.request(ackFrame(c, next));
  // Rolling back an acked event queues it again.
  await c.request(`ROLLBACK;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};PARTITION_BLOCK=:1`);
  assert.equal((await c.record()).id, rec.id);
});

/**
 * A fake clock that also tells when the engine's config file check (armed for 250 ms after each
 * check ends) is waiting for its turn, so a test can run one check at a time: the stat and the
 * file read are real I/O and are awaited, the interval between checks is the clock's.
 */
class ConfigCheckClock extends FakeClock {
  #armed = false;
  #waiters: (() => void)[] = [];

  override setTimeout(fn: () => void, ms: number): TimerHandle {
    if (ms !== 250) return super.setTimeout(fn, ms);
    this.#armed = true;
    for (const w of this.#waiters.splice(0)) w();
    return super.setTimeout(() => {
      this.#armed = false;
      fn();
    }, ms);
  }

  async #untilArmed(): Promise<void> {
    if (this.#armed) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#waiters.push(resolve)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("The config check is not on the clock")), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Runs the next config check and resolves once it (and any reload it started) has ended. */
  async check(): Promise<void> {
    await this.#untilArmed();
    await this.tick(250);
    await this.#untilArmed();
  }
}

Deno.test("ws: the engine reloads its config file once it stays changed for one check; a broken file keeps the previous one", async () => {
  await using ws = await tempWorkspace();
  const a = testApp("a");
  const b = testApp("b");
  const path = `${ws.path}/ensync.yaml`;
  await writeEnSyncConfig(path, configOf([a]));
  const clock = new ConfigCheckClock(Date.now());
  const reloads: (Error | undefined)[] = [];
  await using engine = await startEnSyncServer({
    config: path,
    wsPort: 0,
    grpcPort: false,
    clock,
    onConfigReload: (err) => reloads.push(err),
  });
  assert.equal(engine.grpcUrl, undefined);
  await using c = await rawClient(`${engine.wsUrl}/message`);
  assert.match(await c.conn(b.accessKey), /^-FAIL:CLIENT_NOT_FOUND;/);
  await addEnSyncApp(path, b);
  await clock.check(); // sees the change
  assert.equal(
    reloads.length,
    0,
    "a changed file is read only once it stayed the same for a check",
  );
  await clock.check(); // unchanged since: reloads
  assert.equal(reloads.length, 1);
  assert.equal(reloads[0], undefined, String(reloads[0]));
  assert.match(await c.conn(b.accessKey), /^\+PASS:/, "a new app connects without a restart");
  await clock.check();
  assert.equal(reloads.length, 1, "an unchanged file is not read again");
  await Deno.writeTextFile(path, "apps: [oops");
  await clock.check();
  await clock.check();
  assert.equal(reloads.length, 2);
  assert.ok(reloads[1] instanceof EnSyncConfigError, String(reloads[1]));
  assert.match(await c.conn(b.accessKey), /^\+PASS:/, "the previous configuration stays");
});

Deno.test("ws: a client that does not read its replies is disconnected, not buffered without bound", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a]);
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:big/x`);
  const payload = encryptPayload({ data: "x".repeat(3_000_000) }, a.appId); // ~4 MB on the wire
  assert.match(await c.request(pubFrame(c, "big/x", a.appId, payload)), /^\+PASS:/);
  const rec = await c.record();
  // A raw peer that pipelines REPLAYs of the big event and never reads.
  using peer = await tcpPeer(Number(new URL(engine.wsUrl!).port), "/message");
  await peer.sendText(`CONN;ACCESS_KEY=:${a.accessKey}`);
  const clientId = /clientId=([^,}]+)/.exec(await peer.readText())?.[1];
  assert.ok(clientId);
  for (let i = 0; i < 24; i++) {
    await peer.sendText(`REPLAY;CLIENT_ID=:${clientId};EVENT_IDEM=:${rec.id};EVENT_NAME=:big/x`);
  }
  // The engine closes it once 64 MiB of replies wait: with a 1013 close frame, or (when more of
  // the peer's frames arrive after that frame went out) Deno drops the socket. Either way the
  // connection ends; without the limit the peer would get all 24 replies and no close.
  const ended = await peer.readUntilClose(30_000).then(
    ({ code, reason }) => `close ${code} ${reason}`,
    (err: Error) => err.message,
  );
  assert.match(ended, /^(close 1013 Send buffer full|Connection closed before a close frame)/);
  // The engine serves others as before.
  assert.match(await c.request(ackFrame(c, rec)), /^\+PASS:/);
});

Deno.test("ws: stopping the engine closes clients with 1012 (service restart: come back)", async () => {
  const a = testApp("a");
  const engine = await startTestEngine([a]);
  try {
    const c = await connected(engine, a);
    const closed = new Promise<CloseEvent>((resolve) =>
      c.socket.addEventListener("close", (e) => resolve(e as CloseEvent))
    );
    await engine.close();
    const e = await closed;
    assert.equal(e.code, 1012);
    assert.equal(e.reason, "engine stopping");
  } finally {
    await engine.close();
  }
});
