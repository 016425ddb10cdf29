// deno-lint-ignore-file no-console camelcase -- prints figures; JSON figure names are snake_case as bench:pubsub reports them
/**
 * Fan-out of the fastapi_websocket_pubsub server (figure (d) of `bench:pubsub`): one publisher,
 * 100 subscribers, deliveries per second, next to its limit (a bare Deno relay that forwards each
 * frame to every socket), in the same run.
 *
 * Processes (2 cores): the server under test in one, the 100 subscribers in another
 * (`_fanout_subscribers.ts`: they count frames without parsing, the same work for both servers),
 * the publisher here. The publisher is our `connectFastApiPubSub` client publishing 200-byte
 * payloads with `sync: false`, at most `window` unanswered; for the limit a raw WebSocket sends
 * frames of the size of our notify frames. Rounds alternate the two; the best round of each
 * counts. Everything is bounded: `messages` per round (default 2,000, so 200,000 deliveries) and
 * `timeoutMs` per round.
 *
 * `deno run -P=bench bench/pubsub/fanout.ts` prints each round and, last, one JSON line:
 * `{"server_fanout_dps", "bare_fanout_dps", "ratio_vs_bare", ...}`. {@linkcode runFanout} is
 * what `bench/pubsub.ts` calls.
 *
 * @module
 */
import { TextLineStream } from "../../lib/_lines.ts";
import { connectFastApiPubSub } from "../../lib/pubsub/fastapi_client.ts";

const HERE = new URL("./", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;

/** Options of {@linkcode runFanout}. */
export interface FanoutOptions {
  /** Subscriber connections (default 100). */
  subscribers?: number;
  /** Publishes per round (default 2,000). */
  messages?: number;
  /** Payload bytes (default 200). */
  payloadBytes?: number;
  /** Publishes in flight (default 64). */
  window?: number;
  /** Rounds per system (default 3). */
  rounds?: number;
  /** Longest round (default 60,000 ms). */
  timeoutMs?: number;
  /** Prints each round (default true). */
  verbose?: boolean;
}

/** The figures of {@linkcode runFanout}. */
export interface FanoutResult {
  /** Deliveries per second of our server (best round). */
  server_fanout_dps: number;
  /** Deliveries per second of the bare relay (best round). */
  bare_fanout_dps: number;
  /** server / bare. */
  ratio_vs_bare: number;
  /** Subscribers, publishes per round and payload size used. */
  subscribers: number;
  messages: number;
  payload_bytes: number;
  /** Server CPU time per delivery, microseconds (best round; does not depend on the load generator). */
  server_cpu_us_per_delivery: number;
  bare_cpu_us_per_delivery: number;
  /** Every round's deliveries per second. */
  server_rounds: number[];
  bare_rounds: number[];
}

interface Child {
  pid: number;
  line(): Promise<string>;
  stop(): Promise<void>;
}

function spawn(args: string[], stdin = false): Child {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--config", CONFIG, "-P=bench", ...args],
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())[
    Symbol.asyncIterator
  ]();
  return {
    pid: child.pid,
    async line() {
      const next = await lines.next();
      if (next.done) throw new Error(`${args[0]} ended early`);
      return next.value;
    },
    async stop() {
      if (stdin) await child.stdin.close().catch(() => {});
      else {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await child.status;
      await lines.return?.();
    },
  };
}

const CLK_TCK = 100;

/** CPU ticks (user + system) of a process, read through `cat` (Deno wants --allow-all for /proc). */
async function cpuTicks(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  const fields = new TextDecoder().decode(out.stdout).replace(/^.*\) /, "").split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms)
    ),
  ]).finally(() => clearTimeout(timer));
}

