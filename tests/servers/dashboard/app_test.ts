/**
 * The dashboard's HTTP API against real parts in this process: `/api/state`, the event stream,
 * request details, actions, "try it", the pub/sub panel's data from a provider the test feeds,
 * and the security rules (Host, token, CSRF, Origin).
 */
import assert from "node:assert/strict";
import { createEchoApp } from "../../../lib/rpc/mod.ts";
import {
  createLiveFeed,
  type LiveSource,
  type PubSubLiveEvent,
  type PubSubLiveState,
} from "../../../lib/live/mod.ts";
import { serveHub } from "../../../servers/hub/main.ts";
import {
  DashboardError,
  type DashboardSnapshot,
  startDashboard,
} from "../../../servers/dashboard/mod.ts";
import { createDashboardApp } from "../../../servers/dashboard/app.ts";
import { DashboardCore } from "../../../servers/dashboard/core.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";

/** A pub/sub provider fed by the test (the real part lands in another branch). */
function pubsubProvider(): {
  source: LiveSource;
  feed: ReturnType<typeof createLiveFeed<PubSubLiveEvent>>;
  state: PubSubLiveState;
} {
  const feed = createLiveFeed<PubSubLiveEvent>({ intervalMs: 50 });
  const state: PubSubLiveState = {
    part: "pubsub",
    name: "demo",
    startedAt: Date.now(),
    counters: { published: 0, delivered: 0, dropped: 0 },
    gauges: { subscribers: 1, topics: 1 },
    networks: [{
      name: "shop",
      transport: "redis",
      topics: [{ name: "orders", subscribers: 1, events: 0 }],
    }],
    dropped: {},
  };
  return {
    feed,
    state,
    source: { part: "pubsub", feed, actions: [], state: () => structuredClone(state) },
  };
}

interface Sse {
  events: { event: string; data: unknown }[];
  close(): Promise<void>;
}

async function openSse(url: string): Promise<Sse> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const events: Sse["events"] = [];
  const done = (async () => {
    let buf = "";
    try {
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) =>
            l.slice(6)
          ).join("\n");
          events.push({ event, data: data === "" ? null : JSON.parse(data) });
        }
      }
    } catch { /* aborted */ }
  })();
  return {
    events,
    async close() {
      controller.abort();
      await done;
    },
  };
}

async function csrfOf(url: string): Promise<string> {
  const html = await (await fetch(url)).text();
  return /<meta name="csrf-token" content="([^"]+)"/.exec(html)![1]!;
}

