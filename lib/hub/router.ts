/**
 * The connection router's public shape: {@linkcode ConnectionRouter} holds the connections of a
 * hub and its rooms, delivers broadcasts (encoded once), and reaches other hub instances through
 * a {@linkcode RouterAdapter} such as the Redis one. {@linkcode createConnectionRouter} makes one
 * (the implementation is internal).
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { EventHeaders } from "./frame.ts";
import type { ScaleOutState, ScaleOutStats } from "./scaleout.ts";
import { ConnectionRouterImpl } from "./_router.ts";

/**
 * Connections (or their ids) a broadcast skips.
 *
 * @example
 * ```ts
 * import { createConnectionRouter, type Exclude } from "@syft/syft/hub";
 * const skip: Exclude = ["zpt-1", "zpt-2"];
 * console.log(createConnectionRouter().broadcast("news", "hi", { exclude: skip })); // 0
 * ```
 */
export type Exclude = Connection | string | Iterable<Connection | string>;

/**
 * Options of {@linkcode ConnectionRouter.broadcast} and room sends.
 *
 * @example
 * ```ts
 * import { type BroadcastOptions, createConnectionRouter } from "@syft/syft/hub";
 * const options: BroadcastOptions = { headers: { priority: "high" }, exclude: "zpt-1" };
 * createConnectionRouter().to("ops").send("deploy", { v: 2 }, options);
 * ```
 */
export interface BroadcastOptions {
  /** Connections (or ids) not to send to, on this instance and on the others. */
  exclude?: Exclude;
  /** Headers of the event (default `{}`). */
  headers?: EventHeaders;
}

/**
 * Carries broadcasts, room sends and `sendTo` between hub instances. A router hands every
 * cross-instance operation to its adapter after delivering locally; the adapter calls
 * `router.deliver()` and `router.get(id)?.sendFrame()` for what other instances publish.
 *
 * @example
 * ```ts
 * import { type ConnectionRouter, createConnectionRouter, type RouterAdapter } from "@syft/syft/hub";
 * // Two routers in one process, each delivering what the other publishes.
 * function pair(): [RouterAdapter, RouterAdapter] {
 *   const routers: ConnectionRouter[] = [];
 *   const make = (self: number): RouterAdapter => ({
 *     bind: (router) => void (routers[self] = router),
 *     publish: (frame, rooms, exclude) => void routers[1 - self]?.deliver(frame, rooms, exclude),
 *     sendTo: (id, frame) => Promise.resolve(routers[1 - self]?.get(id)?.sendFrame(frame) ?? false),
 *     added: () => {},
 *     removed: () => {},
 *     close: () => Promise.resolve(),
 *   });
 *   return [make(0), make(1)];
 * }
 * const [a, b] = pair();
 * const left = createConnectionRouter({ adapter: a });
 * const right = createConnectionRouter({ adapter: b });
 * console.log(left.broadcast("news", "reaches right too"), right.size); // 0 0
 * ```
 */
export interface RouterAdapter {
  /**
   * Called once by the router that uses this adapter.
   *
   * @param router The router to deliver remote messages to.
   */
  bind(router: ConnectionRouter): void;
  /**
   * Publishes an encoded frame to the other instances.
   *
   * @param frame The frame text.
   * @param rooms The rooms to deliver to, or `null` for every connection.
   * @param exclude Connection ids to skip.
   */
  publish(frame: string, rooms: readonly string[] | null, exclude: readonly string[]): void;
  /**
   * Sends a frame to a connection held by another instance.
   *
   * @param id The connection id.
   * @param frame The frame text.
   * @returns Whether an instance holds that connection and took the frame.
   */
  sendTo(id: string, frame: string): Promise<boolean>;
  /**
   * A connection was added on this instance.
   *
   * @param id The connection id.
   */
  added(id: string): void;
  /**
   * A connection left this instance.
   *
   * @param id The connection id.
   */
  removed(id: string): void;
  /** Releases the adapter's resources. */
  close(): Promise<void>;
  /** Cross-instance counters and state, when the adapter keeps them. */
  readonly stats?: ScaleOutStats;
  /**
   * Reports changes of the scale-out state (the router then tells its connections).
   *
   * @param listener Called with the new state.
   * @returns A function that removes the listener.
   */
  onStateChange?(listener: (state: ScaleOutState) => void): () => void;
}

