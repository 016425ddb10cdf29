/**
 * The engine's gRPC front end as a separate process.
 *
 * Deno 2.9's `node:http2` can abort the whole process inside nghttp2 when a client closes an
 * HTTP/2 connection that carried many calls (denoland/deno#36788): no JavaScript can catch it. So
 * `syft ensync serve` and `syft up` keep HTTP/2 out of the engine's process: a worker process runs
 * the gRPC server and forwards every call (JSON lines: its stdin and stdout carry the start-up,
 * then a loopback TCP connection the engine opened for it carries the rest) to the engine, which answers it with the same {@linkcode EnSyncGrpcService} as in-process. The worker
 * holds no state; when it dies the engine starts a new one on the same port at once, and every
 * client id, subscription and event stays in the engine (an event in flight on a stream that died
 * is redelivered, as after any lost stream).
 *
 * {@linkcode runEnSyncGrpcWorker} is the worker side; the engine starts it through
 * `EnSyncServerOptions.grpcWorker`, a command that runs it.
 *
 * @module
 */
import { listenGrpc } from "../_grpc_listen.ts";
import type { ServeLimits } from "../_limits.ts";
import * as grpc from "@grpc/grpc-js";
import { ensyncServiceDefinition } from "../../lib/ensync/proto.ts";
import { getLogger } from "../../lib/_log.ts";
import { type FromWorker, hostPort, LineWriter, readLines, type ToWorker } from "./_grpc_ipc.ts";

const log = getLogger(["ensync", "grpc-worker"]);

/**
 * How the engine starts its gRPC worker process: a command whose process calls
 * {@linkcode runEnSyncGrpcWorker} with its stdin and stdout (the CLI's is
 * `syft ensync grpc-worker`).
 *
 * @example A script of your own as the worker
 * ```ts
 * import type { GrpcWorkerCommand } from "@syft/syft/ensync/engine";
 * // worker.ts contains: await runEnSyncGrpcWorker();
 * const worker: GrpcWorkerCommand = {
 *   command: Deno.execPath(),
 *   args: ["run", "--allow-env", "--allow-net=127.0.0.1", "worker.ts"],
 * };
 * console.log(worker.command);
 * ```
 */
export interface GrpcWorkerCommand {
  /** The program (`Deno.execPath()`, `deno`, a compiled binary). */
  command: string;
  /** Its arguments. */
  args: string[];
  /** Extra environment variables (the engine's environment is inherited). */
  env?: Record<string, string>;
}

/**
 * The state of the gRPC worker process, as `EnSyncServer.grpcWorker` and `GET /health` report it.
 *
 * @example
 * ```ts
 * import type { GrpcWorkerStatus } from "@syft/syft/ensync/engine";
 * const status: GrpcWorkerStatus = {
 *   process: "worker",
 *   state: "running",
 *   pid: 4242,
 *   restarts: 1,
 *   lastExit: "signal SIGABRT",
 * };
 * console.log(status.restarts);
 * ```
 */
export interface GrpcWorkerStatus {
  /** Where gRPC runs. */
  process: "worker";
  /** `running`, `restarting` (between a death and the next bind) or `stopped`. */
  state: "starting" | "running" | "restarting" | "stopped";
  /** The current worker's process id. */
  pid: number | undefined;
  /** How many times a worker died and was replaced. */
  restarts: number;
  /** How the last worker ended, such as `signal SIGABRT` (none yet: `undefined`). */
  lastExit: string | undefined;
}

/** Options of {@linkcode runEnSyncGrpcWorker}. */
export interface EnSyncGrpcWorkerOptions {
  /** Where the engine's messages come from (default: stdin). */
  input?: ReadableStream<Uint8Array>;
  /** Where the worker's messages go (default: stdout, which nothing else may write to). */
  output?: WritableStream<Uint8Array>;
  /** How long `stop` waits for open unary calls (default 1 500 ms). */
  graceMs?: number;
}

function stringMetadata(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) if (typeof v === "string") out[k] = v;
  return out;
}

/**
 * Runs the gRPC worker: waits for the engine's `start` (address, limits and the engine's TCP
 * channel, which it moves to when it can connect), binds, forwards each call to the engine and
 * relays its answers, until the engine says `stop` (open unary calls get a grace period) or its end
 * of the pipe or channel closes (the engine is gone). Then it returns and **the
 * caller must exit**: the exit closes the client connections. It deliberately sends no HTTP/2
 * GOAWAY, which would abort Deno gRPC clients whose connection carried many calls
 * (denoland/deno#36788). SIGINT and SIGTERM are ignored meanwhile, because a terminal's Ctrl-C
 * reaches the whole process group and the engine stops the worker itself.
 *
 * @param options The pipe (default stdin and stdout) and the stop grace period.
 * @returns When the worker is done; the caller then exits.
 *
 * @example The whole worker script
 * ```ts ignore
 * import { runEnSyncGrpcWorker } from "@syft/syft/ensync/engine";
 * await runEnSyncGrpcWorker();
 * Deno.exit(0);
 * ```
 */
