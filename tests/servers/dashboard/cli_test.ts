/** `syft dashboard` (servers by URL, through their /live routes) and the dashboard's `syft up` checks. */
import assert from "node:assert/strict";
import { serveHub } from "../../../servers/hub/main.ts";
import type { DashboardSnapshot } from "../../../servers/dashboard/mod.ts";
import { runSyft, spawnSyft } from "../../_helpers/cli.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";

Deno.test("syft dashboard needs a --url and says what to do, and refuses a URL that is not a syft server", async () => {
  const none = await runSyft(["dashboard", "--port", "0"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Give at least one --url/);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("hi"),
  );
  try {
    const wrong = await runSyft([
      "dashboard",
      "--port",
      "0",
      "--no-workspace",
      "--url",
      `http://127.0.0.1:${server.addr.port}`,
    ]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /Cannot read the live state of http:\/\/127\.0\.0\.1:\d+/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("syft dashboard --url shows a running hub through /live and disconnects a client from the API", async () => {
  const hub = await serveHub({ port: 0 });
  try {
    await using proc = spawnSyft([
      "dashboard",
      "--port",
      "0",
      "--no-workspace",
      "--url",
      hub.wsUrl,
    ]);
    const line = await proc.waitForLine(/^syft dashboard on http:/);
    const url = line.split(" ")[3]!;
    const socket = new WebSocket(hub.wsUrl);
    const closed = new Promise<number>((resolve) => socket.onclose = (e) => resolve(e.code));
    await new Promise((r) => socket.onopen = r);
    const id = await waitFor(async () => {
      const s = await (await fetch(`${url}/api/state`)).json() as DashboardSnapshot;
      assert.deepEqual(s.services.map((x) => [x.name, x.state]), [["hub", "running"]]);
      return (s.parts.hub?.state as { connections?: { id: string }[] } | null)?.connections?.[0]
        ?.id;
    }, { what: "the hub connection on the dashboard", timeoutMs: 10_000 });
    const html = await (await fetch(url)).text();
    const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(html)![1]!;
    const res = await fetch(`${url}/api/actions/hub/disconnect`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ id }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.body?.cancel();
    assert.equal(await closed, 1000);
    assert.equal((await proc.stop("SIGINT")).code, 0);
  } finally {
    await hub.shutdown();
  }
});

Deno.test("syft up and syft dashboard refuse a non-loopback bind without --dashboard-token, before starting anything", async () => {
  await using ws = await tempWorkspace();
  const up = await runSyft(["up", "--host", "0.0.0.0", "--any-port"], {
    env: { SYFT_HOME: ws.path },
  });
  assert.equal(up.code, 2);
  assert.match(up.stderr, /cannot serve on 0\.0\.0\.0 without a token: pass --dashboard-token/);
  assert.doesNotMatch(up.stdout, /is up/);
  const hub = await serveHub({ port: 0 });
  try {
    const dash = await runSyft([
      "dashboard",
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--no-workspace",
      "--url",
      hub.wsUrl,
    ]);
    assert.equal(dash.code, 2);
    assert.match(dash.stderr, /without a token: pass --dashboard-token/);
  } finally {
    await hub.shutdown();
  }
});
