// deno-lint-ignore-file no-console camelcase
/**
 * `deno task bench:proxy`: the proxy's throughput and latency, with the limit measured in the same
 * run. Each server runs in its own process; the load generator is wrk (installed with apt when
 * missing and possible), else autocannon (npm, run with Node).
 *
 * 1. The limit: a bare `Deno.serve` hello and a bare Hono hello (GET, 32 connections), a bare
 *    Hono app that reads the send body as JSON and answers JSON (POST, 32 connections: the floor
 *    of any Hono app taking this request, `hono_post_*`), and a bare `Deno.serve` that writes each
 *    body atomically to a file (POST, 32 connections): the floor of any server that writes one
 *    request file per call.
 * 2. The ceiling of the send path: the same proxy app (routes, validation, middleware, gateway,
 *    memory store) over a backend that writes no file.
 * 3. (a) `POST /rpc/send` non-blocking, 32 connections, with the default store (Deno KV in the
 *    workspace), plus the memory and Redis stores for comparison. Requests go to an app that is
 *    not running, so only the proxy's send path is measured (store write + request file write,
 *    the file written just after the answer, at most 1,024 behind).
 * 4. (b) Blocking round trip to lib/rpc's echo app (a separate process) through real files,
 *    16 connections: p50 / p99; beside it, its limit: lib/rpc's client alone (its own process,
 *    no proxy) calling the same echo app with 16 calls in flight (`rpc_alone_rps_16`).
 * 5. The codec floor: building a request (`new SyftRequest`), its wire object and its file bytes,
 *    as the proxy does once per send, in this process (`codec_ops_per_s`).
 *
 * Every server's peak RSS (`VmHWM`, MiB) after its load is reported too (`*_peak_rss_mb`): the
 * proxy's in each phase beside the bare servers'; and its CPU time per request
 * (`*_cpu_us_per_req`, user + system of all its threads over the load, divided by the requests
 * served), which other work on the machine moves much less than it moves the rates.
 *
 * The last line is one JSON object: send_rps, raw_deno_rps, ratio_send_vs_raw, blocking_p50_ms,
 * blocking_p99_ms, and the extra figures.
 *
 * @module
 */
import { join } from "node:path";
import { SyftRequest } from "../lib/rpc/mod.ts";
import { peakRssMb } from "./rpc/_probe.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
const SERVERS = new URL("./proxy/servers.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const REDIS_URL = Deno.env.get("REDIS_URL") || "redis://127.0.0.1:6379";
const ME = "me@example.org";

interface Result {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return {
      code: o.code,
      out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr),
    };
  } catch {
    return { code: 127, out: "" };
  }
}

async function loadTool(): Promise<"wrk" | "autocannon"> {
  if ((await run("wrk", ["--version"])).out.includes("wrk")) return "wrk";
  if (Deno.uid?.() === 0) {
    console.error("wrk not found: trying apt-get install -y wrk");
    await run("apt-get", ["install", "-y", "-q", "wrk"]);
    if ((await run("wrk", ["--version"])).out.includes("wrk")) return "wrk";
  }
  console.error("wrk unavailable: using autocannon (npx autocannon@9, Node)");
  return "autocannon";
}

