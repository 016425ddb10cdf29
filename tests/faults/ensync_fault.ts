// deno-lint-ignore-file camelcase -- each case prints its counts as key=value (snake_case keys)
/**
 * Fault cases of the EnSync engine, run as `syft ensync serve` (the CLI, a real subprocess):
 *
 * - `ensync_kill9_kv` / `ensync_kill9_redis`: 5,000 persisted events published while one
 *   subscriber acks them one by one; at 2,500 acks (every publish confirmed) the engine is killed
 *   with SIGKILL and started again on the same store. A new subscriber must get every unacked event
 *   (the one in flight at the kill included) exactly once, and no acked one.
 * - `ensync_redis_restart`: the engine on a private Redis (append-only file, fsync always) that is
 *   killed and started again mid-load while the engine keeps running. A publish either is confirmed
 *   (then it must be delivered) or fails clearly (`-FAIL`); an ack that fails is retried and must
 *   succeed once Redis is back (before the fix the retry was refused with `NOT_IN_FLIGHT` and the
 *   event stayed in flight in the store until the engine restarted: "stranded"); no acked event
 *   comes again.
 *
 * Each case prints `FAULT <case> key=value ...` and asserts 0 lost, 0 acked redelivered, 0
 * duplicates.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { writeEnSyncConfig } from "../../servers/ensync/config.ts";
import { TextLineStream } from "../../lib/_lines.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";
import { deleteKeys, REDIS_URL } from "../_helpers/redis.ts";
import { HAVE_REDIS_SERVER, PrivateRedis, sparePort } from "../_helpers/private_redis.ts";
import {
  ackFrame,
  configOf,
  pubFrame,
  type RawClient,
  rawClient,
  type TestApp,
  testApp,
} from "../servers/ensync/_helpers.ts";

const EVENTS = 5_000;
/** Acks before the kill. */
const HALF = 2_500;
/** Publish frames sent before their replies are awaited. */
const PIPELINE = 100;
/** Consumer sessions of the one app, competing for its queue (each holds one event in flight). */
const CONSUMERS = 8;
const EVENT = "fault/e";
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Prints the counts where `deno test -q` shows them (it hides console output of tests). */
function report(name: string, counts: Record<string, number>): void {
  const line = `FAULT ${name} ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(" ")}`;
  Deno.writeTextFileSync("/dev/stderr", `\n${line}\n`, { append: true });
}

/** `syft ensync serve` in a subprocess on a fixed WebSocket port, until `kill()`. */
class EngineProcess {
  readonly port: number = sparePort();
  readonly #args: string[];
  readonly #home: string;
  #child: Deno.ChildProcess | undefined;

  constructor(home: string, apps: string, store: string, prefix?: string) {
    this.#home = home;
    this.#args = [
      "--apps",
      apps,
      "--store",
      store,
      ...(prefix === undefined ? [] : ["--prefix", prefix]),
      "--grpc-port",
      "0",
      "--grpc-in-process",
      "--ack-timeout",
      "1h",
    ];
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/message`;
  }

  async start(): Promise<void> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-A",
        "--config",
        `${ROOT}deno.json`,
        `${ROOT}cli/main.ts`,
        "--json",
        "ensync",
        "serve",
        "--ws-port",
        String(this.port),
        ...this.#args,
      ],
      stdout: "piped",
      stderr: "inherit",
      env: { SYFT_HOME: this.#home, SYFT_LOG_LEVEL: "error" },
    }).spawn();
    this.#child = child;
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    let ready = false;
    for await (const line of lines) {
      if (line.includes('"listening"')) {
        ready = true;
        break;
      }
    }
    if (!ready) throw new Error("syft ensync serve ended before it was listening");
    // Keep reading so the child never blocks on a full pipe.
    void lines.pipeTo(new WritableStream()).catch(() => {});
  }

  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    child.kill("SIGKILL");
    await child.status;
  }
}

/** A raw client of `app`, connected (CONN) and, for a consumer, subscribed to `EVENT`. */
async function client(url: string, app: TestApp, subscribe: boolean): Promise<RawClient> {
  const c = await rawClient(url);
  const reply = await c.conn(app.accessKey);
  assert.match(reply, /^\+PASS:/, `CONN: ${reply}`);
  if (subscribe) {
    assert.match(await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:${EVENT}`), /^\+PASS:/);
  }
  return c;
}

const seqOf = (record: Record<string, unknown>): number => Number(atob(String(record.payload)));

/**
 * Publishes `EVENTS` numbered events (payload: the number, base64) from `pub`, `PIPELINE` at a
 * time; runs `fault` once after `faultAt` events. Returns how many replies were `+PASS` and how
 * many `-FAIL` (replies carry no number, so which ones failed is not known).
 */
