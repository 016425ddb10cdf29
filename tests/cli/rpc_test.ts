import assert from "node:assert/strict";
import { join } from "node:path";
import { runSyft, spawnSyft } from "../_helpers/cli.ts";
import { tempWorkspace, waitFor } from "../_helpers/workspace.ts";

const LIB = new URL("../../lib/rpc/mod.ts", import.meta.url).href;
const ME = "me@example.com";

async function initWorkspace(dir: string): Promise<Record<string, string>> {
  const env = { SYFTBOX_CLIENT_CONFIG_PATH: join(dir, "config.json") };
  const run = await runSyft(["init", "--data-dir", join(dir, "data"), "--email", ME], { env });
  assert.equal(run.code, 0, run.stderr);
  return env;
}

Deno.test("syft init writes a config once and creates the datasite", async () => {
  await using ws = await tempWorkspace();
  const config = join(ws.path, "box", "config.json");
  const first = await runSyft(
    ["--json", "--config", config, "init", "--data-dir", join(ws.path, "data"), "--email", ME],
  );
  assert.equal(first.code, 0, first.stderr);
  const info = JSON.parse(first.stdout);
  assert.equal(info.created, true);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(config)), {
    data_dir: join(ws.path, "data"),
    email: ME,
    server_url: "https://syftbox.net",
  });
  assert.ok((await Deno.stat(join(ws.path, "data", "datasites", ME))).isDirectory);
  // SYFTBOX_CLIENT_CONFIG_PATH is respected, and an existing config is kept.
  const again = await runSyft(["init", "--email", "other@example.com"], {
    env: { SYFTBOX_CLIENT_CONFIG_PATH: config },
  });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Using the existing config/);
  assert.equal(JSON.parse(await Deno.readTextFile(config)).email, ME);
  const bad = await runSyft([
    "--config",
    join(ws.path, "x.json"),
    "init",
    "--email",
    "nobody@localhost",
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Cannot use e-mail "nobody@localhost"/);
});

Deno.test("syft rpc echo serves and syft rpc call prints status, headers and body", async () => {
  await using ws = await tempWorkspace();
  const env = await initWorkspace(ws.path);
  await using echo = spawnSyft(["rpc", "echo"], { env });
  await echo.waitForLine(/Press Ctrl-C to stop/);
  const url = `syft://${ME}/app_data/echo/rpc/echo`;
  const call = await runSyft(
    ["rpc", "call", url, "-X", "POST", "--body", '{"hi":1}', "-H", "Content-Type:application/json"],
    { env },
  );
  assert.equal(call.code, 0, call.stderr);
  assert.deepEqual(JSON.parse(call.stdout), {
    status_code: 200,
    headers: { "Content-Type": "application/json" },
    body: { hi: 1 },
  });
  const ping = await runSyft(["rpc", "call", `syft://${ME}/app_data/echo/rpc/ping`, "--no-cache"], {
    env,
  });
  assert.equal(JSON.parse(ping.stdout).body.msg, "pong");
  // A body from stdin and from a file; text that is not JSON comes back as text.
  const fromStdin = await runSyft(["rpc", "call", url, "--body", "-"], {
    env,
    stdin: "plain text",
  });
  assert.equal(JSON.parse(fromStdin.stdout).body, "plain text");
  await Deno.writeTextFile(join(ws.path, "body.json"), '{"from":"file"}');
  const fromFile = await runSyft(["rpc", "call", url, "--body", `@${join(ws.path, "body.json")}`], {
    env,
  });
  assert.deepEqual(JSON.parse(fromFile.stdout).body, { from: "file" });
  const { code, stderr } = await echo.stop("SIGINT");
  assert.equal(code, 0, stderr);
  assert.match(await echo.waitForLine(/syft rpc: stopped/), /\(4 answered\)/);
});

