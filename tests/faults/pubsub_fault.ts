// deno-lint-ignore-file no-console camelcase -- each case prints its counts as key=value (snake_case keys)
/**
 * Fault cases of pub/sub, each under a steady load of numbered events from one publisher hive to
 * one subscriber hive:
 * - `pubsub_server_kill9`: the pub/sub server (a subprocess) is killed with SIGKILL mid-load and
 *   started again on the same port; both hives reconnect and resubscribe by themselves;
 * - `pubsub_hive_redis_restart`: hives over a private Redis, which is killed and started again;
 * - `pubsub_servers_shared_redis_restart`: the publisher on one server, the subscriber on another,
 *   the two servers sharing a private Redis, which is killed and started again.
 *
 * Every event is accounted for: delivered to the subscriber's handler, or its `emit()` rejected
 * with a `PublishError` (failed clearly). `lost_silently` (an emit that resolved and was never
 * delivered) must be 0. Each case prints `FAULT <case> key=value ...`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type ConnectorOptions,
  createHive,
  type Hive,
  PublishError,
} from "../../lib/pubsub/mod.ts";
import { TextLineStream } from "../../lib/_lines.ts";
import { waitFor } from "../_helpers/workspace.ts";
import { HAVE_REDIS_SERVER, PrivateRedis, sparePort } from "../_helpers/private_redis.ts";

const EVENTS = 3_000;
/** Events per tick, one tick every 2 ms: about 2,500 events/s. */
const PER_TICK = 5;
/** The fault happens after this many events. */
const FAULT_AT = 1_000;
/** How long the server or Redis stays down. */
const DOWN_MS = 700;
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A pub/sub server subprocess (`servers/pubsub/mod.ts`). */
class ServerProcess {
  readonly port: number;
  readonly #redis: string | undefined;
  #child: Deno.ChildProcess | undefined;

  constructor(port: number, redis?: string) {
    this.port = port;
    this.#redis = redis;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/pubsub`;
  }

  async start(): Promise<void> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-A",
        "--config",
        `${ROOT}deno.json`,
        `${ROOT}servers/pubsub/mod.ts`,
        "--port",
        String(this.port),
        ...(this.#redis === undefined ? [] : ["--redis", this.#redis]),
      ],
      stdout: "piped",
      stderr: "inherit",
      env: { SYFT_LOG_LEVEL: "error" },
    }).spawn();
    this.#child = child;
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    for await (const line of lines) {
      if (line.startsWith("pubsub listening on")) break;
    }
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

interface Counts {
  sent: number;
  delivered: number;
  failed_clearly: number;
  delivered_after_error: number;
  lost_silently: number;
  duplicates: number;
  other_errors: number;
}

/**
 * Emits `EVENTS` numbered events from `pub` (to `<net>/worker/work`), runs `fault` once after
 * `FAULT_AT`, waits until every emit settled and deliveries stopped, and counts.
 */
async function underLoad(
  net: string,
  pub: Hive,
  delivered: Map<number, number>,
  fault: () => Promise<void>,
): Promise<Counts> {
  const outcomes: Promise<"ok" | "failed" | "other">[] = [];
  let faulted: Promise<void> | undefined;
  for (let i = 0; i < EVENTS; i += PER_TICK) {
    for (let j = i; j < Math.min(EVENTS, i + PER_TICK); j++) {
      outcomes.push(
        pub.emit(`${net}/worker/work`, { seq: j }).then(
          () => "ok" as const,
          (err) => err instanceof PublishError ? "failed" as const : "other" as const,
        ),
      );
    }
    if (faulted === undefined && i + PER_TICK >= FAULT_AT) faulted = fault();
    await new Promise((r) => setTimeout(r, 2));
  }
  await faulted;
  const results = await Promise.all(outcomes);
  // Every emit settled; deliveries of the accepted ones may still be on the way.
  const accepted = results.filter((r) => r === "ok").length;
  await waitFor(() => [...delivered.keys()].filter((k) => results[k] === "ok").length >= accepted, {
    timeoutMs: 10_000,
    what: "the accepted events to arrive",
  }).catch(() => {});
  const counts: Counts = {
    sent: EVENTS,
    delivered: 0,
    failed_clearly: 0,
    delivered_after_error: 0,
    lost_silently: 0,
    duplicates: 0,
    other_errors: 0,
  };
  results.forEach((r, seq) => {
    const times = delivered.get(seq) ?? 0;
    if (times > 1) counts.duplicates++;
    if (r === "other") counts.other_errors++;
    if (times > 0) {
      counts.delivered++;
      if (r !== "ok") counts.delivered_after_error++;
    } else if (r === "failed") counts.failed_clearly++;
    else if (r === "ok") counts.lost_silently++;
  });
  return counts;
}

