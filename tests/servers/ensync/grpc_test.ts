/**
 * The engine's gRPC service driven by a raw @grpc/grpc-js client loaded from two independent
 * .proto texts written here from the protocol reference: the Node/Go one ("Message" names and
 * fields) and the Python one ("Event" names and event_* fields).
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { decryptPayload, encryptPayload } from "../../../lib/ensync/crypto.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { connected, GRPC_FRONT_ENDS, pubFrame, startTestEngine, testApp } from "./_helpers.ts";

type Dialect = "message" | "event";

function protoText(d: Dialect): string {
  const M = d === "message" ? "Message" : "Event";
  const f = d === "message" ? "message" : "event";
  return `syntax = "proto3";
package ensync;
service EnSyncService {
  rpc Connect(ConnectRequest) returns (ConnectResponse);
  rpc Heartbeat(HeartbeatRequest) returns (HeartbeatResponse);
  rpc Publish${M}(Publish${M}Request) returns (Publish${M}Response);
  rpc Subscribe(SubscribeRequest) returns (stream ${M}StreamResponse);
  rpc Unsubscribe(UnsubscribeRequest) returns (UnsubscribeResponse);
  rpc Acknowledge${M}(AcknowledgeRequest) returns (AcknowledgeResponse);
  rpc Defer${M}(DeferRequest) returns (DeferResponse);
  rpc Discard${M}(DiscardRequest) returns (DiscardResponse);
  rpc Replay${M}(ReplayRequest) returns (ReplayResponse);
  rpc Pause${M}s(PauseRequest) returns (PauseResponse);
  rpc Continue${M}s(ContinueRequest) returns (ContinueResponse);
}
message ConnectRequest { string access_key = 1; }
message ConnectResponse { bool success = 1; string client_id = 2; string client_hash = 3; map<string, string> server_config = 4; string error_message = 5; }
message HeartbeatRequest { string client_id = 1; }
message HeartbeatResponse { bool success = 1; }
message Publish${M}Request { string client_id = 1; string ${f}_name = 2; string payload = 3; string delivery_to = 4; string metadata = 5; optional string payload_metadata = 6; }
message Publish${M}Response { bool success = 1; string ${f}_idem = 2; string error_message = 3; }
message SubscribeRequest { string client_id = 1; string ${f}_name = 2; }
message UnsubscribeRequest { string client_id = 1; string ${f}_name = 2; }
message UnsubscribeResponse { bool success = 1; string message = 2; }
message ${M}StreamResponse { string ${f}_idem = 1; string ${f}_name = 2; string payload = 3; int64 partition_block = 4; string metadata = 5; string sender = 6; }
message AcknowledgeRequest { string client_id = 1; string ${f}_idem = 2; string ${f}_name = 3; int64 partition_block = 4; }
message AcknowledgeResponse { bool success = 1; string message = 2; }
message DeferRequest { string client_id = 1; string ${f}_idem = 2; string ${f}_name = 3; int64 delay_ms = 4; int32 priority = 5; string reason = 6; }
message DeferResponse { bool success = 1; string message = 2; int64 delivery_time = 3; }
message DiscardRequest { string client_id = 1; string ${f}_idem = 2; string ${f}_name = 3; string reason = 4; }
message DiscardResponse { bool success = 1; string message = 2; }
message ReplayRequest { string client_id = 1; string ${f}_idem = 2; string ${f}_name = 3; }
message ReplayResponse { bool success = 1; string message = 2; string ${f}_data = 3; }
message PauseRequest { string client_id = 1; string ${f}_name = 2; string reason = 3; }
message PauseResponse { bool success = 1; string message = 2; }
message ContinueRequest { string client_id = 1; string ${f}_name = 2; }
message ContinueResponse { bool success = 1; string message = 2; }
`;
}

// deno-lint-ignore no-explicit-any
type Any = any;

interface RawGrpc {
  d: Dialect;
  /** Unary call by the dialect's method name. */
  call(method: string, req: Record<string, unknown>): Promise<Any>;
  subscribe(req: Record<string, unknown>): grpc.ClientReadableStream<Any>;
  close(): void;
}

