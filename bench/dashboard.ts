// deno-lint-ignore-file no-console
/**
 * `deno task bench:dashboard`: what the dashboard costs a loaded stack.
 *
 * File-RPC round trips at 64 in flight (as `bench:rpc` (b)) against the echo app in its own
 * process, in two setups run in alternation (to share the machine's drift fairly):
 *   - without: the echo app alone (the limit: nothing of the dashboard in it);
 *   - with: the echo app plus the dashboard in its process (as `syft up` runs them), with headless
 *     Chromium showing the File RPC panel (recent requests, per-endpoint charts, live updates).
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
import { TextLineStream } from "../lib/rpc/_lines.ts";
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

async function run(withDashboard: boolean): Promise<RunResult> {
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
  const browser = withDashboard ? await launchBrowser() : undefined;
  try {
    const ready = (await lines.read()).value ?? "";
    if (!ready.startsWith("ready ")) throw new Error(`The bench server did not start: ${ready}`);
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
    await browser?.[Symbol.asyncDispose]();
    await server.stdin.close();
    await lines.cancel().catch(() => {});
    await server.status;
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

const without: RunResult[] = [];
const withBrowser: RunResult[] = [];
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
console.log("warm-up pair (not counted) ...");
await run(false);
await run(true);
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which goes first, so neither always gets the cooler machine.
  for (const withDashboard of round % 2 === 0 ? [false, true] : [true, false]) {
    const r = await run(withDashboard);
    (withDashboard ? withBrowser : without).push(r);
    console.log(
      `round ${round + 1}: ${withDashboard ? "with dashboard + browser" : "without dashboard"} ` +
        `${Math.round(r.rps)} req/s, server ${r3(r.cpuPerRequestMs)} ms CPU/request` +
        (withDashboard ? `, browser ${r3(r.browserCpuPerRequestMs)} ms CPU/request` : ""),
    );
  }
}
const pairRatios = without.map((w, i) => withBrowser[i]!.rps / w.rps);
const cpuRatio = median(withBrowser.map((r) => r.cpuPerRequestMs)) /
  median(without.map((r) => r.cpuPerRequestMs));
const result = {
  bench: "dashboard",
  seconds_per_run: SECONDS,
  rounds: ROUNDS,
  rps_64_without_dashboard: Math.round(median(without.map((r) => r.rps))),
  rps_64_with_dashboard_and_browser: Math.round(median(withBrowser.map((r) => r.rps))),
  runs_without: without.map((r) => Math.round(r.rps)),
  runs_with: withBrowser.map((r) => Math.round(r.rps)),
  throughput_ratio_with_to_without: r3(median(pairRatios)),
  server_cpu_ms_per_request_without: r3(median(without.map((r) => r.cpuPerRequestMs))),
  server_cpu_ms_per_request_with: r3(median(withBrowser.map((r) => r.cpuPerRequestMs))),
  server_cpu_ratio_with_to_without: r3(cpuRatio),
  browser_cpu_ms_per_request: r3(median(withBrowser.map((r) => r.browserCpuPerRequestMs))),
  cost_pct: Math.round((cpuRatio - 1) * 1000) / 10,
  under_5pct: cpuRatio <= 1.05,
};
console.log(
  `the dashboard with a browser attached: server CPU per request x${result.server_cpu_ratio_with_to_without} ` +
    `(${result.cost_pct} %), throughput x${result.throughput_ratio_with_to_without} (median of pairs)`,
);
console.log(JSON.stringify(result));
