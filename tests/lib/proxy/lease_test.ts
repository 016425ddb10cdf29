import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileBackend } from "../../../lib/proxy/_file_backend.ts";
import { ProxyGateway } from "../../../lib/proxy/_gateway.ts";
import { RedisRequestStore } from "../../../lib/proxy/store_redis.ts";
import { createEchoApp } from "../../../lib/rpc/echo.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { pendingRecord } from "./_fixtures.ts";

redisTest(
  "RedisRequestStore leases: requests move to another owner only once their owner's lease ran out",
  async (r) => {
    const clock = new FakeClock();
    const a = await RedisRequestStore.connect(r.url, { prefix: r.prefix, leaseMs: 3_000, clock });
    const b = await RedisRequestStore.connect(r.url, { prefix: r.prefix, leaseMs: 3_000, clock });
    try {
      await a.leases.renew("owner-a");
      await b.leases.renew("owner-b");
      const mine = pendingRecord({ owner: "owner-a" });
      const done = pendingRecord({ owner: "owner-a" });
      await a.create(mine);
      await a.create(done);
      await a.finish({ ...done, status: "completed", status_code: 200 });
      // Alive: renewed within the lease.
      assert.deepEqual(await b.leases.claim("owner-b"), []);
      await clock.tick(2_000);
      await a.leases.renew("owner-a");
      await clock.tick(2_000);
      assert.deepEqual(await b.leases.claim("owner-b"), []);
      // owner-a stops renewing: after the lease, owner-b takes its pending (only) requests.
      await clock.tick(1_001);
      const claimed = await b.leases.claim("owner-b");
      assert.deepEqual(claimed, [{ ...mine, owner: "owner-b" }]);
      assert.deepEqual(await b.get(mine.id), { ...mine, owner: "owner-b" });
      assert.deepEqual((await b.listPending("owner-b")).map((x) => x.id), [mine.id]);
      assert.deepEqual(await a.listPending("owner-a"), []);
      // Claimed once: nothing left to take; owner-b's renewed lease keeps them its own.
      assert.deepEqual(await b.leases.claim("owner-b"), []);
      await b.leases.renew("owner-b");
      assert.deepEqual(await a.leases.claim("owner-a"), []);
      // An owner that never had a lease (an earlier version) counts as expired.
      const old = pendingRecord({ owner: "owner-old" });
      await a.create(old);
      assert.deepEqual((await a.leases.claim("owner-a")).map((x) => x.id), [old.id]);
    } finally {
      await a.close();
      await b.close();
    }
  },
);

redisTest(
  "ProxyGateway on Redis: a proxy that stops renewing has its pending requests followed by another",
  async (r) => {
    await using ws = await tempWorkspace();
    const dataDir = join(ws.path, "data");
    const workspace = { email: "me@example.org", dataDir };
    const clock = new FakeClock(Date.now());
    const open = () =>
      RedisRequestStore.connect(r.url, { prefix: r.prefix, leaseMs: 3_000, clock });
    const storeA = await open();
    const storeB = await open();
    const a = new ProxyGateway({
      backend: await createFileBackend(workspace),
      store: storeA,
      clock,
    });
    const b = new ProxyGateway({
      backend: await createFileBackend(workspace),
      store: storeB,
      clock,
    });
    await a.start();
    await b.start();
    assert.notEqual(a.owner, b.owner);
    try {
      const sent = await a.send("seed", {
        url: "syft://me@example.org/app_data/echo/rpc/echo",
        destination: "me@example.org",
        appName: "echo",
        funcName: "echo",
        method: "POST",
        body: new TextEncoder().encode('"hi"'),
        headers: {},
        expiresAt: new Date(Date.now() + 600_000),
      });
      // A stops (its lease is no longer renewed; its request stays pending in the store).
      await a.close();
      await using echo = createEchoApp({ workspace, cleanupInterval: 0 });
      await echo.start();
      // B's renewals keep running on the clock; within the lease nothing moves.
      await clock.tick(2_000);
      assert.equal((await storeB.get(sent.id))?.owner, a.owner);
      // After it, B claims the request and follows its response file to the end.
      await clock.tick(2_000);
      await waitFor(async () => (await storeB.get(sent.id))?.status === "completed", {
        what: "the request completed by the other proxy",
      });
      assert.equal((await storeB.get(sent.id))?.owner, b.owner);
    } finally {
      await b.close();
      await storeA.close();
      await storeB.close();
    }
  },
);
