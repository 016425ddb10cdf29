// deno-lint-ignore-file no-console camelcase -- prints figures; JSON keys are the names
/**
 * `deno task bench:pubsub`: eventhive-compatible pub/sub, one publisher process to one
 * subscriber process, 200-byte payloads (see `bench/pubsub/peer.ts`):
 *
 * (a) Redis, plain: events delivered per second for 100,000 events;
 * (b) the same with a secret (HMAC-SHA1 + AES-128-CTR on both sides);
 * (c) publish-to-handler latency p50/p99 at 5,000 events/s over Redis (plain);
 * (d) our fastapi_websocket_pubsub server, 1 publisher to 100 subscribers, deliveries/s
 *     (`bench/pubsub/fanout.ts`, with its bare-relay limit);
 * (e) NATS, as (a);
 * and, in the same run, the limits: raw ioredis `PUBLISH` pipelined to a `PSUBSCRIBE`
 * subscriber, and raw `@nats-io/transport-node` `publish` to a subscriber, with the same
 * payloads.
 *
 * Each throughput figure is the best of `BENCH_ROUNDS` (default 3) rounds, the systems taking
 * turns. The last line is one JSON object: redis_eps, redis_secret_eps, p50_ms, p99_ms,
 * server_fanout_dps, nats_eps, raw_redis_eps, ratio_vs_raw_redis, raw_nats_eps,
 * ratio_vs_raw_nats, and more.
 *
 * Environment: BENCH_ROUNDS, BENCH_EVENTS (default 100,000), REDIS_URL, NATS_URL.
 *
 * @module
 */
