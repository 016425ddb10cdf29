// deno-lint-ignore-file no-console
/**
 * `deno task bench:serve`: what the hardened serving layer (servers/_serve.ts: own accept loop,
 * connection limit, headers/body/idle timeouts) costs against bare `Deno.serve`, in the same run.
 *
 * Four servers, each in its own process: bare `Deno.serve`, the layer's native engine (HTTP-only
 * servers: proxy, dashboard), its upgradable engine (servers with WebSocket routes: hub,
 * pub/sub, EnSync), and that engine's limit, bare `Deno.serveHttp` with nothing of the layer in
 * it (`engine`: the upgradable engine cannot be faster than the API it runs on). wrk (1 thread, 32 keep-alive connections) loads each with `GET /` (hello) and
 * `POST /` (a small JSON body, read by the handler), in ROUNDS interleaved rounds of SECONDS each
 * so that a machine shared with other work loads all three alike; the median round counts.
 *
 * The last line is one JSON object: req/s and p50/p99 per server and route, and the ratios to
 * bare Deno.serve (the goal is ≥ 0.9 for each), and of the upgradable engine to bare
 * `Deno.serveHttp` (`ratio_upgradable_*_of_engine`: what the layer costs on that engine, apart
 * from what the engine itself costs).
 *
 * @module
 */
import { firstLine } from "./_first_line.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 2);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 5);
const SERVERS = new URL("./serve/servers.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const MODES = ["bare", "native", "upgradable", "engine"] as const;
type Mode = typeof MODES[number];

interface Result {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function ms(value: string, unit: string): number {
  const n = Number(value);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

async function wrk(url: string, script: string | undefined): Promise<Result> {
  const args = ["-t1", "-c32", `-d${SECONDS}s`, "--latency", url];
  if (script !== undefined) args.unshift("-s", script);
  const o = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output();
  const out = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  if (!rps) throw new Error(`wrk failed: ${out}`);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps,
    p50Ms: p50 ? ms(p50[1]!, p50[2]!) : NaN,
    p99Ms: p99 ? ms(p99[1]!, p99[2]!) : NaN,
    errors: non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

async function start(mode: Mode): Promise<{ url: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P=bench", "--config", CONFIG, SERVERS, mode],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const line = await firstLine(child, mode, { keep: true });
  const url = /READY (\S+)/.exec(line)?.[1];
  if (!url) throw new Error(`${mode} printed ${line}`);
  return { url, child };
}

function median(results: Result[]): Result {
  const sorted = [...results].sort((a, b) => a.rps - b.rps);
  const mid = sorted[Math.floor(sorted.length / 2)]!;
  const p = (k: "p50Ms" | "p99Ms"): number =>
    [...results].map((r) => r[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  return {
    rps: Math.round(mid.rps),
    p50Ms: p("p50Ms"),
    p99Ms: p("p99Ms"),
    errors: results.reduce((a, r) => a + r.errors, 0),
  };
}

const post = await Deno.makeTempFile({ suffix: ".lua" });
await Deno.writeTextFile(
  post,
  'wrk.method = "POST"\nwrk.body = \'{"hello":"world","n":12345}\'\n' +
    'wrk.headers["Content-Type"] = "application/json"\n',
);
const servers = new Map<Mode, { url: string; child: Deno.ChildProcess }>();
try {
  for (const mode of MODES) servers.set(mode, await start(mode));
  const rounds: Record<string, Result[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const route of ["get", "post"] as const) {
      for (const mode of MODES) {
        const r = await wrk(servers.get(mode)!.url, route === "post" ? post : undefined);
        (rounds[`${mode}_${route}`] ??= []).push(r);
      }
    }
  }
  const figures: Record<string, Result> = {};
  for (const [key, list] of Object.entries(rounds)) {
    figures[key] = median(list);
    console.log(
      `${key.padEnd(16)} ${String(figures[key].rps).padStart(7)} req/s  p50 ${
        figures[key].p50Ms.toFixed(2)
      } ms  p99 ${figures[key].p99Ms.toFixed(2)} ms  errors ${figures[key].errors}`,
    );
  }
  const ratio = (a: string, b: string): number =>
    Math.round(figures[a]!.rps / figures[b]!.rps * 1000) / 1000;
  console.log(JSON.stringify({
    bench: "serve",
    seconds_per_round: SECONDS,
    rounds: ROUNDS,
    connections: 32,
    bare_get_rps: figures.bare_get!.rps,
    native_get_rps: figures.native_get!.rps,
    upgradable_get_rps: figures.upgradable_get!.rps,
    bare_post_rps: figures.bare_post!.rps,
    native_post_rps: figures.native_post!.rps,
    upgradable_post_rps: figures.upgradable_post!.rps,
    ratio_native_get: ratio("native_get", "bare_get"),
    ratio_native_post: ratio("native_post", "bare_post"),
    ratio_upgradable_get: ratio("upgradable_get", "bare_get"),
    ratio_upgradable_post: ratio("upgradable_post", "bare_post"),
    engine_get_rps: figures.engine_get!.rps,
    engine_post_rps: figures.engine_post!.rps,
    ratio_engine_get: ratio("engine_get", "bare_get"),
    ratio_engine_post: ratio("engine_post", "bare_post"),
    ratio_upgradable_get_of_engine: ratio("upgradable_get", "engine_get"),
    ratio_upgradable_post_of_engine: ratio("upgradable_post", "engine_post"),
    p50_ms: Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v.p50Ms])),
    p99_ms: Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v.p99Ms])),
    errors: Object.values(figures).reduce((a, r) => a + r.errors, 0),
  }));
} finally {
  for (const { child } of servers.values()) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
  await Deno.remove(post);
}
