/**
 * Runs the `syft` command as a subprocess, exactly as `deno task syft` does, as a new user would:
 * `HOME` is a temp dir of this test process (so no `~/.syftbox` or `~/.syft` of the machine is
 * seen) and `USER` is `alice`, unless a test passes its own. `DENO_DIR` stays the machine's cache.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = `${ROOT}cli/main.ts`;
const CONFIG = `${ROOT}deno.json`;

/** The output of a finished `syft` run. */
export interface SyftRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for running `syft`. */
export interface SyftRunOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Text written to stdin. */
  stdin?: string;
}

let testHome: string | undefined;

/** The temp `HOME` of this test process (removed when the process ends). */
export function testHomeDir(): string {
  if (testHome === undefined) {
    testHome = Deno.makeTempDirSync({ prefix: "syft_home_" });
    const dir = testHome;
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
  }
  return testHome;
}

/** The module cache to keep using under another `HOME` (Deno's default cache dir of the real one). */
export function denoDir(): string {
  const set = Deno.env.get("DENO_DIR");
  if (set) return set;
  const home = Deno.env.get("HOME") ?? "";
  if (Deno.build.os === "darwin") return join(home, "Library", "Caches", "deno");
  return join(Deno.env.get("XDG_CACHE_HOME") ?? join(home, ".cache"), "deno");
}

/** The environment of a `syft` run: a new user's (temp HOME, USER=alice) plus `extra`. */
export function syftEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { NO_COLOR: "1", HOME: testHomeDir(), USER: "alice", DENO_DIR: denoDir(), ...extra };
}

/** The `deno` arguments that run `syft <args>` as `deno task syft` does (this deno.json, -P). */
export function syftArgs(...args: string[]): string[] {
  return ["run", "-q", "-P", "--config", CONFIG, MAIN, ...args];
}

function command(args: string[], options: SyftRunOptions, piped: boolean): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: syftArgs(...args),
    env: syftEnv(options.env),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: options.stdin === undefined && !piped ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs `syft <args>` to completion. */
export async function runSyft(args: string[], options: SyftRunOptions = {}): Promise<SyftRun> {
  const child = command(args, options, false).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A running `syft` process whose stdout is read line by line. */
export interface SyftProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Lines read from stdout so far. */
  lines: string[];
  /** Resolves with the first stdout line matching `pattern` (rejects after `timeoutMs`). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` and resolves with the exit status and the remaining stderr. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
}

/** Starts `syft <args>` in the background. */
export function spawnSyft(args: string[], options: SyftRunOptions = {}): SyftProcess {
  const child = command(args, options, true).spawn();
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  const stderrText = new Response(child.stderr).text();
  (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        for (const w of waiters.splice(0)) {
          if (w.pattern.test(line)) w.resolve(line);
          else waiters.push(w);
        }
      }
    }
  })();
  let stopped: Promise<{ code: number; stderr: string }> | undefined;
  const proc: SyftProcess = {
    child,
    lines,
    waitForLine(pattern, timeoutMs = 15_000) {
      const found = lines.find((l) => pattern.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(async () => {
          const err = stopped ? "" : (await proc.stop("SIGKILL")).stderr;
          reject(
            new Error(
              `No stdout line matched ${pattern} in ${timeoutMs} ms; stdout: ${
                lines.join("\n")
              }\nstderr: ${err}`,
            ),
          );
        }, timeoutMs);
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    stop(signal: Deno.Signal = "SIGINT") {
      stopped ??= (async () => {
        try {
          child.kill(signal);
        } catch { /* already exited */ }
        const status = await child.status;
        return { code: status.code, stderr: await stderrText };
      })();
      return stopped;
    },
    async [Symbol.asyncDispose]() {
      await proc.stop("SIGKILL");
    },
  };
  return proc;
}
