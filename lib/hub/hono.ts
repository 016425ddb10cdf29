/**
 * The Hono adapter of a {@linkcode ZapHub}, apart from the hub's core (as Hono keeps its runtime
 * adapters apart from `hono-base`): a middleware built on `upgradeWebSocket` from `hono/deno`.
 * Its own entry point, `@syft/syft/hub/hono`, so that `@syft/syft/hub` loads no Hono.
 *
 * @module
 */
import type { Context } from "hono";
import { upgradeWebSocket } from "hono/deno";
import { HubError } from "./errors.ts";
import type { ZapHub } from "./hub.ts";
import { engines, isUpgrade, jsonResponse, type Session, socketErrorText } from "./_engine.ts";

/**
 * The part of a Hono `Context` the hub's middleware reads (a Hono `Context` is one).
 *
 * @example
 * ```ts
 * import type { HonoContextLike } from "@syft/syft/hub/hono";
 * const c: HonoContextLike = { req: { raw: new Request("http://127.0.0.1/ws") } };
 * console.log(c.req.raw.url);
 * ```
 */
export interface HonoContextLike {
  /** The request. */
  req: { raw: Request };
}

/**
 * A Hono middleware (structurally Hono's `MiddlewareHandler`): mount it with
 * `app.get(path, honoHandler(hub))`.
 *
 * @example
 * ```ts
 * import { createEventRegister, createZapHub } from "@syft/syft/hub";
 * import { honoHandler, type HonoWebSocketHandler } from "@syft/syft/hub/hono";
 * const middleware: HonoWebSocketHandler = honoHandler(createZapHub(createEventRegister()));
 * console.log(typeof middleware); // function
 * ```
 */
export type HonoWebSocketHandler = (
  c: HonoContextLike,
  next: () => Promise<void>,
) => Promise<Response | void>;

/**
 * The Hono adapter of a hub: a middleware built on `upgradeWebSocket` from `hono/deno`. Mount it
 * on the WebSocket route (the route decides the path; the hub's `path` option is for `hub.fetch`);
 * non-upgrade requests get 426, refused credentials 401 and upgrades after `hub.close()` 503.
 *
 * @example Serve a hub on a Hono route
 * ```ts
 * import { Hono } from "hono";
 * import { createEventRegister, createZapHub } from "@syft/syft/hub";
 * import { honoHandler } from "@syft/syft/hub/hono";
 * const register = createEventRegister().on("ping", ({ connection }) => connection.send("pong"));
 * const hub = createZapHub(register, {
 *   authenticate: (req) => req.headers.get("authorization") === "Bearer s3cret",
 * });
 * const app = new Hono();
 * app.get("/ws", honoHandler(hub));
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * @param hub The hub to serve.
 * @returns The middleware.
 * @throws {HubError} `HUB_OPTIONS` when `hub` was not made by `createZapHub()`.
 */
export function honoHandler(hub: ZapHub): HonoWebSocketHandler {
  const engine = engines.get(hub);
  if (engine === undefined) {
    throw new HubError("Cannot build the Hono adapter: expected a hub made by createZapHub()", {
      code: "HUB_OPTIONS",
    });
  }
  return async (c) => {
    const request = c.req.raw;
    if (!isUpgrade(request)) {
      return jsonResponse(426, "Expected a WebSocket upgrade request", { upgrade: "websocket" });
    }
    if (engine.shuttingDown) return jsonResponse(503, "The hub is shutting down");
    const data = await engine.authorize(request);
    if (data === false) return jsonResponse(401, "Unauthorized: the hub refused the credentials");
    let session: Session | undefined;
    return await upgradeWebSocket(c as unknown as Context, {
      onOpen: (_evt, ws) => {
        session = engine.session(ws.raw!, request, data);
        engine.open(session);
      },
      onMessage: (evt) => {
        if (session !== undefined) engine.message(session, evt.data);
      },
      onClose: (evt) => {
        if (session !== undefined) engine.close(session, evt.code, evt.reason);
      },
      onError: (evt) => {
        if (session !== undefined) session.socketError = socketErrorText(evt);
      },
    }, { idleTimeout: engine.idleTimeout });
  };
}
