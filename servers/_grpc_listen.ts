/**
 * The gRPC servers' listener (grpc-js over `node:http2`), in place of `bindAsync`: a `node:net`
 * server this layer owns hands each accepted socket to grpc-js (`createConnectionInjector`), so
 * that
 *
 * - accept errors are logged once per burst and never fatal (the listener is reopened on the same
 *   port when the runtime closed it);
 * - beyond `maxConnections` (or the process's budget, shared with the HTTP servers) a connection
 *   is closed at once (HTTP/2 has no status to send before its preface);
 * - a connection that has not sent the 24-byte HTTP/2 preface within the headers timeout is
 *   closed (slowloris).
 *
 * Not applied to gRPC: the body and keep-alive timeouts. Streams are grpc-js's (a subscription
 * may rightly be silent for hours), and closing idle connections with GOAWAY, grpc-js's way, makes
 * a Deno gRPC client that receives one abort (denoland/deno#36788).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server, type Socket } from "node:net";
import { type Clock, systemClock } from "../lib/_clock.ts";
import { getLogger } from "../lib/_log.ts";
import {
  FD_BUDGET_SHARE,
  isFdExhaustion,
  probeOpenFileLimit,
  processConnections,
  resolveLimits,
  type ServeLimits,
} from "./_limits.ts";
import { serveCounters, type ServeStats } from "./_serve.ts";

const log = getLogger(["serve", "grpc"]);

/** The HTTP/2 client preface is 24 bytes. */
const PREFACE_BYTES = 24;

/** Descriptors checked at a listener's start (about 10 µs each). */
const FIRST_CHECK = 256;

/**
 * Deno's node:net stops accepting for good when an accept fails for want of descriptors, and says
 * nothing: the connections must be kept under the open-file limit, which must then be known. Where
 * `/proc/self/limits` cannot be read (anything short of `--allow-all`), it is found by opening
 * `/dev/null`, a little at a time: at start, whether {@linkcode FIRST_CHECK} more files can be
 * opened; then, each time the process's connections reach 75 % of what was last checked, whether
 * twice as many as are open can be. A check that runs out of descriptors gives the limit (the
 * connections open plus the files it could open), and the budget follows from it. The checks
 * grow with the connections, so each connection costs about two opens, once; a listener starts in
 * about 2.5 ms whatever the limit (checking up to 32,768 at start took 190 ms).
 */
class FdHeadroom {
  /** Process connections known to fit (Infinity once the limit is known). */
  #checkedUpTo = 0;

  constructor() {
    this.ensure(FIRST_CHECK);
  }

