// deno-lint-ignore-file no-console
/**
 * Start-up of the `syft` command: `syft --version` and `syft --help`, from the source (what
 * `deno task syft` runs) and from the bundle (what `deno task install` installs), against the
 * limit `deno eval 1` on the same machine, in the same run. Goal: at most 3 × `deno eval 1`.
 *
 * With hyperfine on PATH (`apt-get install -y hyperfine`) it measures (`-N`, warm-up runs,
 * commands interleaved by hyperfine's own order); else a loop that alternates the commands.
 * Ratios use medians (the machine is shared; the median of many runs is what holds up), and CPU
 * time (user + system) is printed too, as it does not depend on other work. Last line: JSON.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLE_RUN_FLAGS } from "../cli/_invocation.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const RUNS = Number(Deno.env.get("BENCH_CLI_RUNS") ?? 30);
const GOAL = 3;
const deno = Deno.execPath();

const dir = await Deno.makeTempDir({ prefix: "syft_bench_cli_" });
try {
  const bundled = await new Deno.Command(deno, {
    args: ["bundle", "-q", "--platform=deno", "--code-splitting", "--outdir", dir, "cli/main.ts"],
    cwd: ROOT,
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!bundled.success) throw new Error("deno bundle failed");
  const source = [
    deno,
    "run",
    "-q",
    "-P",
    "--config",
    join(ROOT, "deno.json"),
    join(ROOT, "cli/main.ts"),
  ];
  const bundle = [deno, "run", ...BUNDLE_RUN_FLAGS, "--no-config", join(dir, "main.js")];
  const commands: Record<string, string[]> = {
    "deno_eval": [deno, "eval", "1"],
    version: [...source, "--version"],
    help: [...source, "--help"],
    "bundle_version": [...bundle, "--version"],
    "bundle_help": [...bundle, "--help"],
  };
  const results = (await hasHyperfine()) ? await viaHyperfine(commands) : await viaLoop(commands);
  const base = results.deno_eval!;
  const figures: Record<string, number | string> = {
    tool: results.tool as unknown as string,
    runs: RUNS,
  };
  console.log(
    `${"command".padEnd(16)} ${"median ms".padStart(10)} ${"min ms".padStart(8)} ${
      "cpu ms".padStart(8)
    }  ratio`,
  );
  for (const [name, r] of Object.entries(results)) {
    if (name === "tool") continue;
    const { median, min, cpu } = r as Stat;
    const ratio = median / base.median;
    console.log(
      `${name.padEnd(16)} ${median.toFixed(1).padStart(10)} ${min.toFixed(1).padStart(8)} ${
        cpu.toFixed(1).padStart(8)
      }  ${ratio.toFixed(2)}`,
    );
    figures[`${name}_ms`] = round(median);
    figures[`${name}_min_ms`] = round(min);
    figures[`${name}_cpu_ms`] = round(cpu);
    if (name !== "deno_eval") {
      figures[`ratio_${name}`] = round(ratio, 2);
      figures[`ratio_${name}_cpu`] = round(cpu / base.cpu, 2);
    }
  }
  const worst = Math.max(
    ...["version", "help", "bundle_version", "bundle_help"].map((n) =>
      figures[`ratio_${n}`] as number
    ),
  );
  figures.goal = GOAL;
  figures.ratio_worst = worst;
  figures.goal_met = worst <= GOAL ? "yes" : "no";
  console.log(JSON.stringify(figures));
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

interface Stat {
  median: number;
  min: number;
  /** User + system CPU time per run. */
  cpu: number;
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

async function hasHyperfine(): Promise<boolean> {
  try {
    return (await new Deno.Command("hyperfine", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

async function viaHyperfine(
  commands: Record<string, string[]>,
): Promise<Record<string, Stat> & { tool?: string }> {
  const json = join(dir, "hyperfine.json");
  const args = ["-N", "--style", "none", "-w", "5", "-r", String(RUNS), "--export-json", json];
  for (const [name, argv] of Object.entries(commands)) {
    args.push("-n", name, argv.map(quote).join(" "));
  }
  const out = await new Deno.Command("hyperfine", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "inherit",
  })
    .output();
  if (!out.success) throw new Error("hyperfine failed");
  const report = JSON.parse(await Deno.readTextFile(json)) as {
    results: { command: string; median: number; min: number; user: number; system: number }[];
  };
  const stats: Record<string, Stat> & { tool?: string } = {};
  for (const r of report.results) {
    stats[r.command] = {
      median: r.median * 1000,
      min: r.min * 1000,
      cpu: (r.user + r.system) * 1000,
    };
  }
  (stats as { tool?: string }).tool = "hyperfine";
  return stats;
}

async function viaLoop(
  commands: Record<string, string[]>,
): Promise<Record<string, Stat> & { tool?: string }> {
  const times: Record<string, number[]> = {};
  const names = Object.keys(commands);
  for (let round = -3; round < RUNS; round++) {
    for (const name of names) {
      const [cmd, ...args] = commands[name]!;
      const start = performance.now();
      const out = await new Deno.Command(cmd!, { args, cwd: dir, stdout: "null", stderr: "null" })
        .output();
      const ms = performance.now() - start;
      if (!out.success) throw new Error(`${name} failed`);
      if (round >= 0) (times[name] ??= []).push(ms);
    }
  }
  const stats: Record<string, Stat> & { tool?: string } = {};
  for (const [name, t] of Object.entries(times)) {
    t.sort((a, b) => a - b);
    // No CPU time without getrusage: the wall time stands in.
    stats[name] = {
      median: t[Math.floor(t.length / 2)]!,
      min: t[0]!,
      cpu: t[Math.floor(t.length / 2)]!,
    };
  }
  (stats as { tool?: string }).tool = "loop";
  return stats;
}
