/**
 * The implementation of {@linkcode ConnectionRouter} (internal): local connections and rooms,
 * delivery encoded once, and the hand-off to an adapter for other instances.
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import { encodeFrame, type EventHeaders } from "./frame.ts";
import type {
  BroadcastOptions,
  ConnectionRouter,
  ConnectionRouterOptions,
  Exclude,
  RoomSender,
  RouterAdapter,
} from "./router.ts";
import { SCALEOUT_EVENT } from "./scaleout.ts";
import { getLogger } from "../_log.ts";

const log = getLogger(["hub", "router"]);

/** Normalised exclusion: nothing, one connection (by identity), one id, or a set of ids. */
type Exclusion = undefined | Connection | string | Set<string>;

function toExclusion(exclude: Exclude | undefined): Exclusion {
  if (exclude === undefined) return undefined;
  if (typeof exclude === "string") return exclude;
  if (isConnection(exclude)) return exclude;
  const ids = new Set<string>();
  for (const item of exclude) ids.add(typeof item === "string" ? item : item.id);
  return ids;
}

function isConnection(value: unknown): value is Connection {
  return typeof value === "object" && value !== null &&
    typeof (value as Connection).sendFrame === "function";
}

function exclusionIds(ex: Exclusion): readonly string[] {
  if (ex === undefined) return [];
  if (typeof ex === "string") return [ex];
  if (ex instanceof Set) return [...ex];
  return [ex.id];
}

function excluded(conn: Connection, ex: Exclusion): boolean {
  if (ex === undefined) return false;
  if (typeof ex === "string") return conn.id === ex;
  if (ex instanceof Set) return ex.has(conn.id);
  return conn === ex;
}

/** A router (see {@linkcode ConnectionRouter}); made by `createConnectionRouter()`. */
export class ConnectionRouterImpl implements ConnectionRouter {
  readonly #connections = new Map<string, Connection>();
  readonly #rooms = new Map<string, Set<Connection>>();
  readonly #adapter: RouterAdapter | undefined;
  readonly #scaleOutEvent: string | false;
  #degradedFrame: string | undefined;
  #unwatch: (() => void) | undefined;

