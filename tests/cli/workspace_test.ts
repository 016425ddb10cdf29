import assert from "node:assert/strict";
import { join } from "node:path";
import { runSyft, spawnSyft } from "../_helpers/cli.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

Deno.test("one workspace: syft init, rpc echo, proxy serve and curl /rpc/send meet without --config", async () => {
  await using ws = await tempWorkspace();
  const env = { HOME: ws.path, USER: "alice" };
  const init = await runSyft(["--json", "init"], { env });
  assert.equal(init.code, 0, init.stderr);
  const made = JSON.parse(init.stdout);
  assert.equal(made.created, true);
  assert.equal(made.config, join(ws.path, ".syft", "config.json"));
  assert.equal(made.email, "alice@localhost.dev");
  await using echo = spawnSyft(["rpc", "echo"], { env });
  await echo.waitForLine(/Press Ctrl-C to stop/);
  await using proxy = spawnSyft(["--json", "proxy", "serve", "--port", "0", "--store", "memory"], {
    env,
  });
  const listening = JSON.parse(await proxy.waitForLine(/"event":"listening"/));
  assert.equal(listening.email, "alice@localhost.dev");
  assert.equal(listening.config, made.config);
  const res = await fetch(`${listening.url}/rpc/send`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      app_name: "echo",
      func_name: "echo",
      destination: "alice@localhost.dev",
      params: { hi: 1 },
    }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.status, "completed");
  assert.deepEqual(body.result, { hi: 1 });
  // The same through the CLI clients, which find the same workspace.
  const call = await runSyft(["rpc", "call", "syft://alice@localhost.dev/app_data/echo/rpc/ping"], {
    env,
  });
  assert.equal(call.code, 0, call.stderr);
  assert.equal(JSON.parse(call.stdout).body.msg, "pong");
  const viaProxy = await runSyft(["proxy", "call", "echo", "echo", "--params", '{"x":2}'], {
    env: { ...env, PROXY_URL: listening.url },
  });
  assert.equal(viaProxy.code, 0, viaProxy.stderr);
  assert.deepEqual(JSON.parse(viaProxy.stdout), { x: 2 });
  // A datasite that does not exist answers at once, naming it (it used to hang for minutes).
  const started = performance.now();
  const none = await fetch(`${listening.url}/rpc?blocking=true`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      app_name: "echo",
      url: "syft://bob@example.com/app_data/echo/rpc/ping",
    }),
  });
  const noneBody = await none.json();
  assert.equal(none.status, 404);
  assert.match(noneBody.message, /No datasite bob@example\.com in /);
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("proxy serve and up honour $SYFTBOX_CLIENT_CONFIG_PATH and a SyftBox client's own config", async () => {
  await using ws = await tempWorkspace();
  const box = join(ws.path, "box");
  await Deno.mkdir(box, { recursive: true });
  const envConfig = join(box, "config.json");
  await Deno.writeTextFile(
    envConfig,
    JSON.stringify({ data_dir: join(box, "data"), email: "env@example.org" }),
  );
  const env = { HOME: join(ws.path, "home"), SYFTBOX_CLIENT_CONFIG_PATH: envConfig };
  await using proxy = spawnSyft(["--json", "proxy", "serve", "--port", "0", "--store", "memory"], {
    env,
  });
  const listening = JSON.parse(await proxy.waitForLine(/"event":"listening"/));
  assert.equal(listening.email, "env@example.org");
  assert.equal(listening.config, envConfig);
  await proxy.stop();

  // A SyftBox client's own ~/.syftbox/config.json, when it exists, is the workspace; state stays
  // in the syft home.
  const home = join(ws.path, "user");
  await Deno.mkdir(join(home, ".syftbox"), { recursive: true });
  await Deno.writeTextFile(
    join(home, ".syftbox", "config.json"),
    JSON.stringify({ data_dir: join(home, "SyftBox"), email: "real@example.org" }),
  );
  await using up = spawnSyft(["--json", "up", "--any-port", "--skip", "ensync,hub"], {
    env: { HOME: home },
  });
  const report = JSON.parse(await up.waitForLine(/"event":"up"/, 30_000));
  assert.equal(report.email, "real@example.org");
  assert.equal(report.config, join(home, ".syftbox", "config.json"));
  assert.match(report.reason, /a SyftBox client's own config/);
  assert.equal(report.state, join(home, ".syft", "state", "syft.kv"));
  assert.equal(report.datasite, join(home, "SyftBox", "datasites", "real@example.org"));
  assert.equal((await up.stop("SIGINT")).code, 0);
});
