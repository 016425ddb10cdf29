/**
 * The gRPC worker's channel to the engine: after `start` on its stdin, a worker process connects
 * to the loopback port `start.ipc` names, says the token first and then speaks only there; a
 * worker that cannot connect stays on stdin and stdout. A real worker process each time (the
 * engine side of the same channel is exercised by every `[gRPC worker process]` test).
 */
import assert from "node:assert/strict";
import {
  type FromWorker,
  LineWriter,
  readLines,
  type ToWorker,
} from "../../../servers/ensync/_grpc_ipc.ts";
import { TEST_GRPC_WORKER } from "./_helpers.ts";

function spawnWorker(): Deno.ChildProcess {
  return new Deno.Command(TEST_GRPC_WORKER.command, {
    args: TEST_GRPC_WORKER.args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** Collects the lines of a source into an array as they come; resolves at its end. */
function collect(source: ReadableStream<Uint8Array> | Deno.Conn): {
  lines: FromWorker[];
  done: Promise<void>;
  next(): Promise<FromWorker>;
} {
  const lines: FromWorker[] = [];
  const waiting: ((m: FromWorker) => void)[] = [];
  let read = 0;
  const done = readLines<FromWorker>(source, (m) => {
    lines.push(m);
    waiting.shift()?.(m);
  });
  return {
    lines,
    done,
    next: () =>
      read < lines.length
        ? Promise.resolve(lines[read++]!)
        : new Promise((r) => waiting.push((m) => (read++, r(m)))),
  };
}

const start = (ipc?: { port: number; token: string }): ToWorker => ({
  t: "start",
  host: "127.0.0.1",
  port: 0,
  maxMessageBytes: 1024 * 1024,
  ...(ipc === undefined ? {} : { ipc }),
});

Deno.test("the gRPC worker moves to the engine's TCP channel: the token first, then every message there", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const worker = spawnWorker();
  const pipe = new LineWriter<ToWorker>(worker.stdin);
  const stdout = collect(worker.stdout);
  pipe.send(start({ port: listener.addr.port, token: "t0ken" }));
  const conn = await Promise.race([
    listener.accept(),
    stdout.next().then((m) => {
      throw new Error(`the worker answered on stdout instead: ${JSON.stringify(m)}`);
    }),
  ]);
  const channel = collect(conn);
  assert.deepEqual(await channel.next(), { t: "hello", token: "t0ken" });
  const listening = await channel.next();
  assert.equal(listening.t, "listening");
  assert.ok(listening.t === "listening" && listening.port > 0);
  // The engine's messages now come over the channel too: `stop` there ends the worker.
  const out = new LineWriter<ToWorker>(conn);
  out.send({ t: "stop" });
  const status = await worker.status;
  assert.equal(status.code, 0);
  await Promise.all([channel.done, stdout.done]);
  assert.deepEqual(stdout.lines, [], "nothing on stdout once the channel is up");
  await out.close();
  await pipe.close();
});

Deno.test("a gRPC worker that cannot reach the channel stays on stdin and stdout", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close(); // connection refused
  const worker = spawnWorker();
  const pipe = new LineWriter<ToWorker>(worker.stdin);
  const stdout = collect(worker.stdout);
  pipe.send(start({ port, token: "t0ken" }));
  const listening = await stdout.next();
  assert.equal(listening.t, "listening");
  pipe.send({ t: "stop" });
  assert.equal((await worker.status).code, 0);
  await stdout.done;
  assert.equal(stdout.lines.length, 1);
  await pipe.close();
});
