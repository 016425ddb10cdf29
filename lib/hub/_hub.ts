/**
 * The implementation of {@linkcode ZapHub} (internal): a thin facade over the hub's engine
 * (`_engine.ts`) with the plain `Deno.serve` adapter (`fetch`); the Hono adapter is `hono.ts`.
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { EventRegister } from "./register.ts";
import type { ConnectionRouter } from "./router.ts";
import type { HubCloseOptions, HubStats, ZapHub, ZapHubOptions } from "./hub.ts";
import { engines, errorText, HubEngine, isUpgrade, jsonResponse } from "./_engine.ts";

/** A hub (see {@linkcode ZapHub}); made by `createZapHub()`. */
export class ZapHubImpl implements ZapHub {
  /** The handlers. */
  readonly register: EventRegister;
  /** The router connections are added to, if one was given. */
  readonly router: ConnectionRouter | undefined;
  readonly #engine: HubEngine;

  /** @throws {HubError} When a limit is not a positive number. */
  constructor(register: EventRegister, options: ZapHubOptions = {}) {
    this.register = register;
    this.router = options.router;
    this.#engine = new HubEngine(register, options);
    engines.set(this, this.#engine);
  }

  /** Counters since the hub was created. */
  get stats(): HubStats {
    return this.#engine.stats;
  }

  /** Open connections now. */
  get connections(): number {
    return this.#engine.size;
  }

  /**
   * The plain `Deno.serve` adapter: upgrades WebSocket requests (on `path`, when set), answers
   * 426 to other requests, 404 to other paths and 401 when `authenticate` refuses.
   *
   * @param request The HTTP request.
   * @param info What `Deno.serve` passes with it (the peer's address is kept on the connection).
   * @returns The upgrade response, or the refusal.
   */
  readonly fetch = async (request: Request, info?: Deno.ServeHandlerInfo): Promise<Response> => {
    // Read before any await: Deno's getter throws once the request is gone.
    const remoteAddress = peer(info);
    if (this.#engine.path !== undefined && new URL(request.url).pathname !== this.#engine.path) {
      return jsonResponse(404, `Not found: the WebSocket endpoint is ${this.#engine.path}`);
    }
    if (!isUpgrade(request)) {
      return jsonResponse(426, "Expected a WebSocket upgrade request", { upgrade: "websocket" });
    }
    if (this.#engine.shuttingDown) return jsonResponse(503, "The hub is shutting down");
    const data = await this.#engine.authorize(request);
    if (data === false) return jsonResponse(401, "Unauthorized: the hub refused the credentials");
    let upgraded: { socket: WebSocket; response: Response };
    try {
      const protocol = request.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
      upgraded = Deno.upgradeWebSocket(request, {
        idleTimeout: this.#engine.idleTimeout,
        ...(protocol ? { protocol } : {}),
      });
    } catch (err) {
      return jsonResponse(400, `Cannot upgrade to WebSocket: ${errorText(err)}`);
    }
    this.attach(upgraded.socket, request, data, { remoteAddress });
    return upgraded.response;
  };

  /**
   * Serves a WebSocket you upgraded yourself (the building block of the adapters).
   *
   * @param socket The server side of an upgraded WebSocket (open or still opening).
   * @param request The upgrade request.
   * @param data Initial per-connection state.
   * @param options The peer's address (`host:port`), when known.
   * @returns The connection (its `connected` event fires when the socket opens).
   */
  attach(
    socket: WebSocket,
    request: Request,
    data?: Record<string, unknown>,
    options: { remoteAddress?: string | undefined } = {},
  ): Connection {
    const session = this.#engine.session(socket, request, data, options.remoteAddress);
    // Few listeners, and `onopen` dropped once used: each costs memory on every idle connection.
    // Socket errors need no listener: Deno follows each with a close event.
    socket.onmessage = (evt) => this.#engine.message(session, evt.data);
    socket.onclose = (evt) => this.#engine.close(session, evt.code, evt.reason);
    if (socket.readyState === 1) this.#engine.open(session);
    else {
      socket.onopen = () => {
        socket.onopen = null;
        this.#engine.open(session);
      };
    }
    return session.conn;
  }

  /**
   * Closes every connection (1001 by default) and waits until their `disconnected` handlers ran,
   * or `timeoutMs` passed. New upgrades get 503 from then on.
   *
   * @param options Close code, reason and how long to wait.
   */
  close(options: HubCloseOptions = {}): Promise<void> {
    return this.#engine.closeAll(options);
  }
  /** Same as `close()` with the defaults. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function peer(info: Deno.ServeHandlerInfo | undefined): string | undefined {
  let addr: Partial<Deno.NetAddr> | undefined;
  try {
    addr = info?.remoteAddr as Partial<Deno.NetAddr> | undefined;
  } catch {
    return undefined; // the request is already closed
  }
  if (addr?.hostname === undefined) return undefined;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