Deno.test("startDashboard() serves /api/state and an event stream of ticks and coalesced feed batches for every part", async () => {
  await using ws = await tempWorkspace();
  const workspace = {
    dataDir: ws.path,
    email: "owner@example.com",
    config: `${ws.path}/config.json`,
  };
  await using echo = createEchoApp({ workspace });
  await echo.start();
  const hub = await serveHub({ port: 0 });
  const pubsub = pubsubProvider();
  try {
    await using dashboard = await startDashboard({
      port: 0,
      sampleMs: 100,
      workspace,
      services: () => [
        {
          name: "rpc-echo",
          where: "syft://owner@example.com/app_data/echo/rpc",
          live: echo.live(),
        },
        { name: "hub", where: hub.wsUrl, live: hub.relay.live },
        { name: "pubsub", where: "redis://127.0.0.1:6379", live: pubsub.source },
        { name: "plain", where: "somewhere" },
      ],
    });
    const state = await (await fetch(`${dashboard.url}/api/state`)).json() as DashboardSnapshot;
    assert.deepEqual(state.services.map((s) => [s.name, s.part, s.state]), [
      ["rpc-echo", "rpc", "running"],
      ["hub", "hub", "running"],
      ["pubsub", "pubsub", "running"],
      ["plain", null, "running"],
    ]);
    assert.equal(state.workspace?.email, "owner@example.com");
    assert.deepEqual(
      state.rpcApps.map((a) => [a.datasite, a.app, a.endpoints.map((e) => e.path)]),
      [["owner@example.com", "echo", ["/echo", "/ping"]]],
    );
    assert.equal(state.parts["hub"]!.state!.part, "hub");
    assert.deepEqual(state.parts["hub"]!.actions, ["disconnect", "join", "leave", "publish"]);
    assert.equal((state.parts["pubsub"]!.state as PubSubLiveState).networks[0]!.name, "shop");

    const sse = await openSse(`${dashboard.url}/api/events`);
    try {
      await waitFor(() => sse.events.some((e) => e.event === "snapshot"), { what: "the snapshot" });
      assert.equal(sse.events[0]!.event, "snapshot");
      await waitFor(() => sse.events.some((e) => e.event === "tick"), { what: "a tick" });
      const tick = sse.events.find((e) => e.event === "tick")!.data as {
        points: Record<string, { rates: Record<string, number> }>;
      };
      assert.ok("eventsReceived" in tick.points["hub"]!.rates);
      // Forty hub events arrive in far fewer stream messages (the feed batches them).
      const a = new WebSocket(hub.wsUrl);
      await new Promise((r) => a.onopen = r);
      for (let i = 0; i < 40; i++) {
        a.send(JSON.stringify({ eventName: "chat", payload: i, headers: {} }));
      }
      const hubBatches = () =>
        sse.events.filter((e) =>
          e.event === "events" && (e.data as { service: string }).service === "hub"
        );
      const hubEvents = () =>
        hubBatches().flatMap((e) => (e.data as { events: { type: string }[] }).events).filter((e) =>
          e.type === "event"
        );
      await waitFor(() => hubEvents().length === 40, { what: "40 hub events on the stream" });
      assert.ok(hubBatches().length < 10, `${hubBatches().length} batches for 40 events`);
      // The pub/sub provider's events reach the stream as well.
      pubsub.state.counters.published = 1;
      pubsub.feed.publish({
        type: "event",
        at: Date.now(),
        network: "shop",
        topic: "orders",
        sender: "a@b",
      });
      await waitFor(
        () =>
          sse.events.some((e) =>
            e.event === "events" && (e.data as { service: string }).service === "pubsub"
          ),
        { what: "the pub/sub event" },
      );
      // Recent events are kept for the next snapshot.
      const again = await (await fetch(`${dashboard.url}/api/state`)).json() as DashboardSnapshot;
      assert.ok(again.recent["hub"]!.length >= 40);
      assert.ok(again.history["hub"]!.t.length >= 2);
      a.close();
    } finally {
      await sse.close();
    }
    await waitFor(() => dashboard.watchers === 0, { what: "the stream to be dropped" });
    assert.equal(
      hub.relay.live.feed.active,
      false,
      "feeds are followed only while someone watches",
    );
  } finally {
    await hub.shutdown();
  }
});

