import assert from "node:assert/strict";
import {
  type ConnectionRouter,
  connectRedisAdapter,
  createConnectionRouter,
  createEventRegister,
  type RedisAdapter,
  type RedisAdapterOptions,
} from "../../../lib/hub/mod.ts";
import { HAVE_REDIS_SERVER, PrivateRedis } from "../../_helpers/private_redis.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { type RawPeer, rawPeer, startHub, type TestHub } from "./_helpers.ts";

interface Instance extends AsyncDisposable {
  server: TestHub;
  router: ConnectionRouter;
  adapter: RedisAdapter;
}

/** A hub instance whose `all` events go to everyone else and `sync` answers the sender. */
async function instance(
  url: string,
  prefix: string,
  options: RedisAdapterOptions = {},
): Promise<Instance> {
  const adapter = await connectRedisAdapter(url, { prefix, ...options });
  const router = createConnectionRouter({ adapter });
  const register = createEventRegister()
    .on("connected", ({ connection }) => connection.send("hello", connection.id))
    .on("all", ({ connection, payload }) => {
      router.broadcast("all", payload, { exclude: connection });
    })
    .on("sync", ({ connection, payload }) => connection.send("sync", payload));
  const server = startHub(register, { router });
  return {
    server,
    router,
    adapter,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await router.close();
    },
  };
}

/** Sends `sync` and waits for its answer: every earlier event of `peer` has been handled. */
async function synced(peer: RawPeer, n: number): Promise<void> {
  peer.send(JSON.stringify({ eventName: "sync", payload: n }));
  assert.deepEqual(await peer.nextJson(), { eventName: "sync", payload: n, headers: {} });
}

const scaleOut = (state: string) => ({ eventName: "$scaleout", payload: { state }, headers: {} });

Deno.test({
  name:
    "RedisAdapter drops cross-hub events at once while Redis is down (counted), tells every client, and resumes after the restart",
  ignore: !HAVE_REDIS_SERVER && Deno.env.get("SYFT_REQUIRE_REDIS") !== "1",
  async fn() {
    await using redis = new PrivateRedis();
    await redis.start();
    const prefix = `syft:test:outage:${crypto.randomUUID()}`;
    await using a = await instance(redis.url, prefix);
    await using b = await instance(redis.url, prefix);
    await using onA = await rawPeer(a.server.url);
    await using onB = await rawPeer(b.server.url);
    await onA.next();
    const idB = (await onB.nextJson()).payload as string;

    // Before: every event reaches the other hub.
    for (let i = 0; i < 5; i++) onA.send(JSON.stringify({ eventName: "all", payload: `up-${i}` }));
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await onB.nextJson(), { eventName: "all", payload: `up-${i}`, headers: {} });
    }

    // Outage: both hubs say so, once, to each of their clients.
    await redis.stop();
    assert.deepEqual(await onA.nextJson(10_000), scaleOut("degraded"));
    assert.deepEqual(await onB.nextJson(10_000), scaleOut("degraded"));
    assert.equal(a.adapter.state, "degraded");
    assert.equal(b.router.adapter?.stats?.state, "degraded");
    // A client that connects during the outage learns it first.
    await using lateOnB = await rawPeer(b.server.url);
    assert.deepEqual(await lateOnB.nextJson(), scaleOut("degraded"));
    assert.equal((await lateOnB.nextJson()).eventName, "hello");

    // During: each cross-hub event is dropped at once and counted; local delivery goes on.
    for (let i = 0; i < 7; i++) {
      onA.send(JSON.stringify({ eventName: "all", payload: `down-${i}` }));
    }
    await synced(onA, 1);
    assert.deepEqual(a.adapter.stats.dropped, { redis_down: 7, missed: 0, stale: 0 });
    assert.equal(a.adapter.stats.buffered, 0);
    assert.equal(await a.router.sendTo(idB, "direct", "while down"), false);

    // After: the restart is reported and delivery resumes; nothing of the outage arrives late.
    await redis.start();
    assert.deepEqual(await onA.nextJson(15_000), scaleOut("ok"));
    assert.deepEqual(await onB.nextJson(15_000), scaleOut("ok"));
    assert.deepEqual(await lateOnB.nextJson(15_000), scaleOut("ok"));
    for (let i = 0; i < 5; i++) {
      onA.send(JSON.stringify({ eventName: "all", payload: `back-${i}` }));
    }
    for (let i = 0; i < 5; i++) {
      const want = { eventName: "all", payload: `back-${i}`, headers: {} };
      assert.deepEqual(await onB.nextJson(), want);
      assert.deepEqual(await lateOnB.nextJson(), want);
    }
    await waitFor(() => a.adapter.stats.published === 10, { what: "10 acknowledged publishes" });
    assert.equal(b.adapter.stats.received, 10);
    assert.deepEqual(b.adapter.stats.dropped, { redis_down: 0, missed: 0, stale: 0 });
    assert.equal(a.adapter.stats.dropped.redis_down, 7);

    // The restarted Redis lost the registry: each hub wrote its connections again.
    await waitFor(async () => await a.router.sendTo(idB, "direct", "after"), {
      what: "sendTo across hubs after the restart",
    });
    assert.deepEqual(await onB.nextJson(), { eventName: "direct", payload: "after", headers: {} });
    assert.equal(onB.frames.length, 5 + 1 + 1 + 5 + 1 + 1, "no event of the outage arrived");
  },
});

