// deno-lint-ignore-file no-console
/**
 * `deno task bench:rpc`: file-RPC round trips through real files on disk.
 *
 * The server is the built-in echo app in its own process (bench/rpc/server.ts); this process is the
 * client. Measured:
 *   (a) one request in flight: p50/p99 round trip over 2,000 calls (after a warm-up);
 *   (b) 64 requests in flight: requests per second;
 *   (c) 10,000 request files dropped at once: seconds until all are answered, requests lost,
 *       requests answered twice;
 *   (d) the peer: a client that polls every 100 ms as syft-rpc does, against the same server;
 *   (f) Python peers, when Debian's /usr/bin/python3 has watchdog: a watchdog-driven Python
 *       responder (bench/rpc/py_responder.py, shaped as syft-event: one observer thread, plain
 *       writes) answering sequential calls of our client (p50/p99; goal p50 < 20 ms), beside a
 *       Python client (bench/rpc/py_client.py: syft-rpc's writes, watchdog-driven wait) against
 *       the same responder: the Python -> Python figure;
 *   (e) the limits: bare `Deno.watchFs` write-to-event latency, and a protocol-free file round
 *       trip (write, rename, watch, copy back, read, remove) on the same file system and paths,
 *       which bounds (a) and (b) on this machine: with the same system calls as lib/rpc's file
 *       handling (recycled temp files, synchronous metadata ops; bench/rpc/_bare_files.ts) one at
 *       a time (`bare_files_rtt_p50_ms`, from the write to the response read, as (a)) and 64 in
 *       flight (`bare_files_rps_64`), and creating and deleting a file per write with async ops
 *       only (`bare_churn_files_rps_64`, run last: its deletions slow file creation for a minute
 *       on ext4 without a journal); and the same recycled round trip with both sides running the
 *       public wire codec on every message (`bare_codec_files_rps_64`,
 *       `bare_codec_files_rtt_p50_ms`): the least a round trip that speaks the protocol costs.
 * The last line is one JSON object with the figures. Environment: BENCH_RPC_DIR (where the
 * workspace lives; default the system temp dir; `/dev/shm` for tmpfs, which Deno grants only
 * with `deno run -A bench/rpc.ts`), BENCH_RPC_CALLS (2000), BENCH_RPC_SECONDS (5),
 * BENCH_RPC_BURST (10000), BENCH_RPC_POLL_CALLS (40), BENCH_RPC_PY_CALLS (300),
 * BENCH_RPC_CACHE=1 (cache-mode ids in (b)), BENCH_RPC_TRACE_CALLS (500; 0 skips the strace counts).
 *
 * Also reported: the server's peak RSS (`VmHWM`) after (b) (the load of the bare server's phase)
 * and after (c), beside the bare server's;
 * and, where strace can attach, the system calls per round trip of client and server (waits,
 * futexes and the watcher's own `readlink` path canonicalisation left out), for the RPC round
 * trip and the bare one, over `BENCH_RPC_TRACE_CALLS` sequential round trips each.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TextLineStream } from "../lib/_lines.ts";
import { RpcClient, SyftBoxURL, SyftRequest, SyftResponse } from "../lib/rpc/mod.ts";
import { bareFiles } from "./rpc/_bare_files.ts";
import { pollCall } from "./rpc/poll_client.ts";
import { peakRssMb, perRoundTrip, traceSyscalls } from "./rpc/_probe.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SEQUENTIAL = Number(Deno.env.get("BENCH_RPC_CALLS") ?? 2000);
const CONCURRENT_S = Number(Deno.env.get("BENCH_RPC_SECONDS") ?? 5);
const BURST = Number(Deno.env.get("BENCH_RPC_BURST") ?? 10_000);
const POLL_CALLS = Number(Deno.env.get("BENCH_RPC_POLL_CALLS") ?? 40);
const PY_CALLS = Number(Deno.env.get("BENCH_RPC_PY_CALLS") ?? 300);
const DEBIAN_PYTHON = "/usr/bin/python3";
const EMAIL = "bench@example.com";
const CACHE = Deno.env.get("BENCH_RPC_CACHE") === "1";
const TRACE_CALLS = Number(Deno.env.get("BENCH_RPC_TRACE_CALLS") ?? 500);

/** Syscalls per round trip of both processes while `rounds` sequential round trips run. */
async function syscallsOf(
  serverPid: number,
  rounds: number,
  once: () => Promise<void>,
): Promise<{ client: number | null; server: number | null }> {
  if (rounds <= 0) return { client: null, server: null };
  // One after the other: strace follows the children of a process it traces (-f), so a tracer of
  // this process that attached before the server's tracer was spawned counted that tracer's own
  // calls (about 1,100 per round trip) as this process's.
  const server = await traceSyscalls(serverPid);
  const client = await traceSyscalls(Deno.pid);
  for (let i = 0; i < rounds; i++) await once();
  const [c, s] = await Promise.all([client?.stop() ?? null, server?.stop() ?? null]);
  return {
    client: perRoundTrip(c, rounds)?.io ?? null,
    server: perRoundTrip(s, rounds)?.io ?? null,
  };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function bareWatchLatency(samples: number): Promise<number> {
  const base = await Deno.makeTempDir({
    prefix: "syft_bench_watch_",
    ...(BASE === undefined ? {} : { dir: BASE }),
  });
  const dir = join(base, "watched");
  await Deno.mkdir(dir);
  const watcher = Deno.watchFs(dir);
  const waiting = new Map<string, () => void>();
  const loop = (async () => {
    for await (const ev of watcher) {
      for (const p of ev.paths) waiting.get(p)?.();
    }
  })();
  const lat: number[] = [];
  const data = new TextEncoder().encode("x".repeat(300));
  for (let i = 0; i < samples + 100; i++) {
    const target = join(dir, `${i}.request`);
    const tmp = join(base, `${i}.tmp`);
    const seen = new Promise<void>((r) => waiting.set(target, r));
    const t0 = performance.now();
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, target);
    await seen;
    if (i >= 100) lat.push(performance.now() - t0);
    waiting.delete(target);
  }
  watcher.close();
  await loop;
  await Deno.remove(base, { recursive: true });
  lat.sort((a, b) => a - b);
  return percentile(lat, 0.5);
}

