import assert from "node:assert/strict";
import { runSyft, spawnSyft } from "../_helpers/cli.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

Deno.test("syft up creates the workspace, reports it and stops cleanly on Ctrl-C", async () => {
  await using ws = await tempWorkspace();
  const home = `${ws.path}/home`;
  await using proc = spawnSyft(["up", "--any-port"], { env: { SYFT_HOME: home, USER: "alice" } });
  await proc.waitForLine(/Press Ctrl-C to stop/);
  const out = proc.lines.join("\n");
  assert.match(out, /is up \(new workspace\)/);
  assert.match(out, /alice@localhost\.dev/);
  const config = JSON.parse(await Deno.readTextFile(`${home}/config.json`));
  assert.deepEqual(config, {
    data_dir: `${home}/data`,
    email: "alice@localhost.dev",
    server_url: "https://syftbox.net",
  });
  assert.ok((await Deno.stat(`${home}/data/datasites/alice@localhost.dev`)).isDirectory);
  const { code } = await proc.stop("SIGINT");
  assert.equal(code, 0);
  assert.match(proc.lines.join("\n"), /syft: stopped/);
});

Deno.test("syft up --json reports services as JSON and keeps an existing config", async () => {
  await using ws = await tempWorkspace();
  const home = `${ws.path}/home`;
  await Deno.mkdir(home);
  await Deno.writeTextFile(
    `${home}/config.json`,
    JSON.stringify({ sync_folder: `${ws.path}/box`, email: "bob@example.org" }),
  );
  await using proc = spawnSyft(["--json", "up", "--any-port"], { env: { SYFT_HOME: home } });
  const line = await proc.waitForLine(/"event":"up"/);
  const report = JSON.parse(line);
  assert.equal(report.email, "bob@example.org");
  assert.equal(report.created, false);
  assert.equal(report.datasite, `${ws.path}/box/datasites/bob@example.org`);
  assert.ok(Array.isArray(report.services));
  assert.equal((await proc.stop("SIGTERM")).code, 0);
  assert.match(proc.lines.at(-1)!, /"event":"stopped"/);
});

Deno.test("syft up --skip refuses an unknown service name", async () => {
  await using ws = await tempWorkspace();
  const run = await runSyft(["up", "--skip", "nosuch"], { env: { SYFT_HOME: ws.path } });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /Cannot skip "nosuch": no such service/);
});
