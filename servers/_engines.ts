/**
 * Serving one accepted TCP connection with Deno's own HTTP stack, under a connection guard:
 *
 * - **native**: Deno's internal `serveHttpOnConnection` (the hyper server `Deno.serve` runs, one
 *   connection at a time). As fast as `Deno.serve`; a WebSocket upgrade does not survive on it
 *   (the per-connection server ends when the connection is upgraded, and closes the socket), so
 *   servers with WebSocket routes use the other engine.
 * - **upgradable**: `Deno.serveHttp` (the HTTP connection API `Deno.upgradeWebSocket` works with;
 *   still in Deno 2.9's runtime, no longer in its type declarations), slower per request.
 *
 * @module
 */
import type { ConnectionGuard } from "./_conn_guard.ts";
import { takeUpgrade, trackUpgrades } from "./_ws_track.ts";

/** The handler a connection serves (the `Deno.serve` handler shape). */
export type ConnectionHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** What `onError` of `Deno.serve` is. */
export type ErrorHandler = (error: unknown) => Response | Promise<Response>;

/** A connection being served. */
export interface ServedConnection {
  /** Settles when the connection is closed (and, if it became a WebSocket, the socket too). */
  readonly finished: Promise<void>;
  /** Closes it once its requests in flight are answered (an upgraded socket gets 1001). */
  shutdown(): void;
  /** Closes it now. */
  abort(): void;
}

type ServeOn = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: ConnectionHandler,
  onError: ErrorHandler,
  onListen: () => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

interface LegacyEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}
interface LegacyHttpConn extends AsyncIterable<LegacyEvent> {
  close(): void;
}
type ServeHttp = (conn: Deno.Conn) => LegacyHttpConn;

const denoAny = Deno as unknown as Record<string | symbol, unknown> & { internal?: symbol };
const internals = denoAny.internal === undefined
  ? undefined
  : denoAny[denoAny.internal] as { serveHttpOnConnection?: ServeOn } | undefined;
const serveOn: ServeOn | undefined = internals?.serveHttpOnConnection;
const serveHttp = denoAny.serveHttp as ServeHttp | undefined;

/** Which engines this Deno has. */
export const ENGINES: { native: boolean; upgradable: boolean } = {
  native: typeof serveOn === "function",
  upgradable: typeof serveHttp === "function",
};

const noop = (): void => {};

/**
 * Serves `conn` on the native engine.
 *
 * @param conn The accepted connection (its resource passes to the HTTP server).
 * @param guard Its timers.
 * @param handler The app.
 * @param onError What a throwing handler answers.
 * @returns The served connection.
 */
export function serveNative(
  conn: Deno.Conn,
  guard: ConnectionGuard,
  handler: ConnectionHandler,
  onError: ErrorHandler,
): ServedConnection {
  const abort = new AbortController();
  const served = serveOn!(
    conn,
    abort.signal,
    (request, info) => {
      guard.requestStarted(request);
      const ended = (): void => guard.requestEnded(request);
      info.completed.then(ended, ended);
      return handler(request, info);
    },
    onError,
    noop,
  );
  let shut = false;
  let over = false;
  const finished = served.finished.catch(noop).then(() => {
    over = true;
  });
  const cancel = (): void => {
    if (!over) cancelQuietly(abort);
  };
  return {
    finished,
    shutdown(): void {
      if (shut) return;
      shut = true;
      if (guard.inFlight === 0) cancel();
      else served.shutdown().catch(noop);
    },
    abort: cancel,
  };
}

/**
 * Aborts a native per-connection server. Deno's abort listener cancels the server's resource
 * without checking that it is still open, so an abort that races the connection's own close (the
 * peer hung up, the resource is gone, `finished` has not settled yet) throws `BadResource` inside
 * the event listener, which Deno reports as an uncaught error that ends the process. Nothing is
 * left to cancel then: that one error is swallowed; any other is reported as usual.
 */
function cancelQuietly(abort: AbortController): void {
  const swallow = (event: ErrorEvent): void => {
    if (event.error instanceof Deno.errors.BadResource) event.preventDefault();
  };
  globalThis.addEventListener("error", swallow);
  try {
    abort.abort();
  } finally {
    globalThis.removeEventListener("error", swallow);
  }
}

/**
 * Serves `conn` on the upgradable engine.
 *
 * @param conn The accepted connection.
 * @param guard Its timers.
 * @param handler The app.
 * @param onError What a throwing handler answers.
 * @returns The served connection.
 */
export function serveUpgradable(
  conn: Deno.Conn,
  guard: ConnectionGuard,
  handler: ConnectionHandler,
  onError: ErrorHandler,
): ServedConnection {
  trackUpgrades();
  const httpConn = serveHttp!(conn);
  const remoteAddr = conn.remoteAddr as Deno.NetAddr;
  let socket: WebSocket | undefined;
  let draining = false;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      httpConn.close();
    } catch { /* already closed */ }
  };
  const closeSocket = (ws: WebSocket): void => {
    try {
      ws.close(1001, "server shutting down");
    } catch { /* closing */ }
  };
  const ended = (request: Request): void => {
    guard.requestEnded(request);
    if (draining && guard.inFlight === 0 && socket === undefined) close();
  };
  // Synchronous where the handler is: an async wrapper costs a promise per request.
  const respond = (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> => {
    try {
      const result = handler(request, info);
      return result instanceof Response ? result : Promise.resolve(result).catch(onError);
    } catch (err) {
      return onError(err);
    }
  };
  const loop = (async () => {
    try {
      for await (const event of httpConn) {
        const request = event.request;
        guard.requestStarted(request);
        const state: { sent?: Promise<void> } = {};
        const info: Deno.ServeHandlerInfo<Deno.NetAddr> = {
          remoteAddr,
          get completed(): Promise<void> {
            return state.sent ?? Promise.resolve();
          },
        };
        const sent = state.sent = event.respondWith(respond(request, info));
        const over = (): void => {
          // Sent: if it was a 101, the connection is a WebSocket now.
          const ws = takeUpgrade(request);
          if (ws !== undefined) {
            socket = ws;
            guard.upgrade();
            if (draining) closeSocket(ws);
          }
          ended(request);
        };
        sent.then(over, over);
      }
    } catch { /* closed by a timeout, the peer or shutdown */ }
  })();
  const finished = loop.then(async () => {
    closed = true;
    const ws = socket;
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => ws.addEventListener("close", () => resolve()));
    }
  });
  return {
    finished,
    shutdown(): void {
      draining = true;
      if (socket !== undefined) closeSocket(socket);
      else if (guard.inFlight === 0) close();
    },
    abort(): void {
      close();
      if (socket !== undefined) closeSocket(socket);
    },
  };
}
