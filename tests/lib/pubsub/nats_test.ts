import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  createHive,
  decodeMessage,
  eventToSubject,
  inputSubject,
  subjectToEvent,
} from "../../../lib/pubsub/mod.ts";
import { Inbox, uniqueNetwork } from "./_hive_helpers.ts";

const NATS_URL = Deno.env.get("NATS_URL") ?? "nats://127.0.0.1:4222";
const natsUp = await Deno.connect({
  hostname: new URL(NATS_URL).hostname,
  port: Number(new URL(NATS_URL).port || 4222),
})
  .then((c) => (c.close(), true), () => false);
if (!natsUp) {
  // deno-lint-ignore no-console
  console.warn(`NATS tests skipped: ${NATS_URL} is unreachable`);
}

function natsTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !natsUp, sanitizeOps: false, sanitizeResources: false, fn });
}

Deno.test("eventToSubject() and subjectToEvent() map names reversibly", () => {
  const names = [
    "net/worker-bee/work",
    "net/w/a.b",
    "net/w/*",
    "net/w/>",
    "net/w/with space",
    "net/w/100%",
    "net//empty",
    "net/w/é😀",
    "net/w/a:b@c",
  ];
  for (const name of names) {
    const subject = eventToSubject(name);
    assert.ok(!/[\s*>]/.test(subject), subject);
    assert.equal(subject.split(".").length, 1 + name.split("/").length, subject);
    assert.equal(subjectToEvent(subject), name);
  }
  assert.equal(eventToSubject("net/worker-bee/work"), "eventhive.net.worker-bee.work");
  assert.equal(eventToSubject("net/w/a.b"), "eventhive.net.w.a%2Eb");
  assert.equal(inputSubject("net", "worker"), "eventhive.net.worker.>");
  assert.equal(subjectToEvent("other.net.w.e"), undefined);
  assert.equal(eventToSubject("a:b:c", { prefix: "x", separator: ":" }), "x.a.b.c");
});

for (const secret of [undefined, "nats-secret"]) {
  natsTest(
    `a queen and a worker exchange ${
      secret ? "signed" : "plain"
    } events over NATS, with the eventhive envelope`,
    async () => {
      const net = uniqueNetwork();
      const extra = secret ? { secret } : {};
      await using worker = createHive({
        connectors: {
          [net]: { type: "nats", servers: NATS_URL, inputChannel: "worker", ...extra },
        },
      });
      await using queen = createHive({
        connectors: { [net]: { type: "nats", servers: NATS_URL, inputChannel: "queen", ...extra } },
      });
      const got = new Inbox();
      const back = new Inbox();
      worker.on("worker/a.b", (p) => {
        got.push(p);
        return worker.emit(`${net}/queen/done`, { ok: p.n });
      });
      queen.on("queen/done", back.push);
      await worker.start();
      await queen.start();
      // What travels on the subject is the eventhive envelope.
      const nc = await connect({ servers: NATS_URL });
      const raw = new Inbox<string>();
      nc.subscribe(`eventhive.${net}.worker.>`, { callback: (_e, m) => raw.push(m.string()) });
      await nc.flush();
      await queen.emit(`${net}/worker/a.b`, { n: 7 });
      assert.deepEqual((await got.count(1))[0], { n: 7 });
      assert.deepEqual((await back.count(1))[0], { ok: 7 });
      // The observer has its own connection: its copy may arrive after the round trip.
      const [wire] = await raw.count(1);
      const decoded = decodeMessage(wire!, secret ? { secret } : {});
      assert.ok(decoded.ok);
      assert.equal((decoded.message.__eventhive__ as { event: string }).event, `${net}/worker/a.b`);
      if (secret) assert.match(wire!, /^\{"iv": "/);
      assert.equal(await queen.request(`${net}/worker/a.b`, { n: 1 }, { timeoutMs: 5_000 }), null);
      await nc.drain();
    },
  );
}

natsTest(
  "with jetstream a subscriber that was down gets what was published meanwhile",
  async () => {
    const net = uniqueNetwork("js");
    const stream = `EVENTHIVE_${net.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    try {
      const options = { type: "nats" as const, servers: NATS_URL, jetstream: true };
      {
        // First start creates the stream and the durable consumer, then the worker goes away.
        await using worker = createHive({
          connectors: { [net]: { ...options, inputChannel: "worker" } },
        });
        worker.on("worker/job", () => {});
        await worker.start();
      }
      {
        await using queen = createHive({ connectors: { [net]: { ...options, inputChannel: "" } } });
        await queen.start();
        for (let n = 0; n < 5; n++) await queen.emit(`${net}/worker/job`, { n });
      }
      await using worker = createHive({
        connectors: { [net]: { ...options, inputChannel: "worker" } },
      });
      const got = new Inbox();
      worker.on("worker/job", got.push);
      await worker.start();
      assert.deepEqual((await got.count(5)).map((m) => m.n), [0, 1, 2, 3, 4]);
    } finally {
      await jsm.streams.delete(stream).catch(() => {});
      await nc.drain();
    }
  },
);
