/**
 * The gRPC crash scenario shared by the CLI tests of `syft ensync serve` and `syft up`: events
 * acked and held over gRPC, the crashing sequence of denoland/deno#36788 run by a raw
 * @grpc/grpc-js client in its own process until the engine reports a restarted gRPC worker, then
 * checks that gRPC and WebSocket answer again and that every unacked event, and no acked one, is
 * delivered.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { encryptPayload } from "../../../lib/ensync/crypto.ts";
import { ensyncClientConstructor } from "../../../lib/ensync/proto.ts";
import { pubFrame, rawClient } from "./_helpers.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CRASHER = `${ROOT}tests/servers/ensync/_grpc_crasher.ts`;

/**
 * A Deno gRPC client in its own process that made 1 000 calls (10 at a time) on one channel and
 * keeps it open: the kind of client an HTTP/2 GOAWAY aborts. `release()` lets it close its channel
 * and exit; it resolves with the exit status and what it printed (`alive` once released).
 */
export async function busyDenoClient(grpcUrl: string): Promise<{
  release(): Promise<{ code: number; stdout: string; stderr: string }>;
}> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-A",
      "--config",
      `${ROOT}deno.json`,
      CRASHER,
      grpcUrl,
      "1000",
      "10",
      "1",
      "hold",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let stdout = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) stdout += chunk;
  })();
  const deadline = Date.now() + 30_000;
  while (!stdout.includes("ready\n")) {
    if (Date.now() > deadline) throw new Error(`the busy client is not ready: ${stdout}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    async release() {
      await child.stdin.close().catch(() => {});
      const status = await child.status;
      await reading;
      return { code: status.code, stdout, stderr: await stderr };
    },
  };
}

/** The keys of an app. */
export interface CrashApp {
  accessKey: string;
  appId: string;
}

/** Where a running engine answers. */
export interface CrashEngine {
  /** `ws://host:port` (no path). */
  ws: string;
  /** `grpc://host:port`. */
  grpc: string;
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** A raw grpc-js client of `ensync.EnSyncService` ("Message" method names). */
function rawGrpc(url: string) {
  const Client = ensyncClientConstructor();
  const client = new Client(
    url.replace(/^grpc:\/\//, ""),
    grpc.credentials.createInsecure(),
  ) as Any;
  return {
    call: (method: string, req: Record<string, unknown>): Promise<Any> =>
      new Promise((resolve, reject) =>
        client[method](req, (err: Error | null, res: unknown) => err ? reject(err) : resolve(res))
      ),
    subscribe(req: Record<string, unknown>) {
      const stream = client.Subscribe(req) as grpc.ClientReadableStream<Any>;
      const items: Any[] = [];
      const waiters: ((m: Any) => void)[] = [];
      stream.on("data", (m) => {
        const w = waiters.shift();
        if (w) w(m);
        else items.push(m);
      });
      stream.on("error", () => {});
      return {
        stream,
        next(timeoutMs = 10_000): Promise<Any> {
          if (items.length) return Promise.resolve(items.shift());
          return new Promise((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`no stream message within ${timeoutMs} ms`)),
              timeoutMs,
            );
            waiters.push((m) => {
              clearTimeout(timer);
              resolve(m);
            });
          });
        },
        async none(ms: number): Promise<boolean> {
          await new Promise((r) => setTimeout(r, ms));
          return items.length === 0;
        },
      };
    },
    close: () => client.close(),
  };
}

/** The engine's `/health`. */
export async function health(engine: CrashEngine): Promise<Any> {
  const res = await fetch(`${engine.ws.replace(/^ws/, "http")}/health`);
  assert.equal(res.status, 200);
  return await res.json();
}

async function restarted(engine: CrashEngine, after: number, ms: number): Promise<Any> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const g = (await health(engine)).grpc;
    if (g.restarts > after && g.state === "running") return g;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/**
 * Runs the crashing sequence (1 000 calls, 10 at a time, on one channel, then close) in a separate
 * process until the engine's gRPC worker has died of it and a new one serves; returns the restart
 * count.
 *
 * Whether a process hits the bug depends on the process (it behaves like memory corruption): most
 * workers die in the first round, but some survive every round (3 of 56 in our runs; more on a
 * loaded machine). When the worker survives two rounds it is sent SIGABRT, the death the bug
 * causes, so the engine's side (replacement, client ids, redelivery) is tested on every run
 * whatever the bug does. The engine must have survived every round either way.
 */