/**
 * 64 in flight through bare files (no protocol): the limit of this machine and file system, on
 * the same paths as the RPC files (`datasites/<owner>/app_data/echo/rpc/echo/<sender>/`). In
 * `recycled` mode the files are written and removed the way lib/rpc does (reused temp files); in
 * `churn` mode every write creates a new file and every consumed file is deleted. With `codec`,
 * both sides also do the protocol's own work on every message, with the public wire codec only
 * (the client builds and encodes a `SyftRequest` and decodes the `SyftResponse`; the server
 * decodes the request and encodes a response carrying its body): what a round trip that speaks
 * the protocol costs at least, without any of lib/rpc's machinery.
 */
async function bareFilesRps(
  seconds: number,
  mode: "recycled" | "churn",
  codec = false,
): Promise<
  {
    rps: number;
    rttP50: number | null;
    serverRssMb: number | null;
    syscalls: { client: number | null; server: number | null };
  }
> {
  const base = await Deno.makeTempDir({
    prefix: "syft_bench_bare_",
    ...(BASE === undefined ? {} : { dir: BASE }),
  });
  const dir = join(base, "datasites", EMAIL, "app_data", "echo", "rpc", "echo", EMAIL);
  const tmp = join(base, ".syft-tmp");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.mkdir(tmp);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      BASE?.startsWith("/dev/") ? "-A" : "-P=bench",
      "--config",
      join(ROOT, "deno.json"),
      join(ROOT, "bench/rpc/raw_server.ts"),
      dir,
      tmp,
      mode,
      ...(codec ? ["codec"] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await lines.read();
  const files = bareFiles(tmp, mode);
  const watcher = Deno.watchFs(dir);
  const waiting = new Map<string, () => void>();
  const loop = (async () => {
    for await (const ev of watcher) {
      if (ev.kind !== "access" && ev.kind !== "rename") continue;
      const p = ev.paths[ev.paths.length - 1]!;
      const wake = waiting.get(p);
      if (wake !== undefined) {
        waiting.delete(p);
        wake();
      }
    }
  })();
  const data = new TextEncoder().encode("x".repeat(330));
  const url = SyftBoxURL.rpc(EMAIL, "echo", "echo");
  let n = 0;
  /** One round trip; returns the ms from the write to the response read (as an RPC call). */
  const once = async (): Promise<number> => {
    const id = crypto.randomUUID();
    const request = join(dir, `${id}.request`);
    const response = join(dir, `${id}.response`);
    const answered = new Promise<void>((r) => waiting.set(response, r));
    const t0 = performance.now();
    const bytes = codec
      ? new SyftRequest({
        id,
        sender: EMAIL,
        url,
        method: "POST",
        body: { n: n++ },
        expires: Date.now() + 900_000,
      }).toBytes()
      : data;
    await files.commit(await files.stage(request, bytes), request);
    await answered;
    const got = await files.read(response);
    if (codec && SyftResponse.decode(got).statusCode !== 200) throw new Error("Bad bare response");
    const ms = performance.now() - t0;
    await Promise.all([
      files.discard(request, { trusted: true }),
      files.discard(response, { share: true }),
    ]);
    return ms;
  };
  let done = 0;
  const warmEnd = performance.now() + 1000;
  const end = warmEnd + seconds * 1000;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (performance.now() < end) {
      await once();
      if (performance.now() >= warmEnd) done++;
    }
  }));
  const serverRssMb = await peakRssMb(child.pid);
  let rttP50: number | null = null;
  let syscalls: { client: number | null; server: number | null } = { client: null, server: null };
  if (mode === "recycled") {
    // One at a time, as (a): the least a round trip through these files takes.
    const lat: number[] = [];
    for (let i = 0; i < SEQUENTIAL + 300; i++) {
      const ms = await once();
      if (i >= 300) lat.push(ms);
    }
    lat.sort((a, b) => a - b);
    rttP50 = percentile(lat, 0.5);
    // One at a time, counted by strace: the same file operations without the protocol.
    if (!codec) {
      syscalls = await syscallsOf(child.pid, TRACE_CALLS, async () => void (await once()));
    }
  }
  watcher.close();
  await loop;
  child.kill("SIGTERM");
  await child.status;
  await lines.cancel().catch(() => {});
  await Deno.remove(base, { recursive: true }).catch(() => {});
  return { rps: done / seconds, rttP50, serverRssMb, syscalls };
}

