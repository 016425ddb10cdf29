/**
 * The contract every EnSync store keeps (memory, Deno KV, Redis), in the manner of the proxy
 * store contract: one body of assertions run against each store, on real Deno KV and real Redis.
 */
import assert from "node:assert/strict";
import {
  type EnSyncStore,
  EnSyncStoreError,
  KvEventStore,
  MemoryEventStore,
  type NewEvent,
  type QueueRef,
  RedisEventStore,
  type StoredEvent,
} from "../../../servers/ensync/mod.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";

const OPTIONS = { retentionMs: 3_600_000, ackTimeoutMs: 30_000 };

function newEvent(app: string, name: string, n: number): NewEvent {
  return {
    app,
    name,
    payload: btoa(`payload ${n}`),
    metadata: JSON.stringify({ n }),
    sender: "sender-app",
    loggedAt: Date.now(),
    persist: true,
  };
}

/** Claims every ready event of a queue, in order. */
async function drain(store: EnSyncStore, q: QueueRef, consumer: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (let ev = await store.claim(q, consumer); ev; ev = await store.claim(q, consumer)) {
    out.push(ev);
  }
  return out;
}

/** The behaviour every store must have; `reopen` (durable stores) opens a new store on the same state. */
async function contract(
  store: EnSyncStore,
  reopen?: () => EnSyncStore & AsyncDisposable,
): Promise<void> {
  await store.open(OPTIONS);
  const app = `app-${crypto.randomUUID().slice(0, 8)}`;
  const orders: QueueRef = { app, name: "orders/created" };
  const refunds: QueueRef = { app, name: "orders/refunded" };
  const ready: [string, number][] = [];
  store.onReady((q, n) => {
    if (q.app === app) ready.push([q.name, n]);
  });

  // Append: idem unique, blocks count from 1 per queue, fields kept.
  const stored = await store.append([
    newEvent(app, orders.name, 1),
    newEvent(app, orders.name, 2),
    newEvent(app, refunds.name, 3),
  ]);
  assert.deepEqual(stored.map((e) => e.block), [1, 2, 1]);
  assert.equal(new Set(stored.map((e) => e.idem)).size, 3);
  assert.equal(stored[0]!.payload, btoa("payload 1"));
  assert.equal(JSON.parse(stored[0]!.metadata).n, 1);
  assert.deepEqual(
    (await store.queueNames(app)).toSorted(),
    [refunds.name, orders.name].toSorted(),
  );
  assert.deepEqual(await store.queueNames("nobody"), []);
  // The ready listeners heard of both queues.
  for (let i = 0; i < 50 && new Set(ready.map(([n]) => n)).size < 2; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(
    [...new Set(ready.map(([n]) => n))].toSorted(),
    [refunds.name, orders.name].toSorted(),
  );

  // Claim hands out events in order, once each.
  const first = await store.claim(orders, "c1/a");
  assert.equal(first?.idem, stored[0]!.idem);
  assert.equal((await store.lookup(first!.idem))?.state, "inflight");
  const second = await store.claim(orders, "c2/a");
  assert.equal(second?.idem, stored[1]!.idem);
  assert.equal(await store.claim(orders, "c1/a"), undefined);

  // Release by the holder puts it back at the front.
  await store.release(second!, "c2/a");
  assert.equal((await store.lookup(second!.idem))?.state, "ready");
  assert.equal((await store.claim(orders, "c2/a"))?.idem, second!.idem);

  // Ack: the state it was in, then the event stays for replay as acked; a second settle is a no-op.
  assert.equal(await store.settle(first!, { kind: "ack" }), "inflight");
  assert.equal(await store.settle(first!, { kind: "ack" }), undefined);
  const acked = await store.lookup(first!.idem);
  assert.equal(acked?.state, "acked");
  assert.equal(acked?.event.payload, first!.payload);
  assert.equal(await store.lookup("no-such-event"), undefined);

  // Defer: not claimable before it is due; the due time is kept.
  const dueAt = Date.now() + 3_600_000;
  assert.equal(await store.settle(second!, { kind: "defer", dueAt, reason: "later" }), "inflight");
  const deferred = await store.lookup(second!.idem);
  assert.equal(deferred?.state, "deferred");
  assert.equal(deferred?.dueAt, dueAt);
  assert.equal(await store.claim(orders, "c1/a"), undefined);

  // Discard of a ready (unclaimed) event: listed newest first, then purged from the listing.
  assert.equal(await store.settle(stored[2]!, { kind: "discard", reason: "bad" }), "ready");
  assert.equal((await store.lookup(stored[2]!.idem))?.state, "discarded");
  const listed = await store.discarded(app, 10);
  assert.deepEqual(listed.map((d) => [d.idem, d.reason, d.name]), [
    [stored[2]!.idem, "bad", refunds.name],
  ]);
  assert.deepEqual(await store.discarded("nobody", 10), []);

  // Requeue (rollback): an acked event is ready again at the front; a live one is left alone.
  assert.equal(await store.requeue(first!), true);
  assert.equal(await store.requeue(first!), false);
  assert.equal((await store.claim(orders, "c1/a"))?.idem, first!.idem);
  await store.release(first!, "c1/a");

  if (store.queueCounts) {
    const counts = (await store.queueCounts()).filter((c) => c.app === app);
    const byName = Object.fromEntries(
      counts.map((c) => [c.name, [c.ready, c.inflight, c.deferred]]),
    );
    assert.deepEqual(byName[orders.name], [1, 0, 1]);
    assert.deepEqual(byName[refunds.name] ?? [0, 0, 0], [0, 0, 0]);
  }
  if (store.purgeDiscarded) {
    assert.equal(await store.purgeDiscarded(app, ["other"]), 0);
    assert.equal(await store.purgeDiscarded(app), 1);
    assert.deepEqual(await store.discarded(app, 10), []);
    assert.equal((await store.lookup(stored[2]!.idem))?.state, "discarded");
  }

  // Many appends at once all land, each queue numbered without gaps.
  const bulk = await Promise.all(
    Array.from({ length: 200 }, (_, i) => store.append([newEvent(app, "bulk", i)])),
  );
  assert.deepEqual(
    bulk.flat().map((e) => e.block).toSorted((a, b) => a - b),
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  const claimed = await drain(store, { app, name: "bulk" }, "c1/a");
  assert.equal(claimed.length, 200);
  await Promise.all(claimed.slice(0, 150).map((e) => store.settle(e, { kind: "ack" })));

  await store.close();
  await store.close(); // idempotent
  await assert.rejects(store.append([newEvent(app, orders.name, 9)]), EnSyncStoreError);

  if (reopen === undefined) return;
  // A durable store: after a reopen, everything unacked is ready again (in flight included), the
  // deferred event is still deferred, acked events are not delivered again, blocks continue.
  await using again = reopen();
  await again.open(OPTIONS);
  assert.equal((await again.lookup(first!.idem))?.state, "ready");
  assert.equal((await again.lookup(second!.idem))?.state, "deferred");
  assert.equal((await again.lookup(stored[2]!.idem))?.state, "discarded");
  const back = await drain(again, { app, name: "bulk" }, "c3/b");
  assert.deepEqual(
    back.map((e) => e.idem).toSorted(),
    claimed.slice(150).map((e) => e.idem).toSorted(),
  );
  assert.deepEqual((await drain(again, orders, "c3/b")).map((e) => e.idem), [first!.idem]);
  const [next] = await again.append([newEvent(app, orders.name, 10)]);
  assert.equal(next!.block, 3);
}

Deno.test("EnSync store contract: MemoryEventStore", async () => {
  await contract(new MemoryEventStore());
});

Deno.test("EnSync store contract: KvEventStore (writer thread), and its state survives a reopen", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/ensync.kv`;
  await contract(new KvEventStore(path), () => new KvEventStore(path));
});

Deno.test("EnSync store contract: KvEventStore on a shared database (inline writer)", async () => {
  await using ws = await tempWorkspace();
  const kv = await Deno.openKv(`${ws.path}/shared.kv`);
  try {
    const prefix = ["es-contract"];
    await contract(
      new KvEventStore(kv, { prefix }),
      () => new KvEventStore(kv, { prefix }),
    );
  } finally {
    kv.close();
  }
});

redisTest("EnSync store contract: RedisEventStore, and its state survives a reopen", async (r) => {
  await contract(
    new RedisEventStore(r.url, { prefix: r.prefix }),
    () => new RedisEventStore(r.url, { prefix: r.prefix }),
  );
});
