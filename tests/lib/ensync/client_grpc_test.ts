/**
 * The gRPC client in both of the engine's subscription-stream modes: multiplexed (everything on
 * the client's oldest stream, as the Node SDK expects) and per-subscription (Go and Python).
 */
import assert from "node:assert/strict";
import { EnSyncEngine, resolveGrpcTarget, resolveWebSocketUrl } from "../../../lib/ensync/mod.ts";
import { Collector, RecordingClock, sleep, startFixture } from "./_fixture.ts";

for (const mode of ["multiplexed", "per-subscription"] as const) {
  Deno.test(`[grpc ${mode}] several subscriptions get their own events; unsubscribing the first keeps the rest flowing`, async () => {
    await using fx = await startFixture({ grpcStreams: mode });
    const { a, b } = fx.apps;
    const pub = await fx.client("grpc", a);
    const recv = await fx.client("grpc", b);
    const subs = [
      await recv.subscribe("alpha/one"),
      await recv.subscribe("beta/*"),
      await recv.subscribe("gamma/x"),
    ];
    const seen = subs.map((s) => new Collector(s));
    await pub.publish("alpha/one", [b.publicKey], "a1");
    await pub.publish("beta/two", [b.publicKey], "b1");
    await pub.publish("gamma/x", [b.publicKey], "g1");
    await Promise.all(seen.map((c) => c.waitFor(1)));
    assert.deepEqual(seen.map((c) => c.events.map((e) => e.payload)), [["a1"], ["b1"], ["g1"]]);

    await subs[0]!.unsubscribe();
    await pub.publish("beta/three", [b.publicKey], "b2");
    await pub.publish("gamma/x", [b.publicKey], "g2");
    await seen[1]!.waitFor(2);
    await seen[2]!.waitFor(2);
    assert.deepEqual(seen[1]!.events.map((e) => [e.eventName, e.payload]), [["beta/two", "b1"], [
      "beta/three",
      "b2",
    ]]);

    await subs[1]!.pause();
    await pub.publish("beta/four", [b.publicKey], "b3");
    await sleep(300);
    assert.equal(seen[1]!.events.length, 2, "paused");
    await subs[1]!.continue();
    assert.equal((await seen[1]!.waitFor(3))[2]!.payload, "b3");
    // the unsubscribed name is queued for a later subscriber, not delivered here
    await pub.publish("alpha/one", [b.publicKey], "a2");
    await sleep(200);
    assert.equal(seen[0]!.events.length, 1);
  });
}

Deno.test("[grpc] the heartbeat runs on the client's clock; one the engine refuses (the client id expired) reconnects the client after its backoff", async () => {
  // One fake clock for both sides: the engine ends a gRPC client id with no call and no stream
  // after 90 s (checked every 10 s), before this client's first heartbeat at 120 s.
  const clock = new RecordingClock(Date.now());
  await using fx = await startFixture({ clock });
  const { b } = fx.apps;
  const reconnected = Promise.withResolvers<{ clientId: string; attempt: number }>();
  const recv = await fx.client("grpc", b, {
    clock,
    heartbeatInterval: 120_000,
    reconnectInterval: 7_777, // a delay no timer of the engine's uses
    onReconnect: (info) => reconnected.resolve(info),
  });
  const firstId = recv.clientId;
  const beat = await clock.timer((ms) => ms === 120_000);
  await clock.tick(119_999);
  assert.equal(beat.fired, false, "no heartbeat before its interval");
  assert.equal(
    [...fx.server.broker.sessions()].some((s) => s.id === firstId),
    false,
    "the engine expired the idle client id",
  );
  assert.equal(recv.clientId, firstId, "the client does not know yet");
  await clock.tick(1);
  assert.equal(beat.fired, true);
  assert.equal(clock.timers.filter((t) => t.ms === 120_000).length, 2, "the next beat is set");
  // The refusal (a real reply) loses the connection; the retry waits reconnectInterval ± 10 %.
  const backoff = await clock.timer((ms) => ms >= 6_999 && ms <= 8_555);
  await clock.tick(backoff.due - clock.now() - 1);
  assert.equal(backoff.fired, false);
  await clock.tick(1);
  let guard: ReturnType<typeof setTimeout> | undefined;
  const info = await Promise.race([
    reconnected.promise,
    new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error("no reconnect within 5 s")), 5_000);
    }),
  ]).finally(() => clearTimeout(guard));
  assert.equal(info.attempt, 1);
  assert.notEqual(info.clientId, firstId);
  assert.equal(recv.clientId, info.clientId);
});

Deno.test("resolveGrpcTarget() follows the SDK URL rules", () => {
  assert.deepEqual(resolveGrpcTarget("grpcs://engine.example.com"), {
    target: "engine.example.com:443",
    secure: true,
  });
  assert.deepEqual(resolveGrpcTarget("grpcs://engine.example.com:8443"), {
    target: "engine.example.com:8443",
    secure: true,
  });
  assert.deepEqual(resolveGrpcTarget("grpc://engine.example.com"), {
    target: "engine.example.com:50051",
    secure: false,
  });
  assert.deepEqual(resolveGrpcTarget("grpc://10.0.0.5:7000/"), {
    target: "10.0.0.5:7000",
    secure: false,
  });
  assert.deepEqual(resolveGrpcTarget("localhost"), { target: "localhost:50051", secure: false });
  assert.deepEqual(resolveGrpcTarget("127.0.0.1:6000"), {
    target: "127.0.0.1:6000",
    secure: false,
  });
  assert.deepEqual(resolveGrpcTarget("[::1]"), { target: "[::1]:50051", secure: false });
  assert.deepEqual(resolveGrpcTarget("engine.example.com"), {
    target: "engine.example.com:443",
    secure: true,
  });
  assert.deepEqual(resolveGrpcTarget("engine.example.com", { disableTls: true }), {
    target: "engine.example.com:443",
    secure: false,
  });
  assert.deepEqual(resolveGrpcTarget("https://e.example.com"), {
    target: "e.example.com:443",
    secure: true,
  });
  assert.throws(() => resolveGrpcTarget("ftp://x"), /Unsupported scheme/);
  assert.throws(() => resolveGrpcTarget("grpc://x/path"), /Invalid engine URL/);
  assert.throws(() => resolveGrpcTarget("grpc://x:99999"), /Invalid port/);
  assert.equal(new EnSyncEngine("localhost").secure, false);
});

Deno.test("resolveWebSocketUrl() appends /message and maps http(s) like the Node and Python SDKs", () => {
  assert.equal(resolveWebSocketUrl("ws://127.0.0.1:8082"), "ws://127.0.0.1:8082/message");
  assert.equal(resolveWebSocketUrl("ws://127.0.0.1:8082/"), "ws://127.0.0.1:8082/message");
  assert.equal(resolveWebSocketUrl("http://h:1"), "ws://h:1/message");
  assert.equal(resolveWebSocketUrl("https://h"), "wss://h/message");
  assert.equal(resolveWebSocketUrl("wss://h/message"), "wss://h/message");
  assert.equal(resolveWebSocketUrl("wss://h/prefix"), "wss://h/prefix/message");
  assert.equal(resolveWebSocketUrl("h:8082"), "ws://h:8082/message");
  assert.throws(() => resolveWebSocketUrl("ftp://h"), /Unsupported scheme/);
});