async function rawGrpc(target: string, d: Dialect, userAgent?: string): Promise<RawGrpc> {
  await using ws = await tempWorkspace();
  const file = `${ws.path}/ensync_${d}.proto`;
  await Deno.writeTextFile(file, protoText(d));
  const def = loadSync(file, { keepCase: true, longs: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as Any;
  const client = new pkg.ensync.EnSyncService(
    target.replace(/^grpc:\/\//, ""),
    grpc.credentials.createInsecure(),
    userAgent === undefined ? {} : { "grpc.primary_user_agent": userAgent },
  );
  return {
    d,
    call: (method, req) =>
      new Promise((resolve, reject) =>
        client[method](req, (err: Error | null, res: unknown) => err ? reject(err) : resolve(res))
      ),
    subscribe: (req) => client.Subscribe(req),
    close: () => client.close(),
  };
}

/** The dialect's field and method names. */
function names(d: Dialect) {
  const M = d === "message" ? "Message" : "Event";
  const f = d === "message" ? "message" : "event";
  return {
    publish: `Publish${M}`,
    ack: `Acknowledge${M}`,
    defer: `Defer${M}`,
    discard: `Discard${M}`,
    replay: `Replay${M}`,
    pause: `Pause${M}s`,
    cont: `Continue${M}s`,
    name: `${f}_name`,
    idem: `${f}_idem`,
    data: `${f}_data`,
  };
}

/** Collects a stream's messages. */
function collect(stream: grpc.ClientReadableStream<Any>) {
  const items: Any[] = [];
  const waiters: ((v: Any) => void)[] = [];
  let error: Error | undefined;
  stream.on("data", (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else items.push(m);
  });
  stream.on("error", (e: Error) => {
    error = e;
  });
  return {
    get error() {
      return error;
    },
    next(timeoutMs = 5_000): Promise<Any> {
      if (items.length) return Promise.resolve(items.shift());
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no stream message in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
    },
    async none(ms: number): Promise<boolean> {
      await new Promise((r) => setTimeout(r, ms));
      return items.length === 0;
    },
  };
}

for (const d of ["message", "event"] as const) {
  const n = names(d);
  const agent = d === "event" ? "grpc-python/1.66.0 grpc-c/43.0.0 (linux; chttp2)" : undefined;
  for (const fe of GRPC_FRONT_ENDS) {
    Deno.test(`grpc (${d} method names${agent ? ", python agent" : ""}): connect, publish, subscribe, ack, defer, discard, replay, pause, continue${fe.label}`, async () => {
      const a = testApp("a");
      const b = testApp("b", [], ["orders/*"]);
      const clock = new FakeClock(Date.now());
      await using engine = await startTestEngine([a, b], { ...fe.options, clock });
      const pubC = await rawGrpc(engine.grpcUrl!, d, agent);
      const subC = await rawGrpc(engine.grpcUrl!, d, agent);
      const streams: grpc.ClientReadableStream<Any>[] = [];
      try {
        const bad = await pubC.call("Connect", { access_key: "nope" });
        assert.equal(bad.success, false);
        assert.match(bad.error_message, /^CLIENT_NOT_FOUND: /);
        const p = await pubC.call("Connect", { access_key: a.accessKey });
        assert.equal(p.success, true);
        assert.equal(p.client_hash, a.appId.replace(/=+$/, ""));
        const s = await subC.call("Connect", { access_key: b.accessKey });
        assert.equal(
          s.server_config.subscription_streams,
          agent ? "per-subscription" : "multiplexed",
        );
        assert.deepEqual(await subC.call("Heartbeat", { client_id: s.client_id }), {
          success: true,
        });
        assert.deepEqual(await subC.call("Heartbeat", { client_id: "nope" }), { success: false });

        const stream = subC.subscribe({ client_id: s.client_id, [n.name]: "orders/*" });
        streams.push(stream);
        const got = collect(stream);
        const payload = encryptPayload({ id: 1 }, b.appId);
        const pub = await pubC.call(n.publish, {
          client_id: p.client_id,
          [n.name]: "orders/created",
          payload,
          delivery_to: b.appId,
          metadata: JSON.stringify({ persist: true, headers: { h: "1" } }),
          payload_metadata: JSON.stringify({ byte_size: 8, skeleton: { id: "number" } }),
        });
        assert.equal(pub.success, true, pub.error_message);
        const m1 = await got.next();
        assert.equal(m1[n.idem], pub[n.idem]);
        assert.equal(m1[n.name], "orders/created");
        assert.equal(m1.partition_block, "1");
        assert.equal(m1.sender, a.appId);
        assert.equal(m1.payload, payload);
        assert.deepEqual(decryptPayload(m1.payload, b.secretKey), { id: 1 });
        const meta = JSON.parse(m1.metadata);
        assert.deepEqual(meta.headers, { h: "1" });
        assert.equal(typeof meta.$internal.loggedAt, "number");

        // Permission and argument failures come back as success:false with a code.
        const denied = await subC.call(n.publish, {
          client_id: s.client_id,
          [n.name]: "orders/created",
          payload,
          delivery_to: a.appId,
          metadata: "{}",
        });
        assert.equal(denied.success, false);
        assert.match(
          denied.error_message,
          /^PERMISSION_DENIED: App "b" cannot send "orders\/created"/,
        );

        // Defer (10 s on the engine's clock), then the second event arrives at once.
        await pubC.call(n.publish, {
          client_id: p.client_id,
          [n.name]: "orders/paid",
          payload,
          delivery_to: b.appId,
          metadata: "{}",
        });
        const badDefer = await subC.call(n.defer, {
          client_id: s.client_id,
          [n.idem]: m1[n.idem],
          delay_ms: 10,
          priority: 0,
          reason: "",
        });
        assert.equal(badDefer.success, false);
        assert.match(badDefer.message, /^INVALID_DELAY: /);
        const deferred = await subC.call(n.defer, {
          client_id: s.client_id,
          [n.idem]: m1[n.idem],
          delay_ms: 10_000,
          priority: 0,
          reason: "later",
        });
        assert.equal(deferred.success, true);
        assert.equal(Number(deferred.delivery_time), clock.now() + 10_000, "delivery_time");
        const m2 = await got.next();
        assert.equal(m2[n.name], "orders/paid");
        assert.equal(
          (await subC.call(n.discard, {
            client_id: s.client_id,
            [n.idem]: m2[n.idem],
            reason: "",
          })).success,
          true,
        );
        await clock.tick(9_999);
        assert.equal((await engine.broker.store.lookup(m1[n.idem]))?.state, "deferred");
        await clock.tick(1);
        const m1again = await got.next();
        assert.equal(m1again[n.idem], m1[n.idem]);
        const ack = await subC.call(n.ack, {
          client_id: s.client_id,
          [n.idem]: m1again[n.idem],
          [n.name]: m1again[n.name],
          partition_block: m1again.partition_block,
        });
        assert.equal(ack.success, true, ack.message);

        const replay = await subC.call(n.replay, { client_id: s.client_id, [n.idem]: m1[n.idem] });
        assert.equal(replay.success, true);
        if (d === "message") {
          // ReplayMessage: the exact key set Node and Go read.
          const data = JSON.parse(replay[n.data]);
          assert.deepEqual(Object.keys(data).sort(), [
            "message_idem",
            "message_name",
            "metadata",
            "partition_block",
            "payload",
            "sender",
          ]);
          assert.equal(data.message_idem, m1[n.idem]);
          assert.equal(data.payload, payload);
          assert.equal(typeof data.metadata, "string");
          assert.equal(JSON.parse(data.metadata).$internal.replay_info.wasAcknowledged, true);
        } else {
          // ReplayEvent: the Python SDK base64-decodes event_data as the envelope itself.
          assert.equal(replay[n.data], payload);
          assert.deepEqual(decryptPayload(replay[n.data], b.secretKey), { id: 1 });
        }
        const missing = await subC.call(n.replay, { client_id: s.client_id, [n.idem]: "nope" });
        assert.equal(missing.success, false);
        assert.match(missing.message, /^NOT_FOUND: /);
        assert.equal(missing[n.data], "");

        // Pause / continue.
        assert.equal(
          (await subC.call(n.pause, { client_id: s.client_id, [n.name]: "orders/*", reason: "x" }))
            .success,
          true,
        );
        const again = await subC.call(n.pause, {
          client_id: s.client_id,
          [n.name]: "orders/*",
          reason: "",
        });
        assert.match(again.message, /^ALREADY_PAUSED: /);
        await pubC.call(n.publish, {
          client_id: p.client_id,
          [n.name]: "orders/created",
          payload,
          delivery_to: b.appId,
          metadata: "{}",
        });
        assert.ok(await got.none(200));
        assert.equal(
          (await subC.call(n.cont, { client_id: s.client_id, [n.name]: "orders/*" })).success,
          true,
        );
        const m3 = await got.next();
        assert.equal(m3.partition_block, "2");
        const unsub = await subC.call("Unsubscribe", {
          client_id: s.client_id,
          [n.name]: "orders/*",
        });
        assert.equal(unsub.success, true);
        const unknown = await subC.call(n.ack, {
          client_id: "nope",
          [n.idem]: "x",
          partition_block: 1,
        });
        assert.match(unknown.message, /^CLIENT_NOT_FOUND: /);
      } finally {
        for (const s of streams) s.cancel();
        pubC.close();
        subC.close();
      }
    });
  }
}

for (const fe of GRPC_FRONT_ENDS) {
  Deno.test(`grpc: per-subscription streams carry only their subscription; multiplexed mode sends all on the first stream${fe.label}`, async () => {
    const a = testApp("a");
    await using engine = await startTestEngine([a], fe.options);
    const clients: RawGrpc[] = [];
    const streams: grpc.ClientReadableStream<Any>[] = [];
    try {
      for (
        const [agent, mode] of [["grpc-go/1.70.0", "per-subscription"], [
          undefined,
          "multiplexed",
        ]] as const
      ) {
        const c = await rawGrpc(engine.grpcUrl!, "message", agent);
        clients.push(c);
        const conn = await c.call("Connect", { access_key: a.accessKey });
        assert.equal(conn.server_config.subscription_streams, mode);
        const sx = c.subscribe({ client_id: conn.client_id, message_name: `${mode}/x` });
        const sy = c.subscribe({ client_id: conn.client_id, message_name: `${mode}/y` });
        streams.push(sx, sy);
        const gx = collect(sx);
        const gy = collect(sy);
        // Both subscriptions are in place once the engine has attached them to their streams.
        const session = [...engine.broker.sessions()].find((s) => s.id === conn.client_id)!;
        await waitFor(
          () => [`${mode}/x`, `${mode}/y`].every((n) => session.subs.get(n)?.attached),
          {
            what: "both subscriptions",
          },
        );
        for (const name of [`${mode}/x`, `${mode}/y`]) {
          const r = await c.call("PublishMessage", {
            client_id: conn.client_id,
            message_name: name,
            payload: "e30=",
            delivery_to: a.appId,
            metadata: "{}",
          });
          assert.equal(r.success, true);
        }
        if (mode === "per-subscription") {
          assert.equal((await gx.next()).message_name, `${mode}/x`);
          assert.equal((await gy.next()).message_name, `${mode}/y`);
        } else {
          const names = [(await gx.next()).message_name];
          const second = await gx.next();
          names.push(second.message_name);
          assert.deepEqual(names.sort(), [`${mode}/x`, `${mode}/y`]);
          assert.ok(await gy.none(100));
        }
      }
    } finally {
      for (const s of streams) s.cancel();
      for (const c of clients) c.close();
    }
  });

  Deno.test(`grpc: the grpc_streams config forces a mode${fe.label}`, async () => {
    const a = testApp("a");
    await using engine = await startTestEngine([a], {
      ...fe.options,
      grpcStreams: "per-subscription",
    });
    const c = await rawGrpc(engine.grpcUrl!, "message");
    try {
      const conn = await c.call("Connect", { access_key: a.accessKey });
      assert.equal(conn.server_config.subscription_streams, "per-subscription");
    } finally {
      c.close();
    }
  });

  Deno.test(`grpc: a cancelled stream's in-flight event is redelivered; an idle client id expires${fe.label}`, async () => {
    const a = testApp("a");
    const clock = new FakeClock(Date.now());
    await using engine = await startTestEngine([a], {
      ...fe.options,
      grpcSessionTimeoutMs: 60_000,
      clock,
    });
    const c = await rawGrpc(engine.grpcUrl!, "message", "grpc-go/1.70.0");
    try {
      const conn = await c.call("Connect", { access_key: a.accessKey });
      const s1 = c.subscribe({ client_id: conn.client_id, message_name: "t/x" });
      const g1 = collect(s1);
      await c.call("PublishMessage", {
        client_id: conn.client_id,
        message_name: "t/x",
        payload: "e30=",
        delivery_to: a.appId,
        metadata: "{}",
      });
      const m = await g1.next();
      s1.cancel();
      const s2 = c.subscribe({ client_id: conn.client_id, message_name: "t/x" });
      const g2 = collect(s2);
      assert.equal((await g2.next()).message_idem, m.message_idem);
      s2.cancel();
      // The engine has seen the cancel once the subscription has no stream left.
      const session = [...engine.broker.sessions()].find((s) => s.id === conn.client_id)!;
      await waitFor(() => session.subs.get("t/x")?.attached === false, { what: "the cancel" });
      // No stream: a call within the session timeout (on the engine's clock) keeps the client id…
      await clock.tick(59_000);
      assert.deepEqual(await c.call("Heartbeat", { client_id: conn.client_id }), {
        success: true,
      });
      await clock.tick(59_000);
      assert.deepEqual(await c.call("Heartbeat", { client_id: conn.client_id }), {
        success: true,
      });
      // …and no call for longer ends it (checked every 10 s: by 70 s at the latest).
      await clock.tick(70_000);
      assert.deepEqual(await c.call("Heartbeat", { client_id: conn.client_id }), {
        success: false,
      });
      const s3 = c.subscribe({ client_id: conn.client_id, message_name: "t/x" });
      const g3 = collect(s3);
      await new Promise<void>((resolve) => s3.on("error", () => resolve()));
      assert.equal(g3.error?.message.includes("CLIENT_NOT_FOUND"), true);
    } finally {
      c.close();
    }
  });

  Deno.test(`grpc and WebSocket clients exchange events both ways${fe.label}`, async () => {
    const a = testApp("a");
    const b = testApp("b");
    await using engine = await startTestEngine([a, b], fe.options);
    const g = await rawGrpc(engine.grpcUrl!, "message");
    await using w = await connected(engine, b);
    try {
      const conn = await g.call("Connect", { access_key: a.accessKey });
      const stream = g.subscribe({ client_id: conn.client_id, message_name: "to/a" });
      const got = collect(stream);
      await w.request(`SUB;CLIENT_ID=:${w.clientId};EVENT_NAME=:to/b`);
      const r = await g.call("PublishMessage", {
        client_id: conn.client_id,
        message_name: "to/b",
        payload: encryptPayload({ from: "grpc" }, b.appId),
        delivery_to: b.appId,
        metadata: '{"persist":true,"headers":{}}',
      });
      assert.equal(r.success, true);
      const rec = await w.record();
      assert.equal(rec.id, r.message_idem);
      assert.deepEqual(decryptPayload(rec.payload as string, b.secretKey), { from: "grpc" });
      assert.match(
        await w.request(pubFrame(w, "to/a", a.appId, encryptPayload({ from: "ws" }, a.appId))),
        /^\+PASS:/,
      );
      const m = await got.next();
      assert.deepEqual(decryptPayload(m.payload, a.secretKey), { from: "ws" });
      stream.cancel();
    } finally {
      g.close();
    }
  });
}

for (const fe of GRPC_FRONT_ENDS) {
  Deno.test(`grpc: stopping the engine ends Subscribe streams with UNAVAILABLE, the status SDKs reconnect on${fe.label}`, async () => {
    const a = testApp("a");
    const engine = await startTestEngine([a], fe.options);
    // The Python SDK's names and user agent: it re-subscribes only on UNAVAILABLE, INTERNAL or
    // UNAUTHENTICATED, so an OK end of the stream would leave it dead.
    const c = await rawGrpc(engine.grpcUrl!, "event", "grpc-python/1.66.0 grpc-c/43.0.0");
    try {
      const s = await c.call("Connect", { access_key: a.accessKey });
      const stream = c.subscribe({ client_id: s.client_id, event_name: "stop/x" });
      const got = collect(stream);
      const status = new Promise<{ code: number; details: string }>((resolve) => {
        stream.on("status", (st: grpc.StatusObject) => resolve(st));
      });
      const pub = await c.call("PublishEvent", {
        client_id: s.client_id,
        event_name: "stop/x",
        payload: encryptPayload({ n: 1 }, a.appId),
        delivery_to: a.appId,
        metadata: "{}",
      });
      assert.equal(pub.success, true, pub.error_message);
      assert.equal((await got.next()).event_idem, pub.event_idem); // in flight at the stop
      await engine.close();
      const st = await status;
      assert.equal(grpc.status[st.code], "UNAVAILABLE", st.details);
      assert.match(st.details, /stopping/);
      assert.equal((got.error as grpc.ServiceError | undefined)?.code, grpc.status.UNAVAILABLE);
    } finally {
      c.close();
      await engine.close();
    }
  });
}
