// deno-lint-ignore-file no-console
/**
 * What the gRPC worker process costs and how fast it comes back: `syft ensync serve` (memory
 * store) with gRPC in its worker process (the default) against the same engine with
 * `--grpc-in-process`, side by side, 3 rounds, medians. A raw @grpc/grpc-js client in this process
 * publishes 1 KiB payloads: (a) one call at a time (p50, p99, calls/s), (b) 16 calls in flight
 * (calls/s). Closing that channel (after 6 000+ calls) is the crashing sequence of
 * denoland/deno#36788; for the worker, `restart_ms` is the time from the close until a call on a
 * new channel succeeds (a worker process that does not hit the bug gives no figure). Every channel
 * is closed before its engine stops, so this process never receives a GOAWAY after many calls.
 *
 * Beside them, the limits with nothing of syft in them (bench/ensync/grpc_bare.ts): a bare grpc-js
 * server answering at once (`bare_*`), and the same server forwarding each call over one loopback
 * TCP hop to a bare echo process (`bare_hop_*`), the least a worker process can add.
 *
 * Usage: deno task bench:ensync-grpc (BENCH_SCALE=0.2 for a quick run). Last line: JSON.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { ensyncClientConstructor } from "../../lib/ensync/proto.ts";
import { firstLine } from "../_first_line.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCALE = Number(Deno.env.get("BENCH_SCALE") ?? 1);
const SEQUENTIAL = Math.max(100, Math.round(2_000 * SCALE));
const PARALLEL = Math.max(160, Math.round(4_000 * SCALE));
const IN_FLIGHT = 16;
const ROUNDS = 3;
const PAYLOAD = btoa("x".repeat(768)); // 1 KiB of base64

// deno-lint-ignore no-explicit-any
type Any = any;

function syft(args: string[], env: Record<string, string>): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P", "--config", `${ROOT}deno.json`, `${ROOT}cli/main.ts`, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

function client(url: string): { call(m: string, req: unknown): Promise<Any>; close(): void } {
  const Client = ensyncClientConstructor();
  const c = new Client(url.replace(/^grpc:\/\//, ""), grpc.credentials.createInsecure(), {
    "grpc.channel_id": crypto.randomUUID(), // its own connection
  }) as Any;
  return {
    call: (m, req) =>
      new Promise((resolve, reject) =>
        c[m](req, (err: Error | null, res: unknown) => err ? reject(err) : resolve(res))
      ),
    close: () => c.close(),
  };
}

async function startEngine(
  home: string,
  inProcess: boolean,
): Promise<{ grpc: string; ws: string; child: Deno.ChildProcess }> {
  const child = syft([
    "--json",
    "ensync",
    "serve",
    "--store",
    "memory",
    "--ws-port",
    "0",
    "--grpc-port",
    "0",
    ...(inProcess ? ["--grpc-in-process"] : []),
  ], { SYFT_HOME: home }).spawn();
  child.stderr.cancel();
  const info = JSON.parse(await firstLine(child, "the engine"));
  return { grpc: info.grpc, ws: (info.ws as string).replace(/\/message$/, ""), child };
}

/** A bare grpc-js server of bench/ensync/grpc_bare.ts (`direct` or `relay`): the limits. */
async function startBare(
  mode: "direct" | "relay",
): Promise<{ grpc: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", `${ROOT}deno.json`, `${ROOT}bench/ensync/grpc_bare.ts`, mode],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  return { grpc: JSON.parse(await firstLine(child, "the bare gRPC server")).grpc, child };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function median(xs: number[]): number {
  const s = xs.toSorted((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(url: string, accessKey: string, appId: string) {
  const c = client(url);
  const conn = await c.call("Connect", { access_key: accessKey });
  const publish = () =>
    c.call("PublishMessage", {
      client_id: conn.client_id,
      message_name: "bench/x",
      payload: PAYLOAD,
      delivery_to: appId,
      metadata: '{"persist":true,"headers":{}}',
    });
  for (let i = 0; i < 200; i++) await publish();
  const lat: number[] = [];
  let t0 = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) {
    const s = performance.now();
    await publish();
    lat.push(performance.now() - s);
  }
  const sequentialRate = SEQUENTIAL / ((performance.now() - t0) / 1000);
  let next = 0;
  t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next++ < PARALLEL) await publish();
  }));
  const parallelRate = PARALLEL / ((performance.now() - t0) / 1000);
  // Not closed here: closing a channel that made this many calls is the crashing sequence.
  lat.sort((a, b) => a - b);
  return {
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    sequentialRate,
    parallelRate,
    close: () => c.close(),
  };
}

/** Closes a busy channel; resolves with the time until gRPC answers again after the worker died. */
async function restartTime(
  url: string,
  ws: string,
  close: () => void,
): Promise<number | undefined> {
  const before = (await (await fetch(`${ws.replace(/^ws/, "http")}/health`)).json()).grpc;
  close();
  const closedAt = performance.now();
  const deadline = closedAt + 15_000;
  while (performance.now() < deadline) {
    const g = (await (await fetch(`${ws.replace(/^ws/, "http")}/health`)).json()).grpc;
    if (g.restarts > before.restarts) {
      // Dead and replaced: time until a call on a new channel succeeds.
      while (performance.now() < deadline) {
        const probe = client(url);
        try {
          await probe.call("Heartbeat", { client_id: "bench" });
          return performance.now() - closedAt;
        } catch {
          await new Promise((r) => setTimeout(r, 5));
        } finally {
          probe.close();
        }
      }
    }
    if (performance.now() - closedAt > 3_000) return undefined; // this worker did not crash
    await new Promise((r) => setTimeout(r, 5));
  }
  return undefined;
}

