import assert from "node:assert/strict";
import {
  KvRequestStore,
  MemoryRequestStore,
  openRequestStore,
  RedisRequestStore,
  type RequestStore,
  StoreError,
} from "../../../lib/proxy/mod.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { finished, pendingRecord } from "./_fixtures.ts";

/** The behaviour every store must have. */
async function contract(store: RequestStore): Promise<void> {
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

  // A wait on a pending record ends after its timeout with the pending record.
  const b = pendingRecord();
  await store.create(b);
  const t0 = performance.now();
  assert.equal((await store.waitForFinish(b.id, 50))?.status, "pending");
  assert.ok(performance.now() - t0 >= 40);
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
  const store = new MemoryRequestStore();
  try {
    await contract(store);
  } finally {
    await store.close();
  }
});

Deno.test("KvRequestStore keeps, finishes, lists and waits on requests", async () => {
  const store = await KvRequestStore.open(":memory:");
  try {
    await contract(store);
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
  for (
    const store of [
      new MemoryRequestStore({ ttlMs: 30 }),
      await KvRequestStore.open(":memory:", { ttlMs: 30 }),
    ]
  ) {
    try {
      const a = pendingRecord();
      await store.create(a);
      await store.finish(finished(a));
      assert.equal((await store.get(a.id))?.status, "completed");
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(await store.get(a.id), null, store.description);
      // A pending entry is kept until its request expires (+ TTL), not just the TTL.
      const b = pendingRecord();
      await store.create(b);
      await new Promise((r) => setTimeout(r, 60));
      assert.equal((await store.get(b.id))?.status, "pending", store.description);
    } finally {
      await store.close();
    }
  }
});

redisTest("RedisRequestStore keeps, finishes, lists and waits on requests", async (r) => {
  const store = await RedisRequestStore.connect(r.url, { prefix: r.prefix });
  try {
    await contract(store);
  } finally {
    await store.close();
  }
});

redisTest("RedisRequestStore: a finish on one store wakes a long-poll on another", async (r) => {
  const one = await RedisRequestStore.connect(r.url, { prefix: r.prefix });
  const two = await RedisRequestStore.connect(r.url, { prefix: r.prefix });
  try {
    const a = pendingRecord();
    await one.create(a);
    assert.deepEqual(await two.get(a.id), a);
    const waiting = two.waitForFinish(a.id, 5_000);
    await new Promise((res) => setTimeout(res, 50)); // let the subscription settle
    const t0 = performance.now();
    await one.finish(finished(a));
    const seen = await waiting;
    assert.equal(seen?.status, "completed");
    assert.ok(performance.now() - t0 < 2_000, "woken by pub/sub, not by the timeout");
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
    await new Promise((res) => setTimeout(res, 120));
    assert.equal(await store.get(a.id), null);
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
    assert.equal(err.exitCode, 2);
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
