/**
 * The hardened serving layer every syft server runs on, in place of `Deno.serve` (which has no
 * connection limit, no timeouts, and ends its accept loop on the first accept error, such as
 * "Too many open files"). It owns the listener and its accept loop:
 *
 * - accept errors (EMFILE, ENFILE, ECONNABORTED, …) are logged once per burst and retried with
 *   backoff (10 ms doubling to 1 s); never fatal;
 * - beyond `maxConnections` (or the process's budget, 75 % of `ulimit -n` shared by all its
 *   servers) a connection gets a 503 naming the limit and the flag, and is closed;
 * - each connection has a headers, a body and an idle timeout (see `_conn_guard.ts`); a
 *   WebSocket is exempt once upgraded.
 *
 * The result has the shape of `Deno.HttpServer` (`addr`, `finished`, `shutdown()`, …) plus
 * `stats`, so a call site changes only the call.
 *
 * @module
 */
import { type Clock, systemClock } from "../lib/_clock.ts";
import { getLogger } from "../lib/_log.ts";
import { BODY_PROBE } from "./_body_deadline.ts";
import { BurstLog } from "./_burst.ts";
import { ConnectionGuard, type TimeoutKind } from "./_conn_guard.ts";
import {
  type ConnectionHandler,
  ENGINES,
  type ErrorHandler,
  type ServedConnection,
  serveNative,
  serveUpgradable,
} from "./_engines.ts";
import { isFdExhaustion, processConnections, resolveLimits, type ServeLimits } from "./_limits.ts";
import { Sweeper, sweepPeriodMs } from "./_sweeper.ts";

const log = getLogger(["serve"]);

/** Options of {@linkcode serveHardened}: `Deno.serve`'s (TCP) plus the limits. */
export interface HardenedServeOptions extends ServeLimits {
  /** Bind address (default 127.0.0.1). */
  hostname?: string;
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /** Aborting it shuts the server down. */
  signal?: AbortSignal;
  /** Called once listening, with the bound address. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** What a throwing handler answers (default: a 500 and an error log). */
  onError?: ErrorHandler;
  /** The server has WebSocket routes (serves on the engine `Deno.upgradeWebSocket` works with). */
  websocket?: boolean;
  /** The server's name in messages (default "the server"). */
  name?: string;
  /** The option that sets `maxConnections`, named in the refusal (default "--max-connections"). */
  maxConnectionsFlag?: string;
  /** The timers' clock (tests). */
  clock?: Clock;
}

/** Counts of a hardened server. */
/** Zeroed stats and the once-per-burst logs for accept errors and refusals, shared by both listeners. */
export function serveCounters(
  log: { warn(message: string, properties: Record<string, unknown>): void },
  clock: Clock,
): { stats: ServeStats; acceptLog: BurstLog; refusedLog: BurstLog } {
  const warn = (message: string, properties: Record<string, unknown>): void =>
    log.warn(message, properties);
  return {
    stats: {
      open: 0,
      websockets: 0,
      accepted: 0,
      refused: 0,
      timedOut: { headers: 0, body: 0, idle: 0 },
      acceptErrors: 0,
    },
    acceptLog: new BurstLog(warn, clock),
    refusedLog: new BurstLog(warn, clock),
  };
}

export interface ServeStats {
  /** Connections open now (WebSockets included). */
  open: number;
  /** WebSocket connections open now. */
  websockets: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Connections refused at the limit since start. */
  refused: number;
  /** Connections closed by each timeout since start. */
  timedOut: Record<TimeoutKind, number>;
  /** Failed accepts since start (each retried). */
  acceptErrors: number;
}

/** A running hardened server: `Deno.HttpServer` plus its counts and limits. */
export interface HardenedServer extends Deno.HttpServer<Deno.NetAddr> {
  /** Its counts, live. */
  readonly stats: Readonly<ServeStats>;
  /** The limits in force. */
  readonly limits: Readonly<Required<ServeLimits>>;
}

const encoder = new TextEncoder();

function refusal(message: string): Uint8Array {
  const body = JSON.stringify({ error: "too_many_connections", message });
  return encoder.encode(
    "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\n" +
      `content-type: application/json\r\ncontent-length: ${encoder.encode(body).length}\r\n\r\n` +
      body,
  );
}

function defaultOnError(error: unknown): Response {
  log.error("Unhandled server error: {error}", { error });
  return new Response("Internal Server Error", { status: 500 });
}

function isClosedError(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted;
}

/**
 * Serves `handler` on a listener this layer controls, with a connection limit, timeouts and an
 * accept loop that survives accept errors.
 *
 * @param options Address, limits, engine and callbacks.
 * @param handler The app (`app.fetch`).
 * @returns The running server; `shutdown()` stops it.
 * @throws {Deno.errors.AddrInUse} When the port is taken (as `Deno.serve` does).
 * @throws {RangeError} A limit that is not a positive number.
 *
 * @example
 * ```ts ignore
 * import { serveHardened } from "./_serve.ts";
 * const server = serveHardened({ port: 0, maxConnections: 100 }, () => new Response("hi"));
 * console.log(server.addr.port, server.stats.open);
 * await server.shutdown();
 * ```
 */
