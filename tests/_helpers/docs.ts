/**
 * The docs harness: runs the fenced `sh` and `ts` blocks of README.md and docs/*.md as a new user
 * would, and checks the output they show. The conventions (also in DEVELOPERS.md):
 *
 * - Expected output: in `sh` blocks a line `# → TEXT` after a command, in `ts` blocks a trailing
 *   comment `// → TEXT`. A block's expected lines must appear in its stdout in that order, each as
 *   a whole line (trimmed); `…` in TEXT matches anything.
 * - An HTML comment on a line before the fence marks a block:
 *   - `<!-- no-test: REASON -->`: not run (REASON is required and printed);
 *   - `<!-- run-with: syft up [ARGS] -->`: `syft up --any-port [ARGS]` runs in the background
 *     first (same HOME), the block runs once it is up, then it is stopped with Ctrl-C. The
 *     services' default ports in the block (`127.0.0.1:8000`, `localhost:8765`, ...) become the
 *     ports they got, and `PROXY_URL` / `ENSYNC_URL` point at them;
 *   - `<!-- file: NAME -->`: written to NAME in the document's directory (for other blocks to
 *     import), not run.
 * - Each document runs in a fresh HOME (USER=alice), blocks in order, in a scratch directory
 *   inside the repository (`.docs-test/<doc>/`, so `deno task` and `@syft/syft/...` imports
 *   resolve); `syft` on PATH runs this checkout, as `deno task install` would. `sh` blocks run
 *   under `bash -e -o pipefail`: any failing command fails the block.
 *
 * @module
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { denoDir } from "./cli.ts";

export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** One fenced block of a document. */
export interface DocBlock {
  /** The document, relative to the repository (`README.md`, `docs/rpc.md`). */
  doc: string;
  /** The line of the opening fence (1-based). */
  line: number;
  /** `sh` or `ts`. */
  lang: "sh" | "ts";
  /** The block's text. */
  code: string;
  /** `<!-- no-test: … -->`'s reason. */
  noTest?: string;
  /** `<!-- run-with: syft up … -->`'s arguments after `syft up`. */
  runWithUp?: string[];
  /** `<!-- file: NAME -->`'s name. */
  file?: string;
  /** The expected output lines (`# →` / `// →`). */
  expect: string[];
}

/** The documents the harness reads: README.md and every docs/*.md. */
export async function documents(): Promise<string[]> {
  const docs = ["README.md"];
  for await (const e of Deno.readDir(join(ROOT, "docs"))) {
    if (e.isFile && e.name.endsWith(".md")) docs.push(`docs/${e.name}`);
  }
  return docs.sort((a, b) => (a === "README.md" ? -1 : b === "README.md" ? 1 : a.localeCompare(b)));
}

const MARK = /^<!--\s*(no-test|run-with|file)\s*:\s*(.*?)\s*-->\s*$/;

/** Extracts the `sh` and `ts` blocks of a document with their markers and expectations. */
export function extractBlocks(doc: string, text: string): DocBlock[] {
  const lines = text.split("\n");
  const blocks: DocBlock[] = [];
  let marks: { kind: string; value: string; line: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const mark = MARK.exec(raw.trim());
    if (mark) {
      marks.push({ kind: mark[1]!, value: mark[2]!, line: i + 1 });
      continue;
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(raw);
    if (!fence) {
      if (raw.trim() !== "") marks = [];
      continue;
    }
    const [, indent, ticks, info] = fence;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      if (lines[j]!.trimStart().startsWith(ticks!) && lines[j]!.trim() === ticks) break;
      body.push(lines[j]!.startsWith(indent!) ? lines[j]!.slice(indent!.length) : lines[j]!);
    }
    const lang = info === "sh" || info === "bash" || info === "shell"
      ? "sh"
      : info === "ts" || info === "typescript"
      ? "ts"
      : undefined;
    if (lang !== undefined) {
      const code = body.join("\n");
      const block: DocBlock = { doc, line: i + 1, lang, code, expect: expectations(lang, code) };
      for (const m of marks) {
        if (m.kind === "no-test") block.noTest = m.value;
        else if (m.kind === "file") block.file = m.value;
        else {
          const words = m.value.split(/\s+/).filter(Boolean);
          if (words[0] !== "syft" || words[1] !== "up") {
            throw new Error(
              `${doc}:${m.line}: run-with supports "syft up [ARGS]" only, not "${m.value}"`,
            );
          }
          block.runWithUp = words.slice(2);
        }
      }
      blocks.push(block);
    }
    marks = [];
    i = j;
  }
  return blocks;
}

function expectations(lang: "sh" | "ts", code: string): string[] {
  const out: string[] = [];
  const re = lang === "sh" ? /^\s*#\s*→\s?(.*)$/ : /\/\/\s*→\s?(.*)$/;
  for (const line of code.split("\n")) {
    const m = re.exec(line);
    if (m) out.push(m[1]!.trim());
  }
  return out;
}

