/**
 * Each part's live state, read through the live-state interface from real servers: the echo app,
 * the relay hub, the proxy and the EnSync engine. Where a part has `/metrics`, the live counters
 * are checked against it (one source).
 */
import assert from "node:assert/strict";
import { createEchoApp, RpcClient } from "../../../lib/rpc/mod.ts";
import type {
  EnSyncLiveEvent,
  EnSyncLiveState,
  HubLiveEvent,
  HubLiveState,
  LiveEventBase,
  ProxyLiveState,
  RpcLiveEvent,
  RpcLiveState,
  RpcRequestDetail,
} from "../../../lib/live/mod.ts";
import { serveHub } from "../../../servers/hub/main.ts";
import { startProxyServer } from "../../../servers/proxy/serve.ts";
import { startEnSyncServer } from "../../../servers/ensync/mod.ts";
import { EnSyncWebSocketEngine, generateKeyPair } from "../../../lib/ensync/mod.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";

function collect<E extends LiveEventBase>(
  feed: { subscribe(l: (e: readonly E[]) => void): () => void },
): { events: E[]; stop: () => void } {
  const events: E[] = [];
  const stop = feed.subscribe((batch) => events.push(...batch));
  return { events, stop };
}

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line === undefined ? NaN : Number(line.split(" ").at(-1));
}

Deno.test("SyftEvents.live() counts requests per endpoint, keeps latency and recent requests, and opens one in full", async () => {
  await using ws = await tempWorkspace();
  const workspace = { dataDir: ws.path, email: "owner@example.com" };
  await using app = createEchoApp({ workspace });
  const live = app.live();
  assert.equal(live, app.live(), "one source per app");
  const feed = collect<RpcLiveEvent>(live.feed);
  await app.start();
  await using client = await RpcClient.open({ workspace });
  const res = await client.call(app.url("/echo"), {
    method: "POST",
    body: { hi: 1 },
    headers: { "Content-Type": "application/json" },
    timeout: "10s",
  });
  assert.equal(res.statusCode, 200);
  const state = await live.state() as RpcLiveState;
  assert.equal(state.part, "rpc");
  assert.equal(state.app, "echo");
  assert.equal(state.email, "owner@example.com");
  assert.equal(state.counters.requests, 1);
  assert.equal(state.counters.answered, 1);
  assert.deepEqual(state.endpoints.map((e) => [e.path, e.requests]), [["/echo", 1], ["/ping", 0]]);
  assert.equal(state.latency?.["/echo"]?.count, 1);
  assert.equal(state.recent.length, 1);
  const summary = state.recent[0]!;
  assert.equal(summary.endpoint, "/echo");
  assert.equal(summary.status, 200);
  assert.equal(summary.sender, "owner@example.com");
  assert.ok(summary.durationMs >= 0);
  await waitFor(() => feed.events.length === 1, { what: "the request in the feed" });
  assert.equal(feed.events[0]!.id, summary.id);
  feed.stop();
  const detail = await live.act!("request", { id: summary.id }) as RpcRequestDetail;
  assert.deepEqual(JSON.parse(detail.request.bodyText!), { hi: 1 });
  assert.deepEqual(JSON.parse(detail.response.bodyText!), { hi: 1 });
  assert.equal(detail.request.headers["Content-Type"], "application/json");
  await assert.rejects(
    live.act!("request", { id: "00000000-0000-4000-8000-000000000000" }),
    /not among the last/,
  );
});

