import assert from "node:assert/strict";
import { createEchoApp } from "../../lib/rpc/echo.ts";
import { runSyft, spawnSyft } from "../_helpers/cli.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

const EMAIL = "alice@localhost.dev";

Deno.test("syft proxy --help lists the subcommands with examples", async () => {
  const run = await runSyft(["proxy", "--help"]);
  assert.equal(run.code, 0, run.stderr);
  for (const sub of ["serve", "health", "info", "test-request", "call", "status"]) {
    assert.match(run.stdout, new RegExp(`^\\s+${sub}\\b`, "m"), sub);
  }
  const serve = await runSyft(["proxy", "serve", "--help"]);
  assert.match(serve.stdout, /--store <store>/);
  assert.match(serve.stdout, /PROXY_API_KEY/);
  assert.match(serve.stdout, /Examples:/);
});

Deno.test("syft proxy serve + health, info, test-request, call, status as subprocesses", async () => {
  await using ws = await tempWorkspace();
  const env = { SYFT_HOME: ws.path, USER: "alice", PROXY_STORE: "bogus" };
  // The flag overrides PROXY_STORE.
  await using proc = spawnSyft(["proxy", "serve", "--port", "0", "--store", "memory"], { env });
  // proxy serve creates the workspace, as syft up does.
  const line = await proc.waitForLine(/listening on http:\/\/127\.0\.0\.1:\d+/);
  const url = /(http:\/\/\S+)/.exec(line)![1]!;
  await using _echo = await (async () => {
    const app = createEchoApp({
      workspace: { dataDir: `${ws.path}/data`, email: EMAIL },
      cleanupInterval: 0,
    });
    await app.start();
    return { [Symbol.asyncDispose]: () => app.stop() };
  })();
  const cli = (args: string[]) => runSyft([...args, "--url", url], { env: { SYFT_HOME: ws.path } });

  const health = await cli(["proxy", "health"]);
  assert.equal(health.code, 0, health.stderr);
  assert.match(health.stdout, /^healthy: /);

  const info = await runSyft(["--json", "proxy", "info", "--url", url]);
  assert.equal(info.code, 0, info.stderr);
  const i = JSON.parse(info.stdout);
  assert.equal(i.name, "syft-proxy");
  assert.equal(i.store, "memory");
  assert.equal(i.email, EMAIL);

  const test = await cli(["proxy", "test-request"]);
  assert.equal(test.code, 0, test.stderr);
  assert.match(
    test.stdout,
    /echo from echo on alice@localhost\.dev: \{"msg":"hello from syft proxy test-request"/,
  );
  assert.match(test.stdout, /round trip: [\d.]+ ms/);

  const call = await cli([
    "proxy",
    "call",
    "echo",
    "echo",
    "--to",
    EMAIL,
    "--params",
    '{"a":[1,2]}',
  ]);
  assert.equal(call.code, 0, call.stderr);
  assert.deepEqual(JSON.parse(call.stdout), { a: [1, 2] });

  const noWait = await cli(["proxy", "call", "echo", "ping", "--to", EMAIL, "--no-wait"]);
  assert.equal(noWait.code, 0, noWait.stderr);
  const id = noWait.stdout.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  const status = await cli(["proxy", "status", id, "--wait", "10"]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^${id}: completed \\(200\\)`));
  assert.match(status.stdout, /result: \{"msg":"pong"/);

  // No such app on the datasite: at once, naming what is missing.
  const missing = await cli(["proxy", "call", "nobody", "x", "--to", EMAIL, "--timeout", "30"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^syft proxy call: No app "nobody" on alice@localhost\.dev/);
  // A folder with no app behind it: the wait runs out, exit 124 as every timeout.
  await Deno.mkdir(`${ws.path}/data/datasites/${EMAIL}/app_data/idle/rpc/x`, { recursive: true });
  const timeout = await cli(["proxy", "call", "idle", "x", "--timeout", "0.3"]);
  assert.equal(timeout.code, 124);
  assert.match(
    timeout.stderr,
    /^syft proxy call: No response to request [0-9a-f-]{36} within 0\.3 s/,
  );
  // test-request names the datasite and whether an echo app is there or silent.
  const noEcho = await cli(["proxy", "test-request", "--app", "nobody"]);
  assert.equal(noEcho.code, 1);
  assert.match(
    noEcho.stderr,
    /^syft proxy test-request: No echo app "nobody" answers on alice@localhost\.dev through http:\/\/127\.0\.0\.1:\d+: No app "nobody"/,
  );
  await Deno.mkdir(`${ws.path}/data/datasites/${EMAIL}/app_data/mute/rpc/echo`, {
    recursive: true,
  });
  const silent = await cli(["proxy", "test-request", "--app", "mute", "--timeout", "0.3"]);
  assert.equal(silent.code, 124);
  assert.match(
    silent.stderr,
    /No answer from the echo app "mute" on alice@localhost\.dev within 0\.3 s: its folder exists, but no app answered/,
  );

  const badParams = await cli(["proxy", "call", "echo", "echo", "--to", EMAIL, "--params", "{x"]);
  assert.notEqual(badParams.code, 0);
  assert.match(badParams.stderr, /not valid JSON/);

  const unknown = await cli(["proxy", "status", crypto.randomUUID()]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /HTTP 404/);

  const { code } = await proc.stop("SIGINT");
  assert.equal(code, 0);
  assert.match(proc.lines.join("\n"), /syft proxy: stopped/);
});

Deno.test("syft proxy health exits 1 when no proxy answers", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const run = await runSyft(["proxy", "health", "--url", `http://127.0.0.1:${port}`]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /^unhealthy: /);
});

Deno.test("syft proxy serve honours PROXY_* variables, requires the API key and refuses bad values", async () => {
  await using ws = await tempWorkspace();
  await using proc = spawnSyft(["--json", "proxy", "serve"], {
    env: { SYFT_HOME: ws.path, PROXY_PORT: "0", PROXY_STORE: "memory", PROXY_API_KEY: "k9" },
  });
  const line = await proc.waitForLine(/"event":"listening"/);
  const report = JSON.parse(line);
  assert.equal(report.store, "memory");
  assert.equal(report.auth, "api-key");
  const denied = await runSyft(["proxy", "info", "--url", report.url], {
    env: { PROXY_API_KEY: "" },
  });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /HTTP 401/);
  const allowed = await runSyft(["proxy", "info", "--url", report.url], {
    env: { PROXY_API_KEY: "k9" },
  });
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal((await proc.stop("SIGTERM")).code, 0);

  const badStore = await runSyft(["proxy", "serve", "--store", "postgres://x"], {
    env: { SYFT_HOME: ws.path },
  });
  assert.equal(badStore.code, 2);
  assert.match(badStore.stderr, /Cannot use request store "postgres:\/\/x"/);
  const badRate = await runSyft(["proxy", "serve", "--rate-limit", "lots"], {
    env: { SYFT_HOME: ws.path },
  });
  assert.notEqual(badRate.code, 0);
  assert.match(badRate.stderr, /Cannot parse rate limit "lots"/);
});

Deno.test("syft up starts the proxy with its KV store in the workspace", async () => {
  await using ws = await tempWorkspace();
  await using proc = spawnSyft(["--json", "up", "--any-port"], {
    env: { SYFT_HOME: ws.path, USER: "alice" },
  });
  const report = JSON.parse(await proc.waitForLine(/"event":"up"/));
  const proxy = report.services.find((s: { name: string }) => s.name === "proxy");
  assert.ok(proxy, JSON.stringify(report.services));
  assert.match(proxy.where, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = await runSyft(["proxy", "health", "--url", proxy.where]);
  assert.equal(health.code, 0, health.stderr);
  const info = JSON.parse(
    (await runSyft(["--json", "proxy", "info", "--url", proxy.where])).stdout,
  );
  assert.equal(info.store, "kv");
  assert.equal((await proc.stop("SIGINT")).code, 0);
});

Deno.test("syft proxy serve with its port taken says so in one line", async () => {
  await using ws = await tempWorkspace();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = blocker.addr.port;
    const run = await runSyft(["proxy", "serve", "--port", String(port), "--store", "memory"], {
      env: { HOME: ws.path },
    });
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr.trim(),
      `syft proxy serve: the proxy cannot listen on 127.0.0.1:${port} (in use); use --port (0 picks a free one)`,
    );
  } finally {
    blocker.close();
  }
});
