import assert from "node:assert/strict";
import { redisTest } from "../../_helpers/redis.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import {
  createHive,
  type EventContext,
  type Hive,
  RemoteHandlerError,
  RequestTimeoutError,
} from "../../../lib/pubsub/mod.ts";
import { Inbox, ManualHiveClock, uniqueNetwork } from "./_hive_helpers.ts";
import { Buffer } from "node:buffer";
import { aesCtr, deriveKeys, hmacSha1Hex } from "../../../lib/pubsub/_crypto.ts";
import { pyCanon } from "../../../lib/pubsub/_pyjson.ts";

/** An encrypted message with a chosen signature ("auto": the right one; absent: none). */
function sealed(secret: string, message: Record<string, unknown>, sign?: string): string {
  const keys = deriveKeys(secret);
  const signature = sign === "auto" ? hmacSha1Hex(keys.key, pyCanon(message)) : sign;
  const text = pyCanon(signature === undefined ? message : { ...message, __sign__: signature });
  const iv = new Uint8Array(16).fill(3);
  return JSON.stringify({
    iv: Buffer.from(iv).toString("base64"),
    ciphertext: Buffer.from(aesCtr(keys.key, iv, new TextEncoder().encode(text))).toString(
      "base64",
    ),
  });
}

function redisHive(
  url: string,
  net: string,
  inputChannel: string,
  extra: Record<string, unknown> = {},
  hiveExtra: Record<string, unknown> = {},
): Hive {
  return createHive({
    connectors: { [net]: { type: "redis", url, inputChannel, ...extra } as never },
    ...hiveExtra,
  });
}

for (const secret of [undefined, "s3cret:with:colons"]) {
  const kind = secret ? "signed and encrypted" : "plain";
  redisTest(
    `a queen and a worker exchange ${kind} events over Redis both ways`,
    async ({ url }) => {
      const net = uniqueNetwork();
      const extra = secret ? { secret } : {};
      await using worker = redisHive(url, net, "worker", extra);
      await using queen = redisHive(url, net, "queen", extra);
      const jobs = new Inbox<[Record<string, unknown>, EventContext]>();
      const results = new Inbox();
      worker.on("worker/work", (job, ctx) => {
        jobs.push([job, ctx]);
        return worker.emit(`${net}/queen/result`, { done: job.task });
      });
      queen.on("queen/result", results.push);
      await worker.start();
      await queen.start();
      const job = { task: "build", n: 1.5, text: "é😀" };
      await queen.emit(`${net}/worker/work`, job);
      const [[got, ctx]] = await jobs.count(1) as [[Record<string, unknown>, EventContext]];
      assert.deepEqual(got, { task: "build", n: 1.5, text: "é😀" });
      assert.deepEqual(job, { task: "build", n: 1.5, text: "é😀" }, "caller's object unchanged");
      assert.equal(ctx.event, "worker/work");
      assert.equal(ctx.channel, `${net}/worker/work`);
      assert.equal(ctx.metadata?.event, `${net}/worker/work`);
      assert.equal(ctx.metadata?.version, "0.5.0");
      assert.equal(ctx.signed, secret !== undefined);
      assert.deepEqual((await results.count(1))[0], { done: "build" });
      assert.equal(queen.stats().published, 1);
      assert.equal(worker.stats().received, 1);
      assert.equal(queen.stats().connectors[net]!.secret, secret !== undefined);
    },
  );
}

