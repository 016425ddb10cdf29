/**
 * The relay hub's live state ({@linkcode HubLiveSource}): the counters `/metrics` prints,
 * connections with their rooms and frame counts, rooms with members, a feed of connects,
 * disconnects, joins, leaves, relayed events and publishes, and the admin actions `disconnect`,
 * `join`, `leave` and `publish`.
 *
 * @module
 */
import type { Connection, ConnectionRouter, ZapHub } from "../../lib/hub/mod.ts";
import {
  createLiveFeed,
  type HubLiveEvent,
  type HubLiveSource,
  type HubLiveState,
  LiveActionError,
  type LiveFeedWriter,
  preview,
  stringArg,
} from "../../lib/live/mod.ts";

const LISTED = 200;
const MEMBERS_LISTED = 50;

/** The relay's own counters (also read by `/metrics`). */
export interface RelayCounts {
  relayed: number;
  published: number;
  deliveries: number;
  publishRefused: number;
}

/** What {@linkcode createHubLive} reads and calls. */
export interface HubLiveOptions {
  hub: ZapHub;
  router: ConnectionRouter;
  counts: RelayCounts;
  path: string;
  auth: boolean;
  startedAt: number;
  /** Joins a connection to a room as `$join` does (limits included); returns an error text or undefined. */
  join(connection: Connection, room: string): string | undefined;
  /** Leaves a room as `$leave` does. */
  leave(connection: Connection, room: string): void;
  /** Publishes as `POST /publish` does; returns the receivers. */
  publish(eventName: string, payload: unknown, room: string | undefined): number;
}

/** The hub's live source plus the hooks the relay calls. */
export interface HubLive {
  /** The live source. */
  source: HubLiveSource;
  /** The feed (the relay publishes to it when it is active). */
  feed: LiveFeedWriter<HubLiveEvent>;
}

/**
 * Builds the live source of a relay hub.
 *
 * @param options The hub, router, counters and the relay's own join/leave/publish.
 * @returns The source and its feed.
 *
 * @example
 * ```ts ignore
 * const live = createHubLive({ hub, router, counts, path: "/ws", auth: false, startedAt: Date.now(), join, leave, publish });
 * console.log((await live.source.state()).gauges.connections);
 * ```
 */
export function createHubLive(options: HubLiveOptions): HubLive {
  const { hub, router, counts } = options;
  const feed = createLiveFeed<HubLiveEvent>();
  const find = (args: Readonly<Record<string, unknown>>): Connection => {
    const id = stringArg(args, "id");
    const conn = router.get(id);
    if (conn === undefined) {
      throw new LiveActionError(
        "LIVE_NOT_FOUND",
        `No connection ${id} on this hub (it may have closed)`,
      );
    }
    return conn;
  };
  const state = (): HubLiveState => {
    const stats = hub.stats;
    const rooms = [...router.rooms()].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
    return {
      part: "hub",
      name: options.path,
      startedAt: options.startedAt,
      path: options.path,
      auth: options.auth,
      counters: {
        connectionsTotal: stats.connectionsTotal,
        eventsReceived: stats.eventsReceived,
        relayed: counts.relayed,
        published: counts.published,
        deliveries: counts.deliveries,
        framesRejected: stats.framesRejected,
        handlerErrors: stats.handlerErrors,
        overflows: stats.overflows,
        authRefused: stats.authRefused + counts.publishRefused,
      },
      gauges: { connections: hub.connections, rooms: rooms.length },
      connections: router.all().slice(0, LISTED).map((c) => ({
        id: c.id,
        address: c.remoteAddress,
        rooms: [...c.rooms],
        since: c.connectedAt,
        in: c.framesReceived,
        out: c.framesSent,
      })),
      rooms: rooms.slice(0, LISTED).map(([name, size]) => ({
        name,
        size,
        members: router.members(name).slice(0, MEMBERS_LISTED).map((c) => c.id),
      })),
    };
  };
  const act = (action: string, args: Readonly<Record<string, unknown>>): Promise<unknown> => {
    switch (action) {
      case "disconnect": {
        const conn = find(args);
        const code = typeof args.code === "number" ? args.code : 1000;
        if (code !== 1000 && (code < 3000 || code > 4999)) {
          throw new LiveActionError(
            "LIVE_BAD_ARGS",
            `Cannot close with ${code}: use 1000 or 3000-4999`,
          );
        }
        conn.close(
          code,
          stringArg(args, "reason", { optional: true }) ?? "disconnected by an admin",
        );
        return Promise.resolve({ id: conn.id, code });
      }
      case "join": {
        const conn = find(args);
        const room = stringArg(args, "room");
        const refused = options.join(conn, room);
        if (refused !== undefined) throw new LiveActionError("LIVE_BAD_ARGS", refused);
        return Promise.resolve({ id: conn.id, room, rooms: [...conn.rooms] });
      }
      case "leave": {
        const conn = find(args);
        const room = stringArg(args, "room");
        options.leave(conn, room);
        return Promise.resolve({ id: conn.id, room, rooms: [...conn.rooms] });
      }
      case "publish": {
        const eventName = stringArg(args, "eventName");
        const room = stringArg(args, "room", { optional: true });
        const delivered = options.publish(eventName, args.payload ?? null, room);
        return Promise.resolve({ delivered, room: room ?? null });
      }
      default:
        throw new LiveActionError("LIVE_UNKNOWN_ACTION", `Unknown hub action "${action}"`);
    }
  };
  return {
    feed,
    source: {
      part: "hub",
      feed,
      actions: ["disconnect", "join", "leave", "publish"],
      state,
      act: (action, args) => Promise.resolve().then(() => act(action, args)),
    },
  };
}

/** Publishes a feed event when anyone listens (the payload shortened for display). */
export function hubEvent(
  feed: LiveFeedWriter<HubLiveEvent>,
  type: HubLiveEvent["type"],
  fields: Omit<HubLiveEvent, "type" | "at" | "payload"> & { payload?: unknown },
): void {
  if (!feed.active) return;
  const { payload, ...rest } = fields;
  feed.publish({
    type,
    at: Date.now(),
    ...rest,
    ...(payload === undefined ? {} : { payload: preview(payload) }),
  });
}
