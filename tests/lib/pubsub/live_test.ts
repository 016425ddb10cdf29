// A hive's live source: connectors as networks, channels with events and handlers, drops.
import assert from "node:assert/strict";
import { redisTest } from "../../_helpers/redis.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { createHive } from "../../../lib/pubsub/mod.ts";
import type { PubSubLiveEvent } from "../../../lib/live/mod.ts";
import { Inbox, uniqueNetwork } from "./_hive_helpers.ts";

redisTest(
  "Hive.live() reports each connector as a network with its channels, counters and drops by reason",
  async ({ url }) => {
    const net = uniqueNetwork();
    await using worker = createHive({
      connectors: { [net]: { type: "redis", url, inputChannel: "worker", secret: "s3cret" } },
    });
    await using queen = createHive({
      connectors: { [net]: { type: "redis", url, inputChannel: "queen", secret: "s3cret" } },
    });
    await using stranger = createHive({
      connectors: { [net]: { type: "redis", url, inputChannel: "" } },
    });
    const jobs = new Inbox();
    worker.on("worker/work", jobs.push);
    const events: PubSubLiveEvent[] = [];
    const unsubscribe = worker.live().feed.subscribe((batch) => events.push(...batch));
    try {
      await worker.start();
      await queen.start();
      await stranger.start();
      await queen.emit(`${net}/worker/work`, { n: 1 });
      await queen.emit(`${net}/worker/work`, { n: 2 });
      await jobs.count(2);
      // Plaintext to a worker with a secret is dropped and counted.
      await stranger.emit(`${net}/worker/work`, { n: 3 });
      await waitFor(async () => (await worker.live().state()).counters.dropped === 1);

      const state = await worker.live().state();
      assert.equal(state.part, "pubsub");
      assert.equal(worker.live(), worker.live(), "one source per hive");
      assert.equal(state.counters.received, 2);
      assert.equal(state.counters.delivered, 2);
      assert.equal(state.gauges.open, 1);
      assert.deepEqual(state.networks, [{
        name: net,
        transport: "redis",
        topics: [{ name: `${net}/worker/work`, subscribers: 1, events: 2 }],
      }]);
      assert.equal(Object.entries(state.dropped).filter(([, n]) => n > 0).length, 1);
      const queenState = await queen.live().state();
      assert.equal(queenState.counters.published, 2);
      assert.deepEqual(queenState.networks[0]!.topics, [
        { name: `${net}/worker/work`, subscribers: 0, events: 2 },
      ]);

      await waitFor(() => events.some((e) => e.type === "dropped"));
      assert.equal(events.filter((e) => e.type === "event").length, 2);
      assert.equal(events.find((e) => e.type === "dropped")?.network, net);
    } finally {
      unsubscribe();
    }
  },
);