redisTest(
  "a hive keeps receiving good events while every malformed input is dropped and counted",
  async ({ url, client }) => {
    const net = uniqueNetwork();
    const secret = "123";
    await using plainRx = redisHive(url, net, "plain");
    await using secretRx = redisHive(url, net, "sealed", { secret });
    await using sender = redisHive(url, net, "tx", { secret });
    await using plainSender = redisHive(url, `${net}`, "tx2");
    const plainGot = new Inbox();
    const secretGot = new Inbox();
    plainRx.on("plain/ok", plainGot.push);
    secretRx.on("sealed/ok", secretGot.push);
    await plainRx.start();
    await secretRx.start();
    await sender.start();
    await plainSender.start();

    const bad: [string, string][] = [
      ["plain/ok", "not json at all"],
      ["plain/ok", "[1, 2, 3]"],
      ["plain/ok", '"a string"'],
      ["plain/ok", '{"a": 1, "__eventhive__": {}}'],
      ["plain/ok", '{"a": 1, "__eventhive__": "nope"}'],
      ["plain/ok", '{"iv": "AAAA", "ciphertext": "AAAA"}'],
      ["plain/nobody", '{"a": 1, "__eventhive__": {"id": "x1"}}'],
      ["sealed/ok", "[1, 2]"],
      ["sealed/ok", '{"iv": "!!!", "ciphertext": "AAAA"}'],
      ["sealed/ok", '{"iv": "AAECAwQFBgcICQoLDA0ODw==", "ciphertext": "***"}'],
      ["sealed/ok", '{"a": 1, "__eventhive__": {"id": "plaintext"}}'],
      ["sealed/ok", "{"],
      ["sealed/ok", sealed(secret, { a: 1, __eventhive__: { id: "tampered" } }, "0".repeat(40))],
      ["sealed/ok", sealed(secret, { a: 1, __eventhive__: { id: "nosig" } })],
      ["sealed/ok", sealed(secret, { a: 1, __eventhive__: {} }, "auto")],
    ];
    let n = 0;
    for (const [event, data] of bad) {
      await client.publish(`${net}/${event}`, data);
      // Good events in between: reception never stops.
      await plainSender.emit(`${net}/plain/ok`, { n });
      await sender.emit(`${net}/sealed/ok`, { n });
      n++;
    }
    // Wrong key and a tampered one, from real senders.
    await using wrongKey = redisHive(url, net, "tx3", { secret: "other" });
    await wrongKey.start();
    await wrongKey.emit(`${net}/sealed/ok`, { n: "wrong key" });
    // A replay of a captured valid message.
    const sub = client.duplicate();
    await sub.psubscribe(`${net}/sealed/*`);
    const captured = new Promise<string>((resolve) =>
      sub.on("pmessage", (_p, _c, m) => resolve(m))
    );
    await sender.emit(`${net}/sealed/ok`, { n: "to replay" });
    const wire = await captured;
    await sub.quit();
    await client.publish(`${net}/sealed/ok`, wire);
    await sender.emit(`${net}/sealed/ok`, { n: "last" });
    await plainSender.emit(`${net}/plain/ok`, { n: "last" });

    await plainGot.count(bad.length + 1);
    await secretGot.count(bad.length + 2);
    assert.deepEqual(plainGot.items.map((m) => m.n), [...Array(bad.length).keys(), "last"]);
    assert.deepEqual(secretGot.items.map((m) => m.n), [
      ...Array(bad.length).keys(),
      "to replay",
      "last",
    ]);
    const p = plainRx.stats().dropped;
    assert.equal(p.not_json, 1);
    assert.equal(p.not_object, 2);
    assert.equal(p.bad_metadata, 2);
    assert.equal(p.encrypted, 1);
    assert.equal(p.unknown_event, 1);
    await waitFor(() => secretRx.stats().dropped.duplicate === 1);
    const s = secretRx.stats().dropped;
    assert.equal(s.not_object, 1);
    assert.equal(s.bad_base64, 2);
    assert.equal(s.unsigned, 2);
    assert.equal(s.bad_metadata, 1);
    assert.equal(s.not_json, 1);
    assert.equal(s.bad_key + s.bad_signature, 2, "the wrong key and the wrong HMAC are dropped");
    assert.equal(s.duplicate, 1, "the replay is dropped");
    assert.equal(secretRx.stats().connectors[net]!.state, "open");
  },
);

