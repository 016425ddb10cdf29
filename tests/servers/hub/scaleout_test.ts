import assert from "node:assert/strict";
import { serveHub } from "../../../servers/hub/main.ts";
import { HAVE_REDIS_SERVER, PrivateRedis } from "../../_helpers/private_redis.ts";
import { rawPeer } from "../../lib/hub/_helpers.ts";
import { waitFor } from "../../_helpers/workspace.ts";

async function metric(url: string, line: RegExp): Promise<string | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split("\n").find((l) => line.test(l));
}

Deno.test({
  name:
    "relay hub: /metrics and / show the scale-out state and count publishes dropped while Redis is down",
  ignore: !HAVE_REDIS_SERVER && Deno.env.get("SYFT_REQUIRE_REDIS") !== "1",
  async fn() {
    await using redis = new PrivateRedis();
    await redis.start();
    const hub = await serveHub({
      port: 0,
      redisUrl: redis.url,
      redisPrefix: `syft:test:relay-outage:${crypto.randomUUID()}`,
    });
    try {
      await using peer = await rawPeer(hub.wsUrl);
      assert.equal(await metric(hub.url, /^syft_hub_scaleout_up /), "syft_hub_scaleout_up 1");
      const publish = async (): Promise<void> => {
        const res = await fetch(`${hub.url}/publish`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"eventName":"news","payload":1}',
        });
        assert.deepEqual(await res.json(), { delivered: 1, room: null });
      };
      await publish();
      assert.equal((await peer.nextJson()).eventName, "news");
      // Redis's reply to the PUBLISH is counted when it arrives: wait for it before the outage
      // (on a loaded machine it can come after the local delivery the peer just saw).
      await waitFor(
        async () =>
          await metric(hub.url, /^syft_hub_scaleout_published_total /) ===
            "syft_hub_scaleout_published_total 1",
        { what: "Redis to confirm the first publish" },
      );

      await redis.stop();
      assert.deepEqual(await peer.nextJson(10_000), {
        eventName: "$scaleout",
        payload: { state: "degraded" },
        headers: {},
      });
      assert.equal(await metric(hub.url, /^syft_hub_scaleout_up /), "syft_hub_scaleout_up 0");
      const status = await (await fetch(`${hub.url}/`)).json();
      assert.equal(status.scaleOutState, "degraded");
      await publish(); // local members still get it; the other instances' copy is dropped
      await publish();
      assert.equal((await peer.nextJson()).eventName, "news");
      assert.equal((await peer.nextJson()).eventName, "news");
      assert.equal(
        await metric(hub.url, /^syft_hub_scaleout_dropped_total\{reason="redis_down"\}/),
        'syft_hub_scaleout_dropped_total{reason="redis_down"} 2',
      );
      assert.equal(
        await metric(hub.url, /^syft_hub_scaleout_published_total /),
        "syft_hub_scaleout_published_total 1",
      );

      await redis.start();
      assert.deepEqual(await peer.nextJson(15_000), {
        eventName: "$scaleout",
        payload: { state: "ok" },
        headers: {},
      });
      assert.equal(await metric(hub.url, /^syft_hub_scaleout_up /), "syft_hub_scaleout_up 1");
      assert.equal(
        await metric(hub.url, /^syft_hub_scaleout_buffered /),
        "syft_hub_scaleout_buffered 0",
      );
    } finally {
      await hub.shutdown();
    }
  },
});