  /**
   * Checks the next stretch of descriptors when the connections have reached the last one.
   *
   * @param minimum The least number of descriptors to check.
   */
  ensure(minimum = FIRST_CHECK): void {
    const open = processConnections.open;
    if (open < this.#checkedUpTo) return;
    if (processConnections.budget() !== Infinity) {
      this.#checkedUpTo = Infinity;
      return;
    }
    const step = Math.max(minimum, 2 * open);
    const free = probeOpenFileLimit(step);
    if (free === undefined) {
      this.#checkedUpTo = open + Math.floor(step * FD_BUDGET_SHARE);
    } else {
      processConnections.knowLimit(open + free);
      this.#checkedUpTo = Infinity;
    }
  }
}

/** Options of {@linkcode listenGrpc}. */
export interface GrpcListenOptions extends ServeLimits {
  /** The server's name in messages (default "the gRPC server"). */
  name?: string;
  /** The flag that sets `maxConnections`, named in the log (default "--max-connections"). */
  maxConnectionsFlag?: string;
  /** The timers' clock (tests). */
  clock?: Clock;
}

/** A listening gRPC server. */
export interface GrpcListener {
  /** The bound port. */
  readonly port: number;
  /** Its counts (`websockets` stays 0; body and idle timeouts do not apply). */
  readonly stats: Readonly<ServeStats>;
  /** Stops accepting at once (the grpc-js server's shutdown closes the connections). */
  close(): Promise<void>;
}

/**
 * Serves `server` on `host:port` through a listener this layer controls.
 *
 * @param server A grpc-js server with its services added (not bound).
 * @param host Bind address.
 * @param port Port (0 picks a free one).
 * @param options Limits and names.
 * @returns The listener once bound.
 * @throws The listen error (`EADDRINUSE`, …) as `node:net` reports it.
 *
 * @example
 * ```ts ignore
 * const listener = await listenGrpc(server, "127.0.0.1", 0, { maxConnections: 100 });
 * console.log(listener.port);
 * ```
 */
export function listenGrpc(
  server: grpc.Server,
  host: string,
  port: number,
  options: GrpcListenOptions = {},
): Promise<GrpcListener> {
  const limits = resolveLimits(options);
  const clock = options.clock ?? systemClock;
  const name = options.name ?? "the gRPC server";
  const flag = options.maxConnectionsFlag ?? "--max-connections";
  const headroom = new FdHeadroom();
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const { stats, acceptLog, refusedLog } = serveCounters(log, clock);
  let closing = false;
  let boundPort = port;

  const onConnection = (socket: Socket): void => {
    socket.on("error", () => {/* grpc-js reports its own; a reset is not ours to log */});
    headroom.ensure();
    if (
      stats.open >= limits.maxConnections || processConnections.open >= processConnections.budget()
    ) {
      stats.refused++;
      refusedLog.note("{name} refused a connection: {open} open, its limit ({flag} {max})", {
        name,
        open: stats.open,
        flag,
        max: limits.maxConnections,
      });
      socket.destroy();
      return;
    }
    stats.accepted++;
    stats.open++;
    processConnections.open++;
    const timer = clock.setTimeout(() => {
      if (socket.bytesRead < PREFACE_BYTES && !socket.destroyed) {
        stats.timedOut.headers++;
        socket.destroy();
      }
    }, limits.headersTimeoutMs);
    socket.once("close", () => {
      clock.clearTimeout(timer);
      stats.open--;
      processConnections.open--;
    });
    injector.injectConnection(socket);
  };

  const net: Server = createServer({ noDelay: true }, onConnection);
  // Deno's node:net stops accepting after an accept fails for want of descriptors (the server
  // still says it is listening): reopen the listening socket on the same port, retrying with
  // backoff (at most 250 ms, so that service resumes soon after descriptors come back).
  let backoff = 10;
  let reopening = false;
  const reopen = (): void => {
    if (reopening || closing) return;
    reopening = true;
    try {
      net.close();
    } catch { /* not listening */ }
    clock.setTimeout(() => {
      reopening = false;
      if (!closing) net.listen(boundPort, host);
    }, backoff);
    backoff = Math.min(backoff * 2, 250);
  };
  return new Promise<GrpcListener>((resolve, reject) => {
    const onBindError = (err: Error): void => reject(err);
    net.once("error", onBindError);
    net.listen(port, host, () => {
      net.off("error", onBindError);
      boundPort = (net.address() as { port: number }).port;
      net.on("error", (err: Error) => {
        if (closing) return;
        stats.acceptErrors++;
        const exhausted = isFdExhaustion(err);
        if (exhausted) processConnections.learn(processConnections.open);
        acceptLog.note(
          "{name} cannot accept a connection ({error}); reopening its listener. At the " +
            "open-file limit: raise ulimit -n or lower {flag}",
          { name, error: err.message, flag },
        );
        if (exhausted || !net.listening) reopen();
      });
      net.on("listening", () => {
        backoff = 10;
      });
      resolve({
        port: boundPort,
        stats,
        close(): Promise<void> {
          closing = true;
          acceptLog.close();
          refusedLog.close();
          // Not awaiting close's callback: it waits for every connection, and those end with
          // the grpc-js server's shutdown, after this.
          net.close();
          return Promise.resolve();
        },
      });
    });
  });
}
