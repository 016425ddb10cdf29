import assert from "node:assert/strict";
import {
  KvRequestStore,
  MemoryRequestStore,
  openRequestStore,
  RedisRequestStore,
  type RequestStore,
  StoreError,
} from "../../../lib/proxy/mod.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { finished, pendingRecord } from "./_fixtures.ts";

/** Resolves once the clock has a timer waiting (a wait has started), for stores that do I/O first. */
async function timerSet(clock: FakeClock): Promise<void> {
  await waitFor(() => clock.pending > 0, { what: "a timer on the clock" });
}

/** The behaviour every store must have (`store` runs on `clock`). */
async function contract(store: RequestStore, clock: FakeClock): Promise<void> {
  const a = pendingRecord();
  await store.create(a);
  assert.deepEqual(await store.get(a.id), a);
  assert.equal(await store.get(crypto.randomUUID()), null);
  assert.deepEqual((await store.listPending("owner-a")).map((r) => r.id), [a.id]);
  assert.deepEqual(await store.listPending("owner-b"), []);

  // A waiter registered before the finish wakes with the finished record.
  const waiting = store.waitForFinish(a.id, 5_000);
  const done = finished(a);
  assert.deepEqual(await store.finish(done), done);
  assert.deepEqual(await waiting, done);
  assert.deepEqual(await store.get(a.id), done);
  assert.deepEqual(await store.listPending("owner-a"), []);

  // The first finisher wins: a later (e.g. synthetic 404) finish does not overwrite it.
  assert.deepEqual(await store.finish(finished(a, 404)), done);
  // Unknown ids cannot be finished.
  assert.equal(await store.finish(finished(pendingRecord())), null);

  // A wait on a pending record ends after its timeout (on the store's clock) with the record.
  const b = pendingRecord();
  await store.create(b);
  let settled = false;
  const timedOut = store.waitForFinish(b.id, 50).finally(() => (settled = true));
  await timerSet(clock);
  await clock.tick(49);
  assert.equal(settled, false);
  await clock.tick(1);
  assert.equal((await timedOut)?.status, "pending");
  // An aborted wait ends at once.
  const ac = new AbortController();
  const aborted = store.waitForFinish(b.id, 10_000, ac.signal);
  ac.abort();
  assert.equal((await aborted)?.status, "pending");

  // Many concurrent creates all land (group commit / pipelining).
  const many = Array.from({ length: 300 }, () => pendingRecord({ owner: "owner-many" }));
  await Promise.all(many.map((r) => store.create(r)));
  const listed = await store.listPending("owner-many");
  assert.equal(listed.length, 300);
  assert.deepEqual(new Set(listed.map((r) => r.id)), new Set(many.map((r) => r.id)));
}

Deno.test("MemoryRequestStore keeps, finishes, lists and waits on requests", async () => {
  const clock = new FakeClock(Date.now());
  const store = new MemoryRequestStore({ clock });
  try {
    await contract(store, clock);
  } finally {
    await store.close();
  }
});

Deno.test("KvRequestStore keeps, finishes, lists and waits on requests", async () => {
  const clock = new FakeClock(Date.now());
  const store = await KvRequestStore.open(":memory:", { clock });
  try {
    await contract(store, clock);
  } finally {
    await store.close();
  }
});

