/**
 * README.md and docs/*.md run as written: every fenced `sh` and `ts` block, in a new user's HOME
 * (USER=alice), with the outputs they show checked. See `tests/_helpers/docs.ts` for the
 * conventions (`# →` / `// →`, `<!-- no-test: … -->`, `<!-- run-with: syft up -->`,
 * `<!-- file: … -->`).
 */
import assert from "node:assert/strict";
import {
  type DocBlock,
  docEnv,
  documents,
  extractBlocks,
  missingOutput,
  ROOT,
  runShell,
  runTs,
  runWithin,
  startUp,
  type UpServer,
  withPorts,
  writeTs,
} from "./_helpers/docs.ts";
import { denoDir } from "./_helpers/cli.ts";

Deno.test("docs harness: blocks, markers and expected lines are read as documented", () => {
  const text = [
    "Intro",
    "<!-- no-test: runs forever -->",
    "",
    "```sh",
    "syft up",
    "```",
    "<!-- run-with: syft up --skip hub -->",
    "```sh",
    "syft info --field email",
    "# → alice@localhost.dev",
    "```",
    "```json",
    '{"not": "run"}',
    "```",
    "<!-- file: worker.ts -->",
    "```ts",
    "console.log(1 + 1); // → 2",
    "```",
  ].join("\n");
  const blocks = extractBlocks("X.md", text);
  assert.equal(blocks.length, 3);
  assert.equal(blocks[0]!.noTest, "runs forever");
  assert.deepEqual(blocks[1]!.runWithUp, ["--skip", "hub"]);
  assert.deepEqual(blocks[1]!.expect, ["alice@localhost.dev"]);
  assert.equal(blocks[2]!.file, "worker.ts");
  assert.deepEqual(blocks[2]!.expect, ["2"]);
  // A marker only applies to the fence right after it.
  assert.equal(
    extractBlocks("Y.md", "<!-- no-test: x -->\ntext\n```sh\nls\n```")[0]!.noTest,
    undefined,
  );
  assert.throws(
    () => extractBlocks("Z.md", "<!-- run-with: syft proxy serve -->\n```sh\nx\n```"),
    /run-with supports/,
  );
  assert.equal(missingOutput(["a…c", "d"], "x\nabc\nd\n"), undefined);
  assert.equal(missingOutput(["d", "abc"], "abc\nd\n"), "abc", "order matters");
  assert.equal(missingOutput(['{"id":"…"}'], '{"id":"42"}'), undefined);
});

Deno.test("README's first command is true: deno task up starts the stack and Ctrl-C stops it", async () => {
  await using env = await docEnv("task-up");
  // In its own process group, Ctrl-C'd as a terminal does: the signal reaches deno task and syft.
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "task", "-q", "up", "--any-port"],
    cwd: ROOT,
    env: { ...env.env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let out = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  while (!out.includes("Press Ctrl-C to stop.")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  Deno.kill(-child.pid, "SIGINT");
  for (let r = await reader.read(); !r.done; r = await reader.read()) out += r.value;
  clearTimeout(timer);
  const status = await child.status;
  assert.match(out, /syft 0\.\d+\.\d+ is up \(new workspace\)/, await stderr);
  assert.match(out, /alice@localhost\.dev/);
  assert.match(
    out,
    /^ {2}deno task syft rpc call syft:\/\/alice@localhost\.dev\/app_data\/echo\/rpc\/ping$/m,
  );
  // syft stopped everything itself; the task runner, signalled too, exits 0 or 130 (SIGINT).
  assert.match(out, /^syft: stopped$/m, await stderr);
  assert.ok(status.code === 0 || status.code === 130, `deno task exited ${status.code}`);
  // The second command is the task CI runs.
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  assert.match(ci, /deno task test/);
});

function where(block: DocBlock): string {
  return `${block.doc}:${block.line}`;
}

for (const doc of await documents()) {
  const blocks = extractBlocks(doc, await Deno.readTextFile(`${ROOT}${doc}`));
  if (blocks.length === 0) continue;
  Deno.test(`${doc} runs as written`, async (t) => {
    await using env = await docEnv(doc);
    for (const b of blocks) {
      if (b.noTest !== undefined) {
        assert.ok(b.noTest.length > 3, `${where(b)}: no-test needs a reason`);
      }
    }
    // Type-check every ts block first (one deno check), files they import included.
    const tsFiles: Map<DocBlock, string> = new Map();
    for (const b of blocks) {
      if (b.lang === "ts" && b.noTest === undefined) tsFiles.set(b, await writeTs(b, env));
    }
    if (tsFiles.size > 0) {
      const checked = await runWithin(
        Deno.execPath(),
        ["check", "-q", "--config", `${ROOT}deno.json`, ...tsFiles.values()],
        { cwd: env.dir, env: { ...env.env, DENO_DIR: denoDir() }, timeoutMs: 120_000 },
      );
      assert.equal(checked.code, 0, `deno check of ${doc}'s ts blocks:\n${checked.stderr}`);
    }
    let server: UpServer | undefined;
    let serverArgs = "";
    const stopServer = async (): Promise<void> => {
      if (server === undefined) return;
      const { code, stderr } = await server.stop();
      server = undefined;
      assert.equal(code, 0, `syft up for ${doc} did not stop cleanly:\n${stderr}`);
    };
    try {
      for (const block of blocks) {
        const name = `${where(block)} (${block.lang}${block.runWithUp ? ", with syft up" : ""})`;
        if (block.noTest !== undefined || block.file !== undefined) {
          await t.step({
            name: `${name}: ${block.noTest ? `no-test: ${block.noTest}` : `file ${block.file}`}`,
            ignore: true,
            fn: () => {},
          });
          continue;
        }
        // Consecutive blocks with the same run-with share one syft up.
        const wanted = block.runWithUp?.join(" ");
        if (wanted !== serverArgs || (wanted !== undefined && server === undefined)) {
          await stopServer();
          serverArgs = wanted ?? "";
          if (wanted !== undefined) server = await startUp(env, block.runWithUp!);
        }
        const ports = server?.ports ?? new Map<number, number>();
        const extra = server?.env ?? {};
        await t.step(name, async () => {
          if (block.lang === "ts" && ports.size > 0) {
            await Deno.writeTextFile(tsFiles.get(block)!, withPorts(block.code, ports) + "\n");
          }
          const run = block.lang === "sh"
            ? await runShell(block, env, extra, withPorts(block.code, ports))
            : await runTs(tsFiles.get(block)!, env, extra);
          const shown = `\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
          assert.equal(run.code, 0, `${where(block)} exited ${run.code}${shown}`);
          const expect = block.expect.map((e) => withPorts(e, ports));
          const missing = missingOutput(expect, run.stdout);
          assert.equal(missing, undefined, `${where(block)} did not print "${missing}"${shown}`);
        });
      }
    } finally {
      await stopServer();
    }
  });
}