/**
 * Options of {@linkcode createConnectionRouter}.
 *
 * @example
 * ```ts
 * import { type ConnectionRouterOptions, createConnectionRouter } from "@syft/syft/hub";
 * const options: ConnectionRouterOptions = { scaleOutEvent: "$cluster" };
 * await using router = createConnectionRouter(options);
 * ```
 */
export interface ConnectionRouterOptions {
  /** Scale-out: deliver broadcasts, room sends and `sendTo` across hub instances. */
  adapter?: RouterAdapter;
  /**
   * The event sent to local connections when the adapter's state changes, and to a connection
   * added while degraded, with payload `{state}` (default `"$scaleout"`; `false`: none).
   */
  scaleOutEvent?: string | false;
}

/**
 * Sends to the members of one or more rooms; see {@linkcode ConnectionRouter.to}.
 *
 * @example
 * ```ts
 * import { createConnectionRouter, type RoomSender } from "@syft/syft/hub";
 * const ops: RoomSender = createConnectionRouter().to(["ops", "oncall"]);
 * console.log(ops.send("page", { text: "disk full" })); // 0: nobody in those rooms yet
 * ```
 */
export interface RoomSender {
  /**
   * Sends one event to every member of the rooms (each connection once), encoded once.
   *
   * @param eventName The event name.
   * @param payload Any JSON value (default `null`).
   * @param options Headers, and connections to skip.
   * @returns How many local connections the frame was queued to.
   */
  send(eventName: string, payload?: unknown, options?: BroadcastOptions): number;
}

/**
 * The connections of a hub, its rooms, and delivery to them; make one with
 * {@linkcode createConnectionRouter}. Broadcasts and room sends encode the frame once and queue
 * the same text to every member. With an adapter (see {@linkcode connectRedisAdapter}) they also
 * reach the connections of other hub instances, as do `sendTo` calls for ids held elsewhere.
 *
 * `remove()` is idempotent and leaves every room; a closed connection cannot be added or join a
 * room, so a late handler cannot leak it.
 *
 * @example Rooms and broadcast
 * ```ts
 * import { createConnectionRouter, createEventRegister, createZapHub } from "@syft/syft/hub";
 * const router = createConnectionRouter();
 * const register = createEventRegister()
 *   .on("join", ({ connection, payload }) => router.join(connection, String(payload)))
 *   .on("say", ({ connection, payload, headers }) => {
 *     router.to(String(headers.room)).send("said", payload, { exclude: connection });
 *   });
 * const hub = createZapHub(register, { router }); // adds and removes connections itself
 * console.log(router.broadcast("announcement", "maintenance at noon")); // 0: nobody connected yet
 * await hub.close();
 * ```
 */
