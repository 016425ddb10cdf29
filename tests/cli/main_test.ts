import assert from "node:assert/strict";
import { runSyft } from "../_helpers/cli.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";
import { VERSION } from "../../lib/version.ts";

Deno.test("syft --help lists the command groups and global options", async () => {
  const run = await runSyft(["--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Usage: syft \[options\] \[command\]/);
  for (const opt of ["--config <path>", "--log-level <level>", "--json", "--version"]) {
    assert.ok(run.stdout.includes(opt), `help lacks ${opt}`);
  }
  for (const group of ["up", "info", "init", "rpc", "watch", "proxy", "hub", "ensync"]) {
    assert.match(run.stdout, new RegExp(`^\\s+${group}\\b`, "m"), `help lacks ${group}`);
  }
  assert.match(run.stdout, /^\s+help \[command\.\.\.\]/m);
});

Deno.test("syft --version prints the deno.json version (with and without the tree)", async () => {
  const run = await runSyft(["--version"]);
  assert.equal(run.code, 0);
  assert.equal(run.stdout.trim(), VERSION);
  const short = await runSyft(["-V"]);
  assert.equal(short.stdout.trim(), VERSION);
  // Not the fast path: commander parses it.
  const withGlobal = await runSyft(["--log-level", "error", "--version"]);
  assert.equal(withGlobal.code, 0, withGlobal.stderr);
  assert.equal(withGlobal.stdout.trim(), VERSION);
});

Deno.test("syft help <group> <command> shows that command's own help", async () => {
  const up = await runSyft(["help", "up"]);
  assert.equal(up.code, 0);
  assert.match(up.stdout, /Usage: syft up \[options\]/);
  assert.match(up.stdout, /--any-port/);
  const serve = await runSyft(["help", "proxy", "serve"]);
  assert.equal(serve.code, 0, serve.stderr);
  assert.match(serve.stdout, /^Usage: syft proxy serve \[options\]/);
  assert.match(serve.stdout, /--store <store>/);
  const add = await runSyft(["help", "ensync", "app", "add"]);
  assert.match(add.stdout, /^Usage: syft ensync app add \[options\] <name>/);
  const group = await runSyft(["help", "hub"]);
  assert.match(group.stdout, /^Usage: syft hub \[options\] \[command\]/);
});

Deno.test("syft help of an unknown topic says so and exits 2", async () => {
  const top = await runSyft(["help", "nope"]);
  assert.equal(top.code, 2);
  assert.equal(top.stdout, "");
  assert.match(
    top.stderr,
    /^syft help: unknown help topic "nope" \(syft has: up, info, init, rpc, watch, proxy, hub, ensync, pubsub, dashboard\)$/m,
  );
  const sub = await runSyft(["help", "proxy", "nope"]);
  assert.equal(sub.code, 2);
  assert.match(sub.stderr, /unknown help topic "proxy nope" \(syft proxy has: serve, health/);
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

Deno.test("syft errors print one line naming the command, and the stack with --log-level debug", async () => {
  await using ws = await tempWorkspace();
  const env = { SYFT_HOME: ws.path };
  const missing = `${ws.path}/nope.json`;
  const quiet = await runSyft(["--config", missing, "up"], { env });
  assert.equal(quiet.code, 1);
  const lines = quiet.stderr.trim().split("\n");
  assert.equal(lines.length, 1, quiet.stderr);
  assert.match(
    lines[0]!,
    /^syft up: Cannot use SyftBox config ".*nope\.json" \(given with --config\): the file does not exist$/,
  );
  const debug = await runSyft(["--log-level", "debug", "--config", missing, "up"], { env });
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /at ensureSyftHome/);
});

Deno.test("syft --log-level debug says which config a command uses and why", async () => {
  await using ws = await tempWorkspace();
  const home = `${ws.path}/home`;
  // Nothing yet: the syft home's config, which `init` creates.
  const init = await runSyft(["--log-level", "debug", "init"], { env: { HOME: home } });
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stderr, /SyftBox config \S*\.syft\/config\.json \(the syft home.s config/);
  // A SyftBox client's own config wins over the syft home.
  await Deno.mkdir(`${home}/.syftbox`, { recursive: true });
  await Deno.writeTextFile(
    `${home}/.syftbox/config.json`,
    JSON.stringify({ data_dir: `${home}/SyftBox`, email: "alice@example.org" }),
  );
  const requests = await runSyft(["--log-level", "debug", "rpc", "requests"], {
    env: { HOME: home },
  });
  assert.equal(requests.code, 0, requests.stderr);
  assert.match(requests.stderr, /\.syftbox\/config\.json \(a SyftBox client's own config/);
});
