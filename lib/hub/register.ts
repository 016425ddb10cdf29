/**
 * Event handlers: a per-register table from event name to handler, plus the lifecycle events
 * `connected`, `disconnected` and `error`.
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import { HubError, type HubErrorEventCode } from "./errors.ts";
import type { EventHeaders } from "./frame.ts";

/** What a handler receives. */
export interface EventContext<P = unknown> {
  /** The event name. */
  eventName: string;
  /** The payload (`null` when the frame had none). */
  payload: P;
  /** The headers (`{}` when the frame had none). */
  headers: EventHeaders;
  /** The peer that sent the event. */
  connection: Connection;
}

/**
 * A handler. It may return a promise: the hub then waits for it before it runs the next event of
 * the same connection (unless the hub is `concurrent`); other connections never wait.
 */
export type EventHandler<P = unknown> = (context: EventContext<P>) => unknown;

/** The payload of the `disconnected` lifecycle event. */
export interface DisconnectInfo {
  /** The WebSocket close code (1005 when the peer sent none, 1006 when the socket dropped). */
  code: number;
  /** The close reason, or the socket error when the connection failed. */
  reason: string;
}

/** The payload of the `error` lifecycle event. */
export interface HubErrorInfo {
  /** What happened. */
  code: HubErrorEventCode;
  /** One sentence naming the problem (also sent to the peer for malformed frames). */
  message: string;
  /** The event being handled, when the error concerns one. */
  eventName?: string;
  /** The thrown value (a handler's error) or a `FrameError`. */
  error: unknown;
}

/** The lifecycle events and their payloads. They are local: never sent on the wire. */
export interface LifecycleEvents {
  /** A peer connected (after `authenticate`, before its first event). */
  connected: null;
  /** A peer disconnected; runs after the events it sent before closing. */
  disconnected: DisconnectInfo;
  /** A handler threw, or a peer sent a malformed or oversized frame, or overflowed a limit. */
  error: HubErrorInfo;
}

/** The names of the lifecycle events. */
export const LIFECYCLE_EVENTS: readonly (keyof LifecycleEvents)[] = [
  "connected",
  "disconnected",
  "error",
];

const LIFECYCLE_NAMES: ReadonlySet<string> = new Set(LIFECYCLE_EVENTS);

/**
 * A table of event handlers. Unlike zaptools' Python register, each instance has its own table,
 * so two endpoints can handle the same event name differently.
 *
 * @example A register with lifecycle events
 * ```ts
 * import { EventRegister } from "@syft/syft/hub";
 * const register = new EventRegister()
 *   .on("connected", ({ connection }) => console.log("hello", connection.id))
 *   .on("echo", ({ connection, payload, headers }) => {
 *     connection.send("echo", payload, headers);
 *   })
 *   .on("error", ({ payload }) => console.warn(payload.code, payload.message))
 *   .on("disconnected", ({ payload }) => console.log("bye", payload.code));
 * ```
 */
export class EventRegister {
  readonly #handlers = new Map<string, EventHandler>();
  readonly #lifecycle = new Map<string, EventHandler>();
  #any: EventHandler | undefined;

  /**
   * Registers the handler of one event (or lifecycle event). One handler per name.
   *
   * @param eventName The event name, or `connected`, `disconnected`, `error`.
   * @param handler Runs for each such event; may be async.
   * @returns This register, for chaining.
   * @throws {HubError} When `eventName` is empty or already has a handler (use `off()` first).
   */
  on<K extends keyof LifecycleEvents>(
    eventName: K,
    handler: EventHandler<LifecycleEvents[K]>,
  ): this;
  /**
   * Registers the handler of one event. One handler per name.
   *
   * @param eventName The event name.
   * @param handler Runs for each such event; may be async.
   * @returns This register, for chaining.
   * @throws {HubError} When `eventName` is empty or already has a handler (use `off()` first).
   */
  // deno-lint-ignore no-explicit-any
  on<P = any>(eventName: string, handler: EventHandler<P>): this;
  on(eventName: string, handler: EventHandler<never>): this {
    if (typeof eventName !== "string" || eventName === "") {
      throw new HubError("Cannot register handler: the event name must be a non-empty string", {
        code: "HUB_REGISTER",
      });
    }
    if (typeof handler !== "function") {
      throw new HubError(`Cannot register handler for "${eventName}": it is not a function`, {
        code: "HUB_REGISTER",
      });
    }
    const table = LIFECYCLE_NAMES.has(eventName) ? this.#lifecycle : this.#handlers;
    if (table.has(eventName)) {
      throw new HubError(
        `Cannot register handler for "${eventName}": it already has one (call off() first)`,
        { code: "HUB_REGISTER" },
      );
    }
    table.set(eventName, handler as EventHandler);
    return this;
  }

  /**
   * Registers a handler for events that have no handler of their own (lifecycle events
   * excluded). Without it, such events raise `error` with code `UNKNOWN_EVENT` (or are ignored,
   * per the hub's `unknownEvents` option).
   *
   * @param handler Runs for each otherwise unhandled event.
   * @returns This register, for chaining.
   */
  onAny(handler: EventHandler): this {
    this.#any = handler;
    return this;
  }

  /**
   * Removes the handler of an event.
   *
   * @param eventName The event name.
   * @returns Whether there was one.
   */
  off(eventName: string): boolean {
    return this.#handlers.delete(eventName) || this.#lifecycle.delete(eventName);
  }

  /**
   * Returns the handler that runs for an event received from a peer: its own handler, else the
   * `onAny` one. A peer cannot trigger lifecycle handlers: an event named `connected`,
   * `disconnected` or `error` sent by a peer goes to `onAny` (or counts as unknown).
   *
   * @param eventName The event name.
   * @returns The handler, or `undefined`.
   */
  handlerFor(eventName: string): EventHandler | undefined {
    return this.#handlers.get(eventName) ?? this.#any;
  }

  /**
   * Returns the handler of a lifecycle event.
   *
   * @param eventName `connected`, `disconnected` or `error`.
   * @returns The handler, or `undefined`.
   */
  lifecycle<K extends keyof LifecycleEvents>(
    eventName: K,
  ): EventHandler<LifecycleEvents[K]> | undefined {
    return this.#lifecycle.get(eventName) as EventHandler<LifecycleEvents[K]> | undefined;
  }

  /** The event names with a handler, lifecycle events included. */
  eventNames(): string[] {
    return [...this.#lifecycle.keys(), ...this.#handlers.keys()];
  }
}