function ms(value: string, unit: string): number {
  const n = Number(value);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

async function load(
  tool: "wrk" | "autocannon",
  url: string,
  connections: number,
  post?: unknown,
): Promise<Result> {
  if (tool === "wrk") {
    const args = ["-t1", `-c${connections}`, `-d${SECONDS}s`, "--latency", url];
    let script: string | undefined;
    if (post !== undefined) {
      script = await Deno.makeTempFile({ suffix: ".lua" });
      await Deno.writeTextFile(
        script,
        `wrk.method = "POST"\nwrk.body = ${JSON.stringify(JSON.stringify(post))}\n` +
          `wrk.headers["Content-Type"] = "application/json"\n`,
      );
      args.unshift("-s", script);
    }
    const { out } = await run("wrk", args);
    if (script) await Deno.remove(script);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
    const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out);
    const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
      out,
    );
    const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
    if (!rps) throw new Error(`wrk failed: ${out}`);
    return {
      rps,
      p50Ms: p50 ? ms(p50[1]!, p50[2]!) : NaN,
      p99Ms: p99 ? ms(p99[1]!, p99[2]!) : NaN,
      errors,
    };
  }
  const args = ["-y", "autocannon@9", "-j", "-c", String(connections), "-d", String(SECONDS)];
  if (post !== undefined) {
    args.push("-m", "POST", "-H", "content-type=application/json", "-b", JSON.stringify(post));
  }
  const { out } = await run("npx", [...args, url]);
  const json = JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1));
  return {
    rps: json.requests.average,
    p50Ms: json.latency.p50,
    p99Ms: json.latency.p99,
    errors: (json.non2xx ?? 0) + (json.errors ?? 0),
  };
}

/** CPU seconds (utime + stime) of a process, read through `cat` as `peakRssMb` does. */
async function cpuSecondsOf(pid: number): Promise<number | null> {
  const { code, out } = await run("cat", [`/proc/${pid}/stat`]);
  if (code !== 0) return null;
  // The fields after the command name (which may hold spaces): utime and stime are 14 and 15.
  const fields = out.slice(out.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / 100 : null;
}

/** Server CPU µs per request of each phase (machine contention moves it less than the rates). */
const cpu: Record<string, number | null> = {};

/** Loads `proc` as `load` does, recording its CPU time per request under `name`. */
async function loadOn(
  name: string,
  proc: Proc,
  url: string,
  connections: number,
  post?: unknown,
): Promise<Result> {
  const before = await proc.cpuSeconds();
  const res = await load(tool, url, connections, post);
  const after = await proc.cpuSeconds();
  cpu[name] = before === null || after === null || res.rps === 0
    ? null
    : Math.round((after - before) * 1e6 / (res.rps * SECONDS) * 10) / 10;
  return res;
}

interface Proc {
  url: string;
  /** Peak RSS in MiB so far (`VmHWM`), `null` where /proc cannot tell. */
  peakRss(): Promise<number | null>;
  /** CPU seconds (user + system, all threads) used so far, `null` where /proc cannot tell. */
  cpuSeconds(): Promise<number | null>;
  stop(): Promise<void>;
}

async function spawn(mode: string, ...args: string[]): Promise<Proc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P=bench", "--config", CONFIG, SERVERS, mode, ...args],
    stdout: "piped",
    stderr: "inherit",
    env: { SYFT_LOG_LEVEL: "warning" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${mode} exited before it was ready`);
    buf += value;
  }
  reader.releaseLock();
  void child.stdout.cancel().catch(() => {});
  const url = /READY (\S+)/.exec(buf)?.[1];
  if (!url) throw new Error(`${mode} printed ${buf}`);
  return {
    url,
    peakRss: () => peakRssMb(child.pid),
    cpuSeconds: () => cpuSecondsOf(child.pid),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
    },
  };
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".request")) n++;
  } catch { /* none */ }
  return n;
}

const tool = await loadTool();
const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d;
const report = (name: string, r: Result): void =>
  console.log(
    `${name.padEnd(34)} ${String(Math.round(r.rps)).padStart(8)} req/s   p50 ${
      round(r.p50Ms)
    } ms   p99 ${round(r.p99Ms)} ms${r.errors ? `   errors ${r.errors}` : ""}`,
  );

console.log(
  `bench:proxy with ${tool}, ${SECONDS} s per run, ${navigator.hardwareConcurrency} CPUs`,
);

/** Peak RSS (MiB) of each server after its load, by phase. */
const rss: Record<string, number | null> = {};

/** The codec floor: one request built, turned into its wire object and its file bytes. */
function codecOpsPerS(): number {
  const params = new TextEncoder().encode(JSON.stringify({ hello: "world", n: 42 }));
  const run = (n: number): number => {
    const t = performance.now();
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const req = new SyftRequest({
        sender: ME,
        url: `syft://${ME}/app_data/sink/rpc/bench`,
        method: "POST",
        body: params,
        headers: {},
        expires: new Date(Date.now() + 900_000),
      });
      bytes += (req.toJSON().id as string).length + req.toBytes().length;
    }
    if (bytes === 0) throw new Error("nothing encoded");
    return n / ((performance.now() - t) / 1000);
  };
  run(20_000); // warm-up
  return Math.max(run(50_000), run(50_000));
}
const codecOps = codecOpsPerS();
console.log(
  `${"codec floor (build + wire + bytes)".padEnd(34)} ${
    String(Math.round(codecOps)).padStart(8)
  } ops/s`,
);

