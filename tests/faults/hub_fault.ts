// deno-lint-ignore-file camelcase -- each case prints its counts as key=value (snake_case keys)
/**
 * Fault cases of the relay hub with Redis fan-out: two hub processes on a private redis-server
 * (never the shared one) under load, then (1) Redis killed and restarted, (2) one hub killed with
 * SIGKILL and restarted on its port. Each case prints `FAULT <case> key=value ...`.
 *
 * The stated semantic (docs/hub.md): cross-hub delivery is at most once and never late; what is
 * not delivered is counted, by the publishing hub (`redis_down`) or by the receiving hub
 * (`missed`, `stale`), so `sent = delivered + dropped_counted` for events sent while both
 * receivers were connected.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createZapClient, type EventData, type ZapClient } from "../../lib/hub/mod.ts";
import { HAVE_REDIS_SERVER, PrivateRedis, sparePort } from "../_helpers/private_redis.ts";
import { waitFor } from "../_helpers/workspace.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The hubs' default max age: a cross-hub event received later than this counts as late. */
const MAX_AGE_MS = 5_000;

/** Prints the counts where `deno test -q` shows them (it hides console output of tests). */
function report(name: string, counts: Record<string, number>): void {
  const line = `FAULT ${name} ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(" ")}`;
  Deno.writeTextFileSync("/dev/stderr", `\n${line}\n`, { append: true });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A relay hub process (`servers/hub/main.ts`) on a fixed port, fanned out through Redis. */
class HubProcess {
  readonly port: number;
  readonly redisUrl: string;
  #child: Deno.ChildProcess | undefined;

  constructor(port: number, redisUrl: string) {
    this.port = port;
    this.redisUrl = redisUrl;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  async start(): Promise<void> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-P",
        "servers/hub/main.ts",
        "--port",
        String(this.port),
        "--redis",
        this.redisUrl,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("hub listening on")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`hub on ${this.port} exited before listening: ${out}`);
      out += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
  }

  /** SIGKILL: no shutdown, no clean-up. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return;
    child.kill("SIGKILL");
    await child.status;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return;
    child.kill("SIGTERM");
    await child.status;
  }

  /** The `syft_hub_scaleout_dropped_total` counters of this hub's /metrics, by reason. */
  async dropped(): Promise<Record<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^syft_hub_scaleout_dropped_total\{reason="(\w+)"\} (\d+)$/gm)) {
      out[m[1]!] = Number(m[2]);
    }
    return out;
  }
}

interface Received {
  /** Sequence numbers received (a repeat is a duplicate). */
  seqs: Set<number>;
  duplicates: number;
  late: number;
  scaleOut: string[];
}