Deno.test("KvRequestStore keeps statuses across a reopen of the same file", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/state/proxy.kv`;
  const a = pendingRecord();
  const b = pendingRecord();
  let store = await KvRequestStore.open(path);
  await store.create(a);
  await store.create(b);
  await store.finish(finished(b, 500));
  await store.close();
  store = await KvRequestStore.open(path);
  try {
    assert.deepEqual(await store.get(a.id), a);
    assert.equal((await store.get(b.id))?.status, "failed");
    assert.deepEqual((await store.listPending("owner-a")).map((r) => r.id), [a.id]);
  } finally {
    await store.close();
  }
});

Deno.test("KvRequestStore splits records over Deno KV's 64 KiB value limit", async () => {
  const store = await KvRequestStore.open(":memory:");
  try {
    const big = pendingRecord();
    big.request.body = "A".repeat(900_000); // ~0.9 MB of base64: 15 chunks, several commits
    await store.create(big);
    assert.deepEqual(await store.get(big.id), big);
    const done = finished(big, 200, "B".repeat(200_000));
    await store.finish(done);
    assert.deepEqual(await store.get(big.id), done);
  } finally {
    await store.close();
  }
});

Deno.test("Memory and KV stores drop finished entries after the TTL", async () => {
  const clock = new FakeClock(Date.now());
  for (
    const store of [
      new MemoryRequestStore({ ttlMs: 30, clock }),
      await KvRequestStore.open(":memory:", { ttlMs: 30, clock }),
    ]
  ) {
    try {
      const a = pendingRecord();
      await store.create(a);
      await store.finish(finished(a));
      await clock.tick(29);
      assert.equal((await store.get(a.id))?.status, "completed");
      await clock.tick(1);
      assert.equal(await store.get(a.id), null, store.description);
      // A pending entry is kept until its request expires (+ TTL), not just the TTL.
      const b = pendingRecord();
      await store.create(b);
      await clock.tick(60);
      assert.equal((await store.get(b.id))?.status, "pending", store.description);
    } finally {
      await store.close();
    }
  }
});

redisTest("RedisRequestStore keeps, finishes, lists and waits on requests", async (r) => {
  const clock = new FakeClock(Date.now());
  const store = await RedisRequestStore.connect(r.url, { prefix: r.prefix, clock });
  try {
    await contract(store, clock);
  } finally {
    await store.close();
  }
});

redisTest("RedisRequestStore: a finish on one store wakes a long-poll on another", async (r) => {
  const one = await RedisRequestStore.connect(r.url, { prefix: r.prefix });
  // Time stands still for the waiting store: only the published finish can end its wait.
  const clock = new FakeClock(Date.now());
  const two = await RedisRequestStore.connect(r.url, { prefix: r.prefix, clock });
  try {
    const a = pendingRecord();
    await one.create(a);
    assert.deepEqual(await two.get(a.id), a);
    const waiting = two.waitForFinish(a.id, 5_000);
    await timerSet(clock); // subscribed, read, waiting
    await one.finish(finished(a));
    const seen = await waiting;
    assert.equal(seen?.status, "completed");
    // The TTL applies in Redis too.
    const ttl = await r.client.pttl(`${r.prefix}req:${a.id}`);
    assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `ttl ${ttl}`);
  } finally {
    await one.close();
    await two.close();
  }
});

redisTest(
  "RedisRequestStore group-commits concurrent writes: within one call the first finish wins",
  async (r) => {
    const store = await RedisRequestStore.connect(r.url, { prefix: r.prefix });
    try {
      const a = pendingRecord();
      await store.create(a);
      const first = finished(a, 200);
      const [one, two, unknown] = await Promise.all([
        store.finish(first),
        store.finish(finished(a, 404)),
        store.finish(finished(pendingRecord())),
      ]);
      assert.deepEqual(one, first);
      assert.deepEqual(two, first);
      assert.equal(unknown, null);
      assert.deepEqual(await store.get(a.id), first);
    } finally {
      await store.close();
    }
  },
);

redisTest("RedisRequestStore drops finished entries after the TTL", async (r) => {
  const store = await RedisRequestStore.connect(r.url, { prefix: r.prefix, ttlMs: 50 });
  try {
    const a = pendingRecord();
    await store.create(a);
    await store.finish(finished(a));
    // Redis expires the key itself after the TTL.
    const ttl = await r.client.pttl(`${r.prefix}req:${a.id}`);
    assert.ok(ttl <= 50 && (ttl > 0 || ttl === -2), `ttl ${ttl}`); // -2: already expired
  } finally {
    await store.close();
  }
});

Deno.test("openRequestStore() opens each form and refuses unknown ones", async () => {
  await using ws = await tempWorkspace();
  const memory = await openRequestStore("memory");
  assert.equal(memory.description, "memory");
  await memory.close();
  const kv = await openRequestStore("kv", { kvPath: `${ws.path}/p.kv` });
  assert.equal(kv.description, `kv:${ws.path}/p.kv`);
  await kv.close();
  const kvPath = await openRequestStore(`kv:${ws.path}/q.kv`);
  assert.equal(kvPath.description, `kv:${ws.path}/q.kv`);
  await kvPath.close();
  await assert.rejects(openRequestStore("postgres://x"), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.match(
      err.message,
      /Cannot use request store "postgres:\/\/x": expected one of memory, kv/,
    );
    assert.equal(err.code, "PROXY_STORE_SPEC");
    return true;
  });
  await assert.rejects(openRequestStore("kv"), /no KV path was given/);
  await assert.rejects(
    openRequestStore("redis://:secret@127.0.0.1:1", { ttlMs: 10 }),
    (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.match(
        err.message,
        /Cannot connect to the Redis request store at redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
      );
      assert.ok(!err.message.includes("secret"));
      return true;
    },
  );
});
