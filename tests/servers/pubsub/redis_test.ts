// Two pub/sub servers sharing Redis act as one.
import assert from "node:assert/strict";
import { PubSubServerError, startPubSubServer } from "../../../servers/pubsub/mod.ts";
import { ALL_TOPICS, connectFastApiPubSub } from "../../../lib/pubsub/fastapi_client.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { httpBase, metric } from "./_helpers.ts";

redisTest(
  "startPubSubServer({ redisUrl }): two instances sharing Redis deliver each other's publishes",
  async ({ url, prefix }) => {
    await using a = await startPubSubServer({
      port: 0,
      redisUrl: url,
      redisPrefix: `${prefix}pubsub`,
    });
    await using b = await startPubSubServer({
      port: 0,
      redisUrl: url,
      redisPrefix: `${prefix}pubsub`,
    });
    await using onA = connectFastApiPubSub(a.url);
    await using allOnB = connectFastApiPubSub(b.url);
    await using pubB = connectFastApiPubSub(b.url);
    const gotA: [string, unknown][] = [];
    const gotAll: [string, unknown][] = [];
    onA.onNotify((t, d) => gotA.push([t, d]));
    allOnB.onNotify((t, d) => gotAll.push([t, d]));
    await onA.subscribe(["net/w/e"]);
    await allOnB.subscribe([ALL_TOPICS]);
    await pubB.ready();

    for (let i = 0; i < 50; i++) {
      assert.equal(await pubB.publish(["net/w/e"], { i }, { sync: i % 2 === 0 }), true);
    }
    await waitFor(() => gotA.length === 50 && gotAll.length === 50);
    // In order across instances.
    assert.deepEqual(gotA.map(([, d]) => (d as { i: number }).i), [...Array(50).keys()]);
    assert.deepEqual(gotAll[0], ["net/w/e", { i: 0 }]);

    // And the other way: a publish on A reaches B's ALL_TOPICS subscriber, not A's publisher twice.
    await onA.publish(["other"], "from a");
    await waitFor(() => gotAll.length === 51);
    assert.deepEqual(gotAll[50], ["other", "from a"]);
    assert.equal(await metric(a.url, "syft_pubsub_published_remote_total"), 50);
    assert.equal(await metric(b.url, "syft_pubsub_published_remote_total"), 1);
    const health = await (await fetch(`${httpBase(a.url)}/health`)).json();
    assert.equal(health.redis, "ok");
  },
);

Deno.test("startPubSubServer() with an unreachable Redis fails with PUBSUB_REDIS and names the URL", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const err = await assert.rejects(
    () => startPubSubServer({ port: 0, redisUrl: `redis://:pw@127.0.0.1:${port}` }),
    (e: unknown) => {
      assert.ok(e instanceof PubSubServerError);
      assert.equal(e.code, "PUBSUB_REDIS");
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(e.message, /:pw@/);
      return true;
    },
  );
  assert.equal(err, undefined);
});