redisTest(
  "a handler that throws is reported through onError and reception goes on",
  async ({ url }) => {
    const net = uniqueNetwork();
    await using rx = redisHive(url, net, "rx");
    await using tx = redisHive(url, net, "tx");
    const errors: string[] = [];
    const got = new Inbox();
    rx.onError((err, info) =>
      errors.push(`${info.phase} ${info.network} ${info.event} ${err.message}`)
    );
    rx.on("rx/job", (p) => {
      if (p.fail) throw new Error("handler exploded");
      got.push(p);
    });
    rx.on("rx/job", async (p) => {
      if (p.fail) throw new Error("async exploded");
      await Promise.resolve();
    });
    await rx.start();
    await tx.start();
    await tx.emit(`${net}/rx/job`, { fail: true });
    await tx.emit(`${net}/rx/job`, { fail: false, n: 2 });
    await got.count(1);
    await waitFor(() => errors.length === 2);
    assert.deepEqual(errors.sort(), [
      `handler ${net} rx/job async exploded`,
      `handler ${net} rx/job handler exploded`,
    ]);
    assert.equal(rx.stats().handlerErrors, 2);
  },
);

redisTest(
  "receiveOwn: false drops a hive's own events; the default delivers them as eventhive does",
  async ({ url }) => {
    for (const receiveOwn of [true, false]) {
      const net = uniqueNetwork();
      await using hive = redisHive(url, net, "me", {}, { receiveOwn });
      await using other = redisHive(url, net, "other");
      const got = new Inbox();
      hive.on("me/ping", got.push);
      await hive.start();
      await other.start();
      await hive.emit(`${net}/me/ping`, { from: "self" });
      await other.emit(`${net}/me/ping`, { from: "other" });
      await got.count(receiveOwn ? 2 : 1);
      await waitFor(async () => {
        await new Promise((r) => setTimeout(r, 20));
        return true;
      });
      assert.deepEqual(
        got.items.map((m) => m.from).sort(),
        receiveOwn ? ["other", "self"] : ["other"],
      );
      if (!receiveOwn) assert.equal(hive.stats().dropped.own, 1);
    }
  },
);

redisTest(
  "an inbound name is never a glob: net/rx/* does not fire rx/a and rx/b",
  async ({ url, client }) => {
    const net = uniqueNetwork();
    await using rx = redisHive(url, net, "rx");
    const fired: string[] = [];
    rx.on("rx/a", () => void fired.push("a"));
    rx.on("rx/b", () => void fired.push("b"));
    rx.on("rx/end", () => void fired.push("end"));
    await rx.start();
    await using tx = redisHive(url, net, "tx");
    await tx.start();
    await client.publish(
      `${net}/rx/*`,
      '{"x": 1, "__eventhive__": {"time": 1.0, "version": "0.5.0", "event": "e", "id": "glob"}}',
    );
    await tx.emit(`${net}/rx/end`, {});
    await waitFor(() => fired.includes("end"));
    assert.deepEqual(fired, ["end"]);
    assert.equal(rx.stats().dropped.unknown_event, 1);
  },
);

redisTest(
  "glob characters in network and channel names are escaped in PSUBSCRIBE",
  async ({ url, client }) => {
    const net = `${uniqueNetwork()}[x]`;
    await using rx = redisHive(url, net, "r?x*");
    const got = new Inbox();
    rx.on("r?x*/e", got.push);
    await rx.start();
    await using tx = redisHive(url, net, "tx");
    await tx.start();
    const look = `${net.replace("[x]", "x")}/rxx/e`;
    await client.publish(look, '{"wrong": 1, "__eventhive__": {"id": "g1"}}');
    await tx.emit(`${net}/r?x*/e`, { right: 1 });
    await got.count(1);
    assert.deepEqual(got.items, [{ right: 1 }]);
  },
);

redisTest(
  "request() gets the remote handler's return value; errors and timeouts are typed",
  async ({ url }) => {
    const net = uniqueNetwork();
    const clock = new ManualHiveClock();
    await using worker = redisHive(url, net, "worker", { secret: "k" });
    await using queen = redisHive(url, net, "queen", { secret: "k" }, {
      clock,
      requestTimeoutMs: 5_000,
    });
    worker.on("worker/add", (p) => (p.a as number) + (p.b as number));
    worker.on("worker/fail", () => Promise.reject(new Error("out of paper")));
    worker.on("worker/silent", () => undefined);
    await worker.start();
    await queen.start();
    assert.equal(await queen.request(`${net}/worker/add`, { a: 2, b: 3 }), 5);
    await assert.rejects(
      queen.request(`${net}/worker/fail`, {}),
      (err) => err instanceof RemoteHandlerError && err.remoteMessage === "out of paper",
    );
    assert.equal(await queen.request(`${net}/worker/silent`, {}), null);
    // Nobody handles it: the injected clock runs the timeout without sleeping.
    const publishedBefore = queen.stats().published;
    const pending = queen.request(`${net}/worker/nobody`, {});
    const check = assert.rejects(pending, (err) => {
      assert.ok(err instanceof RequestTimeoutError);
      assert.equal(err.timeoutMs, 5_000);
      return true;
    });
    await waitFor(() => queen.stats().published > publishedBefore);
    await clock.advance(4_999);
    let settled = false;
    pending.catch(() => {}).finally(() => settled = true);
    await clock.settle();
    assert.equal(settled, false, "not before the timeout");
    await clock.advance(1);
    await check;
    assert.equal(queen.stats().requestTimeouts, 1);
  },
);

