// deno-lint-ignore-file no-console
/**
 * `deno task bench:ensync-client`: our EnSync client against the published npm client
 * `ensync-client-sdk@0.0.18` (run by Node, the peer), both on the same engine (servers/ensync,
 * in-memory store, its own process), 1 KiB JSON payloads encrypted per recipient:
 *
 * (a) publish rate of our client (pipelined; the SDK can only publish one request at a time, its
 *     pending requests are keyed by `Date.now()`);
 * (b) publish → deliver → ack throughput to 10 subscribing apps (one subscribing client each, in a
 *     separate process: Deno with our client, or Node with the SDK; auto-ack on);
 * (c) publish-to-delivery p50/p99 at a fixed 5,000 msg/s spread over the 10 apps;
 * (d) crypto alone: sealing and opening envelopes per second, ours vs tweetnacl + ed2curve as the
 *     SDK does it.
 *
 * The same publisher (our client, in this process) feeds both subscriber processes. Prints a
 * table, then one JSON line last. `ENSYNC_BENCH_SCALE` (default 1) scales the message counts.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import nacl from "tweetnacl";
import ed2curve from "ed2curve";
import {
  type EnSyncClient,
  EnSyncWebSocketEngine,
  EnvelopeDecryptor,
  EnvelopeEncryptor,
  generateKeyPair,
} from "../lib/ensync/mod.ts";
import { writeEnSyncConfig } from "../servers/ensync/mod.ts";
import { SDK_SUBSCRIBER_CJS } from "./ensync_client/sdk_subscriber.ts";

const SCALE = Number(Deno.env.get("ENSYNC_BENCH_SCALE") ?? "1") || 1;
const APPS = 10;
const PUBLISH_COUNT = Math.round(20_000 * SCALE);
const DRAIN_COUNT = Math.round(20_000 * SCALE);
const RATE = 5_000;
const LATENCY_SECONDS = Math.max(2, Math.round(4 * SCALE));
const PUBLISHERS = 4;
const SDK_VERSION = "0.0.18";
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PAD = "x".repeat(990);

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 0): number => Math.round(n * 10 ** digits) / 10 ** digits;

interface App {
  name: string;
  accessKey: string;
  publicKey: string;
  secretKey: string;
}

/** Reads a child's stdout line by line. */
function lines(
  child: Deno.ChildProcess,
): { next(prefix: string, timeoutMs: number): Promise<string> } {
  const seen: string[] = [];
  const waiters: Array<() => void> = [];
  (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        seen.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        for (const w of waiters.splice(0)) w();
      }
    }
    for (const w of waiters.splice(0)) w();
  })();
  let cursor = 0;
  return {
    async next(prefix, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        while (cursor < seen.length) {
          const line = seen[cursor++]!;
          if (line.startsWith(prefix)) return line.slice(prefix.length).trim();
          if (line.startsWith("ERROR")) throw new Error(line);
        }
        if (Date.now() > deadline) throw new Error(`No "${prefix}" line within ${timeoutMs} ms`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(200)]);
      }
    },
  };
}

async function startEngine(config: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-P=bench",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}bench/ensync_client/engine.ts`,
      config,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = lines(child);
  const { ws } = JSON.parse(await out.next("{", 30_000).then((l) => `{${l}`)) as { ws: string };
  return {
    ws,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** Installs the peer SDK into a cached temp folder; returns its folder or why it is unavailable. */
async function installSdk(): Promise<{ dir: string } | { error: string }> {
  const dir = join(tmpdir(), `syft-bench-ensync-sdk-${SDK_VERSION}`);
  try {
    await Deno.stat(join(dir, "node_modules", "ensync-client-sdk", "websocket.js"));
  } catch {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(join(dir, "package.json"), '{"name":"bench-peer","private":true}');
    try {
      const out = await new Deno.Command("npm", {
        args: [
          "install",
          "--no-audit",
          "--no-fund",
          "--loglevel=error",
          `ensync-client-sdk@${SDK_VERSION}`,
        ],
        cwd: dir,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) {
        return { error: `npm install failed: ${new TextDecoder().decode(out.stderr).trim()}` };
      }
    } catch (err) {
      return { error: `npm is not available: ${(err as Error).message}` };
    }
  }
  await Deno.writeTextFile(join(dir, "subscriber.cjs"), SDK_SUBSCRIBER_CJS);
  return { dir };
}

/** Stops every subscriber process still running (on failure). */
const runners = new Set<() => Promise<void>>();

interface RunnerResult {
  received: number;
  lastAt: number;
  p50: number | null;
  p99: number | null;
}

async function startRunner(
  kind: "ours" | "sdk",
  sdkDir: string | undefined,
  args: string[],
): Promise<{ result(timeoutMs: number): Promise<RunnerResult>; stop(): Promise<void> }> {
  const command = kind === "ours"
    ? new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-P=bench",
        "--config",
        `${ROOT}deno.json`,
        `${ROOT}bench/ensync_client/subscriber.ts`,
        ...args,
      ],
      stdout: "piped",
      stderr: "inherit",
    })
    : new Deno.Command("node", {
      args: [join(sdkDir!, "subscriber.cjs"), ...args],
      cwd: sdkDir!,
      stdout: "piped",
      stderr: "inherit",
    });
  const child = command.spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
  };
  runners.add(stop);
  const out = lines(child);
  await out.next("READY", 60_000);
  return {
    async result(timeoutMs) {
      return JSON.parse(await out.next("RESULT", timeoutMs)) as RunnerResult;
    },
    async stop() {
      runners.delete(stop);
      await stop();
    },
  };
}