async function publishAll(
  pub: RawClient,
  app: TestApp,
  faultAt = Infinity,
  fault: () => Promise<void> = () => Promise.resolve(),
): Promise<{ confirmed: number; failed: number; fault: Promise<void> | undefined }> {
  let confirmed = 0;
  let failed = 0;
  let faulted: Promise<void> | undefined;
  for (let i = 0; i < EVENTS; i += PIPELINE) {
    const n = Math.min(PIPELINE, EVENTS - i);
    for (let j = i; j < i + n; j++) pub.send(pubFrame(pub, EVENT, app.appId, btoa(String(j))));
    for (let j = 0; j < n; j++) {
      const reply = await pub.reply(30_000);
      if (reply.startsWith("+PASS:")) confirmed++;
      else failed++;
    }
    if (faulted === undefined && i + n >= faultAt) faulted = fault();
  }
  return { confirmed, failed, fault: faulted };
}

/** Delivery counts per event number. */
class Tally {
  readonly times = new Map<number, number>();
  add(seq: number): number {
    const n = (this.times.get(seq) ?? 0) + 1;
    this.times.set(seq, n);
    return n;
  }
  get duplicates(): number {
    return [...this.times.values()].filter((n) => n > 1).length;
  }
}

/**
 * `CONSUMERS` sessions of `app` subscribed to `EVENT`, competing for its queue (each holds at most
 * one event in flight): for each record, `onRecord(seq, record, client)`; a consumer ends when
 * `onRecord` returns false, or when `done()` holds and no record came for `quietMs`.
 */