redisTest(
  "maxAgeSeconds drops messages whose time is too old or too far ahead (injected clock)",
  async ({ url, client }) => {
    const net = uniqueNetwork();
    const clock = new ManualHiveClock(1_700_000_000_000);
    await using rx = redisHive(url, net, "rx", {}, { clock, maxAgeSeconds: 30 });
    const got = new Inbox();
    rx.on("rx/e", got.push);
    await rx.start();
    const now = 1_700_000_000;
    const send = (id: string, time: number): Promise<number> =>
      client.publish(
        `${net}/rx/e`,
        `{"id": "${id}", "__eventhive__": {"time": ${time}, "version": "0.5.0", "event": "${net}/rx/e", "id": "${id}"}}`,
      );
    await send("old", now - 31);
    await send("future", now + 31);
    await send("fresh", now - 29.5);
    await got.count(1);
    await waitFor(() => rx.stats().dropped.stale === 2);
    assert.deepEqual(got.items.map((m) => m.id), ["fresh"]);
  },
);

redisTest(
  "dedupe rejects an id seen before; dedupeSize: 0 turns it off",
  async ({ url, client }) => {
    for (const dedupeSize of [10_000, 0]) {
      const net = uniqueNetwork();
      await using rx = redisHive(url, net, "rx", {}, { dedupeSize });
      const got = new Inbox();
      rx.on("rx/e", got.push);
      await rx.start();
      const msg =
        `{"k": 1, "__eventhive__": {"time": 1.0, "version": "0.5.0", "event": "x", "id": "same"}}`;
      await client.publish(`${net}/rx/e`, msg);
      await client.publish(`${net}/rx/e`, msg);
      await client.publish(`${net}/rx/e`, msg.replace('"same"', '"other"'));
      // A last event on the same connection: once it is in, everything before it is (no sleep).
      await client.publish(`${net}/rx/e`, msg.replace('"same"', '"end"'));
      await got.count(dedupeSize === 0 ? 4 : 3);
      assert.equal(got.items.length, dedupeSize === 0 ? 4 : 3);
    }
  },
);

redisTest(
  "a publish-only connector publishes under its own network only (never to another connector)",
  async ({ url, client }) => {
    const a = uniqueNetwork("a");
    const b = uniqueNetwork("b");
    await using hive = createHive({
      connectors: {
        [a]: { type: "redis", url, inputChannel: "" },
        [b]: { type: "redis", url, inputChannel: "" },
      },
    });
    await hive.start();
    const sub = client.duplicate();
    const seen: string[] = [];
    sub.on("pmessage", (_p, channel) => seen.push(channel));
    await sub.psubscribe(`${a}/*`, `${b}/*`);
    await hive.emit(`${a}/x/e`, { v: 1 });
    await hive.emit("x/e", { v: 2 });
    await hive.emit("local", { v: 3 });
    await hive.emit(`${b}/x/e`, { v: 4 });
    // A last event on each connector's connection: once both are in, everything before is.
    await hive.emit(`${a}/x/end`, {});
    await hive.emit(`${b}/x/end`, {});
    await waitFor(() => seen.includes(`${a}/x/end`) && seen.includes(`${b}/x/end`));
    await sub.quit();
    assert.deepEqual(seen.filter((c) => !c.endsWith("/end")), [`${a}/x/e`, `${b}/x/e`]);
  },
);
