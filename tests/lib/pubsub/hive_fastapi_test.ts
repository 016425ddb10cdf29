import assert from "node:assert/strict";
import { startPubSubServer } from "../../../servers/pubsub/mod.ts";
import { connectFastApiPubSub, createHive, decodeMessage } from "../../../lib/pubsub/mod.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { Inbox, uniqueNetwork } from "./_hive_helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

for (const secret of [undefined, "fast-secret"]) {
  Deno.test({
    name: `hives exchange ${
      secret ? "signed" : "plain"
    } events through our fastapi_websocket_pubsub server`,
    ...opts,
    async fn() {
      await using server = await startPubSubServer({ port: 0 });
      const net = uniqueNetwork();
      const extra = secret ? { secret } : {};
      await using worker = createHive({
        connectors: {
          [net]: { type: "fastapi", url: server.url, inputChannel: "worker", ...extra },
        },
      });
      await using queen = createHive({
        connectors: {
          [net]: { type: "fastapi", url: server.url, inputChannel: "queen", ...extra },
        },
      });
      const jobs = new Inbox();
      const done = new Inbox();
      worker.on("worker/work", (p) => {
        jobs.push(p);
        return worker.emit(`${net}/queen/done`, { n: p.n });
      });
      queen.on("queen/done", done.push);
      await worker.start();
      await queen.start();
      // A raw client sees eventhive's JSON string as the publish's data.
      await using raw = connectFastApiPubSub(server.url);
      const seen: unknown[] = [];
      raw.onNotify((_topic, data) => seen.push(data));
      await raw.subscribe([`${net}/worker/work`]);
      await queen.emit(`${net}/worker/work`, { n: 1 });
      assert.deepEqual((await jobs.count(1))[0], { n: 1 });
      assert.deepEqual((await done.count(1))[0], { n: 1 });
      await waitFor(() => seen.length === 1);
      assert.equal(typeof seen[0], "string");
      const decoded = decodeMessage(seen[0] as string, secret ? { secret } : {});
      assert.ok(decoded.ok);
      assert.equal(decoded.message.n, 1);
      // Topics are exact and follow definitions made after start.
      const late = new Inbox();
      worker.on("worker/late", late.push);
      await waitFor(async () => {
        await queen.emit(`${net}/worker/late`, { late: true });
        return late.items.length > 0;
      }, { timeoutMs: 5_000, intervalMs: 100 });
      assert.deepEqual(late.items[0], { late: true });
      assert.equal(await queen.request(`${net}/worker/work`, { n: 5 }, { timeoutMs: 5_000 }), null);
    },
  });
}

Deno.test({
  name:
    "a hive receives its own fastapi events (as eventhive processes do) unless receiveOwn is false",
  ...opts,
  async fn() {
    await using server = await startPubSubServer({ port: 0 });
    for (const receiveOwn of [true, false]) {
      const net = uniqueNetwork();
      await using hive = createHive({
        receiveOwn,
        connectors: { [net]: { type: "fastapi", url: server.url, inputChannel: "me" } },
      });
      const got = new Inbox();
      hive.on("me/echo", got.push);
      hive.on("me/end", got.push);
      await hive.start();
      await hive.emit(`${net}/me/echo`, { own: true });
      await using other = createHive({
        connectors: { [net]: { type: "fastapi", url: server.url, inputChannel: "" } },
      });
      await other.start();
      await other.emit(`${net}/me/end`, { end: true });
      await got.count(receiveOwn ? 2 : 1);
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(got.items, receiveOwn ? [{ own: true }, { end: true }] : [{ end: true }]);
    }
  },
});

Deno.test({
  name:
    "servers: create: always starts a server through startServer and the same-named connector uses it",
  ...opts,
  async fn() {
    const net = uniqueNetwork();
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    await using hive = createHive({
      servers: { [net]: { host: "127.0.0.1", port, create: "always" } },
      connectors: { [net]: { type: "fastapi", host: "127.0.0.1", port, inputChannel: "me" } },
      startServer: (_name, init) =>
        startPubSubServer({ hostname: init.host, port: init.port, path: init.endpoint }),
    });
    const got = new Inbox();
    hive.on("me/x", got.push);
    await hive.start();
    await hive.emit(`${net}/me/x`, { ok: 1 });
    assert.deepEqual((await got.count(1))[0], { ok: 1 });
    await hive.stop();
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port }),
      "the server stopped with the hive",
    );
  },
});

Deno.test({
  name:
    "from_broadcast: the connector connects where discovery found the server (true = 5 s, N = N s)",
  ...opts,
  async fn() {
    await using server = await startPubSubServer({ port: 0 });
    const asked: string[] = [];
    const discovery = {
      discover: (name: string, { timeoutMs }: { timeoutMs: number }) => {
        asked.push(`${name} ${timeoutMs}`);
        return Promise.resolve(
          name === "missing"
            ? undefined
            : { host: "127.0.0.1", port: server.port, endpoint: "/pubsub", scheme: "ws" },
        );
      },
      advertise: () => Promise.resolve({ [Symbol.asyncDispose]: () => Promise.resolve() }),
    };
    const net = uniqueNetwork();
    await using hive = createHive({
      discovery,
      connectors: { [net]: { type: "fastapi", inputChannel: "me", fromBroadcast: true } },
    });
    const got = new Inbox();
    hive.on("me/x", got.push);
    await hive.start();
    await hive.emit(`${net}/me/x`, { found: true });
    assert.deepEqual((await got.count(1))[0], { found: true });
    assert.equal(hive.stats().connectors[net]!.where, server.url);
    await using missing = createHive({
      discovery,
      connectors: { missing: { type: "fastapi", inputChannel: "me", fromBroadcast: 2 } },
    });
    await assert.rejects(
      missing.start(),
      /no server named missing\._eventhive\._tcp\.local\. answered on mDNS within 2 s/,
    );
    assert.deepEqual(asked, [`${net} 5000`, "missing 2000"]);
  },
});
