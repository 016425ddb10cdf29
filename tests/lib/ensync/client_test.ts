/**
 * Our client against our engine (servers/ensync), over both transports.
 */
import assert from "node:assert/strict";
import {
  EnSyncAuthError,
  EnSyncConnectionError,
  EnSyncEngine,
  type EnSyncEvent,
  EnSyncGenericError,
  EnSyncPublishError,
  EnSyncSubscriptionError,
  EnSyncWebSocketEngine,
} from "../../../lib/ensync/mod.ts";
import { Collector, sleep, startFixture, TRANSPORTS } from "./_fixture.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import type { Subscription } from "../../../lib/ensync/mod.ts";

/** Whether the engine reports the event acknowledged (polls briefly: gRPC acks travel on their own stream). */
async function acknowledged(sub: Subscription, idem: string): Promise<boolean> {
  const deadline = Date.now() + 2_000;
  while (true) {
    const r = await sub.replay(idem);
    const info =
      (r.metadata.$internal as { replay_info?: { wasAcknowledged?: boolean } } | undefined)
        ?.replay_info;
    if (info?.wasAcknowledged || Date.now() > deadline) return info?.wasAcknowledged ?? false;
    await sleep(20);
  }
}

for (const t of TRANSPORTS) {
  Deno.test(`[${t}] publish() delivers an encrypted event that subscribe() decrypts and auto-acks`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("orders/created");
    const seen = new Collector(sub);
    const payloads = [{ n: 1, text: "a;b=c:d" }, { n: 2, nested: { list: [1, 2] } }, { n: 3 }];
    const ids: string[] = [];
    for (const p of payloads) {
      const [id, ...rest] = await pub.publish("orders/created", [b.publicKey], p, {
        persist: true,
        headers: { k: "v" },
      });
      assert.equal(rest.length, 0);
      ids.push(id!);
    }
    const events = await seen.waitFor(3);
    assert.deepEqual(events.map((e) => e.payload), payloads, "in order, decrypted");
    assert.deepEqual(events.map((e) => e.idem), ids);
    for (const e of events) {
      assert.equal(e.eventName, "orders/created");
      assert.equal(e.sender, a.publicKey);
      assert.ok(Number.isInteger(e.block) && e.block >= 1, `block ${e.block}`);
      assert.ok(Math.abs(e.timestamp - Date.now()) < 10_000, `timestamp ${e.timestamp}`);
      assert.deepEqual(e.metadata.headers, { k: "v" });
    }
    // auto-acked: a replay reports it acknowledged (over gRPC the ack may still be on its way)
    assert.equal(await acknowledged(sub, ids[2]!), true);
  });

  Deno.test(`[${t}] publish() sends one envelope and returns one event id per recipient`, async () => {
    await using fx = await startFixture();
    const { a, b, c } = fx.apps;
    const pub = await fx.client(t, a);
    const ids = await pub.publish("orders/paid", [b.publicKey, c.publicKey], { total: 42 });
    assert.equal(ids.length, 2);
    assert.notEqual(ids[0], ids[1]);
    const got = await Promise.all([b, c].map(async (who, i) => {
      const client = await fx.client(t, who);
      const seen = new Collector(await client.subscribe("orders/paid"));
      const [event] = await seen.waitFor(1);
      assert.equal(event!.idem, ids[i]);
      return event!.payload;
    }));
    assert.deepEqual(got, [{ total: 42 }, { total: 42 }]);
  });

  Deno.test(`[${t}] hundreds of concurrent publishes each get their own id and all arrive once`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const seen = new Collector(await recv.subscribe("bulk/item"));
    const total = 500;
    const ids = (await Promise.all(
      Array.from({ length: total }, (_, i) => pub.publish("bulk/item", [b.publicKey], i)),
    )).flat();
    assert.equal(new Set(ids).size, total);
    const events = await seen.waitFor(total, 20_000);
    assert.deepEqual(new Set(events.map((e) => e.idem)), new Set(ids));
    assert.deepEqual(
      events.map((e) => e.payload).sort((x, y) => Number(x) - Number(y)),
      Array.from({ length: total }, (_, i) => i),
    );
  });

  Deno.test(`[${t}] manual ack: the next event comes only after ack()`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("jobs/run", { autoAck: false });
    const seen = new Collector(sub);
    await pub.publish("jobs/run", [b.publicKey], 1);
    await pub.publish("jobs/run", [b.publicKey], 2);
    const [first] = await seen.waitFor(1);
    await sleep(300);
    assert.equal(seen.events.length, 1, "one event in flight until it is acknowledged");
    await sub.ack(first!.idem, first!.block);
    const events = await seen.waitFor(2);
    assert.deepEqual(events.map((e) => e.payload), [1, 2]);
    await sub.ack(events[1]!.idem, events[1]!.block);
    assert.equal(await acknowledged(sub, events[1]!.idem), true);
  });

  Deno.test(`[${t}] for await iterates events and acks each when the loop continues`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("feed/item");
    for (let i = 0; i < 5; i++) await pub.publish("feed/item", [b.publicKey], { i });
    const got: unknown[] = [];
    for await (const event of sub) {
      got.push(event.payload);
      if (got.length === 5) break;
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4].map((i) => ({ i })));
    // the first four were acknowledged when the loop continued; the fifth was left for redelivery
    await sub.unsubscribe();
    const again = await recv.subscribe("feed/item");
    const seen = new Collector(again);
    const [redelivered] = await seen.waitFor(1);
    assert.deepEqual(redelivered!.payload, { i: 4 });
  });

  Deno.test(`[${t}] defer() redelivers the event after the delay (on the engine's clock)`, async () => {
    const clock = new FakeClock(Date.now());
    await using fx = await startFixture({ clock });
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("mail/send", { autoAck: false });
    const seen = new Collector(sub);
    await pub.publish("mail/send", [b.publicKey], { to: "x" });
    const [first] = await seen.waitFor(1);
    // A minute: far longer than the test waits for a delivery in real time.
    const result = await sub.defer(first!.idem, 60_000, "smtp; busy");
    assert.equal(result.idem, first!.idem);
    assert.equal(result.deliveryTime, clock.now() + 60_000);
    await clock.tick(59_999);
    // A deferred event made ready again joins the back of its queue, so one released early would
    // arrive before this marker.
    await pub.publish("mail/send", [b.publicKey], "marker");
    const [, marker] = await seen.waitFor(2);
    assert.equal(marker!.payload, "marker", "not before the delay");
    await sub.ack(marker!.idem, marker!.block);
    await clock.tick(1);
    const [, , again] = await seen.waitFor(3);
    assert.equal(again!.idem, first!.idem);
    assert.deepEqual(again!.payload, { to: "x" });
    await sub.ack(again!.idem, again!.block);
    await assert.rejects(
      sub.defer(first!.idem, 999),
      (e) => e instanceof EnSyncGenericError && e.code === "INVALID_DELAY",
    );
    await assert.rejects(sub.defer(first!.idem, 24 * 3600_000 + 1), EnSyncGenericError);
  });

  Deno.test(`[${t}] discard() drops the event for good and the next one flows`, async () => {
    const clock = new FakeClock(Date.now());
    await using fx = await startFixture({ ackTimeoutMs: 500, clock });
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("files/scan", { autoAck: false });
    const seen = new Collector(sub);
    await pub.publish("files/scan", [b.publicKey], "bad");
    await pub.publish("files/scan", [b.publicKey], "good");
    const [bad] = await seen.waitFor(1);
    await sub.discard(bad!.idem, "virus; quarantined");
    const [, good] = await seen.waitFor(2);
    assert.equal(good!.payload, "good");
    await sub.ack(good!.idem, good!.block);
    await clock.tick(1_200); // past the ack timeout (on the engine's clock): nothing comes back
    // A redelivery would go to the front of the queue, so it would arrive before this marker.
    await pub.publish("files/scan", [b.publicKey], "marker");
    await seen.waitFor(3);
    assert.deepEqual(seen.events.map((e) => e.payload), ["bad", "good", "marker"]);
    // the engine kept it, with the reason, for inspection
    const res = await fetch(`${fx.server.wsUrl!.replace("ws:", "http:")}/discarded`, {
      headers: { authorization: `Bearer ${b.accessKey}` },
    });
    const body = await res.json();
    assert.ok(JSON.stringify(body).includes("virus; quarantined"), JSON.stringify(body));
  });

  Deno.test(`[${t}] replay() returns a stored event without passing it to handlers`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("audit/log");
    const seen = new Collector(sub);
    const [id] = await pub.publish("audit/log", [b.publicKey], { who: "me" });
    await seen.waitFor(1);
    const replayed: EnSyncEvent = await sub.replay(id!);
    assert.equal(replayed.idem, id);
    assert.equal(replayed.eventName, "audit/log");
    assert.deepEqual(replayed.payload, { who: "me" });
    assert.equal(replayed.sender, a.publicKey);
    await sleep(200);
    assert.equal(seen.events.length, 1, "replay is not pushed to handlers");
    await assert.rejects(sub.replay("no-such-idem"), EnSyncGenericError);
  });

  Deno.test(`[${t}] client.replay() fetches an event without subscribing`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const [first] = await pub.publish("audit/trail", [b.publicKey], { n: 1 });
    await pub.publish("audit/trail", [b.publicKey], { n: 2 });
    const reader = await fx.client(t, b);
    const replayed = await reader.replay(first!, "audit/trail");
    assert.deepEqual([replayed.idem, replayed.eventName, replayed.payload], [first, "audit/trail", {
      n: 1,
    }]);
    // nothing was pulled into the reader: a subscriber still gets both events, in order
    const seen = new Collector(await (await fx.client(t, b)).subscribe("audit/trail"));
    assert.deepEqual((await seen.waitFor(2)).map((e) => e.payload), [{ n: 1 }, { n: 2 }]);
    await assert.rejects(
      reader.replay(first!, "audit/trail", { appSecretKey: a.secretKey }),
      (e) => e instanceof EnSyncGenericError && e.code === "DECRYPTION_FAILED",
    );
    const nokey = await fx.client(t, b, { appSecretKey: "" });
    await assert.rejects(
      nokey.replay(first!, "audit/trail"),
      (e) => e instanceof EnSyncGenericError && e.code === "MISSING_SECRET_KEY",
    );
  });

  Deno.test(`[${t}] pause() holds deliveries for this client until continue()`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("stock/update");
    const seen = new Collector(sub);
    await sub.pause("maintenance");
    assert.equal(sub.paused, true);
    await pub.publish("stock/update", [b.publicKey], 1);
    await pub.publish("stock/update", [b.publicKey], 2);
    await sleep(400);
    assert.equal(seen.events.length, 0, "nothing while paused");
    await sub.continue();
    assert.equal(sub.paused, false);
    assert.deepEqual((await seen.waitFor(2)).map((e) => e.payload), [1, 2]);
    await sub.pause();
    await pub.publish("stock/update", [b.publicKey], 3);
    await sleep(200);
    assert.equal(seen.events.length, 2);
    await sub.resume();
    assert.deepEqual((await seen.waitFor(3)).map((e) => e.payload), [1, 2, 3]);
  });

  Deno.test(`[${t}] a wildcard subscription gets every matching name, acked under the concrete name`, async () => {
    await using fx = await startFixture();
    const { a, c } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, c);
    const sub = await recv.subscribe("orders/*");
    const seen = new Collector(sub);
    await pub.publish("orders/created", [c.publicKey], "c1");
    await pub.publish("orders/paid", [c.publicKey], "p1");
    await pub.publish("orders/created", [c.publicKey], "c2");
    const events = await seen.waitFor(3);
    assert.deepEqual(new Set(events.map((e) => e.payload)), new Set(["c1", "p1", "c2"]));
    assert.ok(
      events.every((e) => e.eventName === `orders/${e.payload === "p1" ? "paid" : "created"}`),
    );
    // per name the order holds
    assert.deepEqual(events.filter((e) => e.eventName === "orders/created").map((e) => e.payload), [
      "c1",
      "c2",
    ]);
    // all three were auto-acked under their concrete names
    for (const e of events) assert.equal(await acknowledged(sub, e.idem), true, e.eventName);
  });

  Deno.test(`[${t}] competing consumers of one app each get a share, every event exactly once`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const workers = await Promise.all([fx.client(t, b), fx.client(t, b)]);
    assert.notEqual(workers[0]!.clientId, workers[1]!.clientId);
    const seen = await Promise.all(workers.map(async (w) => {
      // a slow handler keeps each worker's single slot busy, so the other one gets work
      return new Collector(await w.subscribe("work/item"), () => sleep(20));
    }));
    const total = 30;
    await Promise.all(
      Array.from({ length: total }, (_, i) => pub.publish("work/item", [b.publicKey], i)),
    );
    const deadline = Date.now() + 10_000;
    while (seen[0]!.events.length + seen[1]!.events.length < total && Date.now() < deadline) {
      await sleep(20);
    }
    await sleep(300);
    const all = [...seen[0]!.events, ...seen[1]!.events].map((e) => e.payload as number);
    assert.equal(all.length, total, "no duplicates, none missing");
    assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: total }, (_, i) => i));
    assert.ok(
      seen[0]!.events.length > 0 && seen[1]!.events.length > 0,
      `shares ${seen[0]!.events.length}/${seen[1]!.events.length}`,
    );
  });

  Deno.test(`[${t}] a handler that throws leaves its event unacked, so the engine redelivers it`, async () => {
    const clock = new FakeClock(Date.now());
    await using fx = await startFixture({ ackTimeoutMs: 60_000, clock });
    const { a, b } = fx.apps;
    const errors: Error[] = [];
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b, { onError: (e) => errors.push(e) });
    const sub = await recv.subscribe("flaky/job");
    let calls = 0;
    const seen = new Collector(sub, () => {
      if (++calls === 1) throw new Error("boom");
    });
    await pub.publish("flaky/job", [b.publicKey], "x");
    await seen.waitFor(1);
    await clock.tick(61_000); // past the ack timeout, on the engine's clock
    const events = await seen.waitFor(2);
    assert.equal(events[0]!.idem, events[1]!.idem, "the same event came back");
    assert.ok(errors.some((e) => e instanceof EnSyncGenericError && /boom/.test(e.message)));
  });

  Deno.test(`[${t}] unsubscribe() ends iterators and the events go to a later subscriber`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b);
    const sub = await recv.subscribe("q/x", { autoAck: false });
    const it = sub[Symbol.asyncIterator]();
    await pub.publish("q/x", [b.publicKey], "held");
    const first = await it.next();
    assert.equal(first.value?.payload, "held");
    const pending = it.next();
    await sub.unsubscribe();
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.equal(sub.ended, true);
    await assert.rejects(sub.ack(first.value!.idem, first.value!.block), EnSyncGenericError);
    const other = await fx.client(t, b);
    const seen = new Collector(await other.subscribe("q/x"));
    const [again] = await seen.waitFor(1);
    assert.equal(again!.idem, first.value!.idem, "in-flight event returned to the queue on UNSUB");
  });

  Deno.test(`[${t}] errors are typed and carry the engine's codes`, async () => {
    await using fx = await startFixture();
    const { a, c } = fx.apps;
    const Engine = t === "ws" ? EnSyncWebSocketEngine : EnSyncEngine;
    const engine = new Engine(fx.url(t), { maxReconnectAttempts: 0 });
    try {
      await assert.rejects(
        engine.createClient("key-unknown-123456"),
        (e) => e instanceof EnSyncAuthError && e.code === "CLIENT_NOT_FOUND",
      );
    } finally {
      await engine.close();
    }
    const restricted = await fx.client(t, c);
    await assert.rejects(
      restricted.publish("billing/x", [a.publicKey], 1),
      (e) => e instanceof EnSyncPublishError && e.code === "PERMISSION_DENIED",
    );
    await assert.rejects(
      restricted.subscribe("billing/x"),
      (e) => e instanceof EnSyncSubscriptionError && e.code === "PERMISSION_DENIED",
    );
    await assert.rejects(
      restricted.publish("orders/x", [], 1),
      (e) => e instanceof EnSyncPublishError && e.code === "INVALID_RECIPIENTS",
    );
    await assert.rejects(
      restricted.publish("orders/x", ["not-a-key"], 1),
      (e) => e instanceof EnSyncPublishError && e.code === "INVALID_KEY",
    );
    await assert.rejects(
      restricted.publish("bad name", [a.publicKey], 1),
      (e) => e instanceof EnSyncPublishError && e.code === "INVALID_EVENT_NAME",
    );
    await assert.rejects(
      restricted.publish("orders/x", [a.publicKey], undefined),
      (e) => e instanceof EnSyncPublishError && e.code === "INVALID_PAYLOAD",
    );
    const nokey = await fx.client(t, c, { appSecretKey: "" });
    await assert.rejects(
      nokey.subscribe("orders/x"),
      (e) => e instanceof EnSyncSubscriptionError && e.code === "MISSING_SECRET_KEY",
    );
    await restricted.subscribe("orders/x");
    await assert.rejects(
      restricted.subscribe("orders/x"),
      (e) => e instanceof EnSyncSubscriptionError && e.code === "ALREADY_SUBSCRIBED",
    );
    await restricted.close();
    await assert.rejects(
      restricted.publish("orders/x", [a.publicKey], 1),
      (e) => e instanceof EnSyncPublishError && e.cause instanceof EnSyncConnectionError,
    );
  });

  Deno.test(`[${t}] an unreachable engine fails createClient() with EnSyncConnectionError`, async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const engine = t === "ws"
      ? new EnSyncWebSocketEngine(`ws://127.0.0.1:${port}`, { requestTimeout: 2000 })
      : new EnSyncEngine(`grpc://127.0.0.1:${port}`, { requestTimeout: 2000 });
    try {
      await assert.rejects(engine.createClient("key-whatever-1"), EnSyncConnectionError);
    } finally {
      await engine.close();
    }
  });

  Deno.test(`[${t}] the client reconnects after an engine restart with a new id and its subscriptions`, async () => {
    await using fx = await startFixture();
    const { a, b } = fx.apps;
    const reconnects: string[] = [];
    const pub = await fx.client(t, a);
    const recv = await fx.client(t, b, {
      onReconnect: ({ clientId }) => reconnects.push(clientId),
    });
    const firstId = recv.clientId;
    const sub = await recv.subscribe("alerts/*");
    const seen = new Collector(sub);
    await pub.publish("alerts/cpu", [b.publicKey], "before");
    await seen.waitFor(1);
    await fx.restart();
    const deadline = Date.now() + 10_000;
    while (reconnects.length === 0 && Date.now() < deadline) await sleep(20);
    assert.equal(reconnects.length, 1, "reconnected once");
    assert.notEqual(recv.clientId, firstId, "a new client id");
    // the publisher reconnects too; publishing waits for it
    const deadline2 = Date.now() + 10_000;
    while (true) {
      try {
        await pub.publish("alerts/disk", [b.publicKey], "after");
        break;
      } catch (err) {
        if (Date.now() > deadline2) throw err;
        await sleep(50);
      }
    }
    const events = await seen.waitFor(2, 10_000);
    assert.deepEqual(events.map((e) => [e.eventName, e.payload]), [["alerts/cpu", "before"], [
      "alerts/disk",
      "after",
    ]]);
  });
}