Deno.test("syft rpc call exits non-zero on an error status, a timeout and bad input", async () => {
  await using ws = await tempWorkspace();
  const env = await initWorkspace(ws.path);
  const module = join(ws.path, "app.ts");
  await Deno.writeTextFile(
    module,
    `import { reply, SyftEvents } from "${LIB}";
export const app = new SyftEvents("errs");
app.onRequest("/missing", () => reply({ error: "no such thing" }, { status: 404 }));
`,
  );
  await using server = spawnSyft(["rpc", "serve", module], { env });
  await server.waitForLine(/Press Ctrl-C to stop/);
  const missing = await runSyft(["rpc", "call", `syft://${ME}/app_data/errs/rpc/missing`], { env });
  assert.equal(missing.code, 1);
  assert.deepEqual(JSON.parse(missing.stdout), {
    status_code: 404,
    headers: {},
    body: { error: "no such thing" },
  });
  assert.match(missing.stderr, /failed with status 404/);
  // No such app here: at once, naming what is missing (nothing is written).
  const nobody = `syft://${ME}/app_data/nobody/rpc/x`;
  const missingApp = await runSyft(["rpc", "call", nobody, "--timeout", "30"], { env });
  assert.equal(missingApp.code, 1);
  assert.match(
    missingApp.stderr,
    /^syft rpc call: No app "nobody" on me@example\.com \(no folder .*app_data\/nobody\/rpc\)/,
  );
  const missingSite = await runSyft(["rpc", "call", "syft://zed@example.com/app_data/echo/rpc/x"], {
    env,
  });
  assert.equal(missingSite.code, 1);
  assert.match(missingSite.stderr, /No datasite zed@example\.com in /);
  const missingEndpoint = await runSyft(["rpc", "call", `syft://${ME}/app_data/errs/rpc/nope`], {
    env,
  });
  assert.equal(missingEndpoint.code, 1);
  assert.match(missingEndpoint.stderr, /App "errs" on me@example\.com has no endpoint "\/nope"/);
  // --no-endpoint-check sends anyway (sync may bring the folder): then it times out.
  const timeout = await runSyft(
    ["rpc", "call", nobody, "--timeout", "0.5", "--no-endpoint-check"],
    { env },
  );
  assert.equal(timeout.code, 124);
  assert.match(timeout.stderr, /Timed out after 500 ms waiting for the response/);
  const badUrl = await runSyft(["rpc", "call", "syft://me@example.com/../x"], { env });
  assert.equal(badUrl.code, 2);
  assert.match(badUrl.stderr, /leave the datasite/);
  const badMethod = await runSyft(["rpc", "call", `syft://${ME}/x`, "-X", "FETCH"], { env });
  assert.equal(badMethod.code, 2);
  assert.match(badMethod.stderr, /Cannot use method "FETCH"/);
  const noConfig = await runSyft(["rpc", "call", `syft://${ME}/x`], {
    env: { SYFTBOX_CLIENT_CONFIG_PATH: join(ws.path, "none.json") },
  });
  assert.equal(noConfig.code, 1);
  assert.match(
    noConfig.stderr,
    /Cannot use SyftBox config ".*none\.json" \(named by \$SYFTBOX_CLIENT_CONFIG_PATH\): the file does not exist/,
  );
  const noWorkspace = await runSyft(["rpc", "call", `syft://${ME}/x`], {
    env: { HOME: join(ws.path, "empty-home") },
  });
  assert.equal(noWorkspace.code, 1);
  assert.match(noWorkspace.stderr, /No syft workspace yet: .* \(run `syft up` or `syft init`/);
});

Deno.test("Ctrl-C during syft rpc call removes its request file and exits 130", async () => {
  await using ws = await tempWorkspace();
  const env = await initWorkspace(ws.path);
  // An endpoint folder with no app behind it: the call waits.
  const dir = join(ws.path, "data", "datasites", ME, "app_data", "idle", "rpc", "wait");
  await Deno.mkdir(dir, { recursive: true });
  await using call = spawnSyft(
    ["rpc", "call", `syft://${ME}/app_data/idle/rpc/wait`, "--no-cache", "--timeout", "60"],
    { env },
  );
  const senderDir = join(dir, ME);
  const request = await waitFor(async () => {
    try {
      for await (const e of Deno.readDir(senderDir)) {
        if (e.name.endsWith(".request")) return join(senderDir, e.name);
      }
    } catch { /* not there yet */ }
    return undefined;
  }, { timeoutMs: 15_000, what: "the request file" });
  const { code, stderr } = await call.stop("SIGINT");
  assert.equal(code, 130, stderr);
  assert.match(stderr, /Interrupted: removed the request /);
  await assert.rejects(Deno.stat(request), Deno.errors.NotFound);
});

Deno.test("syft rpc serve runs a module's app; schema and requests inspect it", async () => {
  await using ws = await tempWorkspace();
  const env = await initWorkspace(ws.path);
  const module = join(ws.path, "calc.ts");
  await Deno.writeTextFile(
    module,
    `import { SyftEvents } from "${LIB}";
import { z } from "zod";
export const app = new SyftEvents("calc");
app.onRequest("/add", { input: z.object({ a: z.number(), b: z.number() }), output: z.number(), description: "Adds" },
  ({ a, b }) => a + b);
`,
  );
  await using server = spawnSyft(["--json", "rpc", "serve", module], { env });
  const line = JSON.parse(await server.waitForLine(/"event":"serving"/));
  assert.equal(line.app, "calc");
  assert.deepEqual(line.endpoints, [`syft://${ME}/app_data/calc/rpc/add`]);
  const add = await runSyft([
    "rpc",
    "call",
    `syft://${ME}/app_data/calc/rpc/add`,
    "--body",
    '{"a":2,"b":3}',
  ], {
    env,
  });
  assert.equal(JSON.parse(add.stdout).body, 5);
  const bad = await runSyft([
    "rpc",
    "call",
    `syft://${ME}/app_data/calc/rpc/add`,
    "--body",
    '{"a":2}',
  ], { env });
  assert.equal(bad.code, 1);
  assert.match(JSON.parse(bad.stdout).body, /Invalid request schema: .*\n {2}→ at b/s);
  const schema = await runSyft(["rpc", "schema", "calc"], { env });
  assert.equal(schema.code, 0, schema.stderr);
  assert.deepEqual(JSON.parse(schema.stdout)["/add"], {
    description: "Adds",
    args: {
      body: {
        type: {
          type: "model",
          name: "AddRequest",
          schema: {
            properties: { a: { title: "A", type: "number" }, b: { title: "B", type: "number" } },
            required: ["a", "b"],
            title: "AddRequest",
            type: "object",
          },
        },
        required: true,
      },
    },
    returns: "float",
  });
  const noSchema = await runSyft(["rpc", "schema", "calc", "--datasite", "x@example.com"], { env });
  assert.equal(noSchema.code, 1);
  assert.match(noSchema.stderr, /Cannot find the schema of app "calc" on x@example.com/);
  await server.stop("SIGTERM");
  // With the server stopped, a request stays pending and is listed.
  const dir = join(
    ws.path,
    "data",
    "datasites",
    ME,
    "app_data",
    "calc",
    "rpc",
    "add",
    "alice@example.com",
  );
  await Deno.mkdir(dir, { recursive: true });
  const id = crypto.randomUUID();
  await Deno.writeTextFile(join(dir, `${id}.request`), "half a request");
  const list = await runSyft(["--json", "rpc", "requests", "--app", "calc"], { env });
  assert.equal(list.code, 0, list.stderr);
  const items = list.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(items.length, 1);
  assert.equal(items[0].id, id);
  assert.equal(items[0].endpoint, "/add");
  assert.equal(items[0].folder, "alice@example.com");
  assert.match(items[0].error, /Invalid request/);
  const human = await runSyft(["rpc", "requests"], { env });
  assert.match(human.stdout, /1 pending request/);
  const notApp = await runSyft(["rpc", "serve", join(ws.path, "none.ts")], { env });
  assert.equal(notApp.code, 1);
  assert.match(notApp.stderr, /Cannot load module/);
});

Deno.test("syft watch prints matching changes as JSON lines", async () => {
  await using ws = await tempWorkspace();
  const env = await initWorkspace(ws.path);
  await using watch = spawnSyft(["watch", "{datasite}/**/*.json", "--events", "create,remove"], {
    env,
  });
  await watch.waitForLine(/"event":"watching"/);
  const file = join(ws.path, "data", "datasites", ME, "public", "x.json");
  await Deno.mkdir(join(ws.path, "data", "datasites", ME, "public"), { recursive: true });
  await Deno.writeTextFile(file, "{}");
  await Deno.writeTextFile(join(ws.path, "data", "datasites", ME, "public", "x.txt"), "no");
  const created = JSON.parse(await watch.waitForLine(/"kind":"create"/));
  assert.equal(created.path, file);
  assert.equal(created.rel, `${ME}/public/x.json`);
  await Deno.remove(file);
  const removed = JSON.parse(await watch.waitForLine(/"kind":"remove"/));
  assert.equal(removed.path, file);
  await waitFor(() => true);
  assert.ok(!watch.lines.some((l) => l.includes("x.txt")));
  const bad = await runSyft(["watch", "**/*", "--events", "rename"], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Cannot watch for "rename" events/);
});

Deno.test("syft up runs the rpc-echo service for the workspace's datasite", async () => {
  await using ws = await tempWorkspace();
  const home = join(ws.path, "home");
  await using up = spawnSyft(["--json", "up", "--any-port"], {
    env: { SYFT_HOME: home, USER: "ada" },
  });
  const report = JSON.parse(await up.waitForLine(/"event":"up"/, 30_000));
  const service = report.services.find((s: { name: string }) => s.name === "rpc-echo");
  assert.equal(service.where, "syft://ada@localhost.dev/app_data/echo/rpc");
  const call = await runSyft(
    [
      "--config",
      join(home, "config.json"),
      "rpc",
      "call",
      `${service.where}/echo`,
      "--body",
      '"hi"',
    ],
  );
  assert.equal(call.code, 0, call.stderr);
  assert.equal(JSON.parse(call.stdout).body, "hi");
  assert.equal((await up.stop("SIGINT")).code, 0);
});