function report(name: string, counts: Counts, extra: Record<string, unknown> = {}): void {
  const fields = { ...counts, ...extra };
  console.log(
    `FAULT ${name} ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(" ")}`,
  );
  assert.equal(counts.other_errors, 0, "every failure is a PublishError");
  assert.equal(counts.lost_silently, 0, "no event lost silently");
  assert.equal(
    counts.delivered + counts.failed_clearly,
    counts.sent,
    "every event delivered or failed clearly",
  );
}

function subscriberOf(hive: Hive): Map<number, number> {
  const delivered = new Map<number, number>();
  hive.on("worker/work", (p) => {
    const seq = p.seq as number;
    delivered.set(seq, (delivered.get(seq) ?? 0) + 1);
  });
  return delivered;
}

const options = { sanitizeOps: false, sanitizeResources: false };

/** Where the publisher and the subscriber connect (one connector each, same network). */
interface Ends {
  publisher: ConnectorOptions;
  subscriber: ConnectorOptions;
}

/**
 * Runs one case: a subscriber hive and a publisher hive on `ends`, the load, `down()` after
 * `FAULT_AT` events, `up()` `DOWN_MS` later; prints and checks the counts.
 */
async function runCase(
  name: string,
  ends: Ends,
  down: () => Promise<void>,
  up: () => Promise<void>,
): Promise<void> {
  const net = `fault-${crypto.randomUUID().slice(0, 8)}`;
  const hive = (c: ConnectorOptions, inputChannel: string): Hive =>
    createHive({ connectors: { [net]: { ...c, inputChannel, publishTimeoutMs: 15_000 } } });
  await using sub = hive(ends.subscriber, "worker");
  await using pub = hive(ends.publisher, "");
  const delivered = subscriberOf(sub);
  await sub.start();
  await pub.start();
  const started = performance.now();
  const counts = await underLoad(net, pub, delivered, async () => {
    await down();
    await new Promise((r) => setTimeout(r, DOWN_MS));
    await up();
  });
  report(name, counts, {
    down_ms: DOWN_MS,
    seconds: ((performance.now() - started) / 1000).toFixed(1),
  });
}

Deno.test({
  name: "pubsub_server_kill9: kill -9 the pub/sub server mid-load; hives reconnect and resubscribe",
  ...options,
  async fn() {
    const server = new ServerProcess(sparePort());
    await server.start();
    const ends = { type: "fastapi" as const, url: server.url, inputChannel: "" };
    try {
      await runCase(
        "pubsub_server_kill9",
        { publisher: ends, subscriber: ends },
        () => server.kill(),
        () => server.start(),
      );
    } finally {
      await server.kill();
    }
  },
});

Deno.test({
  name: "pubsub_hive_redis_restart: hives over Redis while Redis is killed and started again",
  ignore: !HAVE_REDIS_SERVER,
  ...options,
  async fn() {
    await using redis = new PrivateRedis(sparePort());
    await redis.start();
    const ends = { type: "redis" as const, url: redis.url, inputChannel: "" };
    await runCase(
      "pubsub_hive_redis_restart",
      { publisher: ends, subscriber: ends },
      () => redis.stop(),
      () => redis.start(),
    );
  },
});

Deno.test({
  name:
    "pubsub_servers_shared_redis_restart: two servers sharing Redis, Redis killed and started again",
  ignore: !HAVE_REDIS_SERVER,
  ...options,
  async fn() {
    await using redis = new PrivateRedis(sparePort());
    await redis.start();
    const a = new ServerProcess(sparePort(), redis.url);
    const b = new ServerProcess(sparePort(), redis.url);
    await a.start();
    await b.start();
    try {
      await runCase(
        "pubsub_servers_shared_redis_restart",
        {
          publisher: { type: "fastapi", url: a.url, inputChannel: "" },
          subscriber: { type: "fastapi", url: b.url, inputChannel: "" },
        },
        () => redis.stop(),
        () => redis.start(),
      );
    } finally {
      await a.kill();
      await b.kill();
    }
  },
});