async function consume(
  url: string,
  app: TestApp,
  onRecord: (seq: number, record: Record<string, unknown>, c: RawClient) => Promise<boolean>,
  done: () => boolean,
  quietMs = 1_000,
): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: CONSUMERS }, () => client(url, app, true)),
  );
  const deadline = performance.now() + 240_000;
  try {
    await Promise.all(clients.map(async (c) => {
      while (performance.now() < deadline) {
        let record: Record<string, unknown>;
        try {
          record = await c.record(quietMs);
        } catch {
          if (done()) return;
          continue;
        }
        if (!await onRecord(seqOf(record), record, c)) return;
      }
    }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** Acks `record`; asserts the engine acknowledged it. */
async function ack(c: RawClient, record: Record<string, unknown>, what: string): Promise<void> {
  const reply = await c.request(ackFrame(c, record));
  assert.match(reply, /^\+PASS:ACKNOWLEDGED/, `ACK of ${what}: ${reply}`);
}

/**
 * Kill -9 with half the events unacked: publish 5,000 (a pipelined publisher) while `CONSUMERS`
 * sessions ack; at `HALF` acks they stop acking (each holding one event in flight), and once every
 * publish is confirmed the engine is killed; the next engine on the same store must deliver every
 * unacked event once, no acked one.
 */
async function killWithHalfUnacked(name: string, store: string, prefix?: string): Promise<void> {
  await using ws = await tempWorkspace();
  const app = testApp("fault");
  const apps = `${ws.path}/ensync.yaml`;
  await writeEnSyncConfig(apps, configOf([app]));
  const engine = new EngineProcess(ws.path, apps, store, prefix);
  await engine.start();
  const started = performance.now();
  const acked = new Set<number>();
  const first = new Tally();
  let published: { confirmed: number; failed: number };
  try {
    const publisher = await client(engine.url, app, false);
    let acking = 0;
    const consuming = consume(engine.url, app, async (seq, record, c) => {
      first.add(seq);
      // Reserved before the ack is sent, so exactly HALF are acked.
      if (acked.size + acking >= HALF) return false;
      acking++;
      await ack(c, record, String(seq));
      acking--;
      acked.add(seq);
      return true;
    }, () => acked.size >= HALF);
    published = await publishAll(publisher, app);
    await consuming;
    await engine.kill();
    await publisher.close();
  } catch (err) {
    await engine.kill();
    throw err;
  }
  const killedAfter = performance.now();

  await engine.start();
  const second = new Tally();
  try {
    await consume(engine.url, app, async (seq, record, c) => {
      second.add(seq);
      await ack(c, record, `${seq} after the restart`);
      return true;
    }, () => second.times.size >= EVENTS - HALF);
    const unacked = [...Array(EVENTS).keys()].filter((s) => !acked.has(s));
    const counts = {
      published: published.confirmed,
      publish_failed: published.failed,
      acked_before_kill: acked.size,
      unacked_at_kill: unacked.length,
      in_flight_at_kill: first.times.size - acked.size,
      redelivered: unacked.filter((s) => second.times.has(s)).length,
      lost: unacked.filter((s) => !second.times.has(s)).length,
      acked_redelivered: [...acked].filter((s) => second.times.has(s)).length,
      duplicates: first.duplicates + second.duplicates,
      seconds_to_kill: Math.round((killedAfter - started) / 100) / 10,
      seconds_after: Math.round((performance.now() - killedAfter) / 100) / 10,
    };
    report(name, counts);
    assert.equal(counts.published, EVENTS, "every publish confirmed before the kill");
    assert.equal(counts.lost, 0, "no unacked event lost");
    assert.equal(counts.acked_redelivered, 0, "no acked event delivered again");
    assert.equal(counts.duplicates, 0, "no event delivered twice");
    assert.equal(counts.redelivered, counts.unacked_at_kill, "every unacked event redelivered");
  } finally {
    await engine.kill();
  }
}

const options = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "ensync_kill9_kv: the engine (KV store) killed -9 with half of 5,000 events unacked",
  ...options,
  async fn() {
    await using ws = await tempWorkspace();
    await killWithHalfUnacked("ensync_kill9_kv", `kv:${ws.path}/ensync.kv`);
  },
});

Deno.test({
  name: "ensync_kill9_redis: the engine (Redis store) killed -9 with half of 5,000 events unacked",
  ...options,
  async fn() {
    const prefix = `syft-fault-ensync:${crypto.randomUUID().slice(0, 8)}:`;
    try {
      await killWithHalfUnacked("ensync_kill9_redis", REDIS_URL, prefix);
    } finally {
      const redis = new Redis(REDIS_URL);
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  },
});

Deno.test({
  name: "ensync_redis_restart: the engine on Redis across a Redis kill -9 and restart mid-load",
  ignore: !HAVE_REDIS_SERVER,
  ...options,
  async fn() {
    await using ws = await tempWorkspace();
    await using redis = new PrivateRedis(sparePort(), [
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
      "--dir",
      ws.path,
    ]);
    await redis.start();
    const app = testApp("fault");
    const apps = `${ws.path}/ensync.yaml`;
    await writeEnSyncConfig(apps, configOf([app]));
    const engine = new EngineProcess(ws.path, apps, redis.url);
    await engine.start();
    const started = performance.now();
    const tally = new Tally();
    const acked = new Set<number>();
    /** Events whose ack failed on the store and whose retry was refused (`NOT_IN_FLIGHT`). */
    const stranded = new Set<number>();
    let ackedRedelivered = 0;
    let ackFailures = 0;
    try {
      const publisher = await client(engine.url, app, false);
      let publishing = true;
      let confirmed = Infinity;
      const consuming = consume(
        engine.url,
        app,
        async (seq, record, c) => {
          tally.add(seq);
          if (acked.has(seq)) ackedRedelivered++;
          // An ack that fails (Redis down) is retried, until the engine says it no longer holds the
          // event for this client (it cleared it before the store write failed).
          for (let attempt = 0;; attempt++) {
            const reply = await c.request(ackFrame(c, record));
            if (reply.startsWith("+PASS:ACKNOWLEDGED")) {
              acked.add(seq);
              break;
            }
            if (reply.includes("NOT_IN_FLIGHT")) {
              stranded.add(seq);
              break;
            }
            assert.ok(attempt < 200, `ACK of ${seq} kept failing: ${reply}`);
            ackFailures++;
            await new Promise((r) => setTimeout(r, 50));
          }
          return true;
        },
        () => !publishing && acked.size + stranded.size >= confirmed,
        2_000,
      );
      const outcome = await publishAll(publisher, app, 1_000, async () => {
        await redis.stop();
        await new Promise((r) => setTimeout(r, 700));
        await redis.start();
      });
      await outcome.fault;
      confirmed = outcome.confirmed;
      publishing = false;
      await consuming;
      await publisher.close();
      const deliveredDuringLoad = tally.times.size;
      const counts = {
        sent: EVENTS,
        published: outcome.confirmed,
        publish_failed_clearly: outcome.failed,
        delivered: deliveredDuringLoad,
        lost: Math.max(0, outcome.confirmed - tally.times.size),
        acked: acked.size,
        ack_failures: ackFailures,
        acks_stranded: stranded.size,
        acked_redelivered: ackedRedelivered,
        duplicates: tally.duplicates,
        down_ms: 700,
        seconds: Math.round((performance.now() - started) / 100) / 10,
      };
      report("ensync_redis_restart", counts);
      assert.equal(
        counts.published + counts.publish_failed_clearly,
        EVENTS,
        "every publish replied",
      );
      assert.equal(tally.times.size, counts.published, "every confirmed publish delivered");
      assert.equal(counts.acked_redelivered, 0, "no acked event delivered again");
      assert.equal(counts.duplicates, 0, "no event delivered twice");
      assert.equal(counts.acks_stranded, 0, "a retried ack succeeds once the store is back");
      assert.equal(counts.acked, counts.published, "every delivered event acked, none stranded");
    } finally {
      await engine.kill();
    }
  },
});