const raw = await spawn("raw");
const rawRes = await loadOn("raw", raw, `${raw.url}/`, 32);
rss.raw = await raw.peakRss();
await raw.stop();
report("bare Deno.serve hello (c=32)", rawRes);

const hono = await spawn("hono");
const honoRes = await loadOn("hono", hono, `${hono.url}/`, 32);
rss.hono = await hono.peakRss();
await hono.stop();
report("bare Hono hello (c=32)", honoRes);

const sendBody = {
  app_name: "sink",
  func_name: "bench",
  destination: ME,
  params: { hello: "world", n: 42 },
  blocking: false,
};
const honoPost = await spawn("honopost");
const honoPostRes = await loadOn("hono_post", honoPost, `${honoPost.url}/rpc/send`, 32, sendBody);
rss.hono_post = await honoPost.peakRss();
await honoPost.stop();
report("bare Hono, JSON POST read (c=32)", honoPostRes);

// Every phase's files stay until the end: on ext4 without a journal, deleting files slows file
// creation for a minute afterwards (it will not reuse recently deleted inodes), which would bias
// the phases that follow a deletion.
const cleanup: string[] = [];
const sends: Record<string, Result> = {};
let rawFileRes: Result;
let nowriteRes: Result;
let blocking: Result;
let rpcAlone: Result;

/** lib/rpc's client alone (its own process) calling the echo app with `inFlight` calls. */
async function rpcLoad(dataDir: string, inFlight: number): Promise<Result> {
  const { code, out } = await run(Deno.execPath(), [
    "run",
    "-q",
    "-P=bench",
    "--config",
    CONFIG,
    SERVERS,
    "rpcload",
    dataDir,
    String(inFlight),
    String(SECONDS),
  ]);
  const line = /RESULT (\{.*\})/.exec(out)?.[1];
  if (code !== 0 || line === undefined) throw new Error(`rpcload failed: ${out}`);
  return JSON.parse(line) as Result;
}