  constructor(options: ConnectionRouterOptions = {}) {
    this.#adapter = options.adapter;
    this.#scaleOutEvent = options.scaleOutEvent ?? SCALEOUT_EVENT;
    this.#adapter?.bind(this);
    const event = this.#scaleOutEvent;
    if (event !== false && this.#adapter?.onStateChange !== undefined) {
      this.#unwatch = this.#adapter.onStateChange((state) => {
        const frame = encodeFrame(event, { state }, null);
        this.#degradedFrame = state === "degraded" ? frame : undefined;
        this.#deliver(frame, null, undefined);
      });
      if (this.#adapter.stats?.state === "degraded") {
        this.#degradedFrame = encodeFrame(event, { state: "degraded" }, null);
      }
    }
  }

  /** The adapter, when this router delivers across instances. */
  get adapter(): RouterAdapter | undefined {
    return this.#adapter;
  }

  /** How many connections this instance holds. */
  get size(): number {
    return this.#connections.size;
  }

  /**
   * Adds a connection (a hub given this router does it on connect).
   *
   * @param connection The connection; ignored when already closed.
   */
  add(connection: Connection): void {
    if (!connection.open || this.#connections.has(connection.id)) return;
    this.#connections.set(connection.id, connection);
    this.#adapter?.added(connection.id);
    if (this.#degradedFrame !== undefined) connection.sendFrame(this.#degradedFrame);
  }

  /**
   * Removes a connection and takes it out of every room. Idempotent.
   *
   * @param connection The connection or its id.
   * @returns Whether it was here.
   */
  remove(connection: Connection | string): boolean {
    const id = typeof connection === "string" ? connection : connection.id;
    const conn = this.#connections.get(id);
    if (conn === undefined) return false;
    this.#connections.delete(id);
    for (const room of conn.rooms) this.#removeFromRoom(conn, room);
    (conn.rooms as Set<string>).clear();
    this.#adapter?.removed(id);
    return true;
  }

  /**
   * Returns a connection of this instance.
   *
   * @param id The connection id.
   * @returns The connection, or `undefined`.
   */
  get(id: string): Connection | undefined {
    return this.#connections.get(id);
  }

  /** Returns the connections of this instance. */
  all(): Connection[] {
    return [...this.#connections.values()];
  }

  /**
   * Puts a connection in a room (adding it to the router when needed).
   *
   * @param connection The connection; ignored when already closed.
   * @param room The room name.
   */
  join(connection: Connection, room: string): void {
    if (!connection.open) return;
    if (!this.#connections.has(connection.id)) this.add(connection);
    let members = this.#rooms.get(room);
    if (members === undefined) {
      members = new Set();
      this.#rooms.set(room, members);
    }
    members.add(connection);
    (connection.rooms as Set<string>).add(room);
  }

  /**
   * Takes a connection out of a room.
   *
   * @param connection The connection.
   * @param room The room name.
   * @returns Whether it was in the room.
   */
  leave(connection: Connection, room: string): boolean {
    const was = (connection.rooms as Set<string>).delete(room);
    this.#removeFromRoom(connection, room);
    return was;
  }

  /** Returns each room of this instance with its number of local members. */
  rooms(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [room, members] of this.#rooms) out.set(room, members.size);
    return out;
  }

  /**
   * Returns the local members of a room.
   *
   * @param room The room name.
   * @returns The connections in it on this instance.
   */
  members(room: string): Connection[] {
    return [...(this.#rooms.get(room) ?? [])];
  }

  /**
   * Sends one event to every connection (of every instance, with an adapter), encoded once.
   *
   * @param eventName The event name.
   * @param payload Any JSON value (default `null`).
   * @param options Headers, and connections to skip.
   * @returns How many local connections the frame was queued to.
   * @throws {FrameEncodeError} When the payload or headers cannot be encoded.
   */
  broadcast(eventName: string, payload: unknown = null, options: BroadcastOptions = {}): number {
    return this.broadcastFrame(
      encodeFrame(eventName, payload, options.headers ?? null),
      options.exclude,
    );
  }

  /**
   * Sends an encoded frame to every connection, here and (with an adapter) on the other
   * instances.
   *
   * @param frame The frame text (see `encodeFrame()`).
   * @param exclude Connections (or ids) to skip.
   * @returns How many local connections the frame was queued to.
   */
  broadcastFrame(frame: string, exclude?: Exclude): number {
    const ex = toExclusion(exclude);
    this.#adapter?.publish(frame, null, exclusionIds(ex));
    return this.#deliver(frame, null, ex);
  }

  /**
   * Returns a sender to the members of one or more rooms.
   *
   * @param rooms A room name or several (a connection in several of them gets the event once).
   * @returns The sender; call `.send(eventName, payload, options)`.
   */
  to(rooms: string | readonly string[]): RoomSender {
    return {
      send: (eventName, payload = null, options = {}) => {
        const frame = encodeFrame(eventName, payload, options.headers ?? null);
        return this.sendFrameToRooms(frame, rooms, options.exclude);
      },
    };
  }

  /**
   * Sends an encoded frame to the members of rooms, here and (with an adapter) on the other
   * instances.
   *
   * @param frame The frame text (see `encodeFrame()`).
   * @param rooms A room name or several.
   * @param exclude Connections (or ids) to skip.
   * @returns How many local connections the frame was queued to.
   */
  sendFrameToRooms(frame: string, rooms: string | readonly string[], exclude?: Exclude): number {
    const ex = toExclusion(exclude);
    const list = typeof rooms === "string" ? [rooms] : rooms;
    this.#adapter?.publish(frame, list, exclusionIds(ex));
    return this.#deliver(frame, rooms, ex);
  }

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
    payload: unknown = null,
    headers: EventHeaders | null = null,
  ): Promise<boolean> {
    const frame = encodeFrame(eventName, payload, headers);
    const local = this.#connections.get(id);
    if (local !== undefined) return Promise.resolve(local.sendFrame(frame));
    if (this.#adapter === undefined) return Promise.resolve(false);
    return this.#adapter.sendTo(id, frame).catch((err) => {
      log.warn("Cannot send to {id} through the adapter: {error}", { id, error: String(err) });
      return false;
    });
  }

  /**
   * Delivers a frame published by another instance to the local connections. Adapters call it;
   * it does not publish again.
   *
   * @param frame The frame text.
   * @param rooms The rooms, or `null` for every connection.
   * @param exclude Connection ids to skip.
   * @returns How many local connections the frame was queued to.
   */
  deliver(frame: string, rooms: readonly string[] | null, exclude: readonly string[]): number {
    const ex: Exclusion = exclude.length === 0
      ? undefined
      : exclude.length === 1
      ? exclude[0]
      : new Set(exclude);
    return this.#deliver(frame, rooms, ex);
  }

  /**
   * Closes every local connection and the adapter.
   *
   * @param code The close code (default 1001, going away).
   * @param reason The close reason.
   */
  async close(code = 1001, reason = "server shutting down"): Promise<void> {
    this.#unwatch?.();
    for (const conn of this.#connections.values()) conn.close(code, reason);
    await this.#adapter?.close();
  }

  /** Same as `close()` with the defaults. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #deliver(frame: string, rooms: string | readonly string[] | null, ex: Exclusion): number {
    let sent = 0;
    if (rooms === null) {
      for (const conn of this.#connections.values()) {
        if (ex !== undefined && excluded(conn, ex)) continue;
        if (conn.sendFrame(frame)) sent++;
      }
      return sent;
    }
    if (typeof rooms === "string" || rooms.length === 1) {
      const members = this.#rooms.get(typeof rooms === "string" ? rooms : rooms[0]!);
      if (members === undefined) return 0;
      for (const conn of members) {
        if (ex !== undefined && excluded(conn, ex)) continue;
        if (conn.sendFrame(frame)) sent++;
      }
      return sent;
    }
    const seen = new Set<Connection>();
    for (const room of rooms) {
      const members = this.#rooms.get(room);
      if (members === undefined) continue;
      for (const conn of members) {
        if (seen.has(conn)) continue;
        seen.add(conn);
        if (ex !== undefined && excluded(conn, ex)) continue;
        if (conn.sendFrame(frame)) sent++;
      }
    }
    return sent;
  }

  #removeFromRoom(conn: Connection, room: string): void {
    const members = this.#rooms.get(room);
    if (members === undefined) return;
    members.delete(conn);
    if (members.size === 0) this.#rooms.delete(room);
  }
}
