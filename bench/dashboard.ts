// deno-lint-ignore-file no-console
/**
 * `deno task bench:dashboard`: what the dashboard costs a loaded stack.
 *
 * File-RPC round trips at 64 in flight (as `bench:rpc` (b)) against the echo app in its own
 * process, in three setups run in rotation (to share the machine's drift fairly):
 *   - without: the echo app alone (the limit: nothing of the dashboard in it);
 *   - stream: the echo app plus the dashboard in its process (as `syft up` runs them), with one
 *     client reading `/api/events` (what the dashboard itself costs the stack);
 *   - browser: the same with headless Chromium showing the File RPC panel (recent requests,
 *     per-endpoint charts, live updates) instead, on the same machine.
 * Each round runs both back to back (alternating which goes first) after one warm-up pair that is
 * not counted. Two figures, as medians over the rounds:
 *   - the throughput ratio with/without of each pair (noisy on a shared machine: other work moves
 *     both runs of a pair less than it moves runs minutes apart);
 *   - the server process's CPU time per request (user + system, from /proc), with/without: what
 *     the dashboard adds to the stack's own work, which other load on the machine hardly moves.
 * The goal is a cost under 5 % (CPU ratio at most 1.05). The browser's own CPU is reported apart
 * (another process, on another core on most machines). The last line is one JSON object.
 * Environment: BENCH_DASHBOARD_SECONDS (4 per run), BENCH_DASHBOARD_ROUNDS (5),
 * BENCH_DASHBOARD_DIR (where the workspace lives). It runs with `-A`: playwright-core reads /proc
 * paths that Deno grants only with all permissions.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { TextLineStream } from "../lib/_lines.ts";
import { RpcClient } from "../lib/rpc/mod.ts";
import { CHROMIUM, hasChromium, launchBrowser } from "../tests/servers/dashboard/_browser.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SECONDS = Number(Deno.env.get("BENCH_DASHBOARD_SECONDS") ?? 4);
const ROUNDS = Number(Deno.env.get("BENCH_DASHBOARD_ROUNDS") ?? 5);
const TICKS_PER_S = 100; // Linux USER_HZ

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** CPU seconds of every process whose command line mentions `marker` (the browser's tree). */
function cpuOfMatching(marker: string): number {
  let total = 0;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(marker)) {
        total += cpuSeconds(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return total;
}

interface RunResult {
  rps: number;
  cpuPerRequestMs: number;
  browserCpuPerRequestMs: number;
}
const BASE = Deno.env.get("BENCH_DASHBOARD_DIR");
const EMAIL = "bench@example.com";

if (!hasChromium()) {
  console.error(
    `bench:dashboard needs Debian's chromium at ${CHROMIUM}: apt-get install -y chromium`,
  );
  Deno.exit(1);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

type Mode = "without" | "stream" | "browser";

async function run(mode: Mode): Promise<RunResult> {
  const withDashboard = mode !== "without";
  const dataDir = await Deno.makeTempDir({
    prefix: "syft_bench_dash_",
    ...(BASE ? { dir: BASE } : {}),
  });
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-P=bench",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}bench/dashboard/server.ts`,
      dataDir,
      EMAIL,
      ...(withDashboard ? ["--dashboard"] : []),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
    .getReader();
  const browser = mode === "browser" ? await launchBrowser() : undefined;
  const stream = new AbortController();
  try {
    const ready = (await lines.read()).value ?? "";
    if (!ready.startsWith("ready ")) throw new Error(`The bench server did not start: ${ready}`);
    if (mode === "stream") {
      const res = await fetch(`${ready.slice(6)}/api/events`, { signal: stream.signal });
      void res.body!.pipeTo(new WritableStream()).catch(() => {});
    }
    if (browser !== undefined) {
      const page = await browser.context.newPage();
      await page.goto(`${ready.slice(6)}/#rpc`);
      await page.waitForSelector("#conn.live");
      await page.waitForSelector('.panel[data-panel="rpc"]');
    }
    await using client = await RpcClient.open({ workspace: { dataDir, email: EMAIL } });
    const url = `syft://${EMAIL}/app_data/echo/rpc/echo`;
    let done = 0;
    let failed = 0;
    const warmEnd = performance.now() + 1000;
    const end = warmEnd + SECONDS * 1000;
    let seq = 0;
    let cpuAtWarm = 0;
    let browserAtWarm = 0;
    const profile = browser?.profile;
    const warmTimer = setTimeout(() => {
      cpuAtWarm = cpuSeconds(server.pid);
      browserAtWarm = profile === undefined ? 0 : cpuOfMatching(profile);
    }, 1000);
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (performance.now() < end) {
        const res = await client.call(url, { method: "POST", body: { n: seq++ }, timeout: "30s" });
        if (performance.now() >= warmEnd) {
          if (res.statusCode === 200) done++;
          else failed++;
        }
      }
    }));
    clearTimeout(warmTimer);
    const cpu = cpuSeconds(server.pid) - cpuAtWarm;
    const browserCpu = profile === undefined ? 0 : cpuOfMatching(profile) - browserAtWarm;
    if (failed > 0) throw new Error(`${failed} requests failed`);
    return {
      rps: done / SECONDS,
      cpuPerRequestMs: (cpu * 1000) / Math.max(1, done),
      browserCpuPerRequestMs: (browserCpu * 1000) / Math.max(1, done),
    };
  } finally {
    stream.abort();
    await browser?.[Symbol.asyncDispose]();
    await server.stdin.close();
    await lines.cancel().catch(() => {});
    await server.status;
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

const runs: Record<Mode, RunResult[]> = { without: [], stream: [], browser: [] };
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const MODES: Mode[] = ["without", "stream", "browser"];
console.log("warm-up (not counted) ...");
for (const mode of MODES) await run(mode);
for (let round = 0; round < ROUNDS; round++) {
  // Rotate which goes first, so none always gets the cooler machine.
  for (let k = 0; k < MODES.length; k++) {
    const mode = MODES[(round + k) % MODES.length]!;
    const r = await run(mode);
    runs[mode].push(r);
    console.log(
      `round ${round + 1}: ${mode.padEnd(7)} ${Math.round(r.rps)} req/s, server ${
        r3(r.cpuPerRequestMs)
      } ms CPU/request` +
        (mode === "browser" ? `, browser ${r3(r.browserCpuPerRequestMs)} ms CPU/request` : ""),
    );
  }
}
const med = (mode: Mode, pick: (r: RunResult) => number): number => median(runs[mode].map(pick));
const pairRatio = (mode: Mode): number =>
  r3(median(runs.without.map((w, i) => runs[mode][i]!.rps / w.rps)));
const cpu = (mode: Mode): number => med(mode, (r) => r.cpuPerRequestMs);
const result = {
  bench: "dashboard",
  "seconds_per_run": SECONDS,
  rounds: ROUNDS,
  "rps_64_without_dashboard": Math.round(med("without", (r) => r.rps)),
  "rps_64_with_dashboard_stream": Math.round(med("stream", (r) => r.rps)),
  "rps_64_with_dashboard_and_browser": Math.round(med("browser", (r) => r.rps)),
  "throughput_ratio_stream_to_without": pairRatio("stream"),
  "throughput_ratio_browser_to_without": pairRatio("browser"),
  "server_cpu_ms_per_request_without": r3(cpu("without")),
  "server_cpu_ms_per_request_stream": r3(cpu("stream")),
  "server_cpu_ms_per_request_browser": r3(cpu("browser")),
  "server_cpu_ratio_stream_to_without": r3(cpu("stream") / cpu("without")),
  "server_cpu_ratio_browser_to_without": r3(cpu("browser") / cpu("without")),
  "browser_cpu_ms_per_request": r3(med("browser", (r) => r.browserCpuPerRequestMs)),
  "cost_pct": Math.round((cpu("stream") / cpu("without") - 1) * 1000) / 10,
  "under_5pct": cpu("stream") / cpu("without") <= 1.05,
};
console.log(
  `the dashboard costs the server x${result.server_cpu_ratio_stream_to_without} CPU per request ` +
    `(${result.cost_pct} %); with Chromium on the same machine x${result.server_cpu_ratio_browser_to_without}, ` +
    `throughput x${result.throughput_ratio_browser_to_without}, the browser itself ` +
    `${result.browser_cpu_ms_per_request} ms CPU per request`,
);
console.log(JSON.stringify(result));