redisTest(
  "RedisAdapter drops a frame older than maxAgeMs on arrival (counted stale) and delivers one just within it",
  async (r) => {
    // The publisher's clock is 10 s behind the receiver's: with a 5 s max age its frames are stale.
    const clockA = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const clockB = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 10));
    await using a = await instance(r.url, r.prefix, { maxAgeMs: 5_000, clock: clockA });
    await using b = await instance(r.url, r.prefix, { maxAgeMs: 5_000, clock: clockB });
    await using onA = await rawPeer(a.server.url);
    await using onB = await rawPeer(b.server.url);
    await onA.next();
    await onB.next();

    onA.send('{"eventName":"all","payload":"10 s old"}');
    await waitFor(() => b.adapter.stats.dropped.stale === 1, { what: "the stale drop" });
    await clockA.tick(5_000); // now exactly 5 s old on arrival: still delivered
    onA.send('{"eventName":"all","payload":"5 s old"}');
    assert.deepEqual(await onB.nextJson(), { eventName: "all", payload: "5 s old", headers: {} });
    assert.deepEqual(b.adapter.stats.dropped, { redis_down: 0, missed: 0, stale: 1 });
    assert.equal(b.adapter.stats.received, 1);
    assert.equal(onB.frames.length, 2);
  },
);

redisTest(
  "RedisAdapter counts the frames of another instance that never arrived (gaps in its sequence) as missed",
  async (r) => {
    await using b = await instance(r.url, r.prefix);
    await using onB = await rawPeer(b.server.url);
    await onB.next();
    const send = (q: number) =>
      r.client.publish(
        `${r.prefix}:all`,
        JSON.stringify({ n: "other-instance", q }) + "\n" +
          JSON.stringify({ eventName: "all", payload: q, headers: {} }),
      );
    await send(1);
    await send(2);
    await send(6); // 3, 4 and 5 were lost on the way
    await send(7);
    for (const q of [1, 2, 6, 7]) assert.equal((await onB.nextJson()).payload, q);
    assert.deepEqual(b.adapter.stats.dropped, { redis_down: 0, missed: 3, stale: 0 });
    assert.equal(b.adapter.stats.received, 4);
  },
);

Deno.test("connectRedisAdapter() refuses a max age that is not positive", async () => {
  await assert.rejects(
    connectRedisAdapter("redis://127.0.0.1:1", { maxAgeMs: 0 }),
    /Cannot use maxAgeMs 0/,
  );
});
