/**
 * The peer of the EnSync benchmark: NATS JetStream (the nats-server at 127.0.0.1:4222 with
 * JetStream, file storage, explicit acks) doing the same three workloads with
 * `@nats-io/jetstream` and `@nats-io/transport-node`.
 *
 * @module
 */
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  jetstreamManager,
  StorageType,
} from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { type LatencyBucket, LatencyTimeline, type TimelineSummary } from "./_timeline.ts";

/** JetStream results. */
export interface JetStreamFigures {
  publishMps: number;
  deliverAckMps: number;
  p50Ms: number;
  p99Ms: number;
  /** (c)'s latency per 100 ms of send time. */
  timeline: LatencyBucket[];
  stalls: TimelineSummary;
}

/** Options of the JetStream run. */
export interface JetStreamRun {
  servers: string;
  payload: Uint8Array;
  publishCount: number;
  apps: number;
  perApp: number;
  window: number;
  rate: number;
  latencySeconds: number;
  percentile(sorted: number[], p: number): number;
}

/**
 * How long a publish waits for its PubAck: the client's default (5 s) fails the whole benchmark on
 * a machine busy with other work, where the engine's side just gets slower.
 */
const PUB_ACK_TIMEOUT = { timeout: 60_000 };

async function pipelinedPublish(
  js: JetStreamClient,
  count: number,
  window: number,
  subjectOf: (i: number) => string,
  payloadOf: (i: number) => Uint8Array,
): Promise<void> {
  let outstanding = 0;
  let failed: unknown;
  const waiters: (() => void)[] = [];
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    while (outstanding >= window) await new Promise<void>((r) => waiters.push(r));
    outstanding++;
    all.push(
      js.publish(subjectOf(i), payloadOf(i), PUB_ACK_TIMEOUT).catch((err) => failed = err).finally(
        () => {
          outstanding--;
          waiters.shift()?.();
        },
      ),
    );
  }
  await Promise.all(all);
  if (failed !== undefined) throw failed;
}

/** Runs the three workloads against JetStream. */
export async function runJetStream(o: JetStreamRun): Promise<JetStreamFigures> {
  const nc = await connect({ servers: o.servers });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = `SYFTBENCH${Date.now()}`;
  await jsm.streams.add({
    name: stream,
    subjects: [`${stream}.>`],
    storage: StorageType.File,
  });
  try {
    // (a) publish rate with persistence.
    let t0 = performance.now();
    await pipelinedPublish(js, o.publishCount, o.window, () => `${stream}.a`, () => o.payload);
    const publishMps = o.publishCount / ((performance.now() - t0) / 1000);

    // (b) publish -> deliver -> ack to `apps` durable consumers, one per app subject.
    const consumers = [];
    for (let i = 0; i < o.apps; i++) {
      await jsm.consumers.add(stream, {
        durable_name: `b${i}`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${stream}.b.app${i}`,
      });
      consumers.push(await js.consumers.get(stream, `b${i}`));
    }
    const total = o.apps * o.perApp;
    let acked = 0;
    let allAcked!: () => void;
    const done = new Promise<void>((r) => allAcked = r);
    const loops = await Promise.all(consumers.map(async (c) => {
      const msgs = await c.consume({ max_messages: 1000 });
      (async () => {
        for await (const m of msgs) {
          m.ack();
          if (++acked === total) allAcked();
        }
      })();
      return msgs;
    }));
    t0 = performance.now();
    await pipelinedPublish(
      js,
      total,
      o.window,
      (i) => `${stream}.b.app${i % o.apps}`,
      () => o.payload,
    );
    await done;
    const deliverAckMps = total / ((performance.now() - t0) / 1000);
    for (const l of loops) await l.close();

    // (c) publish-to-delivery latency at a fixed rate over the same number of consumers.
    let timeline = new LatencyTimeline(0);
    const lconsumers = [];
    for (let i = 0; i < o.apps; i++) {
      await jsm.consumers.add(stream, {
        durable_name: `c${i}`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${stream}.c.app${i}`,
      });
      lconsumers.push(await js.consumers.get(stream, `c${i}`));
    }
    const lloops = await Promise.all(lconsumers.map(async (c) => {
      const msgs = await c.consume({ max_messages: 1000 });
      (async () => {
        for await (const m of msgs) {
          const sent = new DataView(m.data.buffer, m.data.byteOffset, 8).getFloat64(0);
          timeline.add(sent, performance.now() - sent);
          m.ack();
        }
      })();
      return msgs;
    }));
    const n = Math.round(o.rate * o.latencySeconds);
    const start = performance.now();
    timeline = new LatencyTimeline(start);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < n;) {
      const due = Math.floor(((performance.now() - start) / 1000) * o.rate);
      for (; i < Math.min(due, n); i++) {
        const payload = o.payload.slice();
        new DataView(payload.buffer).setFloat64(0, performance.now());
        pending.push(js.publish(`${stream}.c.app${i % o.apps}`, payload, PUB_ACK_TIMEOUT));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
    const deadline = performance.now() + 10_000;
    while (timeline.all.length < n && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const l of lloops) await l.close();
    const lat = timeline.all.toSorted((a, b) => a - b);
    return {
      publishMps,
      deliverAckMps,
      p50Ms: o.percentile(lat, 50),
      p99Ms: o.percentile(lat, 99),
      timeline: timeline.buckets(),
      stalls: timeline.summary(),
    };
  } finally {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.drain();
  }
}
