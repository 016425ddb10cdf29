import assert from "node:assert/strict";
import { EnSyncStoreError, RedisEventStore } from "../../../servers/ensync/mod.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { ackFrame, connected, pubFrame, startTestEngine, testApp } from "./_helpers.ts";

redisTest(
  "RedisEventStore: two engines share one state: published on one, delivered on the other",
  async (r) => {
    const a = testApp("a");
    const b = testApp("b");
    await using e1 = await startTestEngine([a, b], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
    });
    await using e2 = await startTestEngine([a, b], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
    });
    await using pub = await connected(e1, a);
    await using sub = await connected(e2, b);
    // Published before anyone subscribes: it waits in Redis.
    const first = await pub.request(pubFrame(pub, "orders/created", b.appId, btoa("1")));
    assert.match(first, /^\+PASS:PUBLISHED/);
    await sub.request(`SUB;CLIENT_ID=:${sub.clientId};EVENT_NAME=:orders/*`);
    const rec = await sub.record();
    assert.equal(rec.block, 1);
    assert.equal(rec.payload, btoa("1"));
    assert.equal(rec.sender, a.appId);
    await sub.request(ackFrame(sub, rec));
    // Published after: the other engine hears of it through pub/sub.
    await pub.request(pubFrame(pub, "orders/paid", b.appId, btoa("2")));
    const second = await sub.record();
    assert.equal(second.name, "orders/paid");
    await sub.request(ackFrame(sub, second));
    // Replay works from either engine.
    await using other = await connected(e1, b);
    const replay = await other.request(`REPLAY;CLIENT_ID=:${other.clientId};EVENT_IDEM=:${rec.id}`);
    assert.equal(JSON.parse(replay.slice(8)).metadata.$internal.replay_info.wasAcknowledged, true);
  },
);

redisTest(
  "RedisEventStore: competing consumers on two engines get each event exactly once",
  async (r) => {
    const a = testApp("a");
    await using e1 = await startTestEngine([a], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
    });
    await using e2 = await startTestEngine([a], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
    });
    const workers = [await connected(e1, a), await connected(e2, a), await connected(e2, a)];
    try {
      for (const w of workers) await w.request(`SUB;CLIENT_ID=:${w.clientId};EVENT_NAME=:jobs/run`);
      const n = 40;
      for (let i = 0; i < n; i++) {
        workers[0]!.send(
          pubFrame(workers[0]!, "jobs/run", a.appId, btoa(`${i}`)),
        );
      }
      for (let i = 0; i < n; i++) assert.match(await workers[0]!.reply(), /^\+PASS:PUBLISHED/);
      const seen: string[] = [];
      const per = [0, 0, 0];
      await Promise.all(workers.map(async (w, i) => {
        while (true) {
          let rec;
          try {
            rec = await w.record(1_000);
          } catch {
            return;
          }
          seen.push(rec.id as string);
          per[i]!++;
          assert.match(await w.request(ackFrame(w, rec)), /^\+PASS:ACKNOWLEDGED/);
        }
      }));
      assert.equal(seen.length, n);
      assert.equal(new Set(seen).size, n);
      assert.ok(per[0]! > 0 && per[1]! + per[2]! > 0, `both engines delivered: ${per}`);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  },
);

redisTest(
  "RedisEventStore: a deferral set on one engine is delivered by the other after the delay",
  async (r) => {
    const a = testApp("a");
    // Both engines run on one fake clock.
    const clock = new FakeClock(Date.now());
    await using e1 = await startTestEngine([a], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
      clock,
    });
    await using e2 = await startTestEngine([a], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
      clock,
    });
    await using c1 = await connected(e1, a);
    await c1.request(`SUB;CLIENT_ID=:${c1.clientId};EVENT_NAME=:d/x`);
    await c1.request(pubFrame(c1, "d/x", a.appId, "e30="));
    const rec = await c1.record();
    assert.match(
      await c1.request(
        `DEFER;CLIENT_ID=:${c1.clientId};EVENT_IDEM=:${rec.id};DELAY=:10000;REASON=:x`,
      ),
      /^\+PASS:DEFERRED/,
    );
    await c1.close();
    await using c2 = await connected(e2, a);
    await c2.request(`SUB;CLIENT_ID=:${c2.clientId};EVENT_NAME=:d/x`);
    await clock.tick(9_000);
    assert.equal((await e2.broker.store.lookup(rec.id as string))?.state, "deferred");
    await clock.tick(1_000);
    const again = await c2.record();
    assert.equal(again.id, rec.id);
    // Discard from e2 shows up in e1's inspection list.
    await c2.request(`DISCARD;CLIENT_ID=:${c2.clientId};EVENT_IDEM=:${again.id};REASON=:nope`);
    const list = await e1.broker.discarded(a.appId);
    assert.deepEqual(list.map((d) => [d.idem, d.reason]), [[rec.id, "nope"]]);
  },
);

