// deno-lint-ignore-file no-console
/**
 * `deno task bench:ensync`: the EnSync engine with its default durable store (Deno KV) against NATS
 * JetStream (file storage, explicit acks), 1 KiB payloads, three workloads:
 *
 * (a) publish rate with persistence (pipelined, window 1000; a PUB is answered once its group
 *     commit is durable);
 * (b) publish → deliver → ack throughput to 10 subscribing apps, measured until every ACK was
 *     answered (durable); each app runs 4 competing clients, since EnSync keeps one event in flight
 *     per client and subscription (JetStream: one pull consumer per app, its default 1000 in flight);
 * (c) publish-to-delivery p50/p99 at a fixed 5 000 msg/s spread over the 10 apps (one client or
 *     consumer each).
 *
 * The engine runs in its own process (`bench/ensync/engine.ts`); the clients speak the raw
 * WebSocket dialect (npm `ws`) from this process. EnSync payloads are 1 KiB JSON encrypted once
 * for each recipient (the wire carries the ~2 KB base64 envelope); JetStream messages are 1 KiB.
 * Both run `ROUNDS` times, alternating, and each figure is the median of its rounds (the machines
 * this runs on are shared). Prints a table, then one JSON line last.
 *
 * Beside the rates: (c)'s latency over time, per 100 ms bucket of the send time (count, p50, p99,
 * max) for both, written to `ENSYNC_BENCH_TIMELINE` (default a temporary file named in the output)
 * and summarised in the JSON (worst bucket, stall buckets, the share of the tail inside them); and
 * the peak resident memory of the engine process (VmHWM at the end of its round) beside
 * nats-server's (its VmRSS sampled every 100 ms during the JetStream round, and its VmHWM, which
 * counts since the service started); and the engine's resident memory at the end of its round split
 * into anonymous (heap, buffers) and file-backed pages (`RssAnon`, `RssFile`).
 *
 * Beside (a), its floor: bare Deno KV in this process writing the bytes the engine's store writes
 * for the same events (`bench/ensync/_kv_floor.ts`), so a durable publish rate above it is not
 * possible with this store on this machine. Beside (b) and (c), the one-in-flight limit: a bare
 * WebSocket server process (`bench/ensync/bare_ws.ts`, Deno.serve, no work per message) pushing
 * delivery-sized frames, the next one to a client once it answered the last, to the same numbers
 * of clients; with one event in flight per client (the protocol's rule) no server passes it.
 *
 * Environment: `ENSYNC_BENCH_SCALE` (default 1) scales message counts; `ENSYNC_BENCH_ROUNDS`
 * (default 3); `ENSYNC_BENCH_CLIENTS` (default 4) clients per app in (b); `NATS_URL` (default
 * 127.0.0.1:4222).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { encryptPayload, generateKeyPair } from "../lib/ensync/crypto.ts";
import { type EnSyncApp, writeEnSyncConfig } from "../servers/ensync/mod.ts";
import {
  closeConn,
  oneInFlightRate,
  openConn,
  Publisher,
  Subscriber,
} from "./ensync/_ensync_clients.ts";
import { type JetStreamFigures, runJetStream } from "./ensync/_jetstream.ts";
import { kvWriteFloor } from "./ensync/_kv_floor.ts";
import {
  type LatencyBucket,
  LatencyTimeline,
  listenerPid,
  procKb,
  sampleRss,
  type TimelineSummary,
} from "./ensync/_timeline.ts";
import { firstLine } from "./_first_line.ts";

const SCALE = Number(Deno.env.get("ENSYNC_BENCH_SCALE") ?? "1") || 1;
const NATS = Deno.env.get("NATS_URL") ?? "127.0.0.1:4222";
const APPS = 10;
/** Competing clients per app: EnSync has one event in flight per client and subscription. */
const CLIENTS_PER_APP = Number(Deno.env.get("ENSYNC_BENCH_CLIENTS") ?? "4") || 4;
const PUBLISH_COUNT = Math.round(30_000 * SCALE);
const PER_APP = Math.round(4_000 * SCALE);
const WINDOW = 1_000;
const RATE = 5_000;
const LATENCY_SECONDS = Math.max(2, Math.round(5 * SCALE));
const ROUNDS = Math.max(1, Number(Deno.env.get("ENSYNC_BENCH_ROUNDS") ?? "3") || 3);
const ROOT = fileURLToPath(new URL("../", import.meta.url));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** CPU time (user + system) of a process in ms, from /proc (Linux; read with `cat`, since Deno
 * wants --allow-all for /proc). */