import { TextLineStream } from "../lib/_lines.ts";
import { runFanout } from "./pubsub/fanout.ts";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);
const EVENTS = Number(Deno.env.get("BENCH_EVENTS") ?? 100_000);
const LATENCY_RATE = 5_000;
const LATENCY_EVENTS = 25_000;
const PEER = new URL("./pubsub/peer.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const ROUND_TIMEOUT_MS = 120_000;

interface Proc {
  next(): Promise<Record<string, unknown>>;
  kill(): void;
  status: Promise<Deno.CommandStatus>;
}

function spawn(args: string[]): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--config", CONFIG, "-P=bench", PEER, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())[
    Symbol.asyncIterator
  ]();
  return {
    async next() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const r = await Promise.race([
          lines.next(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer from peer ${args.join(" ")}`)),
              ROUND_TIMEOUT_MS,
            );
          }),
        ]);
        if (r.done) throw new Error(`peer ${args.join(" ")} exited`);
        return JSON.parse(r.value);
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
    status: child.status,
  };
}

interface RoundResult {
  eps: number;
  received: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU time per event of the subscriber and the publisher (microseconds). */
  cpu_us_per_event: number;
  pub_cpu_us_per_event: number;
}

async function round(
  mode: "redis" | "nats" | "raw" | "raw_nats",
  events: number,
  secret = "",
  rate?: number,
): Promise<RoundResult> {
  const network = `bench-${crypto.randomUUID().slice(0, 8)}`;
  const sub = spawn(["sub", mode, network, String(events), secret || "-"]);
  try {
    await sub.next(); // ready
    const pub = spawn([
      "pub",
      mode,
      network,
      String(events),
      secret || "-",
      ...(rate ? [String(rate)] : []),
    ]);
    let pubResult: Record<string, unknown>;
    try {
      pubResult = await pub.next();
    } finally {
      pub.kill();
      await pub.status;
    }
    const r = await sub.next() as unknown as RoundResult;
    r.pub_cpu_us_per_event = pubResult.cpu_us_per_event as number;
    return r;
  } finally {
    sub.kill();
    await sub.status;
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function loadAverage(): number[] {
  try {
    return Deno.loadavg().map((n) => Number(n.toFixed(2)));
  } catch {
    return [];
  }
}

const loadBefore = loadAverage();
console.log(
  `bench:pubsub: ${navigator.hardwareConcurrency} cores, load ${
    loadBefore.join(" ")
  }, ${ROUNDS} rounds, ${fmt(EVENTS)} events`,
);

const best: Record<string, RoundResult> = {};
const rounds: Record<string, number[]> = {
  raw: [],
  redis: [],
  redis_secret: [],
  raw_nats: [],
  nats: [],
};
const lost: Record<string, number> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (
    const [name, mode, secret] of [
      ["raw", "raw", ""],
      ["redis", "redis", ""],
      ["redis_secret", "redis", "bench-secret"],
      ["raw_nats", "raw_nats", ""],
      ["nats", "nats", ""],
    ] as const
  ) {
    const result = await round(mode, EVENTS, secret);
    rounds[name]!.push(Math.round(result.eps));
    if (result.received < EVENTS) lost[name] = (lost[name] ?? 0) + EVENTS - result.received;
    if (best[name] === undefined || result.eps > best[name]!.eps) best[name] = result;
    console.log(
      `  round ${r + 1} ${name.padEnd(12)} ${fmt(result.eps).padStart(9)} events/s  (${
        fmt(result.received)
      } received; CPU per event: publisher ${
        result.pub_cpu_us_per_event.toFixed(1)
      } us, subscriber ${result.cpu_us_per_event.toFixed(1)} us)`,
    );
  }
}

// (c) latency at a fixed rate: the median of the rounds' percentiles.
const latencies: RoundResult[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const result = await round("redis", LATENCY_EVENTS, "", LATENCY_RATE);
  latencies.push(result);
  console.log(
    `  round ${r + 1} latency at ${fmt(LATENCY_RATE)}/s  p50 ${result.p50_ms.toFixed(3)} ms  p99 ${
      result.p99_ms.toFixed(3)
    } ms`,
  );
}
const median = (xs: number[]): number => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// (d) the server's fan-out, with its bare-relay limit.
const fanout = await runFanout({ rounds: ROUNDS });

const loadAfter = loadAverage();
const raw = best.raw!.eps;
const result = {
  redis_eps: Math.round(best.redis!.eps),
  redis_secret_eps: Math.round(best.redis_secret!.eps),
  p50_ms: Number(median(latencies.map((l) => l.p50_ms)).toFixed(3)),
  p99_ms: Number(median(latencies.map((l) => l.p99_ms)).toFixed(3)),
  server_fanout_dps: Math.round(fanout.server_fanout_dps),
  nats_eps: Math.round(best.nats!.eps),
  raw_redis_eps: Math.round(raw),
  ratio_vs_raw_redis: Number((best.redis!.eps / raw).toFixed(3)),
  raw_nats_eps: Math.round(best.raw_nats!.eps),
  ratio_vs_raw_nats: Number((best.nats!.eps / best.raw_nats!.eps).toFixed(3)),
  bare_fanout_dps: Math.round(fanout.bare_fanout_dps),
  ratio_fanout_vs_bare: Number(fanout.ratio_vs_bare.toFixed(3)),
  // CPU time per event (publisher + subscriber), raw / ours: what the ratio would be on idle cores.
  cpu_ratio_vs_raw_redis: Number(
    (
      (best.raw!.pub_cpu_us_per_event + best.raw!.cpu_us_per_event) /
      (best.redis!.pub_cpu_us_per_event + best.redis!.cpu_us_per_event)
    ).toFixed(3),
  ),
  cpu_us_per_event: Object.fromEntries(
    Object.entries(best).map(([k, v]) => [k, {
      publisher: Number(v.pub_cpu_us_per_event.toFixed(2)),
      subscriber: Number(v.cpu_us_per_event.toFixed(2)),
    }]),
  ),
  events: EVENTS,
  payload_bytes: 200,
  latency_rate: LATENCY_RATE,
  rounds,
  lost,
  cores: navigator.hardwareConcurrency,
  load_before: loadBefore,
  load_after: loadAfter,
};
console.log(JSON.stringify(result));