redisTest(
  "RedisEventStore: events held by an engine that stopped answering (still connected) are redelivered after the ack timeout",
  async (r) => {
    const a = testApp("a");
    // A stuck engine: its store claimed an event and never releases it, but its connection to
    // Redis stays open, so only the ack timeout can tell.
    const clock = new FakeClock(Date.now());
    const dead = new RedisEventStore(r.url, { prefix: r.prefix });
    await dead.open({ retentionMs: 3_600_000, ackTimeoutMs: 10_000, clock });
    const [event] = await dead.append([{
      app: a.appId,
      name: "crash/x",
      payload: "e30=",
      metadata: "{}",
      sender: a.appId,
      loggedAt: Date.now(),
      persist: true,
    }]);
    const claimed = await dead.claim({ app: a.appId, name: "crash/x" }, "gone-client");
    assert.equal(claimed?.idem, event!.idem);
    assert.equal((await dead.lookup(event!.idem))?.state, "inflight");
    try {
      await using engine = await startTestEngine([a], {
        store: new RedisEventStore(r.url, { prefix: r.prefix }),
        ackTimeoutMs: 10_000,
        clock,
      });
      // Its instance is connected: the start of another engine leaves the claim alone.
      assert.equal((await engine.broker.store.lookup(event!.idem))?.state, "inflight");
      await using c = await connected(engine, a);
      await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:crash/x`);
      // Nor does the ack timeout's check before the timeout (on the engine's clock).
      await clock.tick(9_000);
      assert.equal((await engine.broker.store.lookup(event!.idem))?.state, "inflight");
      await clock.tick(2_000);
      const rec = await c.record();
      assert.equal(rec.id, event!.idem);
      await c.request(ackFrame(c, rec));
      assert.equal((await engine.broker.store.lookup(event!.idem))?.state, "acked");
    } finally {
      await dead.close();
    }
  },
);

redisTest(
  "RedisEventStore: events a closed store left in flight are ready as soon as another engine opens; a live engine's are not touched",
  async (r) => {
    const a = testApp("a");
    const queue = { app: a.appId, name: "orphan/x" };
    const event = (n: number) => ({
      app: a.appId,
      name: "orphan/x",
      payload: btoa(`${n}`),
      metadata: "{}",
      sender: a.appId,
      loggedAt: Date.now(),
      persist: true,
    });
    const options = { retentionMs: 60_000, ackTimeoutMs: 3_600_000 };
    const live = new RedisEventStore(r.url, { prefix: r.prefix });
    const gone = new RedisEventStore(r.url, { prefix: r.prefix });
    await live.open(options);
    await gone.open(options);
    try {
      const [e1, e2] = await live.append([event(1), event(2)]);
      assert.equal((await live.claim(queue, "client-1"))?.idem, e1!.idem);
      assert.equal((await gone.claim(queue, "client-2"))?.idem, e2!.idem);
      await gone.close(); // its connections end without a release
      const next = new RedisEventStore(r.url, { prefix: r.prefix });
      await next.open(options);
      try {
        assert.equal((await next.lookup(e2!.idem))?.state, "ready");
        assert.equal((await next.lookup(e1!.idem))?.state, "inflight");
        assert.equal((await next.claim(queue, "client-3"))?.idem, e2!.idem);
        // The live holder still owns its claim: its release puts the event back.
        await live.release(e1!, "client-1");
        assert.equal((await next.lookup(e1!.idem))?.state, "ready");
      } finally {
        await next.close();
      }
    } finally {
      await live.close();
    }
  },
);

redisTest("RedisEventStore: unacked events survive an engine restart", async (r) => {
  const a = testApp("a");
  let held = "";
  {
    await using e = await startTestEngine([a], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
    });
    await using c = await connected(e, a);
    await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:s/x`);
    await c.request(pubFrame(c, "s/x", a.appId, "e30="));
    await c.request(pubFrame(c, "s/x", a.appId, "e30="));
    const first = await c.record();
    await c.request(ackFrame(c, first));
    held = (await c.record()).id as string;
  }
  await using e = await startTestEngine([a], {
    store: new RedisEventStore(r.url, { prefix: r.prefix }),
  });
  await using c = await connected(e, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:s/x`);
  const rec = await c.record();
  assert.equal(rec.id, held);
  assert.equal(rec.block, 2);
  assert.ok(await c.noRecord(200));
});

Deno.test("RedisEventStore: an unreachable Redis fails open() with one clear error", async () => {
  const store = new RedisEventStore("redis://127.0.0.1:1");
  await assert.rejects(
    () => store.open({ retentionMs: 60_000, ackTimeoutMs: 30_000 }),
    (err: unknown) => {
      assert.ok(err instanceof EnSyncStoreError);
      assert.match(err.message, /^Cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/);
      return true;
    },
  );
  await store.close();
});