export async function crashGrpcWorker(engine: CrashEngine): Promise<number> {
  const g = (await health(engine)).grpc;
  const outputs: string[] = [];
  for (let round = 1; round <= 2; round++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-A",
        "--config",
        `${ROOT}deno.json`,
        CRASHER,
        engine.grpc,
        "1000",
        "10",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    outputs.push(text || new TextDecoder().decode(out.stderr).trim().slice(-300));
    assert.match(text, /^done 1000$/m, outputs.join("\n"));
    // Without a worker process the engine itself has died here, and this fetch fails.
    const now = (await health(engine)).grpc;
    assert.equal(now.process, "worker", JSON.stringify(now));
    const after = await restarted(engine, g.restarts, 3_000);
    if (after !== undefined) {
      assert.match(after.lastExit, /^signal SIG(ABRT|SEGV)$|^exit status 13[49]$/);
      return after.restarts;
    }
  }
  Deno.kill(g.pid, "SIGABRT"); // not SIGSEGV: V8's trap handler ignores a SIGSEGV sent by kill()
  const after = await restarted(engine, g.restarts, 10_000);
  assert.ok(after, `a crashed worker is replaced (${outputs.join("; ")})`);
  assert.match(after.lastExit, /^signal SIGABRT$/);
  return after.restarts;
}

/**
 * The whole scenario: `shop` publishes five events to `billing` over WebSocket; a `billing` gRPC
 * client acks the first and holds the second when the worker is crashed; afterwards the same
 * client id answers on a new channel, a new stream delivers the second to fifth events (never the
 * first), and WebSocket connects.
 */
export async function grpcCrashScenario(
  engine: CrashEngine,
  shop: CrashApp,
  billing: CrashApp,
): Promise<void> {
  await using pub = await rawClient(`${engine.ws}/message`);
  assert.match(await pub.conn(shop.accessKey), /^\+PASS:/);
  const ids: string[] = [];
  for (let i = 1; i <= 5; i++) {
    const reply = await pub.request(
      pubFrame(pub, "orders/created", billing.appId, encryptPayload({ i }, billing.appId)),
    );
    const m = /^\+PASS:PUBLISHED;IDEM=([^;]+);/.exec(reply);
    assert.ok(m, reply);
    ids.push(m[1]!);
  }

  const before = rawGrpc(engine.grpc);
  let clientId: string;
  try {
    const conn = await before.call("Connect", { access_key: billing.accessKey });
    assert.equal(conn.success, true, conn.error_message);
    clientId = conn.client_id;
    const sub = before.subscribe({ client_id: clientId, message_name: "orders/*" });
    const first = await sub.next();
    assert.equal(first.message_idem, ids[0]);
    const ack = await before.call("AcknowledgeMessage", {
      client_id: clientId,
      message_idem: first.message_idem,
      message_name: first.message_name,
      partition_block: first.partition_block,
    });
    assert.equal(ack.success, true, ack.message);
    const held = await sub.next();
    assert.equal(held.message_idem, ids[1]);

    const restarts = await crashGrpcWorker(engine);
    assert.ok(restarts >= 1);
  } finally {
    before.close();
  }

  // gRPC answers again, with the same client id; the held event comes back, the acked one not.
  const after = rawGrpc(engine.grpc);
  try {
    assert.deepEqual(await after.call("Heartbeat", { client_id: clientId }), { success: true });
    const sub = after.subscribe({ client_id: clientId, message_name: "orders/*" });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const m = await sub.next();
      got.push(m.message_idem);
      const ack = await after.call("AcknowledgeMessage", {
        client_id: clientId,
        message_idem: m.message_idem,
        message_name: m.message_name,
        partition_block: m.partition_block,
      });
      assert.equal(ack.success, true, ack.message);
    }
    assert.deepEqual(got.toSorted(), ids.slice(1).toSorted());
    assert.ok(await sub.none(300), "nothing else is delivered");
    sub.stream.cancel();
  } finally {
    after.close();
  }

  // WebSocket answers too.
  await using ws = await rawClient(`${engine.ws}/message`);
  assert.match(await ws.conn(billing.accessKey), /^\+PASS:/);
}
