import assert from "node:assert/strict";
import {
  type ConnectionRouter,
  connectRedisAdapter,
  createConnectionRouter,
  createEventRegister,
  type RedisAdapter,
  RedisAdapterError,
} from "../../../lib/hub/mod.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { rawPeer, startHub, type TestHub } from "./_helpers.ts";

interface Instance {
  server: TestHub;
  router: ConnectionRouter;
  adapter: RedisAdapter;
}

/** One hub instance: its own router on the shared Redis prefix, and handlers that use it. */
async function instance(url: string, prefix: string): Promise<Instance> {
  const adapter = await connectRedisAdapter(url, { prefix });
  const router = createConnectionRouter({ adapter });
  const register = createEventRegister()
    .on("connected", ({ connection }) => connection.send("hello", connection.id))
    .on("join", ({ connection, payload }) => {
      router.join(connection, String(payload));
      connection.send("joined", payload);
    })
    .on("all", ({ connection, payload }) => {
      router.broadcast("all", payload, { exclude: connection });
    })
    .on("room", ({ connection, payload, headers }) => {
      router.to(String(headers.room)).send("room", payload, { exclude: connection });
    })
    .on("direct", async ({ connection, payload, headers }) => {
      const ok = await router.sendTo(String(headers.to), "direct", payload);
      connection.send("direct-result", ok);
    });
  return { server: startHub(register, { router }), router, adapter };
}

async function stop(i: Instance): Promise<void> {
  await i.server.stop();
  await i.router.close();
}

redisTest(
  "RedisAdapter lets two hub instances deliver broadcasts, room sends and sendTo across each other",
  async (r) => {
    const a = await instance(r.url, r.prefix);
    const b = await instance(r.url, r.prefix);
    try {
      const onA = await rawPeer(a.server.url);
      const onB1 = await rawPeer(b.server.url);
      const onB2 = await rawPeer(b.server.url);
      const idA = JSON.parse(await onA.next()).payload;
      const idB1 = JSON.parse(await onB1.next()).payload;
      JSON.parse(await onB2.next());
      // The registry knows where each connection lives.
      await waitFor(async () => (await r.client.hlen(`${r.prefix}:conns`)) === 3);
      assert.equal(await r.client.hget(`${r.prefix}:conns`, idB1), b.adapter.instanceId);

      // Broadcast from A reaches both connections of B, not the sender.
      onA.send('{"eventName":"all","payload":"to everyone"}');
      assert.equal(await onB1.next(), '{"eventName":"all","payload":"to everyone","headers":{}}');
      assert.equal(await onB2.next(), '{"eventName":"all","payload":"to everyone","headers":{}}');

      // Room send from B reaches A's member (and not B2, which is not in the room).
      onA.send('{"eventName":"join","payload":"blue"}');
      assert.equal(JSON.parse(await onA.next()).eventName, "joined");
      onB1.send('{"eventName":"join","payload":"blue"}');
      assert.equal(JSON.parse(await onB1.next()).eventName, "joined");
      onB1.send('{"eventName":"room","payload":"hi blue","headers":{"room":"blue"}}');
      assert.equal(await onA.next(), '{"eventName":"room","payload":"hi blue","headers":{}}');

      // sendTo from A to a connection held by B; and to an id nobody holds.
      onA.send(JSON.stringify({ eventName: "direct", payload: "psst", headers: { to: idB1 } }));
      assert.equal(await onB1.next(), '{"eventName":"direct","payload":"psst","headers":{}}');
      assert.equal(await onA.next(), '{"eventName":"direct-result","payload":true,"headers":{}}');
      onB1.send(JSON.stringify({ eventName: "direct", payload: "back", headers: { to: idA } }));
      assert.equal(await onA.next(), '{"eventName":"direct","payload":"back","headers":{}}');
      onA.send('{"eventName":"direct","payload":"x","headers":{"to":"zpt-nobody"}}');
      assert.equal(await onA.next(), '{"eventName":"direct-result","payload":false,"headers":{}}');

      // Nothing leaked to B2 (not in blue, not addressed) and nothing echoed to the senders.
      assert.equal(onB2.frames.length, 2);
      await Promise.all([onA.close(), onB1.close(), onB2.close()]);
      await waitFor(async () => (await r.client.hlen(`${r.prefix}:conns`)) === 0, {
        what: "closed connections to leave the registry",
      });
    } finally {
      await stop(a);
      await stop(b);
    }
  },
);

redisTest(
  "RedisAdapter.sendTo() returns false and drops the entry of an instance that vanished",
  async (r) => {
    const a = await instance(r.url, r.prefix);
    try {
      await r.client.hset(`${r.prefix}:conns`, "zpt-ghost", "dead-instance");
      assert.equal(await a.router.sendTo("zpt-ghost", "x"), false);
      assert.equal(await r.client.hexists(`${r.prefix}:conns`, "zpt-ghost"), 0);
    } finally {
      await stop(a);
    }
  },
);

Deno.test("connectRedisAdapter() fails with RedisAdapterError when Redis is unreachable", async () => {
  await assert.rejects(
    connectRedisAdapter("redis://127.0.0.1:1", { connectTimeoutMs: 1_000 }),
    (err: unknown) => {
      assert.ok(err instanceof RedisAdapterError);
      assert.match(err.message, /Cannot use Redis at redis:\/\/127\.0\.0\.1:1/);
      return true;
    },
  );
});
