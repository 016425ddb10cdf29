import assert from "node:assert/strict";
import { KvRequestStore } from "../../../lib/proxy/mod.ts";
import { openKv } from "../../../lib/kv.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { finished, pendingRecord } from "./_fixtures.ts";

async function logKeys(path: string): Promise<Deno.KvKey[]> {
  const kv = await openKv(path);
  try {
    return (await Array.fromAsync(kv.list({ prefix: ["syft-proxy"] }))).map((e) => e.key);
  } finally {
    kv.close();
  }
}

Deno.test("KvRequestStore replays its log: large records over several commits, finishes, pending", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/proxy.kv`;
  let store = await KvRequestStore.open(path);
  const big = pendingRecord({ body: "A".repeat(1_500_000) }); // 25 parts: three commits
  const small = Array.from({ length: 50 }, () => pendingRecord());
  await Promise.all([store.create(big), ...small.map((r) => store.create(r))]);
  const bigDone = finished(big, 200, "B".repeat(300_000));
  await store.finish(bigDone);
  await Promise.all(small.slice(0, 20).map((r) => store.finish(finished(r))));
  await store.close();
  store = await KvRequestStore.open(path);
  try {
    assert.deepEqual(await store.get(big.id), bigDone);
    assert.equal((await store.get(small[0]!.id))?.status, "completed");
    assert.deepEqual(await store.get(small[30]!.id), small[30]);
    const listed = (await store.listPending("owner-a")).map((r) => r.id).sort();
    assert.deepEqual(listed, small.slice(20).map((r) => r.id).sort());
  } finally {
    await store.close();
  }
});

Deno.test("KvRequestStore deletes log segments nobody needs any more", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/proxy.kv`;
  const clock = new FakeClock(Date.now());
  const store = await KvRequestStore.open(path, { ttlMs: 200, clock });
  const records = Array.from({ length: 40 }, () => pendingRecord());
  // One at a time: each create is its own segment.
  for (const r of records) await store.create(r);
  for (const r of records) await store.finish(finished(r));
  // The create segments are superseded by the finishes and go in a later commit.
  await store.create(pendingRecord({ owner: "owner-b" }));
  await store.close();
  const keys = await logKeys(path);
  assert.ok(keys.length <= 42, `${keys.length} log values left`);
  // Once every record expired, nothing is left (after the next sweep and commit).
  const again = await KvRequestStore.open(path, { ttlMs: 200, clock });
  await again.close();
  await clock.tick(200);
  const last = await KvRequestStore.open(path, { ttlMs: 200, clock });
  try {
    for (const r of records) assert.equal(await last.get(r.id), null);
    await last.create(pendingRecord({ owner: "owner-c" })); // a commit carries the deletions
  } finally {
    await last.close();
  }
  const remaining = await logKeys(path);
  assert.ok(remaining.length <= 2, `${remaining.length} log values left`);
});

Deno.test("KvRequestStore ignores and removes a segment whose commit never happened", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/proxy.kv`;
  const kv = await openKv(path);
  // Part 1 of a two-part segment, without its first part (written last, with the count).
  await kv.set(["syft-proxy", "log", 5, 1], new TextEncoder().encode(`${Date.now() + 9e6} {}\n`));
  kv.close();
  const store = await KvRequestStore.open(path);
  try {
    assert.deepEqual(await store.listPending("owner-a"), []);
    await store.create(pendingRecord());
  } finally {
    await store.close();
  }
  const keys = await logKeys(path);
  assert.ok(!keys.some((k) => k[2] === 5), "the torn segment is deleted");
});

Deno.test("KvRequestStore moves records of the key-per-record layout into its log", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/proxy.kv`;
  const a = pendingRecord();
  const kv = await openKv(path);
  await kv.set(["syft-proxy", "req", a.id], {
    s: "pending",
    x: Date.now() + 600_000,
    j: JSON.stringify(a),
  });
  await kv.set(["syft-proxy", "pending", "owner-a", a.id], 1);
  kv.close();
  let store = await KvRequestStore.open(path);
  try {
    assert.deepEqual(await store.get(a.id), a);
    assert.deepEqual((await store.listPending("owner-a")).map((r) => r.id), [a.id]);
  } finally {
    await store.close();
  }
  const keys = await logKeys(path);
  assert.ok(keys.every((k) => k[1] === "log"), "only the log is left");
  store = await KvRequestStore.open(path);
  try {
    assert.deepEqual(await store.get(a.id), a);
  } finally {
    await store.close();
  }
});

Deno.test("KvRequestStore: the first finish wins while its commit is in flight", async () => {
  const store = await KvRequestStore.open(":memory:");
  try {
    const a = pendingRecord();
    await store.create(a);
    const first = finished(a, 200, "Zmlyc3Q=");
    const second = finished(a, 404, "c2Vjb25k");
    const [one, two] = await Promise.all([store.finish(first), store.finish(second)]);
    assert.deepEqual(one, first);
    assert.deepEqual(two, first);
    await waitFor(async () => (await store.get(a.id))?.response?.body === "Zmlyc3Q=");
  } finally {
    await store.close();
  }
});
