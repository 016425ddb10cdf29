/**
 * The engine side of the gRPC worker process (see `grpc_worker.ts`): starts the worker, hands each
 * call it forwards to the {@linkcode EnSyncGrpcService} handlers through stand-ins for grpc-js's
 * call objects, and starts a new worker on the same port at once when one dies.
 *
 * @module
 */
import type { ServeLimits } from "../_limits.ts";
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { type Clock, systemClock, type TimerHandle } from "../../lib/_clock.ts";
import { getLogger } from "../../lib/_log.ts";
import { type FromWorker, LineWriter, readLines, type ToWorker } from "./_grpc_ipc.ts";
import type { GrpcServiceRegistry } from "./grpc.ts";
import type { GrpcWorkerCommand, GrpcWorkerStatus } from "./grpc_worker.ts";

/**
 * Logs (category `["ensync", "grpc-worker"]`) the warning that gRPC serves in the engine's process,
 * and why: a gRPC client that closes a busy connection can then abort the whole engine.
 *
 * @example
 * ```ts
 * import { warnInProcessGrpc } from "@syft/syft/ensync/engine";
 * warnInProcessGrpc("no permission to run deno");
 * ```
 */
export function warnInProcessGrpc(why: string): void {
  log.warn(
    "gRPC runs in the engine's process ({why}): a gRPC client that closes a connection after " +
      "many calls can abort it (Deno 2.9, denoland/deno#36788)",
    { why },
  );
}

function runGranted(command: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command }).state === "granted";
  } catch {
    return false;
  }
}

function realPath(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The command to spawn for `command`. `--allow-run=deno` (the `deno.json` permission sets) grants
 * the `deno` found on PATH, which for an npm-installed Deno is a symlink, while `Deno.execPath()`
 * is the real file inside npm's modules and is not granted: spawn `deno` instead when it is granted
 * and resolves to the same executable.
 */
export function runnable(command: string): string {
  if (command !== Deno.execPath() || runGranted(command) || !runGranted("deno")) return command;
  const self = realPath(command);
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    return command;
  }
  const exe = Deno.build.os === "windows" ? "deno.exe" : "deno";
  for (const dir of (path ?? "").split(Deno.build.os === "windows" ? ";" : ":")) {
    if (!dir) continue;
    const found = realPath(`${dir}/${exe}`);
    if (found !== undefined) return found === self ? "deno" : command;
  }
  return command;
}

/** The worker started but could not bind its port: an in-process server could not either. */
export class GrpcBindError extends Error {
  /** @param message What failed. */
  constructor(message: string) {
    super(message);
    this.name = "GrpcBindError";
  }
}

const log = getLogger(["ensync", "grpc-worker"]);

/** How long a worker may take to bind. */
const START_TIMEOUT_MS = 30_000;
/** A worker that dies sooner than this after starting counts as a quick failure (backoff). */
const STABLE_AFTER_MS = 10_000;
/** The longest pause between restarts. */
const MAX_BACKOFF_MS = 10_000;
/** How long `stop` gives open calls before the worker is killed. */
const STOP_GRACE_MS = 1_500;

type Send = (m: ToWorker) => void;

/** Stands in for grpc-js's `ServerWritableStream` on the engine side of the pipe. */
class RemoteStream extends EventEmitter {
  readonly request: unknown;
  readonly metadata: grpc.Metadata;
  cancelled = false;
  writableEnded = false;
  readonly #id: number;
  readonly #send: Send;
  readonly #done: () => void;

  constructor(id: number, request: unknown, metadata: grpc.Metadata, send: Send, done: () => void) {
    super();
    this.#id = id;
    this.request = request;
    this.metadata = metadata;
    this.#send = send;
    this.#done = done;
  }

  getPeer(): string {
    return "grpc-worker";
  }

  sendMetadata(_metadata: grpc.Metadata): void {
    if (!this.cancelled && !this.writableEnded) this.#send({ t: "meta", id: this.#id });
  }

  write(msg: unknown): boolean {
    if (this.cancelled || this.writableEnded) return false;
    this.#send({ t: "write", id: this.#id, msg });
    return true;
  }

