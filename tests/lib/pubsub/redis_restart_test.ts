import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { waitFor } from "../../_helpers/workspace.ts";
import { createHive, PublishError } from "../../../lib/pubsub/mod.ts";
import { Inbox, ManualHiveClock, uniqueNetwork } from "./_hive_helpers.ts";
import { HAVE_REDIS_SERVER, PrivateRedis, sparePort } from "../../_helpers/private_redis.ts";

Deno.test({
  name:
    "after a Redis restart the hive re-subscribes and an event sent during the outage arrives or fails loudly",
  ignore: !HAVE_REDIS_SERVER && Deno.env.get("SYFT_REQUIRE_REDIS") !== "1",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using redis = new PrivateRedis(sparePort());
    await redis.start();
    const net = uniqueNetwork();
    await using worker = createHive({
      connectors: { [net]: { type: "redis", url: redis.url, inputChannel: "worker" } },
    });
    await using queen = createHive({
      connectors: {
        [net]: { type: "redis", url: redis.url, inputChannel: "queen", publishTimeoutMs: 20_000 },
      },
    });
    const got = new Inbox();
    worker.on("worker/work", got.push);
    await worker.start();
    await queen.start();
    await queen.emit(`${net}/worker/work`, { n: "before" });
    await got.count(1);

    await redis.stop();
    await waitFor(() => queen.stats().connectors[net]!.state === "reconnecting", {
      timeoutMs: 5_000,
    });
    // Published while Redis is down: held in the queue, in order.
    const during = [1, 2, 3].map((n) =>
      queen.emit(`${net}/worker/work`, { n }).then(() => "sent", (err) => err)
    );
    // A real outage (Redis is down): the events wait in the queue meanwhile.
    await new Promise((r) => setTimeout(r, 300));
    await redis.start();

    const outcomes = await Promise.all(during);
    await waitFor(() => worker.stats().connectors[net]!.state === "open", { timeoutMs: 10_000 });
    for (const outcome of outcomes) {
      if (outcome !== "sent") {
        assert.ok(outcome instanceof PublishError, `a failure is a PublishError: ${outcome}`);
      }
    }
    const sent = outcomes.filter((o) => o === "sent").length;
    // Everything reported sent arrived (nothing lost silently) ...
    await got.count(1 + sent);
    // ... and the subscription is back: a new event arrives.
    await queen.emit(`${net}/worker/work`, { n: "after" });
    await got.count(2 + sent);
    assert.deepEqual(got.items.at(-1), { n: "after" });
    const numpat = new Redis(redis.url);
    assert.ok(((await numpat.call("PUBSUB", "NUMPAT")) as number) >= 1);
    numpat.disconnect();
    assert.equal(sent, 3, `all three should make it once the worker re-subscribed: ${outcomes}`);
  },
});

Deno.test({
  name:
    "a publish while Redis stays down fails with PUBSUB_PUBLISH_TIMEOUT at its deadline (injected clock), and a full queue at once",
  ignore: !HAVE_REDIS_SERVER && Deno.env.get("SYFT_REQUIRE_REDIS") !== "1",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using redis = new PrivateRedis(sparePort());
    await redis.start();
    const net = uniqueNetwork();
    const clock = new ManualHiveClock();
    await using queen = createHive({
      clock,
      connectors: {
        [net]: {
          type: "redis",
          url: redis.url,
          inputChannel: "",
          publishTimeoutMs: 400,
          maxQueue: 2,
        },
      },
    });
    await queen.start();
    await redis.stop();
    await waitFor(() => queen.stats().connectors[net]!.state === "reconnecting", {
      timeoutMs: 5_000,
    });
    const a = queen.emit(`${net}/w/e`, { n: 1 });
    const b = queen.emit(`${net}/w/e`, { n: 2 });
    await assert.rejects(
      queen.emit(`${net}/w/e`, { n: 3 }),
      (err) => err instanceof PublishError && err.code === "PUBSUB_QUEUE_FULL",
    );
    let settled = 0;
    for (const p of [a, b]) p.catch(() => {}).finally(() => settled++);
    await clock.advance(399);
    await clock.settle();
    assert.equal(settled, 0, "still waiting before the deadline");
    await clock.advance(1);
    for (const p of [a, b]) {
      await assert.rejects(p, (err) => {
        assert.ok(err instanceof PublishError);
        assert.equal(err.code, "PUBSUB_PUBLISH_TIMEOUT");
        assert.match(err.message, /stayed unreachable for 400 ms/);
        return true;
      });
    }
    assert.equal(queen.stats().publishErrors, 3);
  },
});
