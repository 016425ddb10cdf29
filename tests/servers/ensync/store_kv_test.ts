import assert from "node:assert/strict";
import { KvEventStore } from "../../../servers/ensync/mod.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import {
  ackFrame,
  connected,
  pubFrame,
  type RawClient,
  startTestEngine,
  testApp,
} from "./_helpers.ts";

/** Receives and acks records until none comes for `ms` (or `count` have come). */
async function drain(c: RawClient, ms = 300, count = Infinity): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  while (out.length < count) {
    try {
      const rec = await c.record(ms);
      out.push(rec);
      await c.request(ackFrame(c, rec));
    } catch {
      return out;
    }
  }
  return out;
}

Deno.test("KvEventStore: after a restart nothing acked comes back and every unacked event is redelivered", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/ensync.kv`;
  const a = testApp("a");
  const published: string[] = [];
  const acked = new Set<string>();
  let held = "";
  let deferred = "";
  let discarded = "";
  // Both engines run on one fake clock: the deferral's due time survives the restart.
  const clock = new FakeClock(Date.now());
  {
    await using engine = await startTestEngine([a], { store: new KvEventStore(path), clock });
    await using c = await connected(engine, a);
    for (let i = 0; i < 60; i++) {
      c.send(pubFrame(c, i % 2 ? "k/odd" : "k/even", a.appId, btoa(`event ${i}`)));
    }
    for (let i = 0; i < 60; i++) {
      const m = /IDEM=([^;]+)/.exec(await c.reply());
      assert.ok(m);
      published.push(m[1]!);
    }
    await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:k/even`);
    for (let i = 0; i < 20; i++) {
      const rec = await c.record();
      assert.match(await c.request(ackFrame(c, rec)), /^\+PASS:ACKNOWLEDGED/);
      acked.add(rec.id as string);
    }
    const d = await c.record();
    deferred = d.id as string;
    assert.match(
      await c.request(
        `DEFER;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${deferred};DELAY=:60000;REASON=:x`,
      ),
      /^\+PASS:DEFERRED/,
    );
    const x = await c.record();
    discarded = x.id as string;
    await c.request(`DISCARD;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${discarded};REASON=:bad`);
    held = (await c.record()).id as string; // in flight, never acked
  }
  await using engine = await startTestEngine([a], { store: new KvEventStore(path), clock });
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:k/*`);
  // Everything but the deferred event (60 published, 20 acked, 1 discarded) comes at once.
  const got = await drain(c, 5_000, 60 - 20 - 1 - 1);
  assert.equal(
    (await engine.broker.store.lookup(deferred))?.state,
    "deferred",
    "the deferral kept its due time",
  );
  await clock.tick(60_000);
  got.push(...await drain(c));
  const ids = got.map((r) => r.id as string);
  assert.equal(new Set(ids).size, ids.length, "no duplicates");
  for (const id of ids) assert.ok(!acked.has(id), "an acked event came back");
  assert.ok(!ids.includes(discarded), "the discarded event came back");
  assert.ok(ids.includes(held), "the in-flight event was not redelivered");
  assert.equal(ids.at(-1), deferred, "the deferred event was lost or came before its time");
  assert.equal(ids.length, 60 - 20 - 1);
  const expected = new Set(published.filter((id) => !acked.has(id) && id !== discarded));
  assert.deepEqual(new Set(ids), expected);
  // Blocks continue after a restart; replay of an acked event reads it back from its segment.
  const reply = await c.request(pubFrame(c, "k/even", a.appId, "e30="));
  assert.match(reply, /^\+PASS:PUBLISHED/);
  const next = await c.record();
  assert.equal(next.block, 31);
  const first = [...acked][0]!;
  const replay = await c.request(`REPLAY;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${first}`);
  const body = JSON.parse(replay.slice(8));
  assert.equal(body.id, first);
  assert.match(atob(body.payload), /^event \d+$/);
  assert.equal(body.metadata.$internal.replay_info.wasAcknowledged, true);
  const discardedList = await engine.broker.discarded(a.appId);
  assert.deepEqual(discardedList.map((d) => [d.idem, d.reason]), [[discarded, "bad"]]);
});

Deno.test("KvEventStore: events larger than one KV value survive a restart", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/big.kv`;
  const a = testApp("a");
  const big = btoa("x".repeat(300_000));
  const small = btoa("small");
  {
    await using engine = await startTestEngine([a], { store: new KvEventStore(path) });
    await using c = await connected(engine, a);
    assert.match(await c.request(pubFrame(c, "b/x", a.appId, big)), /^\+PASS:PUBLISHED/);
    assert.match(await c.request(pubFrame(c, "b/x", a.appId, small)), /^\+PASS:PUBLISHED/);
  }
  await using engine = await startTestEngine([a], { store: new KvEventStore(path) });
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:b/x`);
  const got = await drain(c);
  assert.deepEqual(got.map((r) => r.payload), [big, small]);
});

Deno.test("KvEventStore: a shared database keeps the engine's keys under its prefix", async () => {
  await using ws = await tempWorkspace();
  const kv = await Deno.openKv(`${ws.path}/shared.kv`);
  try {
    await kv.set(["other", "key"], 1);
    const a = testApp("a");
    {
      await using engine = await startTestEngine([a], {
        store: new KvEventStore(kv, { prefix: ["es"] }),
      });
      await using c = await connected(engine, a);
      await c.request(pubFrame(c, "p/x", a.appId, "e30="));
    }
    const keys: string[] = [];
    for await (const e of kv.list({ prefix: [] })) keys.push(String(e.key[0]));
    assert.deepEqual([...new Set(keys)].sort(), ["es", "other"]);
  } finally {
    kv.close();
  }
});
