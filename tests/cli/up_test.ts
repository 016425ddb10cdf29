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

Deno.test("a second syft up on the same home refuses, naming the first; syft info lists it", async () => {
  await using ws = await tempWorkspace();
  const env = { HOME: ws.path };
  await using first = spawnSyft(["--json", "up", "--any-port", "--skip", "ensync"], { env });
  const report = JSON.parse(await first.waitForLine(/"event":"up"/, 30_000));
  const second = await runSyft(["up", "--any-port"], { env });
  assert.equal(second.code, 1);
  assert.match(
    second.stderr.trim(),
    new RegExp(
      `^syft up: syft up \\(pid ${first.child.pid}, since \\S+\\) already runs in ${ws.path}/\\.syft; stop it first, or use another workspace \\(set SYFT_HOME to another directory\\)$`,
    ),
  );
  // Nor can syft ensync serve take the KV file syft up holds.
  const ensync = await runSyft(["ensync", "serve", "--ws-port", "0", "--grpc-port", "0"], { env });
  assert.equal(ensync.code, 1);
  assert.match(ensync.stderr, /syft up \(pid \d+, .*\) already holds .*ensync\.kv/);

  const info = await runSyft(["--json", "info"], { env });
  assert.equal(info.code, 0, info.stderr);
  const i = JSON.parse(info.stdout);
  assert.equal(i.email, "alice@localhost.dev");
  assert.equal(i.config, `${ws.path}/.syft/config.json`);
  assert.equal(i.source, "syft-home");
  assert.equal(i.running.length, 1);
  assert.equal(i.running[0].pid, first.child.pid);
  const proxy = i.running[0].services.find((s: { name: string }) => s.name === "proxy");
  assert.equal(
    proxy.where,
    report.services.find((s: { name: string }) => s.name === "proxy").where,
  );
  assert.equal(proxy.answers, true);
  const human = await runSyft(["info"], { env });
  assert.match(human.stdout, /^email {5}alice@localhost\.dev$/m);
  assert.match(human.stdout, /^ {2}syft up \(pid \d+, since /m);
  const email = await runSyft(["info", "--field", "email"], { env });
  assert.equal(email.stdout, "alice@localhost.dev\n");

  const stopped = await first.stop("SIGINT");
  assert.equal(stopped.code, 0, stopped.stderr);
  // Stopped: nothing listed, and a new syft up may start.
  const after = JSON.parse((await runSyft(["--json", "info"], { env })).stdout);
  assert.deepEqual(after.running, []);
});

Deno.test("syft up with a port taken says which service, which address, and what to use", async () => {
  await using ws = await tempWorkspace();
  // The hub's default port, held here (skip the others so that only it can clash).
  let blocker: Deno.Listener | undefined;
  try {
    blocker = Deno.listen({ hostname: "127.0.0.1", port: 8765 });
  } catch (err) {
    if (!(err instanceof Deno.errors.AddrInUse)) throw err; // someone else holds it: fine too
  }
  try {
    const run = await runSyft(["up", "--skip", "rpc-echo,proxy,ensync"], {
      env: { HOME: ws.path },
    });
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr.trim(),
      "syft up: the hub cannot listen on 127.0.0.1:8765 (in use); use --any-port, or --skip hub",
    );
    // Nothing is left recorded as running.
    const info = JSON.parse((await runSyft(["--json", "info"], { env: { HOME: ws.path } })).stdout);
    assert.deepEqual(info.running, []);
  } finally {
    blocker?.close();
  }
});

Deno.test("syft up --help lists the service names --skip takes", async () => {
  const run = await runSyft(["up", "--help"]);
  const flat = run.stdout.replace(/\s+/g, " ");
  assert.match(
    flat,
    /--skip <names> comma-separated services not to start: rpc-echo, proxy, hub, ensync/,
  );
  assert.match(run.stdout, /^ {2}proxy {5}HTTP RPC proxy/m);
});