  end(): void {
    if (this.writableEnded) return;
    this.writableEnded = true;
    if (!this.cancelled) this.#send({ t: "end", id: this.#id });
    this.#finish("finish");
  }

  /** grpc-js ends a stream with an error status when `error` is emitted on it. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === "error") {
      if (!this.cancelled && !this.writableEnded) {
        this.writableEnded = true;
        const status = args[0] as { code?: number; details?: string } | undefined;
        this.#send({
          t: "fail",
          id: this.#id,
          code: status?.code ?? grpc.status.INTERNAL,
          details: status?.details ?? "",
        });
        this.#finish(undefined);
      }
      if (this.listenerCount("error") === 0) return false;
    }
    return super.emit(event, ...args);
  }

  /** The client cancelled it, or the worker carrying it died. */
  gone(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.#finish("cancelled");
  }

  #finish(event: "finish" | "cancelled" | undefined): void {
    this.#done();
    queueMicrotask(() => {
      if (event !== undefined) super.emit(event);
      super.emit("close");
    });
  }
}

/** One worker process and the calls it carries. */
class Worker {
  readonly child: Deno.ChildProcess;
  /** When it was spawned, on the supervisor's clock. */
  readonly startedAt: number;
  readonly streams = new Map<number, RemoteStream>();
  readonly listening: Promise<number>;
  readonly ended: Promise<Deno.CommandStatus>;
  dead = false;
  /** The worker's stdin; `#out` moves to the TCP channel once the worker connected to it. */
  readonly #pipe: LineWriter<ToWorker>;
  #out: LineWriter<ToWorker>;
  #listener: Deno.TcpListener | undefined;
  #channel: Promise<void> = Promise.resolve();