export interface ConnectionRouter extends AsyncDisposable {
  /** The adapter, when this router delivers across instances. */
  readonly adapter: RouterAdapter | undefined;
  /** How many connections this instance holds. */
  readonly size: number;
  /**
   * Adds a connection (a hub given this router does it on connect).
   *
   * @param connection The connection; ignored when already closed.
   */
  add(connection: Connection): void;
  /**
   * Removes a connection and takes it out of every room. Idempotent.
   *
   * @param connection The connection or its id.
   * @returns Whether it was here.
   */
  remove(connection: Connection | string): boolean;
  /**
   * Returns a connection of this instance.
   *
   * @param id The connection id.
   * @returns The connection, or `undefined`.
   */
  get(id: string): Connection | undefined;
  /** Returns the connections of this instance. */
  all(): Connection[];
  /**
   * Puts a connection in a room (adding it to the router when needed).
   *
   * @param connection The connection; ignored when already closed.
   * @param room The room name.
   */
  join(connection: Connection, room: string): void;
  /**
   * Takes a connection out of a room.
   *
   * @param connection The connection.
   * @param room The room name.
   * @returns Whether it was in the room.
   */
  leave(connection: Connection, room: string): boolean;
  /** Returns each room of this instance with its number of local members. */
  rooms(): Map<string, number>;
  /**
   * Returns the local members of a room.
   *
   * @param room The room name.
   * @returns The connections in it on this instance.
   */
  members(room: string): Connection[];
  /**
   * Sends one event to every connection (of every instance, with an adapter), encoded once.
   *
   * @param eventName The event name.
   * @param payload Any JSON value (default `null`).
   * @param options Headers, and connections to skip.
   * @returns How many local connections the frame was queued to.
   * @throws {FrameEncodeError} When the payload or headers cannot be encoded.
   */
  broadcast(eventName: string, payload?: unknown, options?: BroadcastOptions): number;
  /**
   * Sends an encoded frame to every connection, here and (with an adapter) on the other
   * instances.
   *
   * @param frame The frame text (see `encodeFrame()`).
   * @param exclude Connections (or ids) to skip.
   * @returns How many local connections the frame was queued to.
   */
  broadcastFrame(frame: string, exclude?: Exclude): number;
  /**
   * Returns a sender to the members of one or more rooms.
   *
   * @param rooms A room name or several (a connection in several of them gets the event once).
   * @returns The sender; call `.send(eventName, payload, options)`.
   */
  to(rooms: string | readonly string[]): RoomSender;
  /**
   * Sends an encoded frame to the members of rooms, here and (with an adapter) on the other
   * instances.
   *
   * @param frame The frame text (see `encodeFrame()`).
   * @param rooms A room name or several.
   * @param exclude Connections (or ids) to skip.
   * @returns How many local connections the frame was queued to.
   */
  sendFrameToRooms(frame: string, rooms: string | readonly string[], exclude?: Exclude): number;
  /**
   * Sends one event to one connection, on this instance or (with an adapter) another one.
   *
   * @param id The connection id.
   * @param eventName The event name.
   * @param payload Any JSON value (default `null`).
   * @param headers Headers (default `{}`).
   * @returns `true` when the frame was queued to the connection (or handed to the instance that
   * holds it); `false` when no instance holds it or it is closed.
   * @throws {FrameEncodeError} When the payload or headers cannot be encoded.
   */
  sendTo(
    id: string,
    eventName: string,
    payload?: unknown,
    headers?: EventHeaders | null,
  ): Promise<boolean>;
  /**
   * Delivers a frame published by another instance to the local connections. Adapters call it;
   * it does not publish again.
   *
   * @param frame The frame text.
   * @param rooms The rooms, or `null` for every connection.
   * @param exclude Connection ids to skip.
   * @returns How many local connections the frame was queued to.
   */
  deliver(frame: string, rooms: readonly string[] | null, exclude: readonly string[]): number;
  /**
   * Closes every local connection and the adapter.
   *
   * @param code The close code (default 1001, going away).
   * @param reason The close reason.
   */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * Creates a router. Give it to {@linkcode createZapHub} (`{ router }`): the hub then adds and
 * removes its connections.
 *
 * @param options An adapter for delivery across hub instances, and the event that reports its
 * state.
 * @returns The router; `await using` (or `close()`) closes its connections and its adapter.
 *
 * @example One router, local only
 * ```ts
 * import { createConnectionRouter } from "@syft/syft/hub";
 * await using router = createConnectionRouter({ scaleOutEvent: false });
 * console.log(router.size, router.adapter); // 0 undefined
 * ```
 */
export function createConnectionRouter(options: ConnectionRouterOptions = {}): ConnectionRouter {
  return new ConnectionRouterImpl(options);
}
