/**
 * The relay hub: a Hono app around a hub (`createZapHub`). Every connection joins room `lobby`; an
 * event from a client goes to every other member of its room (header `room`, default `lobby`);
 * `$join` / `$leave` with `{room}` change membership. `POST /publish` pushes an event from a
 * backend, `GET /` shows connections and rooms, `GET /metrics` is Prometheus.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import { Counter, Gauge, Registry } from "prom-client";
import { createHash, timingSafeEqual } from "node:crypto";
import {
  type Connection,
  type ConnectionRouter,
  createConnectionRouter,
  createEventRegister,
  createZapHub,
  encodeFrame,
  LIFECYCLE_EVENTS,
  type RouterAdapter,
  SCALEOUT_DROP_REASONS,
  type ScaleOutStats,
  type ZapHub,
} from "../../lib/hub/mod.ts";
import { VERSION } from "../../lib/version.ts";
import { type HubLiveSource, liveHandler } from "../../lib/live/mod.ts";
import { createHubLive, hubEvent } from "./live.ts";

/** The room every connection joins on connect. */
export const LOBBY = "lobby";
/** The default WebSocket path. */
export const DEFAULT_HUB_PATH = "/ws";
/** Longest room name accepted. */
export const MAX_ROOM_LENGTH = 200;
/** Rooms one connection may be in at most (the lobby included). */
export const MAX_ROOMS_PER_CONNECTION = 100;
/** Rooms and clients listed by `GET /` at most. */
const STATUS_LIST_LIMIT = 200;

/** Options of {@linkcode createHubApp}. */
export interface HubAppOptions {
  /** The WebSocket path (default `/ws`). */
  path?: string;
  /** A shared token required on upgrade (`?token=` or `Authorization: Bearer`) and on `/publish` (`Authorization: Bearer`). */
  token?: string;
  /** Largest frame and `/publish` body in bytes (default 1 MiB). */
  maxFrameBytes?: number;
  /** Send-buffer limit per connection in bytes (default 4 MiB). */
  sendBufferLimit?: number;
  /** Heartbeat in seconds (default 30; 0 turns it off). */
  idleTimeout?: number;
  /** Scale-out adapter (for example `await connectRedisAdapter(url)`). */
  adapter?: RouterAdapter;
}

/** A relay hub app. */
export interface HubApp {
  /** The Hono app: `/` status, `/metrics`, `POST /publish` and the WebSocket path. */
  app: Hono;
  /** The hub serving the WebSocket path. */
  hub: ZapHub;
  /** Its connections and rooms. */
  router: ConnectionRouter;
  /** The Prometheus registry behind `/metrics`. */
  metrics: Registry;
  /** Live state (the counters `/metrics` reads, connections, rooms, events, admin actions). */
  live: HubLiveSource;
  /** Closes every connection (1001) and the adapter. */
  close(): Promise<void>;
}

const publishSchema = z.object({
  eventName: z.string().min(1, "eventName must be a non-empty string"),
  payload: z.unknown().optional(),
  headers: z.record(z.string(), z.unknown()).nullable().optional(),
  room: z.string().min(1).max(MAX_ROOM_LENGTH).optional(),
});

function digest(value: string): Uint8Array {
  return createHash("sha256").update(value).digest();
}

function tokenMatches(given: string | null | undefined, token: string): boolean {
  return given != null && timingSafeEqual(digest(given), digest(token));
}

function bearer(request: Request): string | undefined {
  const auth = request.headers.get("authorization");
  return auth?.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : undefined;
}

function roomOf(payload: unknown): string | undefined {
  const room = typeof payload === "object" && payload !== null
    ? (payload as Record<string, unknown>).room
    : undefined;
  return typeof room === "string" && room !== "" && room.length <= MAX_ROOM_LENGTH
    ? room
    : undefined;
}

function replyError(conn: Connection, code: string, message: string): void {
  conn.send("error", { code, message });
}

