/**
 * Probes of `deno task bench:rpc`: a process's peak resident memory (`VmHWM`), and its system
 * calls over a stretch of work, counted by attaching `strace -c -f` (where strace is installed and
 * ptrace is permitted; `null` otherwise).
 *
 * @module
 */

/**
 * Peak resident set size of a process in MiB (Linux `VmHWM`), or `null` when unknown. Read through
 * `cat` (Deno grants `/proc` paths only with `--allow-all`; the bench has `run`).
 */
export async function peakRssMb(pid: number): Promise<number | null> {
  try {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(new TextDecoder().decode(out.stdout))?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024 * 10) / 10;
  } catch {
    return null;
  }
}

/** System calls counted by strace, by name (errors included). */
export type SyscallCounts = Record<string, number>;

/** An attached `strace -c -f -p PID`; `stop()` detaches and returns the counts. */
export interface Trace {
  stop(): Promise<SyscallCounts | null>;
}

/** Whether strace can attach here (probed once, on this process). */
let usable: Promise<boolean> | undefined;

async function straceUsable(): Promise<boolean> {
  usable ??= (async () => {
    try {
      const out = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
        .output();
      return out.success;
    } catch {
      return false;
    }
  })();
  return await usable;
}

/**
 * Attaches `strace -c -f` to `pid` (all its threads). Resolves once strace is attached, or with
 * `null` where it cannot run.
 */
export async function traceSyscalls(pid: number): Promise<Trace | null> {
  if (!(await straceUsable())) return null;
  const out = await Deno.makeTempFile({ prefix: "syft_bench_strace_" });
  const child = new Deno.Command("strace", {
    args: ["-c", "-f", "-o", out, "-p", String(pid)],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // strace prints "Process N attached" for each thread once it has them.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const attached = (async () => {
    while (!seen.includes("attached")) {
      const { value, done } = await reader.read();
      if (done) return false;
      seen += value;
    }
    return true;
  })();
  const ok = await Promise.race([
    attached,
    new Promise<boolean>((r) => setTimeout(r, 3000, false)),
  ]);
  if (!ok) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await reader.cancel().catch(() => {});
    await Deno.remove(out).catch(() => {});
    return null;
  }
  // Let the remaining threads attach.
  await new Promise((r) => setTimeout(r, 200));
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return {
    async stop(): Promise<SyscallCounts | null> {
      child.kill("SIGINT");
      await child.status;
      try {
        return parseStraceSummary(await Deno.readTextFile(out));
      } finally {
        await Deno.remove(out).catch(() => {});
      }
    },
  };
}

/** Parses the table `strace -c` prints: `% time  seconds  usecs/call  calls  errors  syscall`. */
export function parseStraceSummary(text: string): SyscallCounts {
  const counts: SyscallCounts = {};
  for (const line of text.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || !/^\d/.test(cols[0]!)) continue;
    const name = cols[cols.length - 1]!;
    if (name === "total") continue;
    const calls = Number(cols[3]);
    if (Number.isFinite(calls)) counts[name] = calls;
  }
  return counts;
}

/** Calls per round trip: all, and without the watcher's own path canonicalisation and waits. */
export function perRoundTrip(
  counts: SyscallCounts | null,
  rounds: number,
): { all: number; io: number } | null {
  if (counts === null) return null;
  const WAITS = new Set(["futex", "epoll_wait", "epoll_pwait", "readlink", "clock_nanosleep"]);
  let all = 0;
  let io = 0;
  for (const [name, n] of Object.entries(counts)) {
    all += n;
    if (!WAITS.has(name)) io += n;
  }
  return { all: Math.round(all / rounds * 10) / 10, io: Math.round(io / rounds * 10) / 10 };
}
