import assert from "node:assert/strict";
import { runSyft, spawnSyft } from "../_helpers/cli.ts";
import { tempWorkspace, waitFor } from "../_helpers/workspace.ts";
import { rawPeer } from "../lib/hub/_helpers.ts";

async function status(httpUrl: string): Promise<{ rooms: Record<string, number> }> {
  return await (await fetch(`${httpUrl}/`)).json();
}

Deno.test("syft hub --help teaches serve, send and listen with examples", async () => {
  const run = await runSyft(["hub", "--help"]);
  assert.equal(run.code, 0, run.stderr);
  for (const sub of ["serve", "send", "listen"]) {
    assert.match(run.stdout, new RegExp(`^\\s+${sub} `, "m"));
  }
  assert.match(run.stdout, /Examples:/);
  const serve = await runSyft(["hub", "serve", "--help"]);
  for (const opt of ["--host", "--port", "--path", "--redis", "--token", "--max-frame"]) {
    assert.ok(serve.stdout.includes(opt), `serve --help lacks ${opt}`);
  }
  assert.match(serve.stdout, /POST \/publish/);
  const send = await runSyft(["hub", "send", "--help"]);
  assert.match(send.stdout, /Usage: syft hub send \[options\] <ws-url> <event> \[payload-json\]/);
  assert.match(send.stdout, /-H, --header <K:V>/);
  const listen = await runSyft(["hub", "listen", "--help"]);
  assert.match(listen.stdout, /--event <name>/);
  assert.match(listen.stdout, /--room <room>/);
});

Deno.test("syft hub serve, listen and send work together as subprocesses", async () => {
  await using serve = spawnSyft(["hub", "serve", "--port", "0"]);
  const line = await serve.waitForLine(/listening on ws:\/\//);
  const wsUrl = line.match(/(ws:\/\/\S+)/)![1]!;
  const httpUrl = wsUrl.replace(/^ws:/, "http:").replace(/\/ws$/, "");

  await using listen = spawnSyft([
    "hub",
    "listen",
    wsUrl,
    "--room",
    "ops",
    "--event",
    "deploy",
    "--count",
    "1",
  ]);
  await waitFor(async () => (await status(httpUrl)).rooms.ops === 1, {
    timeoutMs: 15_000,
    what: "the listener to join room ops",
  });
  // Not in the filter: ignored by the listener.
  const other = await runSyft(["hub", "send", wsUrl, "chat", '"hi lobby"']);
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /^sent chat to ws:\/\/127\.0\.0\.1:\d+\/ws$/m);
  const sent = await runSyft(["hub", "send", wsUrl, "deploy", '{"v":2}', "--room", "ops"]);
  assert.equal(sent.code, 0, sent.stderr);
  const got = await listen.waitForLine(/"eventName"/);
  assert.deepEqual(JSON.parse(got), {
    eventName: "deploy",
    payload: { v: 2 },
    headers: { room: "ops" },
  });
  const { code } = await listen.child.status;
  assert.equal(code, 0, "--count 1 exits after one event");
  assert.equal(listen.lines.length, 1);

  const stopped = await serve.stop("SIGINT");
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(serve.lines.join("\n"), /syft hub: stopped/);
});