/**
 * Builds the relay hub app.
 *
 * @param options Path, token, limits and a scale-out adapter.
 * @returns The app, its hub, router and metrics registry.
 *
 * @example Serve it
 * ```ts
 * import { createHubApp } from "./app.ts";
 * const relay = createHubApp({ path: "/ws" });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, relay.app.fetch);
 * await relay.close();
 * await server.shutdown();
 * ```
 */
export function createHubApp(options: HubAppOptions = {}): HubApp {
  const path = options.path ?? DEFAULT_HUB_PATH;
  const token = options.token;
  const maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
  const router = createConnectionRouter(options.adapter ? { adapter: options.adapter } : {});
  const counts = { relayed: 0, published: 0, deliveries: 0, publishRefused: 0 };

  // Joins as `$join` does; returns the refusal's code and text, if any.
  const join = (connection: Connection, room: string): [string, string] | undefined => {
    if (!connection.rooms.has(room) && connection.rooms.size >= MAX_ROOMS_PER_CONNECTION) {
      return [
        "TOO_MANY_ROOMS",
        `Cannot join ${
          JSON.stringify(room)
        }: a connection may be in ${MAX_ROOMS_PER_CONNECTION} rooms at most; $leave one first`,
      ];
    }
    router.join(connection, room);
    connection.send("$joined", { room });
    hubEvent(live.feed, "join", { connection: connection.id, room });
  };
  const leave = (connection: Connection, room: string): void => {
    router.leave(connection, room);
    connection.send("$left", { room });
    hubEvent(live.feed, "leave", { connection: connection.id, room });
  };
  const publish = (
    eventName: string,
    payload: unknown,
    headers: Record<string, unknown> | null,
    room: string | undefined,
  ): number => {
    const frame = encodeFrame(eventName, payload, headers);
    const delivered = room === undefined
      ? router.broadcastFrame(frame)
      : router.sendFrameToRooms(frame, room);
    counts.published++;
    counts.deliveries += delivered;
    hubEvent(live.feed, "publish", {
      eventName,
      payload,
      delivered,
      ...(room === undefined ? {} : { room }),
    });
    return delivered;
  };

  const register = createEventRegister()
    .on("connected", ({ connection }) => {
      router.join(connection, LOBBY);
      hubEvent(live.feed, "connect", { connection: connection.id, room: LOBBY });
    })
    .on("disconnected", ({ connection, payload }) => {
      hubEvent(live.feed, "disconnect", { connection: connection.id, code: payload.code });
    })
    .on("$join", ({ connection, payload }) => {
      const room = roomOf(payload);
      if (room === undefined) {
        return replyError(
          connection,
          "INVALID_ROOM",
          `Cannot join: the payload must be {"room": "<name>"} with 1 to ${MAX_ROOM_LENGTH} characters`,
        );
      }
      const refused = join(connection, room);
      if (refused !== undefined) replyError(connection, ...refused);
    })
    .on("$leave", ({ connection, payload }) => {
      const room = roomOf(payload);
      if (room === undefined) {
        return replyError(
          connection,
          "INVALID_ROOM",
          'Cannot leave: the payload must be {"room": "<name>"}',
        );
      }
      leave(connection, room);
    })
    .onAny(({ eventName, payload, headers, connection }) => {
      if (eventName.startsWith("$")) {
        return replyError(
          connection,
          "UNKNOWN_EVENT",
          `Cannot handle "${eventName}": names starting with "$" are reserved ($join, $leave)`,
        );
      }
      // Receivers could not tell a relayed `error` from the hub's own: peers may not send these.
      if ((LIFECYCLE_EVENTS as readonly string[]).includes(eventName)) {
        return replyError(
          connection,
          "RESERVED_EVENT",
          `Cannot relay "${eventName}": ${LIFECYCLE_EVENTS.join(", ")} are the hub's own events`,
        );
      }
      const room = headers.room ?? LOBBY;
      if (typeof room !== "string" || !connection.rooms.has(room)) {
        return replyError(
          connection,
          "NOT_IN_ROOM",
          `Cannot send "${eventName}" to room ${
            JSON.stringify(room)
          }: join it first with $join {"room": ...}`,
        );
      }
      counts.relayed++;
      const delivered = router.sendFrameToRooms(
        encodeFrame(eventName, payload, headers),
        room,
        connection,
      );
      counts.deliveries += delivered;
      hubEvent(live.feed, "event", {
        connection: connection.id,
        room,
        eventName,
        payload,
        delivered,
      });
    });

  const hub = createZapHub(register, {
    router,
    maxFrameBytes,
    ...(options.sendBufferLimit === undefined ? {} : { sendBufferLimit: options.sendBufferLimit }),
    ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
    ...(token === undefined ? {} : {
      authenticate: (request: Request) =>
        tokenMatches(bearer(request) ?? new URL(request.url).searchParams.get("token"), token),
    }),
  });

  const metrics = new Registry();
  const stat = (pick: () => number) =>
    function (this: Counter | Gauge): void {
      if (this instanceof Counter) {
        this.reset();
        this.inc(pick());
      } else this.set(pick());
    };
  new Gauge({
    name: "syft_hub_connections",
    help: "Open WebSocket connections",
    registers: [metrics],
    collect: stat(() => hub.connections),
  });
  new Gauge({
    name: "syft_hub_rooms",
    help: "Rooms with at least one member on this instance",
    registers: [metrics],
    collect: stat(() => router.rooms().size),
  });
  const counter = (name: string, help: string, pick: () => number): void => {
    new Counter({ name, help, registers: [metrics], collect: stat(pick) });
  };
  counter(
    "syft_hub_connections_total",
    "WebSocket connections accepted",
    () => hub.stats.connectionsTotal,
  );
  counter(
    "syft_hub_events_received_total",
    "Well-formed events received from clients",
    () => hub.stats.eventsReceived,
  );
  counter("syft_hub_events_relayed_total", "Client events relayed to a room", () => counts.relayed);
  counter("syft_hub_publish_total", "Events pushed through POST /publish", () => counts.published);
  counter(
    "syft_hub_deliveries_total",
    "Frames queued to local connections by relays and publishes",
    () => counts.deliveries,
  );
  counter(
    "syft_hub_frames_rejected_total",
    "Frames refused as malformed, binary or too large",
    () => hub.stats.framesRejected,
  );
  counter(
    "syft_hub_handler_errors_total",
    "Handlers that threw",
    () => hub.stats.handlerErrors,
  );
  counter(
    "syft_hub_overflows_total",
    "Connections closed for a full send buffer or event queue",
    () => hub.stats.overflows,
  );
  counter(
    "syft_hub_auth_refused_total",
    "Upgrades and publishes refused for a missing or wrong token",
    () => hub.stats.authRefused + counts.publishRefused,
  );

  const scaleOut = (): ScaleOutStats | undefined => options.adapter?.stats;
  if (options.adapter !== undefined) {
    new Gauge({
      name: "syft_hub_scaleout_up",
      help: "1 while delivery across hub instances works, 0 while degraded (Redis unreachable)",
      registers: [metrics],
      collect: stat(() => scaleOut()?.state === "degraded" ? 0 : 1),
    });
    new Gauge({
      name: "syft_hub_scaleout_buffered",
      help: "Cross-instance publishes handed to Redis and not yet acknowledged",
      registers: [metrics],
      collect: stat(() => scaleOut()?.buffered ?? 0),
    });
    counter(
      "syft_hub_scaleout_published_total",
      "Frames published to the other instances and acknowledged by Redis",
      () => scaleOut()?.published ?? 0,
    );
    counter(
      "syft_hub_scaleout_received_total",
      "Frames from other instances delivered here",
      () => scaleOut()?.received ?? 0,
    );
    new Counter({
      name: "syft_hub_scaleout_dropped_total",
      help:
        "Cross-instance frames not delivered: redis_down (published here while degraded, never sent), missed (sent by another instance, never arrived here), stale (older than the max age on arrival here)",
      labelNames: ["reason"],
      registers: [metrics],
      collect(this: Counter<"reason">): void {
        this.reset();
        const dropped = scaleOut()?.dropped;
        for (const reason of SCALEOUT_DROP_REASONS) this.inc({ reason }, dropped?.[reason] ?? 0);
      },
    });
  }

  const startedAt = Date.now();
  const live = createHubLive({
    hub,
    router,
    counts,
    path,
    auth: token !== undefined,
    startedAt,
    join: (connection, room) => join(connection, room)?.[1],
    leave,
    publish: (eventName, payload, room) => publish(eventName, payload, null, room),
  });
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    return c.json({ error: err.message }, 500);
  });

  app.get("/", (c) => {
    // The largest rooms first, at most STATUS_LIST_LIMIT of them (and of clients).
    const all = [...router.rooms()];
    const rooms: Record<string, number> = {};
    for (
      const [room, size] of all.sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
        .slice(0, STATUS_LIST_LIMIT)
    ) {
      rooms[room] = size;
    }
    const listed = router.all().slice(0, STATUS_LIST_LIMIT);
    return c.json({
      service: "syft-hub",
      version: VERSION,
      path,
      auth: token !== undefined,
      scaleOut: options.adapter !== undefined,
      scaleOutState: scaleOut()?.state ?? null,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      connections: hub.connections,
      rooms,
      roomsTotal: all.length,
      roomsTruncated: all.length > STATUS_LIST_LIMIT,
      clients: listed.map((conn) => ({ id: conn.id, rooms: [...conn.rooms] })),
      clientsTruncated: router.size > listed.length,
    });
  });

  app.get("/metrics", async (c) => {
    return c.body(await metrics.metrics(), 200, { "content-type": metrics.contentType });
  });

  app.post(
    "/publish",
    async (c, next) => {
      if (token !== undefined && !tokenMatches(bearer(c.req.raw), token)) {
        counts.publishRefused++;
        return c.json({ error: "Unauthorized: send Authorization: Bearer <token>" }, 401);
      }
      // zValidator reads a body of another type as empty: say what is wrong instead.
      if (!/^application\/(.+\+)?json\b/i.test(c.req.header("content-type") ?? "")) {
        return c.json({
          error: "Cannot publish: send the event as JSON with Content-Type: application/json",
        }, 415);
      }
      await next();
    },
    bodyLimit({
      maxSize: maxFrameBytes,
      onError: (c) =>
        c.json({ error: `Cannot publish: the body is over ${maxFrameBytes} bytes` }, 413),
    }),
    zValidator("json", publishSchema, (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) =>
          `${i.path.length ? i.path.join(".") : "body"}: ${i.message}`
        );
        return c.json({ error: `Cannot publish: ${issues.join("; ")}` }, 400);
      }
    }),
    (c) => {
      const body = c.req.valid("json");
      const delivered = publish(
        body.eventName,
        body.payload ?? null,
        body.headers ?? null,
        body.room,
      );
      return c.json({ delivered, room: body.room ?? null });
    },
  );

  // Live state for a dashboard in another process. With a token every /live route needs it (and
  // then may run actions); without one, actions only from loopback.
  const liveRoutes = liveHandler(live.source, {
    ...(token === undefined ? {} : { allowActions: () => true }),
  });
  app.on(["GET", "POST"], ["/live", "/live/*"], async (c) => {
    if (token !== undefined && !tokenMatches(bearer(c.req.raw), token)) {
      return c.json({ error: "Unauthorized: send Authorization: Bearer <token>" }, 401);
    }
    return (await liveRoutes(c.req.raw, c.env as Deno.ServeHandlerInfo | undefined)) ??
      c.notFound();
  });

  // The hub's Deno.serve adapter inside the Hono route: `honoHandler(hub)` works as well, but Hono's
  // upgrade helper keeps a context object and four more listeners per socket (about 2 KB per idle
  // connection in bench:hub).
  app.get(path, (c) => hub.fetch(c.req.raw, c.env as Deno.ServeHandlerInfo | undefined));

  return {
    app,
    hub,
    router,
    metrics,
    live: live.source,
    async close(): Promise<void> {
      await hub.close();
      await router.close();
    },
  };
}