Deno.test("createHubApp().live lists connections with address, rooms and frame counts, feeds events, runs admin actions, and agrees with /metrics", async () => {
  const running = await serveHub({ port: 0 });
  try {
    const live = running.relay.live;
    const feed = collect<HubLiveEvent>(live.feed);
    const a = new WebSocket(running.wsUrl);
    const b = new WebSocket(running.wsUrl);
    const bMessages: string[] = [];
    b.onmessage = (e) => bMessages.push(e.data);
    const bClosed = new Promise<number>((resolve) => b.onclose = (e) => resolve(e.code));
    await Promise.all([a, b].map((s) => new Promise((r) => s.onopen = r)));
    let state = await waitFor(async () => {
      const s = await live.state() as HubLiveState;
      return s.connections.length === 2 ? s : undefined;
    }, { what: "two connections" });
    assert.ok(
      state.connections.every((c) => /^127\.0\.0\.1:\d+$/.test(c.address)),
      JSON.stringify(state.connections),
    );
    assert.deepEqual(state.rooms.map((r) => [r.name, r.size]), [["lobby", 2]]);
    a.send(JSON.stringify({ eventName: "chat", payload: { text: "hi" }, headers: {} }));
    await waitFor(() => bMessages.some((m) => m.includes('"chat"')), { what: "b to get the chat" });
    await waitFor(() => feed.events.some((e) => e.type === "event" && e.eventName === "chat"), {
      what: "the chat in the feed",
    });
    const chat = feed.events.find((e) => e.type === "event")!;
    assert.equal(chat.room, "lobby");
    assert.equal(chat.delivered, 1);
    assert.equal(chat.payload, '{"text":"hi"}');
    state = await live.state() as HubLiveState;
    const bId = state.connections.find((c) => c.out >= 1)!.id;
    const aConn = state.connections.find((c) => c.id !== bId)!;
    assert.ok(aConn.in >= 1);
    await live.act!("join", { id: bId, room: "ops" });
    await waitFor(() => bMessages.some((m) => m.includes("$joined")), { what: "$joined" });
    state = await live.state() as HubLiveState;
    assert.deepEqual(state.rooms.find((r) => r.name === "ops")?.members, [bId]);
    const published = await live.act!("publish", {
      eventName: "notice",
      payload: 7,
      room: "ops",
    }) as { delivered: number };
    assert.equal(published.delivered, 1);
    await waitFor(() => bMessages.some((m) => m.includes('"notice"')), {
      what: "the published notice",
    });
    await live.act!("leave", { id: bId, room: "ops" });
    await waitFor(() => feed.events.some((e) => e.type === "leave"), { what: "leave in the feed" });
    await assert.rejects(live.act!("disconnect", { id: "zpt-nope" }), /No connection zpt-nope/);
    await live.act!("disconnect", { id: bId });
    assert.equal(await bClosed, 1000);
    await waitFor(() => feed.events.some((e) => e.type === "disconnect" && e.connection === bId), {
      what: "disconnect in the feed",
    });
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    state = await live.state() as HubLiveState;
    assert.equal(state.counters.eventsReceived, metric(metrics, "syft_hub_events_received_total"));
    assert.equal(state.counters.published, metric(metrics, "syft_hub_publish_total"));
    assert.equal(state.counters.connectionsTotal, 2);
    // The same state over HTTP, for a dashboard in another process.
    const remote = await (await fetch(`${running.url}/live`)).json();
    assert.equal(remote.part, "hub");
    assert.deepEqual(remote.actions, ["disconnect", "join", "leave", "publish"]);
    assert.equal(remote.state.counters.eventsReceived, state.counters.eventsReceived);
    feed.stop();
    a.close();
  } finally {
    await running.shutdown();
  }
});

Deno.test("startProxyServer().live reads requests by status, latency and rate-limit rejections from /metrics' registry, and lists pending requests", async () => {
  await using ws = await tempWorkspace();
  const workspace = { dataDir: ws.path, email: "owner@example.com" };
  await using echo = createEchoApp({ workspace });
  await echo.start();
  await using proxy = await startProxyServer({
    workspace,
    port: 0,
    store: "memory",
    accessLog: false,
    rateLimit: { limit: 4, windowMs: 60_000 },
  });
  const send = (app: string, blocking: boolean) =>
    fetch(`${proxy.url}/rpc/send`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        app_name: app,
        func_name: "echo",
        destination: "owner@example.com",
        params: { n: 1 },
        blocking,
        timeout: 10,
      }),
    });
  const ok = await send("echo", true);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  const waiting = await send("nobody_home", false);
  assert.equal(waiting.status, 200);
  const pendingId = (await waiting.json()).id ?? (await Promise.resolve(undefined));
  const third = await send("echo", true);
  await third.body?.cancel();
  // The fourth request of the window: /metrics, before any rejection.
  const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
  assert.equal(metric(metrics, "rpc_rate_limited_total"), 0);
  assert.equal(metric(metrics, "rpc_request_duration_seconds_count"), 2);
  const limited = await send("echo", true);
  assert.equal(limited.status, 429);
  await limited.body?.cancel();
  const state = await proxy.live.state() as ProxyLiveState;
  assert.equal(state.part, "proxy");
  assert.equal(state.byStatus.completed, 2);
  assert.equal(state.counters.rateLimited, 1);
  assert.equal(state.counters.requests, 3);
  assert.equal(state.pendingTotal, 1);
  assert.equal(state.pending[0]!.app, "nobody_home");
  if (pendingId !== undefined) assert.equal(state.pending[0]!.id, pendingId);
  assert.ok(state.pending[0]!.ageMs >= 0);
  assert.equal(state.latency?.all?.count, 2);
  assert.equal(state.byHttpStatus["429"], 1);
});