/** A client that records the `chat` events of direction `dir` (payload `{dir, q, t}`). */
async function receiver(url: string, dir: string): Promise<{ client: ZapClient; got: Received }> {
  const got: Received = { seqs: new Set(), duplicates: 0, late: 0, scaleOut: [] };
  const client = createZapClient({ reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
  client.on("chat", (event: EventData) => {
    const p = event.payload as { dir: string; q: number; t: number };
    if (p.dir !== dir) return;
    if (got.seqs.has(p.q)) got.duplicates++;
    got.seqs.add(p.q);
    if (Date.now() - p.t > MAX_AGE_MS) got.late++;
  });
  client.on("$scaleout", (event) => got.scaleOut.push((event.payload as { state: string }).state));
  await client.connect(url);
  return { client, got };
}

/**
 * Sends `chat` events of direction `dir` every `everyMs` until stopped, only while online (a
 * ZapClient would queue the others and send them late); `sentAt(q)` records when each went out.
 */
function sender(client: ZapClient, dir: string, everyMs: number) {
  let q = 0;
  let stopped = false;
  const sent: number[] = [];
  const done = (async () => {
    while (!stopped) {
      if (client.state === "ONLINE") {
        q++;
        client.send("chat", { dir, q, t: Date.now() });
        sent.push(q);
      }
      await sleep(everyMs);
    }
  })();
  return {
    sent,
    async stop(): Promise<void> {
      stopped = true;
      await done;
    },
  };
}

async function online(url: string): Promise<ZapClient> {
  const client = createZapClient({ reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
  await client.connect(url);
  return client;
}

/** Waits until every hub has its receivers in the lobby (an event from each reaches the other). */
async function warmUp(a: HubProcess, b: HubProcess): Promise<void> {
  for (const [from, to] of [[a, b], [b, a]] as const) {
    const probe = await online(from.wsUrl);
    const listener = await online(to.wsUrl);
    let seen = false;
    listener.on("warm", () => seen = true);
    await waitFor(() => {
      probe.send("warm", null);
      return seen;
    }, { timeoutMs: 20_000, intervalMs: 100, what: `fan-out from ${from.port} to ${to.port}` });
    await probe.close();
    await listener.close();
  }
}

Deno.test({
  name: "hub fault: Redis killed and restarted under load between two hubs",
  ignore: !HAVE_REDIS_SERVER,
  async fn() {
    await using redis = new PrivateRedis();
    await redis.start();
    const a = new HubProcess(sparePort(), redis.url);
    const b = new HubProcess(sparePort(), redis.url);
    await Promise.all([a.start(), b.start()]);
    try {
      await warmUp(a, b);
      const rB = await receiver(b.wsUrl, "AB");
      const rA = await receiver(a.wsUrl, "BA");
      const localA = await receiver(a.wsUrl, "AB"); // same hub as the sender: never affected
      const sA = sender(await online(a.wsUrl), "AB", 4);
      const sB = sender(await online(b.wsUrl), "BA", 4);
      await sleep(2_000);
      await redis.stop();
      await sleep(5_000);
      await redis.start();
      await waitFor(() => rB.got.scaleOut.at(-1) === "ok" && rA.got.scaleOut.at(-1) === "ok", {
        timeoutMs: 20_000,
        what: "both hubs to report ok",
      });
      await sleep(3_000);
      await sA.stop();
      await sB.stop();
      await sleep(1_500);
      const [da, db] = await Promise.all([a.dropped(), b.dropped()]);
      const sent = sA.sent.length + sB.sent.length;
      const delivered = rB.got.seqs.size + rA.got.seqs.size;
      const counted = (da.redis_down ?? 0) + (db.missed ?? 0) + (db.stale ?? 0) +
        (db.redis_down ?? 0) + (da.missed ?? 0) + (da.stale ?? 0);
      const counts = {
        sent,
        delivered,
        dropped_counted: counted,
        dropped_redis_down: (da.redis_down ?? 0) + (db.redis_down ?? 0),
        dropped_missed: (da.missed ?? 0) + (db.missed ?? 0),
        dropped_stale: (da.stale ?? 0) + (db.stale ?? 0),
        lost_uncounted: sent - delivered - counted,
        late: rA.got.late + rB.got.late,
        duplicates: rA.got.duplicates + rB.got.duplicates,
        local_sent: sA.sent.length,
        local_delivered: localA.got.seqs.size,
        degraded_events: rA.got.scaleOut.filter((s) => s === "degraded").length +
          rB.got.scaleOut.filter((s) => s === "degraded").length,
      };
      report("hub_redis_restart", counts);
      assert.equal(counts.late, 0, "nothing is delivered late");
      assert.equal(counts.duplicates, 0);
      assert.equal(counts.lost_uncounted, 0, "every event not delivered is counted");
      assert.ok(counts.dropped_redis_down > 0, "the outage dropped events");
      assert.equal(counts.local_delivered, counts.local_sent, "local delivery never stopped");
      assert.equal(counts.degraded_events, 2, "each receiver was told once");
      // Delivery resumed: the last events of both directions arrived.
      assert.ok(rB.got.seqs.has(sA.sent.at(-1)!) && rA.got.seqs.has(sB.sent.at(-1)!));
      await Promise.all([rA.client.close(), rB.client.close(), localA.client.close()]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  },
  sanitizeOps: false,
  sanitizeResources: false,
});

Deno.test({
  name: "hub fault: one of two hubs killed with SIGKILL under load, then restarted",
  ignore: !HAVE_REDIS_SERVER,
  async fn() {
    await using redis = new PrivateRedis();
    await redis.start();
    const a = new HubProcess(sparePort(), redis.url);
    const b = new HubProcess(sparePort(), redis.url);
    await Promise.all([a.start(), b.start()]);
    try {
      await warmUp(a, b);
      const localA = await receiver(a.wsUrl, "AA"); // the survivor's own traffic
      const rA = await receiver(a.wsUrl, "BA"); // from the killed hub's clients
      const rB = await receiver(b.wsUrl, "AB"); // a client of the killed hub
      const clientA = await online(a.wsUrl);
      const sAA = sender(clientA, "AA", 4);
      const sAB = sender(clientA, "AB", 4);
      const sB = sender(await online(b.wsUrl), "BA", 4);
      await sleep(2_000);
      await b.kill();
      const atKill = { localA: localA.got.seqs.size, rB: rB.got.seqs.size, sent: sAA.sent.length };
      await sleep(3_000);
      const duringDown = localA.got.seqs.size - atKill.localA;
      await b.start();
      // The dead hub's clients reconnect on their own and receive again.
      const resumeFrom = sAB.sent.length;
      await waitFor(() => [...rB.got.seqs].some((q) => q > resumeFrom), {
        timeoutMs: 20_000,
        what: "the killed hub's client to receive again",
      });
      const bSentBefore = sB.sent.length;
      await waitFor(() => [...rA.got.seqs].some((q) => q > bSentBefore), {
        timeoutMs: 20_000,
        what: "the killed hub's sender to reach the survivor again",
      });
      await sleep(2_000);
      await Promise.all([sAA.stop(), sAB.stop(), sB.stop()]);
      await sleep(1_500);
      const counts = {
        survivor_sent: sAA.sent.length,
        survivor_delivered: localA.got.seqs.size,
        survivor_delivered_while_down: duringDown,
        cross_sent: sAB.sent.length + sB.sent.length,
        cross_delivered: rB.got.seqs.size + rA.got.seqs.size,
        late: localA.got.late + rA.got.late + rB.got.late,
        duplicates: localA.got.duplicates + rA.got.duplicates + rB.got.duplicates,
        resumed: 1,
      };
      report("hub_kill9_one_of_two", counts);
      assert.equal(counts.survivor_delivered, counts.survivor_sent, "the survivor lost nothing");
      assert.ok(duringDown > 0, "the survivor's clients kept receiving while the other was dead");
      assert.equal(counts.late, 0);
      assert.equal(counts.duplicates, 0);
      await Promise.all([
        localA.client.close(),
        rA.client.close(),
        rB.client.close(),
        clientA.close(),
      ]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  },
  sanitizeOps: false,
  sanitizeResources: false,
});