Deno.test("startDashboard() opens a recent request, runs hub actions and an RPC try-it through the API with the CSRF token", async () => {
  await using ws = await tempWorkspace();
  const workspace = {
    dataDir: ws.path,
    email: "owner@example.com",
    config: `${ws.path}/config.json`,
  };
  await using echo = createEchoApp({ workspace });
  await echo.start();
  const hub = await serveHub({ port: 0 });
  try {
    await using dashboard = await startDashboard({
      port: 0,
      sampleMs: 100,
      workspace,
      services: () => [
        {
          name: "rpc-echo",
          where: "syft://owner@example.com/app_data/echo/rpc",
          live: echo.live(),
        },
        { name: "hub", where: hub.wsUrl, live: hub.relay.live },
      ],
    });
    const csrf = await csrfOf(dashboard.url);
    const post = (
      path: string,
      body: unknown,
      headers: Record<string, string> = { "x-csrf-token": csrf },
    ) =>
      fetch(`${dashboard.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });

    const tried = await post("/api/rpc/call", {
      url: echo.url("/echo"),
      method: "POST",
      body: '{"q":42}',
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(tried.status, 200);
    const result = await tried.json();
    assert.equal(result.status, 200);
    assert.deepEqual(JSON.parse(result.bodyText), { q: 42 });
    const detail = await (await fetch(`${dashboard.url}/api/rpc/requests/rpc-echo/${result.id}`))
      .json();
    assert.deepEqual(JSON.parse(detail.result.request.bodyText), { q: 42 });
    const missing = await fetch(
      `${dashboard.url}/api/rpc/requests/rpc-echo/00000000-0000-4000-8000-000000000000`,
    );
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    const client = new WebSocket(hub.wsUrl);
    const closed = new Promise<number>((resolve) => client.onclose = (e) => resolve(e.code));
    await new Promise((r) => client.onopen = r);
    const id = await waitFor(async () => {
      const s = await (await fetch(`${dashboard.url}/api/state`)).json() as DashboardSnapshot;
      return (s.parts["hub"]?.state as { connections?: { id: string }[] } | null)?.connections?.[0]
        ?.id;
    }, { what: "the connection on the dashboard" });
    const noCsrf = await post(`/api/actions/hub/disconnect`, { id }, {});
    assert.equal(noCsrf.status, 403);
    await noCsrf.body?.cancel();
    const crossOrigin = await post(`/api/actions/hub/disconnect`, { id }, {
      "x-csrf-token": csrf,
      origin: "http://evil.example",
    });
    assert.equal(crossOrigin.status, 403);
    await crossOrigin.body?.cancel();
    const unknown = await post(`/api/actions/hub/explode`, {});
    assert.equal(unknown.status, 400);
    await unknown.body?.cancel();
    const done = await post(`/api/actions/hub/disconnect`, { id });
    assert.equal(done.status, 200);
    assert.deepEqual((await done.json()).result, { id, code: 1000 });
    assert.equal(await closed, 1000);
  } finally {
    await hub.shutdown();
  }
});

Deno.test("createDashboardApp() refuses other Hosts on loopback, needs the token when one is set, and startDashboard() needs one off loopback", async () => {
  const core = new DashboardCore({ services: () => [], version: "test" });
  const info = (hostname: string) => ({
    remoteAddr: { transport: "tcp" as const, hostname, port: 1 },
    completed: Promise.resolve(),
  });
  const open = createDashboardApp({ core, loopback: true, csrfToken: "c".repeat(16) });
  const rebinding = await open.fetch(
    new Request("http://evil.example:8700/api/state", { headers: { host: "evil.example:8700" } }),
    info("127.0.0.1"),
  );
  assert.equal(rebinding.status, 403);
  await rebinding.body?.cancel();
  const fine = await open.fetch(
    new Request("http://127.0.0.1:8700/api/state", { headers: { host: "127.0.0.1:8700" } }),
    info("127.0.0.1"),
  );
  assert.equal(fine.status, 200);
  await fine.body?.cancel();

  const token = "s3cret-token";
  const guarded = createDashboardApp({ core, loopback: false, token, csrfToken: "c".repeat(16) });
  const req = (path: string, init: RequestInit = {}) =>
    guarded.fetch(new Request(`http://10.1.2.3:8700${path}`, init), info("10.9.9.9"));
  const anonymous = await req("/api/state");
  assert.equal(anonymous.status, 401);
  assert.match((await anonymous.json()).error, /token/);
  const bearer = await req("/api/state", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(bearer.status, 200);
  await bearer.body?.cancel();
  const wrong = await req(`/?token=nope`);
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const login = await req(`/?token=${token}`);
  assert.equal(login.status, 303);
  const cookie = login.headers.get("set-cookie")!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const withCookie = await req("/", { headers: { cookie: cookie.split(";")[0]! } });
  assert.equal(withCookie.status, 200);
  assert.match(withCookie.headers.get("content-security-policy")!, /script-src 'self'/);
  await withCookie.body?.cancel();

  await assert.rejects(
    startDashboard({ hostname: "0.0.0.0", port: 0, services: () => [] }),
    (err) =>
      err instanceof DashboardError && /without a token: pass --dashboard-token/.test(err.message),
  );
  await core.close();
});