export function serveHardened(
  options: HardenedServeOptions,
  handler: ConnectionHandler,
): HardenedServer {
  const limits = resolveLimits(options);
  const clock = options.clock ?? systemClock;
  const name = options.name ?? "the server";
  const flag = options.maxConnectionsFlag ?? "--max-connections";
  const onError = options.onError ?? defaultOnError;
  const upgradable = options.websocket === true;
  if (upgradable ? !ENGINES.upgradable : !ENGINES.native) {
    throw new Error(`This Deno has no per-connection HTTP server (${Deno.version.deno})`);
  }
  if (!BODY_PROBE) {
    throw new Error(
      `This Deno's streams hide their state; body timeouts cannot work (${Deno.version.deno})`,
    );
  }
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8000,
  });
  const addr = listener.addr;
  const { stats, acceptLog, refusedLog } = serveCounters(log, clock);
  const connections = new Set<ServedConnection>();
  const sweeper = new Sweeper(
    clock,
    sweepPeriodMs(limits.headersTimeoutMs, limits.bodyTimeoutMs, limits.idleTimeoutMs),
  );
  let closing = false;
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();

  const refuse = (conn: Deno.Conn): void => {
    stats.refused++;
    const atOwn = stats.open >= limits.maxConnections;
    const message = atOwn
      ? `${name} has ${stats.open} open connections, its limit (${flag} ${limits.maxConnections}); ` +
        "try again later, or raise the limit"
      : `the process holds ${processConnections.open} connections, all that its open-file limit ` +
        `(ulimit -n) leaves room for; raise ulimit -n or lower ${flag}`;
    refusedLog.note("{name} refused a connection: {message}", { name, message });
    conn.write(refusal(message)).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch { /* closed */ }
    });
  };

  const serveConnection = (conn: Deno.Conn): void => {
    // As `Deno.serve` does: without TCP_NODELAY a small frame written while an earlier one is
    // unacknowledged waits for the peer's delayed ACK (~40 ms on Linux), so a WebSocket that
    // pushes a delivery and then a reply stalls on every exchange.
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch { /* closed already; serving it fails below */ }
    stats.accepted++;
    stats.open++;
    processConnections.open++;
    let served: ServedConnection | undefined;
    const guard = new ConnectionGuard(clock, limits, (kind) => {
      stats.timedOut[kind]++;
      served?.abort();
    });
    try {
      served = upgradable
        ? serveUpgradable(conn, guard, handler, onError)
        : serveNative(conn, guard, handler, onError);
    } catch (err) {
      log.warn("{name} cannot serve a connection: {error}", { name, error: err });
      guard.close();
      stats.open--;
      processConnections.open--;
      try {
        conn.close();
      } catch { /* closed */ }
      return;
    }
    const connection = served;
    connections.add(connection);
    sweeper.add(guard);
    guard.onUpgrade = () => {
      stats.websockets++;
    };
    connection.finished.then(() => {
      if (guard.upgraded) stats.websockets--;
      guard.close();
      sweeper.delete(guard);
      connections.delete(connection);
      stats.open--;
      processConnections.open--;
    });
    if (closing) connection.shutdown();
  };

  const pause = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = clock.setTimeout(resolve, ms);
      stopped.then(() => {
        clock.clearTimeout(timer);
        resolve();
      });
    });

  // One file descriptor kept in reserve: when accepts fail for want of descriptors, closing it
  // lets one pending connection be accepted and refused, so the backlog drains with 503s instead
  // of waiting (libuv's trick).
  const openSpare = (): Deno.FsFile | undefined => {
    try {
      return Deno.openSync("/dev/null");
    } catch {
      return undefined;
    }
  };
  let spare = openSpare();

  const loop = (async () => {
    let backoff = 10;
    while (!closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (closing || isClosedError(err)) break;
        stats.acceptErrors++;
        const exhausted = isFdExhaustion(err);
        const budget = exhausted
          ? processConnections.learn(processConnections.open)
          : processConnections.budget();
        acceptLog.note(
          "{name} cannot accept a connection ({error}); " +
            (exhausted
              ? "refusing connections beyond {budget} from now on. Raise ulimit -n or lower {flag}"
              : "retrying with backoff"),
          { name, error: err instanceof Error ? err.message : String(err), budget, flag },
        );
        if (exhausted && spare !== undefined) {
          spare.close();
          spare = undefined;
          try {
            refuse(await listener.accept());
          } catch { /* taken meanwhile, or closing */ }
          continue;
        }
        await pause(backoff);
        backoff = Math.min(backoff * 2, 1_000);
        continue;
      }
      backoff = 10;
      if (closing) {
        conn.close();
        break;
      }
      if (
        stats.open >= limits.maxConnections ||
        processConnections.open >= processConnections.budget()
      ) {
        refuse(conn);
        continue;
      }
      spare ??= openSpare();
      serveConnection(conn);
    }
    spare?.close();
  })();

  let finishing: Promise<void> | undefined;
  const finished = loop.then(async () => {
    while (connections.size > 0) {
      await Promise.all([...connections].map((c) => c.finished));
    }
    sweeper.stop();
    acceptLog.close();
    refusedLog.close();
  });
  const shutdown = (): Promise<void> => {
    if (!closing) {
      closing = true;
      stop();
      try {
        listener.close();
      } catch { /* closed */ }
      for (const c of connections) c.shutdown();
    }
    return finishing ??= finished;
  };
  options.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  options.onListen?.(addr);
  return {
    addr,
    finished,
    stats,
    limits,
    shutdown,
    ref(): void {
      listener.ref();
    },
    unref(): void {
      listener.unref();
    },
    [Symbol.asyncDispose](): Promise<void> {
      return shutdown();
    },
  };
}