/** Publishes `count` events round-robin to the receivers, `PUBLISHERS` pipelines in parallel. */
async function publishAll(
  publishers: EnSyncClient[],
  apps: App[],
  eventName: string,
  count: number,
): Promise<number> {
  const t0 = now();
  await Promise.all(publishers.map(async (client, p) => {
    const batch: Promise<unknown>[] = [];
    for (let i = p; i < count; i += publishers.length) {
      batch.push(
        client.publish(eventName, [apps[1 + (i % APPS)]!.publicKey], {
          sentAt: now(),
          i,
          pad: PAD,
        }),
      );
      if (batch.length >= 256) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
  }));
  return t0;
}

/** Publishes at a fixed rate for `seconds`; returns how many were sent. */
async function publishAtRate(
  client: EnSyncClient,
  apps: App[],
  eventName: string,
  rate: number,
  seconds: number,
): Promise<number> {
  const total = rate * seconds;
  const t0 = now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - now();
    if (wait >= 1) await sleep(wait);
    pending.push(
      client.publish(eventName, [apps[1 + (i % APPS)]!.publicKey], { sentAt: now(), i, pad: PAD }),
    );
    if (pending.length >= 1000) await Promise.all(pending.splice(0, 500));
  }
  await Promise.all(pending);
  return total;
}

function cryptoBench(): { ours: number; fresh: number; tweetnacl: number } {
  const bob = generateKeyPair();
  const plaintext = new TextEncoder().encode(JSON.stringify({ sentAt: 0, i: 0, pad: PAD }));
  const n = Math.round(5_000 * SCALE);
  const time = (fn: () => void) => {
    for (let i = 0; i < 200; i++) fn();
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    return round(n / ((performance.now() - t) / 1000));
  };
  const enc = new EnvelopeEncryptor();
  const dec = new EnvelopeDecryptor(bob.secretKey);
  const ours = time(() => dec.open(enc.seal(plaintext, bob.publicKey)));
  const encFresh = new EnvelopeEncryptor({ maxUses: 1 });
  const decFresh = new EnvelopeDecryptor(bob.secretKey, { cacheSize: 0 });
  const fresh = time(() => decFresh.open(encFresh.seal(plaintext, bob.publicKey)));
  // The SDK's encryptEd25519 / decryptEd25519: a fresh ephemeral key, conversions on every call.
  const bobPk = Uint8Array.fromBase64(bob.publicKey);
  const bobSk = Uint8Array.fromBase64(bob.secretKey);
  const tweetnacl = time(() => {
    const eph = nacl.box.keyPair();
    const nonce = nacl.randomBytes(24);
    const boxed = nacl.box(plaintext, nonce, ed2curve.convertPublicKey(bobPk)!, eph.secretKey);
    nacl.box.open(boxed, nonce, eph.publicKey, ed2curve.convertSecretKey(bobSk));
  });
  return { ours, fresh, tweetnacl };
}

// ---- run ----------------------------------------------------------------------------------------

const work = await Deno.makeTempDir({ prefix: "syft_bench_ensync_client_" });
const apps: App[] = Array.from({ length: APPS + 1 }, (_, i) => ({
  name: i === 0 ? "publisher" : `app${i}`,
  accessKey: `bench-key-${i}-${crypto.randomUUID()}`,
  ...generateKeyPair(),
}));
const appsPath = join(work, "apps.json");
await Deno.writeTextFile(appsPath, JSON.stringify(apps));
const configPath = join(work, "ensync.yaml");
await writeEnSyncConfig(configPath, {
  grpcStreams: "auto",
  apps: apps.map((a, i) => ({
    name: a.name,
    accessKey: a.accessKey,
    appId: a.publicKey,
    send: i === 0 ? ["*"] : [],
    receive: i === 0 ? [] : ["*"],
  })),
});