Deno.test("startEnSyncServer().live shows apps, queue levels, settle counts, clients and discarded events, and replays, requeues and purges", async () => {
  const shop = generateKeyPair();
  const mail = generateKeyPair();
  const engine = await startEnSyncServer({
    config: {
      grpcStreams: "auto",
      apps: [
        {
          name: "shop",
          accessKey: "shop-access-key",
          appId: shop.publicKey,
          send: ["*"],
          receive: ["*"],
        },
        {
          name: "mail",
          accessKey: "mail-access-key",
          appId: mail.publicKey,
          send: [],
          receive: ["orders/*"],
        },
      ],
    },
    wsPort: 0,
    grpcPort: false,
  });
  const feed = collect<EnSyncLiveEvent>(engine.live.feed);
  const wsEngine = new EnSyncWebSocketEngine(engine.wsUrl!);
  try {
    const shopClient = await wsEngine.createClient("shop-access-key", {
      appSecretKey: shop.secretKey,
    });
    const [idemA] = await shopClient.publish("orders/created", [mail.publicKey], { n: 1 });
    const [idemB] = await shopClient.publish("orders/created", [mail.publicKey], { n: 2 });
    let state = await engine.live.state() as EnSyncLiveState;
    assert.deepEqual(state.apps.map((a) => [a.name, a.send, a.receive, a.clients]), [[
      "shop",
      ["*"],
      ["*"],
      1,
    ], ["mail", [], ["orders/*"], 0]]);
    const queue = () => state.queues.find((q) => q.app === "mail" && q.event === "orders/created")!;
    assert.equal(queue().pending, 2);
    assert.equal(state.counters.published, 2);
    const mailClient = await wsEngine.createClient("mail-access-key", {
      appSecretKey: mail.secretKey,
    });
    const sub = await mailClient.subscribe("orders/created", { autoAck: false });
    const seen: string[] = [];
    sub.on(async (event) => {
      seen.push(event.idem);
      if (event.idem === idemA) await sub.ack(event.idem, event.block);
      else await sub.discard(event.idem, "bad order");
    });
    await waitFor(async () => {
      state = await engine.live.state() as EnSyncLiveState;
      return queue().acked === 1 && queue().discarded === 1;
    }, { what: "one ack and one discard", timeoutMs: 10_000 });
    assert.equal(queue().pending, 0);
    assert.equal(queue().inflight, 0);
    assert.equal(state.counters.delivered, 2);
    assert.equal(state.clients.length, 2);
    assert.deepEqual(
      state.clients.find((c) => c.app === "mail")!.subscriptions.map((s) => s.pattern),
      ["orders/created"],
    );
    assert.deepEqual(state.discarded.map((d) => [d.app, d.idem, d.reason]), [[
      "mail",
      idemB,
      "bad order",
    ]]);
    const replayed = await engine.live.act!("replay", { app: "mail", idem: idemB! }) as {
      state: string;
      event: string;
      sender: string;
    };
    assert.equal(replayed.state, "discarded");
    assert.equal(replayed.event, "orders/created");
    assert.equal(replayed.sender, "shop");
    await assert.rejects(engine.live.act!("replay", { app: "shop", idem: idemB! }), /No event/);
    await assert.rejects(
      engine.live.act!("requeue", { app: "mail", idem: idemA! }).then(() =>
        engine.live.act!("requeue", { app: "mail", idem: idemA! })
      ),
      /only discarded or acknowledged/,
    );
    await engine.live.act!("requeue", { app: "mail", idem: idemB! });
    await waitFor(() => seen.filter((i) => i === idemB).length === 2, {
      what: "the requeued event delivered again",
      timeoutMs: 10_000,
    });
    await waitFor(
      async () => (await engine.live.state() as EnSyncLiveState).discarded.length === 1,
      { what: "discarded again" },
    );
    const purged = await engine.live.act!("purge", { app: "mail" }) as { purged: number };
    assert.equal(purged.purged, 1);
    state = await engine.live.state() as EnSyncLiveState;
    assert.equal(state.discarded.length, 0);
    const wanted = ["connect", "publish", "deliver", "ack", "discard", "requeue"];
    await waitFor(() => wanted.every((t) => feed.events.some((e) => e.type === t)), {
      what: `feed events ${wanted.join(", ")}`,
    });
    // Over HTTP, from loopback.
    const http = engine.wsUrl!.replace(/^ws/, "http");
    const remote = await (await fetch(`${http}/live`)).json();
    assert.equal(remote.part, "ensync");
    assert.deepEqual(remote.actions, ["replay", "requeue", "purge"]);
    feed.stop();
    await mailClient.close();
    await shopClient.close();
  } finally {
    await wsEngine.close?.();
    await engine.close();
  }
});
