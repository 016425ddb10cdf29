/**
 * The gRPC worker process (`grpcWorker`): a raw @grpc/grpc-js client's crashing sequence
 * (denoland/deno#36788) kills only the worker; the engine starts a new one on the same port, and
 * client ids, subscriptions and events (KV and Redis stores) carry on. Also: start-up failures are
 * clear errors, and close() stops the worker.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ensyncClientConstructor } from "../../../lib/ensync/proto.ts";
import { EnSyncServerError, KvEventStore, RedisEventStore } from "../../../servers/ensync/mod.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { grpcCrashScenario, health } from "./_crash.ts";
import { encryptPayload } from "../../../lib/ensync/crypto.ts";
import { connected, pubFrame, startTestEngine, TEST_GRPC_WORKER, testApp } from "./_helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("startEnSyncServer({ grpcWorker }) survives the crashing gRPC sequence; KV store", async () => {
  await using ws = await tempWorkspace();
  const shop = testApp("shop", ["orders/*"], []);
  const billing = testApp("billing", [], ["orders/*"]);
  await using engine = await startTestEngine([shop, billing], {
    store: new KvEventStore(`${ws.path}/ensync.kv`),
    grpcWorker: TEST_GRPC_WORKER,
  });
  const first = engine.grpcWorker!;
  assert.equal(first.state, "running");
  assert.equal(first.restarts, 0);
  await grpcCrashScenario({ ws: engine.wsUrl!, grpc: engine.grpcUrl! }, shop, billing);
  const now = engine.grpcWorker!;
  assert.ok(now.restarts >= 1);
  assert.notEqual(now.pid, first.pid);
  assert.deepEqual((await health({ ws: engine.wsUrl!, grpc: engine.grpcUrl! })).grpc, now);
});

redisTest(
  "startEnSyncServer({ grpcWorker }) survives the crashing gRPC sequence; Redis store",
  async (r) => {
    const shop = testApp("shop", ["orders/*"], []);
    const billing = testApp("billing", [], ["orders/*"]);
    await using engine = await startTestEngine([shop, billing], {
      store: new RedisEventStore(r.url, { prefix: r.prefix }),
      grpcWorker: TEST_GRPC_WORKER,
    });
    await grpcCrashScenario({ ws: engine.wsUrl!, grpc: engine.grpcUrl! }, shop, billing);
    assert.ok(engine.grpcWorker!.restarts >= 1);
  },
);

Deno.test("startEnSyncServer({ grpcWorkerFallback }) serves gRPC in process when the worker cannot start, on a working store", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a], {
    grpcWorker: { command: Deno.execPath(), args: ["eval", "Deno.exit(3)"] },
    grpcWorkerFallback: true,
  });
  assert.equal(engine.grpcWorker, undefined);
  assert.match(engine.grpcUrl!, /^grpc:\/\/127\.0\.0\.1:\d+$/);
  // The store was opened once and still takes events (a restart would have closed it).
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:f/x`);
  assert.match(
    await c.request(pubFrame(c, "f/x", a.appId, encryptPayload({ ok: 1 }, a.appId))),
    /^\+PASS:/,
  );
  assert.equal((await c.record()).name, "f/x");
});

Deno.test("startEnSyncServer({ grpcWorker }) fails clearly when the worker cannot start or bind", async () => {
  const a = testApp("a");
  await assert.rejects(
    startTestEngine([a], {
      grpcWorker: { command: Deno.execPath(), args: ["eval", "Deno.exit(3)"] },
    }),
    (err: unknown) => {
      assert.ok(err instanceof EnSyncServerError);
      assert.match(
        err.message,
        /^Cannot start the EnSync gRPC server on 127\.0\.0\.1:0: the gRPC worker ended \(exit status 3\) before it listened$/,
      );
      return true;
    },
  );
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  await assert.rejects(
    startTestEngine([a], { grpcPort: port, grpcWorker: TEST_GRPC_WORKER }),
    (err: unknown) => {
      assert.ok(err instanceof EnSyncServerError);
      assert.match(
        err.message,
        new RegExp(`^Cannot start the EnSync gRPC server on 127\\.0\\.0\\.1:${port}: `),
      );
      return true;
    },
  );
});

Deno.test("EnSyncServer.close() stops the gRPC worker and frees its port", async () => {
  const a = testApp("a");
  const engine = await startTestEngine([a], { grpcWorker: TEST_GRPC_WORKER });
  const port = engine.grpcPort;
  assert.equal(engine.grpcWorker?.state, "running");
  await engine.close();
  assert.equal(engine.grpcWorker?.state, "stopped");
  assert.equal(engine.grpcWorker?.pid, undefined);
  using listener = Deno.listen({ hostname: "127.0.0.1", port });
  assert.equal((listener.addr as Deno.NetAddr).port, port);
});

Deno.test("the gRPC worker carries large messages both ways (3 MiB payload)", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a], { grpcWorker: TEST_GRPC_WORKER });
  const Client = ensyncClientConstructor();
  const c = new Client(
    engine.grpcUrl!.replace("grpc://", ""),
    grpc.credentials.createInsecure(),
  ) as Any;
  const call = (m: string, req: unknown): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) =>
      c[m](
        req,
        (err: Error | null, res: Record<string, unknown>) => err ? reject(err) : resolve(res),
      )
    );
  try {
    const conn = await call("Connect", { access_key: a.accessKey });
    const payload = btoa("p".repeat(3 * 1024 * 1024)).slice(0, 3 * 1024 * 1024);
    const stream = c.Subscribe({ client_id: conn.client_id, message_name: "big/x" });
    const got = new Promise<Record<string, unknown>>((resolve, reject) => {
      stream.on("data", resolve);
      stream.on("error", reject);
    });
    const pub = await call("PublishMessage", {
      client_id: conn.client_id,
      message_name: "big/x",
      payload,
      delivery_to: a.appId,
      metadata: "{}",
    });
    assert.equal(pub.success, true, String(pub.error_message));
    const m = await got;
    assert.equal(m.message_idem, pub.message_idem);
    assert.equal((m.payload as string).length, payload.length);
    assert.equal(m.payload, payload);
    stream.cancel();
  } finally {
    c.close();
  }
});

Deno.test("a gRPC worker that dies is replaced, again and again; client ids outlive it", async () => {
  const a = testApp("a");
  await using engine = await startTestEngine([a], { grpcWorker: TEST_GRPC_WORKER });
  const connect = (): Any =>
    new (ensyncClientConstructor())(
      engine.grpcUrl!.replace("grpc://", ""),
      grpc.credentials.createInsecure(),
      { "grpc.channel_id": crypto.randomUUID() },
    );
  const call = (c: Any, m: string, req: unknown): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) =>
      c[m](
        req,
        (err: Error | null, res: Record<string, unknown>) => err ? reject(err) : resolve(res),
      )
    );
  const first = connect();
  const conn = await call(first, "Connect", { access_key: a.accessKey });
  first.close();
  for (let n = 1; n <= 3; n++) {
    const pid = engine.grpcWorker!.pid!;
    Deno.kill(pid, "SIGKILL");
    await waitFor(
      () => engine.grpcWorker!.restarts === n && engine.grpcWorker!.state === "running",
      { timeoutMs: 15_000, what: `restart ${n}` },
    );
    assert.notEqual(engine.grpcWorker!.pid, pid);
    assert.equal(engine.grpcWorker!.lastExit, "signal SIGKILL");
    const c = connect();
    try {
      assert.deepEqual(await call(c, "Heartbeat", { client_id: conn.client_id }), {
        success: true,
      });
    } finally {
      c.close();
    }
  }
});