async function round(
  system: "server" | "bare",
  o: Required<FanoutOptions>,
): Promise<{ dps: number; usPerDelivery: number }> {
  const server = system === "server"
    ? spawn([`${ROOT}servers/pubsub/mod.ts`, "--port", "0", "--max-queue", "100000"])
    : spawn([`${HERE}_bare_fanout_server.ts`]);
  try {
    const url = (await server.line()).replace(/^.* on /, "");
    const expected = o.subscribers * o.messages;
    const subs = spawn(
      [
        `${HERE}_fanout_subscribers.ts`,
        url,
        String(o.subscribers),
        system === "server" ? "fastapi" : "bare",
        String(expected),
      ],
      true,
    );
    try {
      if ((await withTimeout(subs.line(), o.timeoutMs, "subscribers")) !== "ready") {
        throw new Error("subscribers failed");
      }
      const payload = "x".repeat(o.payloadBytes);
      let seconds: number;
      const ticks0 = await cpuTicks(server.pid);
      if (system === "server") {
        await using pub = connectFastApiPubSub(url);
        await pub.ready();
        const done = subs.line();
        const start = performance.now();
        const inFlight = new Set<Promise<unknown>>();
        for (let i = 0; i < o.messages; i++) {
          const p = pub.publish(["bench/fanout"], payload, { sync: false });
          inFlight.add(p);
          p.finally(() => inFlight.delete(p));
          if (inFlight.size >= o.window) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
        if ((await withTimeout(done, o.timeoutMs, "deliveries")) !== "done") {
          throw new Error("deliveries short");
        }
        seconds = (performance.now() - start) / 1000;
      } else {
        const ws = new WebSocket(url);
        await new Promise((r) => ws.onopen = r);
        // The size of the notify frame our server writes for this payload.
        const frame = `{"request": {"method": "notify", "arguments": {"subscription": {"id": "${
          "0".repeat(32)
        }", "subscriber_id": "${
          "0".repeat(32)
        }", "topic": "bench/fanout", "notifier_id": null}, "data": "${payload}"}, "call_id": "${
          "0".repeat(32)
        }"}, "response": null}`;
        const done = subs.line();
        const start = performance.now();
        for (let i = 0; i < o.messages; i++) {
          ws.send(frame);
          // Same flow control as the window above: let the socket drain.
          while (ws.bufferedAmount > o.window * frame.length) {
            await new Promise((r) => setTimeout(r, 0));
          }
        }
        if ((await withTimeout(done, o.timeoutMs, "deliveries")) !== "done") {
          throw new Error("deliveries short");
        }
        seconds = (performance.now() - start) / 1000;
        ws.close();
      }
      const ticks = (await cpuTicks(server.pid)) - ticks0;
      return {
        dps: Math.round(expected / seconds),
        usPerDelivery: Math.round(((ticks / CLK_TCK) * 1e6 / expected) * 100) / 100,
      };
    } finally {
      await subs.stop();
    }
  } finally {
    await server.stop();
  }
}

/**
 * Runs the fan-out benchmark: our server and the bare relay, alternating rounds.
 *
 * @param options Subscribers, publishes, payload size, window, rounds and time bound.
 * @returns The best rounds' deliveries per second and their ratio.
 *
 * @example
 * ```ts ignore
 * import { runFanout } from "./fanout.ts";
 * const { server_fanout_dps } = await runFanout({ rounds: 1 });
 * ```
 */
export async function runFanout(options: FanoutOptions = {}): Promise<FanoutResult> {
  const o: Required<FanoutOptions> = {
    subscribers: options.subscribers ?? 100,
    messages: options.messages ?? 2_000,
    payloadBytes: options.payloadBytes ?? 200,
    window: options.window ?? 64,
    rounds: options.rounds ?? 3,
    timeoutMs: options.timeoutMs ?? 60_000,
    verbose: options.verbose ?? true,
  };
  const serverRounds: number[] = [];
  const bareRounds: number[] = [];
  const cpu = { server: Infinity, bare: Infinity };
  for (let r = 0; r < o.rounds; r++) {
    for (const system of ["server", "bare"] as const) {
      const { dps, usPerDelivery } = await round(system, o);
      (system === "server" ? serverRounds : bareRounds).push(dps);
      cpu[system] = Math.min(cpu[system], usPerDelivery);
      if (o.verbose) {
        console.log(
          `fan-out round ${r + 1} ${system}: ${
            dps.toLocaleString("en")
          } deliveries/s, server CPU ${usPerDelivery} us/delivery`,
        );
      }
    }
  }
  const server = Math.max(...serverRounds);
  const bare = Math.max(...bareRounds);
  return {
    server_fanout_dps: server,
    bare_fanout_dps: bare,
    ratio_vs_bare: Math.round((server / bare) * 100) / 100,
    subscribers: o.subscribers,
    messages: o.messages,
    payload_bytes: o.payloadBytes,
    server_cpu_us_per_delivery: cpu.server,
    bare_cpu_us_per_delivery: cpu.bare,
    server_rounds: serverRounds,
    bare_rounds: bareRounds,
  };
}

if (import.meta.main) {
  const result = await runFanout({ rounds: Number(Deno.env.get("BENCH_ROUNDS") ?? 3) });
  console.log(JSON.stringify(result));
}