try {
  const fileDir = await Deno.makeTempDir({ prefix: "syft_bench_proxy_" });
  cleanup.push(fileDir);
  const rawFile = await spawn("rawfile", fileDir);
  rawFileRes = await loadOn("raw_file", rawFile, `${rawFile.url}/`, 32, sendBody);
  rss.raw_file = await rawFile.peakRss();
  await rawFile.stop();
  report("bare Deno.serve + atomic file write", rawFileRes);

  const nowriteDir = await Deno.makeTempDir({ prefix: "syft_bench_proxy_" });
  cleanup.push(nowriteDir);
  const nowrite = await spawn("nowrite", nowriteDir);
  nowriteRes = await loadOn("nowrite", nowrite, `${nowrite.url}/rpc/send`, 32, sendBody);
  rss.nowrite = await nowrite.peakRss();
  await nowrite.stop();
  report("the same proxy writing nothing", nowriteRes);

  for (const store of ["kv", "memory", "redis"]) {
    const dir = await Deno.makeTempDir({ prefix: "syft_bench_proxy_" });
    cleanup.push(dir);
    await Deno.mkdir(join(dir, "datasites", ME), { recursive: true });
    let proxy: Proc;
    try {
      proxy = await spawn("proxy", dir, store === "redis" ? REDIS_URL : store);
    } catch (err) {
      console.log(`send with ${store} store: skipped (${(err as Error).message})`);
      continue;
    }
    const res = await loadOn(`send_${store}`, proxy, `${proxy.url}/rpc/send`, 32, sendBody);
    rss[`send_${store}`] = await proxy.peakRss();
    await proxy.stop();
    const written = await countFiles(join(dir, "datasites", ME, "app_data/sink/rpc/bench", ME));
    report(`POST /rpc/send non-blocking, ${store}`, res);
    console.log(`${"".padEnd(34)} ${written} request files written`);
    sends[store] = res;
  }

  const dir = await Deno.makeTempDir({ prefix: "syft_bench_proxy_" });
  cleanup.push(dir);
  await Deno.mkdir(join(dir, "datasites", ME), { recursive: true });
  const echo = await spawn("echo", dir);
  const proxy = await spawn("proxy", dir, "kv");
  // Warm up: the first request creates the sender folder and the watchers.
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${proxy.url}/rpc/send`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app_name: "echo", func_name: "echo", destination: ME, params: i }),
    });
    await r.body?.cancel();
  }
  blocking = await loadOn("blocking", proxy, `${proxy.url}/rpc/send`, 16, {
    app_name: "echo",
    func_name: "echo",
    destination: ME,
    params: { hello: "world" },
    timeout: 30,
  });
  rss.blocking = await proxy.peakRss();
  await proxy.stop();
  report("blocking round trip to echo (c=16)", blocking);
  // The limit at the same concurrency: lib/rpc's client alone against the same echo app.
  rpcAlone = await rpcLoad(dir, 16);
  await echo.stop();
  report("file RPC alone, no proxy (16 in flight)", rpcAlone);
  const send = sends.kv ?? sends.memory!;
  console.log(JSON.stringify({
    tool,
    seconds: SECONDS,
    send_rps: Math.round(send.rps),
    raw_deno_rps: Math.round(rawRes.rps),
    hono_rps: Math.round(honoRes.rps),
    ratio_send_vs_raw: round(send.rps / rawRes.rps, 3),
    ratio_send_vs_hono: round(send.rps / honoRes.rps, 3),
    raw_file_rps: Math.round(rawFileRes.rps),
    nowrite_rps: Math.round(nowriteRes.rps),
    ratio_nowrite_vs_raw: round(nowriteRes.rps / rawRes.rps, 3),
    ratio_send_vs_raw_file: round(send.rps / rawFileRes.rps, 3),
    send_rps_memory: sends.memory ? Math.round(sends.memory.rps) : null,
    send_rps_redis: sends.redis ? Math.round(sends.redis.rps) : null,
    blocking_rps: Math.round(blocking.rps),
    blocking_p50_ms: round(blocking.p50Ms, 3),
    blocking_p99_ms: round(blocking.p99Ms, 3),
    rpc_alone_rps_16: Math.round(rpcAlone.rps),
    rpc_alone_p50_ms: round(rpcAlone.p50Ms, 3),
    ratio_blocking_vs_rpc_alone: round(blocking.rps / rpcAlone.rps, 3),
    ratio_nowrite_vs_hono: round(nowriteRes.rps / honoRes.rps, 3),
    hono_post_rps: Math.round(honoPostRes.rps),
    ratio_nowrite_vs_hono_post: round(nowriteRes.rps / honoPostRes.rps, 3),
    codec_ops_per_s: Math.round(codecOps),
    ...Object.fromEntries(Object.entries(rss).map(([k, v]) => [`${k}_peak_rss_mb`, v])),
    ...Object.fromEntries(Object.entries(cpu).map(([k, v]) => [`${k}_cpu_us_per_req`, v])),
    ratio_nowrite_vs_hono_cpu: cpu.nowrite && cpu.hono ? round(cpu.hono / cpu.nowrite, 3) : null,
    errors: send.errors + blocking.errors + rpcAlone.errors,
  }));
} finally {
  for (const d of cleanup) await Deno.remove(d, { recursive: true }).catch(() => {});
}