console.error("crypto: sealing and opening 1 KiB envelopes ...");
const crypto_ = cryptoBench();
const engine = await startEngine(configPath);
const engines: EnSyncWebSocketEngine[] = [];
const results: Record<string, number | null> = {};
const notes: string[] = [];
try {
  const publishers: EnSyncClient[] = [];
  for (let i = 0; i < PUBLISHERS; i++) {
    const e = new EnSyncWebSocketEngine(engine.ws);
    engines.push(e);
    publishers.push(await e.createClient(apps[0]!.accessKey, { appSecretKey: apps[0]!.secretKey }));
  }

  console.error(`(a) publishing ${PUBLISH_COUNT} events, ${PUBLISHERS} pipelined connections ...`);
  const tA = await publishAll(publishers, apps, "bench/a", PUBLISH_COUNT);
  results.client_publish_mps = round(PUBLISH_COUNT / ((now() - tA) / 1000));

  const sdk = await installSdk();
  if ("error" in sdk) notes.push(`peer unavailable: ${sdk.error}`);

  for (const kind of ["ours", "sdk"] as const) {
    if (kind === "sdk" && "error" in sdk) {
      results.sdk_deliver_ack_mps = results.sdk_p50_ms = results.sdk_p99_ms = null;
      continue;
    }
    const prefix = kind === "ours" ? "client" : "sdk";
    const sdkDir = "dir" in sdk ? sdk.dir : undefined;
    console.error(
      `(b) ${kind}: publish → deliver → ack of ${DRAIN_COUNT} events to ${APPS} apps ...`,
    );
    const b = await startRunner(kind, sdkDir, [
      engine.ws,
      appsPath,
      `bench/b-${kind}`,
      "drain",
      String(DRAIN_COUNT),
    ]);
    const tB = await publishAll(publishers, apps, `bench/b-${kind}`, DRAIN_COUNT);
    const rb = await b.result(120_000);
    await b.stop();
    results[`${prefix}_deliver_ack_mps`] = round(rb.received / ((rb.lastAt - tB) / 1000));

    console.error(`(c) ${kind}: latency at ${RATE} msg/s for ${LATENCY_SECONDS} s ...`);
    const total = RATE * LATENCY_SECONDS;
    const c = await startRunner(kind, sdkDir, [
      engine.ws,
      appsPath,
      `bench/c-${kind}`,
      "latency",
      String(total),
    ]);
    await publishAtRate(publishers[0]!, apps, `bench/c-${kind}`, RATE, LATENCY_SECONDS);
    const rc = await c.result(120_000);
    await c.stop();
    results[`${prefix}_p50_ms`] = rc.p50 === null ? null : round(rc.p50, 3);
    results[`${prefix}_p99_ms`] = rc.p99 === null ? null : round(rc.p99, 3);
  }
} finally {
  await Promise.all([...runners].map((stop) => stop()));
  await Promise.all(engines.map((e) => e.close()));
  await engine.stop();
  await Deno.remove(work, { recursive: true }).catch(() => {});
}

const ratio = results.sdk_deliver_ack_mps
  ? round(results.client_deliver_ack_mps! / results.sdk_deliver_ack_mps, 2)
  : null;
console.log("");
console.log("EnSync client vs ensync-client-sdk@0.0.18 (Node), same engine, 1 KiB payloads");
console.log("| workload                                   | ours        | sdk 0.0.18  |");
console.log("| ------------------------------------------ | ----------- | ----------- |");
const cell = (v: number | null | undefined, unit: string) =>
  (v === null || v === undefined ? "n/a" : `${v} ${unit}`).padEnd(11);
console.log(
  `| (a) publish, pipelined                     | ${cell(results.client_publish_mps, "msg/s")} | ${
    "n/a (serial)".padEnd(11)
  } |`,
);
console.log(
  `| (b) publish → deliver → ack, 10 apps       | ${
    cell(results.client_deliver_ack_mps, "msg/s")
  } | ${cell(results.sdk_deliver_ack_mps, "msg/s")} |`,
);
console.log(
  `| (c) latency p50 at ${RATE} msg/s             | ${cell(results.client_p50_ms, "ms")} | ${
    cell(results.sdk_p50_ms, "ms")
  } |`,
);
console.log(
  `| (c) latency p99 at ${RATE} msg/s             | ${cell(results.client_p99_ms, "ms")} | ${
    cell(results.sdk_p99_ms, "ms")
  } |`,
);
console.log(
  `| (d) seal+open 1 KiB envelopes              | ${cell(crypto_.ours, "/s")} | ${
    cell(crypto_.tweetnacl, "/s")
  } |`,
);
console.log(
  `|     (ours with a fresh ephemeral key each) | ${cell(crypto_.fresh, "/s")} |             |`,
);
for (const n of notes) console.log(`note: ${n}`);
console.log(JSON.stringify({
  ...results,
  ratio_vs_sdk: ratio,
  crypto_seal_open_per_s: crypto_.ours,
  crypto_fresh_key_seal_open_per_s: crypto_.fresh,
  tweetnacl_seal_open_per_s: crypto_.tweetnacl,
  scale: SCALE,
}));
