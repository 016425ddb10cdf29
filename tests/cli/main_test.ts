import assert from "node:assert/strict";
import { runSyft } from "../_helpers/cli.ts";
import { VERSION } from "../../lib/version.ts";

Deno.test("syft --help lists the command groups and global options", async () => {
  const run = await runSyft(["--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Usage: syft \[options\] \[command\]/);
  for (const opt of ["--config <path>", "--log-level <level>", "--json", "--version"]) {
    assert.ok(run.stdout.includes(opt), `help lacks ${opt}`);
  }
  assert.match(run.stdout, /^\s+up \[options\]/m);
  assert.match(run.stdout, /^\s+help \[command\]/m);
});

Deno.test("syft --version prints the deno.json version", async () => {
  const run = await runSyft(["--version"]);
  assert.equal(run.code, 0);
  assert.equal(run.stdout.trim(), VERSION);
});

Deno.test("syft help up shows the command's own help", async () => {
  const run = await runSyft(["help", "up"]);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /Usage: syft up \[options\]/);
  assert.match(run.stdout, /--any-port/);
});

Deno.test("syft suggests the closest command for a typo and exits non-zero", async () => {
  const run = await runSyft(["upp"]);
  assert.equal(run.code, 2); // a usage error
  assert.match(run.stderr, /unknown command 'upp'/);
  assert.match(run.stderr, /Did you mean up\?/);
});

Deno.test("syft rejects an unknown log level naming the choices", async () => {
  const run = await runSyft(["--log-level", "loud", "up"]);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /loud/);
  assert.match(run.stderr, /debug/);
});

Deno.test("syft errors print one line, and the stack with --log-level debug", async () => {
  const env = { SYFT_HOME: await Deno.makeTempDir() };
  try {
    const missing = `${env.SYFT_HOME}/nope.json`;
    const quiet = await runSyft(["--config", missing, "up"], { env });
    assert.equal(quiet.code, 1);
    const lines = quiet.stderr.trim().split("\n");
    assert.equal(lines.length, 1, quiet.stderr);
    assert.match(
      lines[0]!,
      /^error: Cannot use SyftBox config ".*nope\.json": the file does not exist$/,
    );
    const debug = await runSyft(["--log-level", "debug", "--config", missing, "up"], { env });
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /at ensureSyftHome/);
  } finally {
    await Deno.remove(env.SYFT_HOME, { recursive: true });
  }
});