export async function runEnSyncGrpcWorker(options: EnSyncGrpcWorkerOptions = {}): Promise<void> {
  // By default the raw stdin and stdout: no stream machinery on every message. Both carry only
  // `start` when the engine offers a TCP channel (see _grpc_ipc.ts); then `out` is that channel.
  const pipeOut = new LineWriter<FromWorker>(options.output ?? Deno.stdout);
  let out = pipeOut;
  const graceMs = options.graceMs ?? 1_500;
  const definition = ensyncServiceDefinition();
  const unary = new Map<number, grpc.sendUnaryData<unknown>>();
  const streams = new Map<number, grpc.ServerWritableStream<unknown, unknown>>();
  let nextId = 1;
  let server: grpc.Server | undefined;
  const stopped = Promise.withResolvers<void>();

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.responseStream) {
      implementation[name] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const id = nextId++;
        streams.set(id, call);
        const gone = (): void => {
          if (streams.delete(id)) out.send({ t: "gone", id });
        };
        call.on("cancelled", gone);
        call.on("close", gone);
        call.on("error", gone);
        out.send({ t: "open", id, m: name, req: call.request, md: stringMetadata(call.metadata) });
      };
    } else {
      implementation[name] = (
        call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const id = nextId++;
        unary.set(id, callback);
        out.send({ t: "call", id, m: name, req: call.request, md: stringMetadata(call.metadata) });
      };
    }
  }

  const start = (
    host: string,
    port: number,
    maxMessageBytes: number,
    limits: ServeLimits = {},
  ): void => {
    const s = new grpc.Server({
      "grpc.max_receive_message_length": maxMessageBytes,
      "grpc.max_send_message_length": maxMessageBytes,
    });
    s.addService(definition, implementation);
    const target = hostPort(host, port);
    listenGrpc(s, host, port, { ...limits, name: "the EnSync gRPC worker" }).then((listener) => {
      server = s;
      log.debug("gRPC worker {pid} serving on {target}", { pid: Deno.pid, target });
      out.send({ t: "listening", port: listener.port });
    }, (err: Error) => {
      s.forceShutdown();
      out.send({ t: "bind-error", message: `Cannot bind ${target}: ${err.message}` });
    });
  };

  // Stopping sends no HTTP/2 GOAWAY (grpc-js's shutdowns do): a Deno gRPC client that receives one
  // on a connection that carried many calls aborts (denoland/deno#36788). Open unary calls get the
  // grace period; then the caller exits and the connections just close, which every client treats
  // as a lost connection.
  let stopping = false;
  const stop = (graceful: boolean): void => {
    if (!graceful || server === undefined) {
      stopped.resolve();
      return;
    }
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + graceMs;
    const check = (): void => {
      // A last moment for the answers just written to reach the sockets.
      if (unary.size === 0 || Date.now() >= deadline) setTimeout(() => stopped.resolve(), 50);
      else setTimeout(check, 10);
    };
    check();
  };

  const onProblem = (problem: string): void =>
    log.error("gRPC worker: skipped a message: {problem}", { problem });

  /** Moves the conversation to the engine's TCP channel; stays on the pipes if it cannot. */
  const connect = async (ipc: { port: number; token: string }): Promise<void> => {
    let conn: Deno.TcpConn;
    try {
      const granted = Deno.permissions.querySync({ name: "net", host: `127.0.0.1:${ipc.port}` });
      if (granted.state !== "granted") throw new Error("no net permission for 127.0.0.1");
      conn = await Deno.connect({ hostname: "127.0.0.1", port: ipc.port });
      conn.setNoDelay(true);
    } catch (err) {
      log.debug("gRPC worker: staying on stdin/stdout ({error})", {
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    out = new LineWriter<FromWorker>(conn);
    out.send({ t: "hello", token: ipc.token });
    void readLines<ToWorker>(conn, onMessage, onProblem).then(() => stop(false));
  };

  const onMessage = (m: ToWorker): void => {
    switch (m.t) {
      case "start": {
        const { host, port, maxMessageBytes, limits } = m;
        if (m.ipc === undefined) start(host, port, maxMessageBytes, limits);
        else void connect(m.ipc).then(() => start(host, port, maxMessageBytes, limits));
        break;
      }
      case "reply": {
        const callback = unary.get(m.id);
        if (callback === undefined) return;
        unary.delete(m.id);
        if (m.err) callback(m.err, null);
        else callback(null, m.res);
        break;
      }
      case "meta":
        streams.get(m.id)?.sendMetadata(new grpc.Metadata());
        break;
      case "write":
        streams.get(m.id)?.write(m.msg);
        break;
      case "end": {
        const call = streams.get(m.id);
        streams.delete(m.id);
        if (call !== undefined && !call.writableEnded) call.end();
        break;
      }
      case "fail": {
        const call = streams.get(m.id);
        streams.delete(m.id);
        call?.emit("error", { code: m.code, details: m.details });
        break;
      }
      case "stop":
        stop(true);
        break;
    }
  };

  const ignore = (): void => {};
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, ignore);
  try {
    await Promise.race([
      readLines<ToWorker>(options.input ?? Deno.stdin, onMessage, onProblem).then(() =>
        stop(false)
      ),
      stopped.promise,
    ]);
    await stopped.promise;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, ignore);
    await out.close();
    if (out !== pipeOut) await pipeOut.close();
  }
}
