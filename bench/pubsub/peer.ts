// deno-lint-ignore-file no-console -- a benchmark process reports on stdout
/**
 * One side of a `bench:pubsub` run, in its own process. Prints JSON lines: `{"ready": true}`
 * once subscribed (subscribers), then one result line.
 *
 *   peer.ts sub <redis|nats|raw|raw_nats> <network> <count> [secret]
 *       counts events under <network>/bench/*; reports {received, ms, eps, latency_ms?}
 *       (the time from the first to the last event; latency from the payload's `t` stamp)
 *   peer.ts pub <redis|nats|raw|raw_nats> <network> <count> [secret] [rate]
 *       publishes <count> 200-byte payloads as fast as the backend takes them, or at <rate>/s
 *
 * `raw` is the limit: ioredis `PUBLISH` pipelined to a `PSUBSCRIBE` subscriber with the same
 * payload bytes and nothing of syft in between; `raw_nats` is the NATS limit:
 * `@nats-io/transport-node` `publish` to a `subscribe` callback on one subject, the same bytes.
 *
 * @module
 */
import process from "node:process";
import { Redis } from "ioredis";
import { connect as connectNats } from "@nats-io/transport-node";
import { createHive, type Hive } from "../../lib/pubsub/mod.ts";

const [role, mode, network, countText, secretArg, rateText] = Deno.args;
const count = Number(countText);
const secret = secretArg === undefined || secretArg === "" || secretArg === "-"
  ? undefined
  : secretArg;
const REDIS_URL = Deno.env.get("REDIS_URL") || "redis://127.0.0.1:6379";
const NATS_URL = Deno.env.get("NATS_URL") || "nats://127.0.0.1:4222";
const IDLE_MS = 5_000;
const FILLER = "x".repeat(170);

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A payload whose JSON is 200 bytes. */
function payload(seq: number, t: number): Record<string, unknown> {
  const base = { seq, t, data: FILLER };
  const size = JSON.stringify(base).length;
  return { ...base, data: FILLER.slice(0, Math.max(0, FILLER.length - (size - 200))) };
}

function hive(inputChannel: string): Hive {
  const common = { inputChannel, ...(secret === undefined ? {} : { secret }) };
  return createHive({
    connectors: {
      [network!]: mode === "nats"
        ? { type: "nats", servers: NATS_URL, ...common }
        : { type: "redis", url: REDIS_URL, maxQueue: 200_000, ...common },
    },
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function subscriber(): Promise<void> {
  let received = 0;
  let first = 0;
  let last = 0;
  const latencies: number[] = [];
  const { promise: done, resolve } = Promise.withResolvers<void>();
  // Ends IDLE_MS after the last event (checked twice a second: a timer per event would cost the
  // subscriber more than some of what is measured).
  let idle: ReturnType<typeof setInterval> | undefined;
  const onEvent = (t: number): void => {
    const at = now();
    if (received === 0) {
      first = at;
      idle = setInterval(() => {
        if (now() - last > IDLE_MS) resolve();
      }, 500);
    }
    last = at;
    received++;
    latencies.push(at - t);
    if (received >= count) resolve();
  };
  let stop: () => Promise<void>;
  if (mode === "raw") {
    const sub = new Redis(REDIS_URL);
    sub.on("pmessageBuffer", (_p: Buffer, _c: Buffer, message: Buffer) => {
      // The same work a receiver must do at least: read the JSON.
      onEvent(JSON.parse(message.toString()).t);
    });
    await sub.psubscribe(`${network}/bench/*`);
    stop = async () => void (await sub.quit());
  } else if (mode === "raw_nats") {
    const nc = await connectNats({ servers: NATS_URL });
    nc.subscribe(`raw.${network}.bench.>`, {
      callback: (err, msg) => {
        if (err === null) onEvent(JSON.parse(msg.string()).t);
      },
    });
    await nc.flush();
    stop = () => nc.drain();
  } else {
    const h = hive("bench");
    h.on("bench/event", (p) => onEvent(p.t as number));
    await h.start();
    stop = () => h.stop();
  }
  console.log(JSON.stringify({ ready: true }));
  // From ready: waiting for the publisher costs (next to) no CPU.
  const cpuStart = process.cpuUsage();
  await done;
  const cpu = process.cpuUsage(cpuStart);
  clearInterval(idle);
  await stop();
  latencies.sort((a, b) => a - b);
  const ms = last - first;
  console.log(JSON.stringify({
    received,
    ms,
    eps: received > 1 ? (received - 1) / (ms / 1000) : 0,
    p50_ms: percentile(latencies, 0.5),
    p99_ms: percentile(latencies, 0.99),
    cpu_us_per_event: (cpu.user + cpu.system) / Math.max(1, received),
  }));
}

async function publisher(): Promise<void> {
  const rate = rateText === undefined ? undefined : Number(rateText);
  const channel = `${network}/bench/event`;
  let send: (seq: number) => Promise<unknown>;
  let stop: () => Promise<void>;
  if (mode === "raw") {
    const pub = new Redis(REDIS_URL, { enableAutoPipelining: true });
    send = (seq) => pub.publish(channel, JSON.stringify(payload(seq, now())));
    stop = async () => void (await pub.quit());
  } else if (mode === "raw_nats") {
    const nc = await connectNats({ servers: NATS_URL });
    const subject = `raw.${network}.bench.event`;
    send = (seq) => {
      nc.publish(subject, JSON.stringify(payload(seq, now())));
      return Promise.resolve();
    };
    stop = async () => {
      await nc.flush();
      await nc.drain();
    };
  } else {
    const h = hive("");
    await h.start();
    send = (seq) => h.emit(channel, payload(seq, now()));
    stop = () => h.stop();
  }
  const started = now();
  const cpuStart = process.cpuUsage();
  if (rate === undefined) {
    const CHUNK = 5_000;
    for (let i = 0; i < count; i += CHUNK) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(count, i + CHUNK); j++) batch.push(send(j));
      await Promise.all(batch);
    }
  } else {
    // Paced: every millisecond tick, send what is due.
    let sent = 0;
    const pending: Promise<unknown>[] = [];
    while (sent < count) {
      const due = Math.min(count, Math.floor(((now() - started) / 1000) * rate));
      while (sent < due) pending.push(send(sent++));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
  }
  const ms = now() - started;
  const cpu = process.cpuUsage(cpuStart);
  await stop();
  console.log(JSON.stringify({
    sent: count,
    ms,
    eps: count / (ms / 1000),
    cpu_us_per_event: (cpu.user + cpu.system) / count,
  }));
}

if (role === "sub") await subscriber();
else if (role === "pub") await publisher();
else {
  console.error("usage: peer.ts sub|pub redis|nats|raw <network> <count> [secret] [rate]");
  Deno.exit(2);
}
