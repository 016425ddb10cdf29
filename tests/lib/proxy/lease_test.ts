import assert from "node:assert/strict";
import { RedisRequestStore } from "../../../lib/proxy/store_redis.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { redisTest } from "../../_helpers/redis.ts";
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