  constructor(
    command: GrpcWorkerCommand,
    start: Extract<ToWorker, { t: "start" }>,
    onMessage: (worker: Worker, m: FromWorker) => void,
    startedAt: number,
  ) {
    this.startedAt = startedAt;
    try {
      this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const token = Array.from(
        crypto.getRandomValues(new Uint8Array(16)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      start = { ...start, ipc: { port: this.#listener.addr.port, token } };
    } catch (err) {
      log.debug("No TCP channel for the gRPC worker ({error}): using its stdin and stdout", {
        error: err instanceof Error ? err.message : String(err),
      });
    }
    this.child = new Deno.Command(runnable(command.command), {
      args: command.args,
      ...(command.env === undefined ? {} : { env: command.env }),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#pipe = this.#out = new LineWriter<ToWorker>(this.child.stdin);
    const bound = Promise.withResolvers<number>();
    this.listening = bound.promise;
    this.listening.catch(() => {});
    const handle = (m: FromWorker): void => {
      if (m.t === "listening") bound.resolve(m.port);
      else if (m.t === "bind-error") bound.reject(new GrpcBindError(m.message));
      else onMessage(this, m);
    };
    const onProblem = (problem: string): void =>
      log.error("gRPC worker {pid}: {problem}", { pid: this.child.pid, problem });
    // Whether or not the worker connected by then, nobody else may.
    this.listening.finally(() => this.#closeListener()).catch(() => {});
    const reading = readLines<FromWorker>(this.child.stdout, handle, onProblem);
    if (this.#listener !== undefined) {
      this.#accept(this.#listener, start.ipc!.token, handle, onProblem);
    }
    this.ended = Promise.all([this.child.status, reading]).then(async ([status]) => {
      this.#closeListener();
      await this.#channel;
      this.dead = true;
      bound.reject(new Error(`the gRPC worker ended (${describeExit(status)}) before it listened`));
      for (const s of [...this.streams.values()]) s.gone();
      return status;
    });
    this.send(start);
  }

  send(m: ToWorker): void {
    if (!this.dead) this.#out.send(m);
  }

  /** Takes the worker's connection (the one whose first line is the token) as the channel. */
  async #accept(
    listener: Deno.TcpListener,
    token: string,
    handle: (m: FromWorker) => void,
    onProblem: (problem: string) => void,
  ): Promise<void> {
    try {
      for await (const conn of listener) {
        let accepted = false;
        const reading = readLines<FromWorker>(conn, (m) => {
          if (accepted) return handle(m);
          if (m.t !== "hello" || m.token !== token || this.#out !== this.#pipe) {
            conn.close();
            return;
          }
          accepted = true;
          conn.setNoDelay(true);
          this.#out = new LineWriter<ToWorker>(conn);
          this.#channel = reading;
          this.#closeListener();
        }, onProblem);
      }
    } catch { /* the listener closed */ }
  }

  #closeListener(): void {
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    this.#listener = undefined;
  }

  async stop(): Promise<void> {
    this.send({ t: "stop" });
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, STOP_GRACE_MS + 1_500);
    try {
      await this.ended;
    } finally {
      clearTimeout(timer);
      await this.#out.close();
      if (this.#out !== this.#pipe) await this.#pipe.close();
    }
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

function describeExit(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit status ${status.code}`;
}

function metadataOf(md: Record<string, string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) {
    try {
      metadata.set(k, v);
    } catch { /* a key grpc-js refuses */ }
  }
  return metadata;
}

/**
 * Runs the gRPC front end in a worker process: register the service on it (`addTo(supervisor)`),
 * then `start()`. A worker that dies is replaced on the same port: at once after a stable run,
 * then with a backoff from 250 ms up to 10 s while new workers keep dying within 10 s (both on the
 * `clock` option's time; the start and stop limits, which guard the process itself, on the real one).
 */
export class GrpcWorkerSupervisor implements GrpcServiceRegistry {
  readonly #command: GrpcWorkerCommand;
  readonly #host: string;
  #port: number;
  readonly #maxMessageBytes: number;
  readonly #limits: ServeLimits | undefined;
  #impl: Record<string, (...args: unknown[]) => void> = {};
  #worker: Worker | undefined;
  #state: GrpcWorkerStatus["state"] = "starting";
  #restarts = 0;
  #quickFailures = 0;
  #lastExit: string | undefined;
  #timer: TimerHandle | undefined;
  #closing = false;
  readonly #clock: Clock;

  constructor(
    command: GrpcWorkerCommand,
    options: {
      host: string;
      port: number;
      maxMessageBytes: number;
      limits?: ServeLimits;
      clock?: Clock;
    },
  ) {
    this.#clock = options.clock ?? systemClock;
    this.#command = command;
    this.#host = options.host;
    this.#port = options.port;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#limits = options.limits;
  }

  /** GrpcServiceRegistry: keeps the handlers the worker's calls go to. */
  addService(_service: unknown, implementation: unknown): void {
    this.#impl = {
      ...this.#impl,
      ...(implementation as Record<string, (...args: unknown[]) => void>),
    };
  }

  /** The worker's state for `/health`. */
  get status(): GrpcWorkerStatus {
    return {
      process: "worker",
      state: this.#state,
      pid: this.#worker?.dead === false ? this.#worker.child.pid : undefined,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
    };
  }

  /** Starts the first worker and returns the bound port. */
  async start(): Promise<number> {
    let worker: Worker;
    try {
      worker = this.#spawn();
    } catch (err) {
      this.#state = "stopped";
      throw new Error(
        `Cannot start the gRPC worker (${this.#command.command}): ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
    try {
      this.#port = await this.#listening(worker);
    } catch (err) {
      worker.kill();
      await worker.ended;
      this.#state = "stopped";
      throw err;
    }
    this.#state = "running";
    this.#watch(worker);
    log.debug("gRPC worker {pid} serving on port {port}", {
      pid: worker.child.pid,
      port: this.#port,
    });
    return this.#port;
  }

  /** Stops the worker (open calls get a grace period) and stops replacing it. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#state = "stopped";
    this.#clock.clearTimeout(this.#timer);
    await this.#worker?.stop();
  }

  #spawn(): Worker {
    const worker = new Worker(
      this.#command,
      {
        t: "start",
        host: this.#host,
        port: this.#port,
        maxMessageBytes: this.#maxMessageBytes,
        ...(this.#limits === undefined ? {} : { limits: this.#limits }),
      },
      (w, m) => this.#onMessage(w, m),
      this.#clock.now(),
    );
    this.#worker = worker;
    return worker;
  }

  async #listening(worker: Worker): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        worker.listening,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the gRPC worker did not listen within ${START_TIMEOUT_MS} ms`)),
            START_TIMEOUT_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #watch(worker: Worker): void {
    worker.ended.then((status) => {
      if (this.#closing || this.#worker !== worker) return;
      this.#lastExit = describeExit(status);
      this.#restarts++;
      const uptime = this.#clock.now() - worker.startedAt;
      this.#quickFailures = uptime < STABLE_AFTER_MS ? this.#quickFailures + 1 : 0;
      log.error(
        "The gRPC worker (pid {pid}) died ({exit}) after {uptime} ms; restarting it (restart {n})",
        { pid: worker.child.pid, exit: this.#lastExit, uptime, n: this.#restarts },
      );
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    this.#state = "restarting";
    const delay = this.#quickFailures <= 1
      ? 0
      : Math.min(250 * 2 ** (this.#quickFailures - 2), MAX_BACKOFF_MS);
    if (delay === 0) {
      // at once: no time passes, so no clock is involved (#restart checks #closing itself)
      setTimeout(() => void this.#restart(), 0);
      return;
    }
    this.#timer = this.#clock.setTimeout(() => void this.#restart(), delay);
  }

  async #restart(): Promise<void> {
    this.#timer = undefined;
    if (this.#closing) return;
    let worker: Worker | undefined;
    try {
      worker = this.#spawn();
      await this.#listening(worker);
    } catch (err) {
      worker?.kill();
      await worker?.ended;
      if (this.#closing) return;
      this.#quickFailures++;
      log.error("Cannot restart the gRPC worker: {error}; trying again", {
        error: err instanceof Error ? err.message : String(err),
      });
      this.#scheduleRestart();
      return;
    }
    if (this.#closing) {
      await worker.stop();
      return;
    }
    this.#state = "running";
    this.#watch(worker);
    log.info("The gRPC worker is back (pid {pid}) on port {port}", {
      pid: worker.child.pid,
      port: this.#port,
    });
  }

  #onMessage(worker: Worker, m: FromWorker): void {
    if (m.t === "gone") {
      worker.streams.get(m.id)?.gone();
      return;
    }
    if (m.t !== "call" && m.t !== "open") return;
    const handler = this.#impl[m.m];
    const id = m.id;
    if (handler === undefined) {
      const details = `Method ${m.m} is not implemented`;
      if (m.t === "call") {
        worker.send({ t: "reply", id, err: { code: grpc.status.UNIMPLEMENTED, details } });
      } else worker.send({ t: "fail", id, code: grpc.status.UNIMPLEMENTED, details });
      return;
    }
    if (m.t === "open") {
      const metadata = metadataOf(m.md);
      const stream = new RemoteStream(
        id,
        m.req,
        metadata,
        (msg) => worker.send(msg),
        () => worker.streams.delete(id),
      );
      worker.streams.set(id, stream);
      handler(stream);
      return;
    }
    let answered = false;
    const callback = (err: grpc.ServiceError | null, res?: unknown): void => {
      if (answered) return;
      answered = true;
      if (err) {
        worker.send({
          t: "reply",
          id,
          err: { code: err.code ?? grpc.status.INTERNAL, details: err.details ?? err.message },
        });
      } else worker.send({ t: "reply", id, res });
    };
    // The metadata object is built only for a handler that reads it (Connect): most calls don't.
    let metadata: grpc.Metadata | undefined;
    const md = m.md;
    const call = {
      request: m.req,
      get metadata(): grpc.Metadata {
        return metadata ??= metadataOf(md);
      },
      cancelled: false,
      getPeer: () => "grpc-worker",
    };
    try {
      handler(call, callback);
    } catch (err) {
      callback({
        name: "Error",
        message: String(err),
        code: grpc.status.INTERNAL,
        details: err instanceof Error ? err.message : String(err),
        metadata: new grpc.Metadata(),
      });
    }
  }
}