interface PythonFigures {
  ours: { p50: number; p99: number } | null;
  python: { p50: number; p99: number } | null;
  skipped?: string;
}

/**
 * (f): our client and a Python client, each making sequential calls to the watchdog-driven Python
 * responder (bench/rpc/py_responder.py) in the same workspace.
 */
async function pythonPeers(dataDir: string, client: RpcClient): Promise<PythonFigures> {
  const probe = await new Deno.Command(DEBIAN_PYTHON, {
    args: ["-c", "import watchdog.observers"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  if (probe?.success !== true) {
    const skipped = `${DEBIAN_PYTHON} cannot import watchdog (apt-get install -y python3-watchdog)`;
    console.log(`(f) skipped: ${skipped}`);
    return { ours: null, python: null, skipped };
  }
  const datasites = join(dataDir, "datasites");
  const app = "pyecho";
  const pySender = "pyclient@example.com";
  const endpoint = join(datasites, EMAIL, "app_data", app, "rpc", "echo");
  // The sender folders exist before the observer starts (as after a first call).
  for (const s of [EMAIL, pySender]) await Deno.mkdir(join(endpoint, s), { recursive: true });
  const responder = new Deno.Command(DEBIAN_PYTHON, {
    args: [join(ROOT, "bench/rpc/py_responder.py"), datasites, EMAIL, app],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = responder.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  ).getReader();
  try {
    if ((await out.read()).value !== "ready") throw new Error("The Python responder did not start");
    const url = SyftBoxURL.rpc(EMAIL, app, "echo");
    const lat: number[] = [];
    for (let i = 0; i < PY_CALLS + 20; i++) {
      const t0 = performance.now();
      const res = await client.call(url, {
        method: "POST",
        body: { i },
        timeout: "10s",
        cache: false,
      });
      const dt = performance.now() - t0;
      if (res.statusCode !== 200) throw new Error(`Python responder: status ${res.statusCode}`);
      if (i >= 20) lat.push(dt);
    }
    lat.sort((a, b) => a - b);
    const py = await new Deno.Command(DEBIAN_PYTHON, {
      args: [
        join(ROOT, "bench/rpc/py_client.py"),
        datasites,
        pySender,
        EMAIL,
        app,
        String(PY_CALLS),
        "20",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const pyLines = new TextDecoder().decode(py.stdout).trim().split("\n");
    const figures = JSON.parse(pyLines[pyLines.length - 1]!);
    if (!py.success || figures.failures > 0) {
      throw new Error(`The Python client failed: ${JSON.stringify(figures)}`);
    }
    return {
      ours: { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) },
      python: { p50: figures.p50_ms, p99: figures.p99_ms },
    };
  } finally {
    await responder.stdin.close().catch(() => {});
    await responder.status;
    await out.cancel().catch(() => {});
  }
}

// BENCH_RPC_DIR picks the file system (default: the system temp dir, /tmp).
const BASE = Deno.env.get("BENCH_RPC_DIR");
const dataDir = await Deno.makeTempDir({
  prefix: "syft_bench_rpc_",
  ...(BASE === undefined ? {} : { dir: BASE }),
});
const workspace = { dataDir, email: EMAIL };
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-q",
    // Deno only grants /dev paths (e.g. the tmpfs /dev/shm) with --allow-all.
    BASE?.startsWith("/dev/") ? "-A" : "-P=bench",
    "--config",
    join(ROOT, "deno.json"),
    join(ROOT, "bench/rpc/server.ts"),
    dataDir,
    EMAIL,
  ],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const serverIn = server.stdin.getWriter();
const serverLines = server.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
  new TextLineStream(),
).getReader();

async function nextLine(): Promise<string> {
  const { value, done } = await serverLines.read();
  if (done) throw new Error("The bench server exited");
  return value;
}

async function serverStats(): Promise<{ answered: number; scans: number }> {
  await serverIn.write(new TextEncoder().encode("stats\n"));
  return JSON.parse(await nextLine());
}

let exitCode = 0;
try {
  if ((await nextLine()) !== "ready") throw new Error("The bench server did not start");
  console.log(`workspace ${dataDir}; server pid ${server.pid}`);

  console.log("(e) bare Deno.watchFs write-to-event latency ...");
  const watchP50 = await bareWatchLatency(1000);
  console.log(`(e) bare files, 64 in flight for ${CONCURRENT_S} s (no protocol) ...`);
  const bare = await bareFilesRps(CONCURRENT_S, "recycled");
  const bareRps = bare.rps;
  console.log(`(e) bare files speaking the wire codec, 64 in flight for ${CONCURRENT_S} s ...`);
  const bareCodec = await bareFilesRps(CONCURRENT_S, "recycled", true);

  await using client = await RpcClient.open({ workspace });
  const url = SyftBoxURL.rpc(EMAIL, "echo", "echo");

  console.log(`(a) ${SEQUENTIAL} sequential calls ...`);
  const lat: number[] = [];
  for (let i = 0; i < SEQUENTIAL + 300; i++) {
    const t0 = performance.now();
    const res = await client.call(url, { method: "POST", body: { i, at: t0 }, timeout: "10s" });
    const dt = performance.now() - t0;
    if (res.statusCode !== 200) throw new Error(`Unexpected status ${res.statusCode}`);
    if (i >= 300) lat.push(dt);
  }
  lat.sort((a, b) => a - b);
  const p50 = percentile(lat, 0.5);
  const p99 = percentile(lat, 0.99);
  console.log(`(e) ${TRACE_CALLS} sequential calls counted by strace (client and server) ...`);
  const syscalls = await syscallsOf(server.pid, TRACE_CALLS, async () => {
    const res = await client.call(url, { method: "POST", body: { traced: 1 }, timeout: "30s" });
    if (res.statusCode !== 200) throw new Error(`Unexpected status ${res.statusCode}`);
  });

  console.log(`(b) 64 in flight for ${CONCURRENT_S} s ...`);
  let done = 0;
  let failed = 0;
  let measuring = false;
  const warmEnd = performance.now() + 1000;
  const end = warmEnd + CONCURRENT_S * 1000;
  let seq = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (performance.now() < end) {
      const res = await client.call(url, {
        method: "POST",
        body: { n: seq++ },
        timeout: "30s",
        cache: CACHE,
      });
      if (performance.now() >= warmEnd) {
        measuring = true;
        if (res.statusCode === 200) done++;
        else failed++;
      }
    }
  }));
  if (!measuring || failed > 0) throw new Error(`Concurrent phase failed: ${failed} errors`);
  const rps = done / CONCURRENT_S;
  // The server's peak memory so far: (a) and (b), the same load as the bare server's phase.
  const serverRss64Mb = await peakRssMb(server.pid);

  console.log(`(c) ${BURST} request files dropped at once ...`);
  const before = await serverStats();
  const burstSender = "burst@example.com";
  const burstDir = join(url.toLocalPath(join(dataDir, "datasites")), burstSender);
  const stage = join(dataDir, ".bench-stage");
  await Deno.mkdir(burstDir, { recursive: true });
  await Deno.mkdir(stage, { recursive: true });
  const ids: string[] = [];
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < BURST) {
      const i = next++;
      const req = new SyftRequest({
        sender: burstSender,
        url,
        method: "POST",
        body: { burst: i },
        expires: new Date(Date.now() + 3_600_000),
      });
      ids.push(req.id);
      const tmp = join(stage, `${req.id}.tmp`);
      await Deno.writeFile(tmp, req.toBytes());
      await Deno.rename(tmp, join(burstDir, `${req.id}.request`));
    }
  }));
  const dropS = (performance.now() - t0) / 1000;
  const deadline = performance.now() + 120_000;
  let after = before;
  while (performance.now() < deadline) {
    after = await serverStats();
    if (after.answered - before.answered >= BURST) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const burstS = (performance.now() - t0) / 1000;
  // Settle, then count on disk: every request must have exactly one response.
  await new Promise((r) => setTimeout(r, 500));
  after = await serverStats();
  const names = new Set<string>();
  for await (const e of Deno.readDir(burstDir)) names.add(e.name);
  let lost = 0;
  for (const id of ids) if (!names.has(`${id}.response`)) lost++;
  const duplicates = Math.max(0, after.answered - before.answered - (BURST - lost));
  const rescans = after.scans - before.scans;
  // After the 64-in-flight phase and the burst of 10,000: the server's peak memory.
  const serverRssMb = await peakRssMb(server.pid);

  console.log(`(d) the peer: ${POLL_CALLS} calls polling every 100 ms ...`);
  const pollLat: number[] = [];
  for (let i = 0; i < POLL_CALLS; i++) {
    const t = performance.now();
    const res = await pollCall(join(dataDir, "datasites"), EMAIL, url.href, `poll ${i}`);
    if (res.statusCode !== 200) throw new Error(`Unexpected poll status ${res.statusCode}`);
    pollLat.push(performance.now() - t);
  }
  pollLat.sort((a, b) => a - b);
  const pollP50 = percentile(pollLat, 0.5);

  console.log(`(f) Python peers (watchdog): ${PY_CALLS} sequential calls each ...`);
  const py = await pythonPeers(dataDir, client);

  // Last, because deleting files slows file creation for a minute afterwards on ext4 without a
  // journal (it will not reuse recently deleted inodes), which would bias the phases above.
  console.log(`(e) bare files with create/delete churn, 64 in flight for ${CONCURRENT_S} s ...`);
  const churnRps = (await bareFilesRps(CONCURRENT_S, "churn")).rps;

  const result = {
    "rtt_p50_ms": round(p50),
    "rtt_p99_ms": round(p99),
    "rps_64": Math.round(rps),
    "burst_lost": lost,
    "burst_s": round(burstS, 2),
    "poll_peer_rtt_p50_ms": round(pollP50, 1),
    "ratio_vs_poll": round(pollP50 / p50, 1),
    "burst_duplicates": duplicates,
    "burst_drop_s": round(dropS, 2),
    "burst_rescans": rescans,
    "watchfs_p50_ms": round(watchP50),
    "bare_files_rps_64": Math.round(bareRps),
    "ratio_vs_bare_files": round(rps / bareRps, 2),
    "bare_churn_files_rps_64": Math.round(churnRps),
    "bare_codec_files_rps_64": Math.round(bareCodec.rps),
    "ratio_vs_bare_codec_files": round(rps / bareCodec.rps, 2),
    "bare_codec_files_rtt_p50_ms": bareCodec.rttP50 === null ? null : round(bareCodec.rttP50),
    "ratio_p50_vs_two_watch_events": round(p50 / (2 * watchP50), 2),
    "bare_files_rtt_p50_ms": bare.rttP50 === null ? null : round(bare.rttP50),
    "ratio_p50_vs_bare_files": bare.rttP50 === null ? null : round(p50 / bare.rttP50, 2),
    "bare_files_rtt_vs_two_watch_events": bare.rttP50 === null
      ? null
      : round(bare.rttP50 / (2 * watchP50), 2),
    "server_peak_rss_mb": serverRssMb,
    "server_peak_rss_after_64_mb": serverRss64Mb,
    "bare_server_peak_rss_mb": bare.serverRssMb,
    "syscalls_per_rt_client": syscalls.client,
    "syscalls_per_rt_server": syscalls.server,
    "bare_syscalls_per_rt_client": bare.syscalls.client,
    "bare_syscalls_per_rt_server": bare.syscalls.server,
    "py_server_rtt_p50_ms": py.ours === null ? null : round(py.ours.p50),
    "py_server_rtt_p99_ms": py.ours === null ? null : round(py.ours.p99),
    "py_py_rtt_p50_ms": py.python === null ? null : round(py.python.p50),
    "py_py_rtt_p99_ms": py.python === null ? null : round(py.python.p99),
    "py_calls": py.ours === null ? 0 : PY_CALLS,
    "calls": SEQUENTIAL,
    "cache": CACHE,
    "fs_dir": BASE ?? "(system temp dir)",
  };
  console.log(
    `round trip p50 ${result.rtt_p50_ms} ms, p99 ${result.rtt_p99_ms} ms (bare watchFs ${result.watchfs_p50_ms} ms); ` +
      `${result.rps_64} req/s at 64 in flight (bare files ${result.bare_files_rps_64}); burst of ${BURST}: ${result.burst_s} s, ` +
      `${lost} lost, ${duplicates} answered twice; poll peer p50 ${result.poll_peer_rtt_p50_ms} ms ` +
      `(x${result.ratio_vs_poll})` + (py.ours === null
        ? `; Python peers skipped (${py.skipped})`
        : `; to the watchdog-driven Python responder p50 ${result.py_server_rtt_p50_ms} ms ` +
          `(Python client ${result.py_py_rtt_p50_ms} ms)`),
  );
  console.log(JSON.stringify(result));
} catch (err) {
  console.error(`bench:rpc failed: ${err instanceof Error ? err.stack : String(err)}`);
  exitCode = 1;
} finally {
  await serverIn.close().catch(() => {});
  try {
    server.kill("SIGTERM");
  } catch { /* exited */ }
  await server.status;
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}
Deno.exit(exitCode);