function cpuMs(pid: number): number {
  try {
    const out = new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).outputSync();
    const stat = new TextDecoder().decode(out.stdout);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startEngine(
  config: string,
  kv: string,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-P=bench",
      ...(Deno.env.get("ENSYNC_BENCH_ENGINE_FLAGS")?.split(" ").filter(Boolean) ?? []),
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}bench/ensync/engine.ts`,
      config,
      kv,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { ws } = JSON.parse(await firstLine(child, "The engine process"));
  return {
    url: ws,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function benchEnSync(dir: string) {
  const keys = Array.from({ length: APPS + 2 }, () => generateKeyPair());
  const apps: EnSyncApp[] = keys.map((k, i) => ({
    name: i === 0 ? "publisher" : i === 1 ? "sink" : `app${i - 2}`,
    accessKey: `bench-access-key-${i}`,
    appId: k.publicKey,
    send: ["*"],
    receive: ["*"],
  }));
  const [pubApp, sinkApp, ...subApps] = apps as [EnSyncApp, EnSyncApp, ...EnSyncApp[]];
  const configPath = `${dir}/ensync.yaml`;
  await writeEnSyncConfig(configPath, { apps, grpcStreams: "auto" });
  const body = { data: "x".repeat(1024 - 11) }; // JSON.stringify(body) is 1 KiB
  const payloadFor = new Map(apps.map((a) => [a.appId, encryptPayload(body, a.appId)]));
  const meta = '{"persist":true,"headers":{}}';
  // The stored form of one (a) event: payload, metadata, two app ids, idem, name and keys.
  const storedBytes = payloadFor.get(sinkApp.appId)!.length + meta.length + 2 * 44 + 130;

  const engine = await startEngine(configPath, `${dir}/ensync.kv`);
  try {
    // (a) publish rate with persistence.
    const pubConn = await openConn(engine.url, pubApp.accessKey);
    const pub = new Publisher(pubConn, WINDOW);
    const sinkPayload = payloadFor.get(sinkApp.appId)!;
    for (let i = 0; i < 2_000; i++) {
      await pub.publish("bench/warmup", sinkApp.appId, sinkPayload, meta);
    }
    await pub.drain();
    let t0 = performance.now();
    for (let i = 0; i < PUBLISH_COUNT; i++) {
      await pub.publish("bench/a", sinkApp.appId, sinkPayload, meta);
    }
    await pub.drain();
    const publishMps = PUBLISH_COUNT / ((performance.now() - t0) / 1000);
    if (pub.failures > 0) throw new Error(`publish failures: ${pub.failures} (${pub.lastFailure})`);

    // (b) publish -> deliver -> ack, 10 apps with CLIENTS_PER_APP competing clients each.
    const subs = await Promise.all(
      subApps.flatMap((a) =>
        Array.from(
          { length: CLIENTS_PER_APP },
          async () => new Subscriber(await openConn(engine.url, a.accessKey)),
        )
      ),
    );
    for (const s of subs) s.subscribe("bench/b");
    await sleep(300);
    const total = APPS * PER_APP;
    const cpu0 = [cpuMs(engine.pid), cpuMs(Deno.pid)];
    t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const to = subApps[i % APPS]!;
      await pub.publish("bench/b", to.appId, payloadFor.get(to.appId)!, meta);
    }
    const sentB = performance.now() - t0;
    const received = () => subs.reduce((n, s) => n + s.received, 0);
    const acked = () => subs.reduce((n, s) => n + s.acks, 0);
    while (received() < total) await sleep(1);
    const deliveredB = performance.now() - t0;
    // Durable acks: wait for every ACK's reply (sent once the ack is committed).
    while (acked() < total) await sleep(1);
    const elapsedB = performance.now() - t0;
    // Which side bounds (b): the last PUB sent (its window waits for publish commits), the last
    // delivery (one event in flight per client), or the last ack's commit.
    console.log(
      `  (b) last PUB sent at ${round(sentB)} ms, last delivery at ${round(deliveredB)} ms, ` +
        `last ack answered at ${round(elapsedB)} ms`,
    );
    const deliverAckMps = total / (elapsedB / 1000);
    if (Deno.env.get("ENSYNC_BENCH_CPU")) {
      console.log(
        `  (b) cpu: engine ${Math.round((cpuMs(engine.pid) - cpu0[0]!) / elapsedB * 100)}%, ` +
          `clients ${Math.round((cpuMs(Deno.pid) - cpu0[1]!) / elapsedB * 100)}% of one core`,
      );
    }
    await pub.drain();

    // (c) latency at a fixed rate over the 10 apps.
    let timeline = new LatencyTimeline(0);
    const latSubs = await Promise.all(
      subApps.map(async (a) =>
        new Subscriber(await openConn(engine.url, a.accessKey), (json, now) => {
          const m = /"t":"([0-9.]+)"/.exec(json);
          if (m) timeline.add(Number(m[1]), now - Number(m[1]));
        })
      ),
    );
    for (const s of latSubs) s.subscribe("bench/c");
    await sleep(300);
    const n = RATE * LATENCY_SECONDS;
    const start = performance.now();
    timeline = new LatencyTimeline(start);
    for (let i = 0; i < n;) {
      const due = Math.floor(((performance.now() - start) / 1000) * RATE);
      for (; i < Math.min(due, n); i++) {
        const to = subApps[i % APPS]!;
        await pub.publish(
          "bench/c",
          to.appId,
          payloadFor.get(to.appId)!,
          `{"persist":true,"headers":{"t":"${performance.now()}"}}`,
        );
      }
      await sleep(1);
    }
    await pub.drain();
    const deadline = performance.now() + 10_000;
    while (timeline.all.length < n && performance.now() < deadline) await sleep(10);
    const sorted = timeline.all.toSorted((a, b) => a - b);
    const rssKb = await procKb(engine.pid, "VmHWM");
    // What the resident memory is at the end: the heap and buffers, or mapped files (the database).
    const anonKb = await procKb(engine.pid, "RssAnon");
    const fileKb = await procKb(engine.pid, "RssFile");
    for (const s of [...subs, ...latSubs]) await closeConn(s.conn);
    await closeConn(pubConn);
    return {
      publishMps,
      deliverAckMps,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      latencySamples: sorted.length,
      timeline: timeline.buckets(),
      stalls: timeline.summary(),
      rssMb: rssKb === undefined ? NaN : rssKb / 1024,
      storedBytes,
      anonMb: anonKb === undefined ? NaN : anonKb / 1024,
      fileMb: fileKb === undefined ? NaN : fileKb / 1024,
    };
  } finally {
    await engine.stop();
  }
}

/**
 * The one-in-flight limit of (b) and (c): a bare WebSocket server process pushing delivery-sized
 * frames, the next one to a client once it answered the last, to as many clients as (b) and (c)
 * use.
 */
async function oneInFlightLimit(frameChars: number): Promise<{ b: number; c: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P=bench", `${ROOT}bench/ensync/bare_ws.ts`, String(frameChars)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const { port } = JSON.parse(await firstLine(child, "The bare WebSocket server"));
    const url = `ws://127.0.0.1:${port}`;
    const b = await oneInFlightRate(url, APPS * CLIENTS_PER_APP, APPS * PER_APP);
    const c = await oneInFlightRate(url, APPS, RATE * LATENCY_SECONDS);
    return { b, c };
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

const dir = await Deno.makeTempDir({ prefix: "syft_bench_ensync_" });
try {
  console.log(
    `EnSync engine (Deno KV) vs NATS JetStream (file storage, explicit acks): 1 KiB payloads, ` +
      `${APPS} apps (${CLIENTS_PER_APP} clients each in b), publish ${PUBLISH_COUNT}, deliver+ack ${
        APPS * PER_APP
      }, ${RATE} msg/s for ${LATENCY_SECONDS} s; median of ${ROUNDS} rounds`,
  );
  const runsOurs: Awaited<ReturnType<typeof benchEnSync>>[] = [];
  const timelines: { round: number; ensync: LatencyBucket[]; jetstream: LatencyBucket[] }[] = [];
  const runsPeer: JetStreamFigures[] = [];
  const natsPid = await listenerPid(Number(NATS.split(":").pop()));
  const natsRss: number[] = [];
  const floors: number[] = [];
  const limits: { b: number; c: number }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const roundDir = `${dir}/round${r}`;
    await Deno.mkdir(roundDir);
    const o = await benchEnSync(roundDir);
    const floor = await kvWriteFloor(`${roundDir}/floor.kv`, PUBLISH_COUNT, o.storedBytes);
    floors.push(floor.eventsPerSecond);
    const limit = await oneInFlightLimit(o.storedBytes + 120);
    limits.push(limit);
    const sampler = natsPid === undefined ? undefined : sampleRss(natsPid);
    const p = await runJetStream({
      servers: NATS,
      payload: new Uint8Array(1024),
      publishCount: PUBLISH_COUNT,
      apps: APPS,
      perApp: PER_APP,
      window: WINDOW,
      rate: RATE,
      latencySeconds: LATENCY_SECONDS,
      percentile,
    });
    const natsKb = await sampler?.stop();
    if (natsKb !== undefined) natsRss.push(natsKb / 1024);
    console.log(
      `  round ${r}: ensync ${round(o.publishMps)} / ${round(o.deliverAckMps)} msg/s, ` +
        `p50 ${round(o.p50Ms, 3)} p99 ${round(o.p99Ms, 3)} ms; jetstream ${
          round(p.publishMps)
        } / ` +
        `${round(p.deliverAckMps)} msg/s, p50 ${round(p.p50Ms, 3)} p99 ${round(p.p99Ms, 3)} ms; ` +
        `bare Deno KV floor for (a) ${
          round(floor.eventsPerSecond)
        } events/s (${floor.commits} commits); one-in-flight limit (bare WebSocket server) ${
          round(limit.b)
        } msg/s with ${APPS * CLIENTS_PER_APP} clients, ${round(limit.c)} with ${APPS}`,
    );
    for (const [who, s] of [["ensync", o.stalls], ["jetstream", p.stalls]] as const) {
      console.log(
        `    (c) ${who.padEnd(9)} timeline: ${s.buckets} buckets of 100 ms, median bucket p99 ` +
          `${round(s.medianBucketP99Ms, 3)} ms, worst p99 ${round(s.worstP99Ms, 3)} ` +
          `(max ${round(s.worstMaxMs, 3)}) at ${s.worstAtMs} ms, ${s.stallBuckets} stall buckets ` +
          `holding ${round(s.tailInStalls * 100)}% of the latencies above p99; p50 grew ` +
          `${round(s.backlogGrowthMs, 3)} ms from the first bucket to the last; ${s.senderGaps} ` +
          `buckets where the sender fell behind`,
      );
    }
    timelines.push({ round: r, ensync: o.timeline, jetstream: p.timeline });
    runsOurs.push(o);
    runsPeer.push(p);
  }
  const pick = <T extends Record<K, number>, K extends keyof T>(runs: T[], key: K): number =>
    median(runs.map((x) => x[key]));
  const ours = {
    publishMps: pick(runsOurs, "publishMps"),
    deliverAckMps: pick(runsOurs, "deliverAckMps"),
    p50Ms: pick(runsOurs, "p50Ms"),
    p99Ms: pick(runsOurs, "p99Ms"),
  };
  const peer = {
    publishMps: pick(runsPeer, "publishMps"),
    deliverAckMps: pick(runsPeer, "deliverAckMps"),
    p50Ms: pick(runsPeer, "p50Ms"),
    p99Ms: pick(runsPeer, "p99Ms"),
  };
  // The ratio is the median of the per-round ratios (each round runs both back to back).
  const ratio = median(runsOurs.map((o, i) => o.deliverAckMps / runsPeer[i]!.deliverAckMps));
  const rows: [string, string, string][] = [
    ["(a) publish msg/s (durable)", `${round(ours.publishMps)}`, `${round(peer.publishMps)}`],
    ["(a) floor: bare Deno KV, same bytes", `${round(median(floors))}`, ""],
    [
      `(b) deliver+ack msg/s (${APPS} apps)`,
      `${round(ours.deliverAckMps)}`,
      `${round(peer.deliverAckMps)}`,
    ],
    ["(b) limit: one in flight, bare server", `${round(median(limits.map((l) => l.b)))}`, ""],
    [`(c) limit: one in flight, ${APPS} clients`, `${round(median(limits.map((l) => l.c)))}`, ""],
    [`(c) p50 ms at ${RATE}/s`, `${round(ours.p50Ms, 3)}`, `${round(peer.p50Ms, 3)}`],
    [`(c) p99 ms at ${RATE}/s`, `${round(ours.p99Ms, 3)}`, `${round(peer.p99Ms, 3)}`],
  ];
  console.log(`${"workload".padEnd(34)}${"ensync".padStart(12)}${"jetstream".padStart(12)}`);
  for (const [k, a, b] of rows) console.log(`${k.padEnd(34)}${a.padStart(12)}${b.padStart(12)}`);
  const timelineFile = Deno.env.get("ENSYNC_BENCH_TIMELINE") ??
    await Deno.makeTempFile({ prefix: "syft_bench_ensync_timeline_", suffix: ".json" });
  await Deno.writeTextFile(timelineFile, JSON.stringify({ bucketMs: 100, rounds: timelines }));
  console.log(`latency timelines (per 100 ms: n, p50, p99, max): ${timelineFile}`);
  const stallFigures = (prefix: string, runs: { stalls: TimelineSummary }[]) => ({
    [`${prefix}worst_bucket_p99_ms`]: round(median(runs.map((x) => x.stalls.worstP99Ms)), 3),
    [`${prefix}median_bucket_p99_ms`]: round(
      median(runs.map((x) => x.stalls.medianBucketP99Ms)),
      3,
    ),
    [`${prefix}stall_buckets`]: median(runs.map((x) => x.stalls.stallBuckets)),
    [`${prefix}tail_in_stalls`]: round(median(runs.map((x) => x.stalls.tailInStalls)), 3),
    [`${prefix}backlog_growth_ms`]: round(median(runs.map((x) => x.stalls.backlogGrowthMs)), 3),
    [`${prefix}sender_gaps`]: median(runs.map((x) => x.stalls.senderGaps)),
  });
  const natsHwm = natsPid === undefined ? undefined : await procKb(natsPid, "VmHWM");
  console.log(JSON.stringify({
    "publish_mps": round(ours.publishMps),
    "deliver_ack_mps": round(ours.deliverAckMps),
    "p50_ms": round(ours.p50Ms, 3),
    "p99_ms": round(ours.p99Ms, 3),
    "jetstream_publish_mps": round(peer.publishMps),
    "jetstream_deliver_ack_mps": round(peer.deliverAckMps),
    "jetstream_p50_ms": round(peer.p50Ms, 3),
    "jetstream_p99_ms": round(peer.p99Ms, 3),
    "ratio_vs_jetstream": round(ratio, 3),
    "publish_ratio_vs_jetstream": round(
      median(runsOurs.map((o, i) => o.publishMps / runsPeer[i]!.publishMps)),
      3,
    ),
    "kv_floor_publish_mps": round(median(floors)),
    "publish_ratio_vs_kv_floor": round(
      median(runsOurs.map((o, i) => o.publishMps / floors[i]!)),
      3,
    ),
    "one_in_flight_limit_b_mps": round(median(limits.map((l) => l.b))),
    "one_in_flight_limit_c_mps": round(median(limits.map((l) => l.c))),
    "deliver_ack_ratio_vs_limit": round(
      median(runsOurs.map((o, i) => o.deliverAckMps / limits[i]!.b)),
      3,
    ),
    "kv_floor_ratio_vs_jetstream": round(
      median(runsPeer.map((p, i) => floors[i]! / p.publishMps)),
      3,
    ),
    ...stallFigures("", runsOurs),
    ...stallFigures("jetstream_", runsPeer),
    "engine_peak_rss_mb": round(median(runsOurs.map((x) => x.rssMb)), 1),
    "engine_end_rss_anon_mb": round(median(runsOurs.map((x) => x.anonMb)), 1),
    "engine_end_rss_file_mb": round(median(runsOurs.map((x) => x.fileMb)), 1),
    "nats_server_peak_rss_mb": natsRss.length ? round(median(natsRss), 1) : null,
    "nats_server_vmhwm_mb": natsHwm === undefined ? null : round(natsHwm / 1024, 1),
    "timeline_file": timelineFile,
    "rounds": ROUNDS,
    "scale": SCALE,
  }));
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