/** Checks that `expected` lines appear in `stdout` in order; returns what is missing, if any. */
export function missingOutput(expected: string[], stdout: string): string | undefined {
  const lines = stdout.split("\n").map((l) => l.trim());
  let at = 0;
  for (const want of expected) {
    const re = new RegExp(
      `^${want.split("…").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
    );
    const found = lines.findIndex((l, i) => i >= at && re.test(l));
    if (found < 0) return want;
    at = found + 1;
  }
  return undefined;
}

/** What a document's blocks run in. */
export interface DocEnv extends AsyncDisposable {
  /** The scratch directory (cwd of every block). */
  dir: string;
  /** The environment of every block. */
  env: Record<string, string>;
}

/** A fresh HOME, a scratch dir in the repository and a `syft` on PATH for one document. */
export async function docEnv(doc: string): Promise<DocEnv> {
  const home = await Deno.makeTempDir({ prefix: "syft_docs_home_" });
  const dir = join(ROOT, ".docs-test", basename(doc, ".md").toLowerCase());
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const bin = join(home, ".local-bin");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    join(bin, "syft"),
    `#!/bin/sh\nexec "${Deno.execPath()}" run -q -P --config "${ROOT}deno.json" "${ROOT}cli/main.ts" "$@"\n`,
    { mode: 0o755 },
  );
  const path = [bin, join(Deno.execPath(), ".."), Deno.env.get("PATH") ?? "/usr/bin:/bin"]
    .join(":");
  return {
    dir,
    env: {
      HOME: home,
      USER: "alice",
      PATH: path,
      DENO_DIR: denoDir(),
      NO_COLOR: "1",
      ...(Deno.env.get("REDIS_URL") ? { REDIS_URL: Deno.env.get("REDIS_URL")! } : {}),
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(home, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The result of one block. */
export interface BlockRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with a deadline; the whole process group goes on timeout. */
export async function runWithin(
  cmd: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<BlockRun> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
  }, options.timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs an `sh` block under bash in its own process group (setsid), so a timeout kills it all. */
export async function runShell(
  block: DocBlock,
  env: DocEnv,
  extraEnv: Record<string, string>,
  code = block.code,
): Promise<BlockRun> {
  const script = join(env.dir, `block-${block.line}.sh`);
  await Deno.writeTextFile(script, `set -e -o pipefail\n${code}\n`);
  return await runWithin("setsid", ["bash", script], {
    cwd: env.dir,
    env: { ...env.env, ...extraEnv },
    timeoutMs: 90_000,
  });
}

/** Writes a `ts` block to a file in the document's directory and returns its path. */
export async function writeTs(block: DocBlock, env: DocEnv): Promise<string> {
  const path = join(env.dir, block.file ?? `block-${block.line}.ts`);
  await Deno.writeTextFile(path, block.code + "\n");
  return path;
}

/** Runs a written `ts` block with the repository's default permission set. */
export async function runTs(
  path: string,
  env: DocEnv,
  extraEnv: Record<string, string>,
): Promise<BlockRun> {
  return await runWithin(
    Deno.execPath(),
    ["run", "-q", "-P", "--config", `${ROOT}deno.json`, path],
    {
      cwd: env.dir,
      env: { ...env.env, ...extraEnv },
      timeoutMs: 90_000,
    },
  );
}

/** A `syft up --any-port` in the background for `run-with` blocks. */
export interface UpServer extends AsyncDisposable {
  /** Default port → the port it got. */
  ports: Map<number, number>;
  /** Variables pointing the client commands at it. */
  env: Record<string, string>;
  /** Stops it (Ctrl-C) and returns its exit status and stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/** Starts `syft --json up --any-port ARGS` with the document's HOME and waits until it is up. */
export async function startUp(env: DocEnv, args: string[]): Promise<UpServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-P",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}cli/main.ts`,
      "--json",
      "up",
      "--any-port",
      ...args,
    ],
    cwd: env.dir,
    env: env.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let report: {
    services: {
      name: string;
      where: string;
      ports?: Record<string, number>;
      default_ports?: Record<string, number>;
    }[];
  } | undefined;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    while (report === undefined) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (const line of buf.split("\n")) {
        if (line.includes('"event":"up"')) report = JSON.parse(line);
      }
    }
  } finally {
    clearTimeout(deadline);
  }
  // Keep draining stdout so the server never blocks on a full pipe.
  const draining = (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* closed */ }
  })();
  if (report === undefined) {
    const status = await child.status;
    throw new Error(`syft up did not start (exit ${status.code}): ${await stderr}`);
  }
  const ports = new Map<number, number>();
  const extra: Record<string, string> = {};
  for (const s of report.services) {
    for (const [name, port] of Object.entries(s.ports ?? {})) {
      const def = s.default_ports?.[name];
      if (def !== undefined) ports.set(def, port);
    }
    if (s.name === "proxy") extra.PROXY_URL = s.where;
    if (s.name === "ensync") extra.ENSYNC_URL = s.where.replace(/\/message$/, "");
  }
  let stopped: Promise<{ code: number; stderr: string }> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGINT");
      } catch { /* gone */ }
      const status = await child.status;
      await draining;
      return { code: status.code, stderr: await stderr };
    })();
  return {
    ports,
    env: extra,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/** Rewrites the default ports of a block to the ones `syft up --any-port` got. */
export function withPorts(code: string, ports: Map<number, number>): string {
  let out = code;
  for (const [def, actual] of ports) {
    out = out.replace(new RegExp(`\\b(127\\.0\\.0\\.1|localhost):${def}\\b`, "g"), `$1:${actual}`);
  }
  return out;
}