const home = await Deno.makeTempDir({ prefix: "syft_bench_grpc_" });
try {
  const add = await syft(["--json", "ensync", "app", "add", "bench"], { SYFT_HOME: home }).output();
  if (!add.success) throw new Error(new TextDecoder().decode(add.stderr));
  const app = JSON.parse(new TextDecoder().decode(add.stdout));
  type Mode = "worker" | "inProcess" | "bareDirect" | "bareRelay";
  const figures: Record<Mode, Awaited<ReturnType<typeof measure>>[]> = {
    worker: [],
    inProcess: [],
    bareDirect: [],
    bareRelay: [],
  };
  const restarts: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const bare of ["bareDirect", "bareRelay"] as const) {
      const server = await startBare(bare === "bareDirect" ? "direct" : "relay");
      try {
        const m = await measure(server.grpc, "k", "a");
        figures[bare].push(m);
        console.log(
          `round ${round} ${
            bare === "bareDirect" ? "bare grpc-js      " : "bare grpc-js + hop"
          }: ` +
            `p50 ${m.p50.toFixed(3)} ms, p99 ${m.p99.toFixed(3)} ms, ` +
            `${Math.round(m.sequentialRate)} calls/s one at a time, ` +
            `${Math.round(m.parallelRate)} calls/s with ${IN_FLIGHT} in flight`,
        );
        m.close();
      } finally {
        try {
          server.child.kill("SIGKILL");
        } catch { /* gone */ }
        await server.child.status;
      }
    }
    for (const mode of ["inProcess", "worker"] as const) {
      const engine = await startEngine(home, mode === "inProcess");
      try {
        const m = await measure(engine.grpc, app.accessKey, app.appId);
        figures[mode].push(m);
        console.log(
          `round ${round} ${mode === "worker" ? "worker    " : "in-process"}: ` +
            `p50 ${m.p50.toFixed(3)} ms, p99 ${m.p99.toFixed(3)} ms, ` +
            `${Math.round(m.sequentialRate)} calls/s one at a time, ` +
            `${Math.round(m.parallelRate)} calls/s with ${IN_FLIGHT} in flight`,
        );
        if (mode === "inProcess") m.close();
        else {
          const ms = await restartTime(engine.grpc, engine.ws, m.close);
          if (ms !== undefined) restarts.push(ms);
          console.log(
            `round ${round} worker    : ${
              ms === undefined
                ? "this worker did not hit the bug"
                : `killed by the crashing sequence, serving again after ${ms.toFixed(0)} ms`
            }`,
          );
        }
      } finally {
        try {
          engine.child.kill("SIGINT");
        } catch { /* gone */ }
        await engine.child.status;
      }
    }
  }
  const pick = (
    mode: Mode,
    k: "p50" | "p99" | "sequentialRate" | "parallelRate",
  ) => median(figures[mode].map((f) => f[k]));
  const result = {
    "worker_p50_ms": Number(pick("worker", "p50").toFixed(3)),
    "worker_p99_ms": Number(pick("worker", "p99").toFixed(3)),
    "worker_sequential_cps": Math.round(pick("worker", "sequentialRate")),
    "worker_parallel_cps": Math.round(pick("worker", "parallelRate")),
    "in_process_p50_ms": Number(pick("inProcess", "p50").toFixed(3)),
    "in_process_p99_ms": Number(pick("inProcess", "p99").toFixed(3)),
    "in_process_sequential_cps": Math.round(pick("inProcess", "sequentialRate")),
    "in_process_parallel_cps": Math.round(pick("inProcess", "parallelRate")),
    "ratio_vs_in_process": Number(
      (pick("worker", "parallelRate") / pick("inProcess", "parallelRate")).toFixed(2),
    ),
    "bare_p50_ms": Number(pick("bareDirect", "p50").toFixed(3)),
    "bare_parallel_cps": Math.round(pick("bareDirect", "parallelRate")),
    "bare_hop_p50_ms": Number(pick("bareRelay", "p50").toFixed(3)),
    "bare_hop_parallel_cps": Math.round(pick("bareRelay", "parallelRate")),
    "worker_cost_p50_ms": Number((pick("worker", "p50") - pick("inProcess", "p50")).toFixed(3)),
    "bare_hop_cost_p50_ms": Number(
      (pick("bareRelay", "p50") - pick("bareDirect", "p50")).toFixed(3),
    ),
    "ratio_parallel_vs_bare": Number(
      (pick("worker", "parallelRate") / pick("bareDirect", "parallelRate")).toFixed(2),
    ),
    "restart_ms": restarts.length ? Math.round(median(restarts)) : null,
    crashes: restarts.length,
    rounds: ROUNDS,
    scale: SCALE,
  };
  console.log(JSON.stringify(result));
} finally {
  await Deno.remove(home, { recursive: true }).catch(() => {});
}