Deno.test("syft hub send reports bad payloads, refused events and unreachable hubs", async () => {
  await using serve = spawnSyft(["--json", "hub", "serve", "--port", "0", "--token", "s3cret"]);
  const info = JSON.parse(await serve.waitForLine(/"event":"listening"/));
  assert.equal(info.auth, true);
  const wsUrl: string = info.ws;

  const badJson = await runSyft(["hub", "send", wsUrl, "x", "{oops", "--token", "s3cret"]);
  assert.equal(badJson.code, 2);
  assert.match(badJson.stderr, /Cannot parse payload as JSON/);

  const noToken = await runSyft(["hub", "send", wsUrl, "x"]);
  assert.equal(noToken.code, 1);
  assert.equal(
    noToken.stderr.trim(),
    "syft hub send: the hub requires a token: pass --token (or set SYFT_HUB_TOKEN)",
  );
  const wrongToken = await runSyft(["hub", "send", wsUrl, "x", "--token", "nope"]);
  assert.equal(wrongToken.code, 1);
  assert.match(wrongToken.stderr, /the hub refused the token given with --token \(401\)/);

  const refused = await runSyft([
    "hub",
    "send",
    wsUrl,
    "x",
    "1",
    "-H",
    "room:elsewhere",
    "--token",
    "s3cret",
  ]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /The hub refused "x": Cannot send "x" to room "elsewhere"/);
  assert.match(refused.stderr, /use --room to join it first/);

  const ok = await runSyft([
    "--json",
    "hub",
    "send",
    wsUrl,
    "x",
    "-",
    "--token",
    "s3cret",
  ], { stdin: '{"from":"stdin"}' });
  assert.equal(ok.code, 0, ok.stderr);
  const result = JSON.parse(ok.stdout);
  assert.equal(result.sent, true);
  assert.match(result.url, /token=\*\*\*/, "the token is not printed");

  const badUrl = await runSyft(["hub", "send", "http://127.0.0.1:1/ws", "x"]);
  assert.equal(badUrl.code, 2);
  assert.match(badUrl.stderr, /expected a ws:\/\/ or wss:\/\/ URL/);

  assert.equal((await serve.stop("SIGTERM")).code, 0);
  assert.match(serve.lines.at(-1)!, /"event":"stopped"/);
});

Deno.test("syft hub serve refuses a port in use with one line that says what to do", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = blocker.addr.port;
    const run = await runSyft(["hub", "serve", "--port", String(port)]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr.trim(),
      `syft hub serve: the hub cannot listen on 127.0.0.1:${port} (in use); use --port (0 picks a free one)`,
    );
  } finally {
    blocker.close();
  }
});

Deno.test("syft hub listen to a hub that wants a token exits 1 saying so, without retrying", async () => {
  await using serve = spawnSyft(["--json", "hub", "serve", "--port", "0", "--token", "s3cret"]);
  const info = JSON.parse(await serve.waitForLine(/"event":"listening"/));
  const run = await runSyft(["hub", "listen", info.ws]);
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr.trim(),
    "syft hub listen: the hub requires a token: pass --token (or set SYFT_HUB_TOKEN)",
  );
  assert.doesNotMatch(run.stderr, /reconnecting/);
});

Deno.test("syft hub listen logs no OFFLINE/reconnecting at start or on Ctrl-C; hub serve says it stopped", async () => {
  await using serve = spawnSyft(["hub", "serve", "--port", "0"]);
  const wsUrl = (await serve.waitForLine(/listening on ws:\/\//)).match(/(ws:\/\/\S+)/)![1]!;
  const httpUrl = wsUrl.replace(/^ws:/, "http:").replace(/\/ws$/, "");
  await using listen = spawnSyft(["hub", "listen", wsUrl]);
  await waitFor(async () => (await status(httpUrl)).rooms.lobby === 1, {
    timeoutMs: 15_000,
    what: "the listener to connect",
  });
  const { code, stderr } = await listen.stop("SIGINT");
  assert.equal(code, 0, stderr);
  assert.match(stderr, /^listening on ws:\/\//m);
  assert.doesNotMatch(stderr, /OFFLINE|ERROR|reconnecting/);
  const stopped = await serve.stop("SIGINT");
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(serve.lines.at(-1), "syft hub: stopped");
});

Deno.test("syft up starts the relay hub and stops it cleanly", async () => {
  await using ws = await tempWorkspace();
  await using up = spawnSyft(["--json", "up", "--any-port"], { env: { SYFT_HOME: ws.path } });
  const report = JSON.parse(await up.waitForLine(/"event":"up"/));
  const hub = report.services.find((s: { name: string }) => s.name === "hub");
  assert.ok(hub, `no hub service in ${JSON.stringify(report.services)}`);
  assert.match(hub.where, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
  const peer = await rawPeer(hub.where);
  peer.send('{"eventName":"$join","payload":{"room":"ops"}}');
  assert.equal(await peer.next(), '{"eventName":"$joined","payload":{"room":"ops"},"headers":{}}');
  assert.equal((await up.stop("SIGINT")).code, 0);
  assert.equal((await peer.closed).code, 1001);
});
