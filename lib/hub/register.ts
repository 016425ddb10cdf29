/**
 * Event handlers' public shape: {@linkcode EventRegister}, a per-register table from event name
 * to handler, plus the lifecycle events `connected`, `disconnected` and `error`.
 * {@linkcode createEventRegister} makes one (the implementation is internal).
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { HubErrorEventCode } from "./errors.ts";
import type { EventHeaders } from "./frame.ts";
import { EventRegisterImpl } from "./_register.ts";

/**
 * What a handler receives.
 *
 * @example
 * ```ts
 * import { createEventRegister, type EventContext } from "@syft/syft/hub";
 * const greet = ({ connection, payload }: EventContext<{ name: string }>): void => {
 *   connection.send("greeting", `hello ${payload.name}`);
 * };
 * createEventRegister().on("greet", greet);
 * ```
 */
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
 *
 * @example
 * ```ts
 * import type { EventHandler } from "@syft/syft/hub";
 * const echo: EventHandler = ({ connection, eventName, payload, headers }) => {
 *   connection.send(eventName, payload, headers);
 * };
 * console.log(typeof echo); // function
 * ```
 */
export type EventHandler<P = unknown> = (context: EventContext<P>) => unknown;

/**
 * The payload of the `disconnected` lifecycle event.
 *
 * @example
 * ```ts
 * import { createEventRegister, type DisconnectInfo } from "@syft/syft/hub";
 * const bye = (info: DisconnectInfo): string => `closed ${info.code} ${info.reason}`;
 * createEventRegister().on("disconnected", ({ payload }) => console.log(bye(payload)));
 * ```
 */
export interface DisconnectInfo {
  /** The WebSocket close code (1005 when the peer sent none, 1006 when the socket dropped). */
  code: number;
  /** The close reason, or the socket error when the connection failed. */
  reason: string;
}

/**
 * The payload of the `error` lifecycle event.
 *
 * @example
 * ```ts
 * import { createEventRegister, type HubErrorInfo } from "@syft/syft/hub";
 * const report = (info: HubErrorInfo): void => console.warn(info.code, info.message);
 * createEventRegister().on("error", ({ payload }) => report(payload));
 * ```
 */
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

/**
 * The lifecycle events and their payloads. They are local: never sent on the wire.
 *
 * @example
 * ```ts
 * import type { LifecycleEvents } from "@syft/syft/hub";
 * const info: LifecycleEvents["disconnected"] = { code: 1000, reason: "" };
 * console.log(info.code); // 1000
 * ```
 */
export interface LifecycleEvents {
  /** A peer connected (after `authenticate`, before its first event). */
  connected: null;
  /** A peer disconnected; runs after the events it sent before closing. */
  disconnected: DisconnectInfo;
  /** A handler threw, or a peer sent a malformed or oversized frame, or overflowed a limit. */
  error: HubErrorInfo;
}

/**
 * The names of the lifecycle events.
 *
 * @example
 * ```ts
 * import { LIFECYCLE_EVENTS } from "@syft/syft/hub";
 * console.log(LIFECYCLE_EVENTS); // [ "connected", "disconnected", "error" ]
 * ```
 */
export const LIFECYCLE_EVENTS: readonly (keyof LifecycleEvents)[] = [
  "connected",
  "disconnected",
  "error",
];

/**
 * A table of event handlers; make one with {@linkcode createEventRegister}. Unlike zaptools'
 * Python register, each register has its own table, so two endpoints can handle the same event
 * name differently.
 *
 * @example A register with lifecycle events
 * ```ts
 * import { createEventRegister } from "@syft/syft/hub";
 * const register = createEventRegister()
 *   .on("connected", ({ connection }) => console.log("hello", connection.id))
 *   .on("echo", ({ connection, payload, headers }) => {
 *     connection.send("echo", payload, headers);
 *   })
 *   .on("error", ({ payload }) => console.warn(payload.code, payload.message))
 *   .on("disconnected", ({ payload }) => console.log("bye", payload.code));
 * console.log(register.eventNames()); // [ "connected", "error", "disconnected", "echo" ]
 * ```
 */
export interface EventRegister {
  /**
   * Registers the handler of one lifecycle event. One handler per name.
   *
   * @param eventName `connected`, `disconnected` or `error`.
   * @param handler Runs for each such event; may be async.
   * @returns This register, for chaining.
   * @throws {HubError} `HUB_REGISTER` when `eventName` already has a handler (use `off()` first).
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
   * @throws {HubError} `HUB_REGISTER` when `eventName` is empty or already has a handler (use
   * `off()` first), or `handler` is not a function.
   */
  // deno-lint-ignore no-explicit-any
  on<P = any>(eventName: string, handler: EventHandler<P>): this;
  /**
   * Registers a handler for events that have no handler of their own (lifecycle events
   * excluded). Without it, such events raise `error` with code `UNKNOWN_EVENT` (or are ignored,
   * per the hub's `unknownEvents` option).
   *
   * @param handler Runs for each otherwise unhandled event.
   * @returns This register, for chaining.
   */
  onAny(handler: EventHandler): this;
  /**
   * Removes the handler of an event.
   *
   * @param eventName The event name.
   * @returns Whether there was one.
   */
  off(eventName: string): boolean;
  /**
   * Returns the handler that runs for an event received from a peer: its own handler, else the
   * `onAny` one. A peer cannot trigger lifecycle handlers: an event named `connected`,
   * `disconnected` or `error` sent by a peer goes to `onAny` (or counts as unknown).
   *
   * @param eventName The event name.
   * @returns The handler, or `undefined`.
   */
  handlerFor(eventName: string): EventHandler | undefined;
  /**
   * Returns the handler of a lifecycle event.
   *
   * @param eventName `connected`, `disconnected` or `error`.
   * @returns The handler, or `undefined`.
   */
  lifecycle<K extends keyof LifecycleEvents>(
    eventName: K,
  ): EventHandler<LifecycleEvents[K]> | undefined;
  /**
   * The event names with a handler, lifecycle events first.
   *
   * @returns The names.
   */
  eventNames(): string[];
}

/**
 * Creates an empty register; add handlers with `on()` (it chains).
 *
 * @returns The register; give it to {@linkcode createZapHub}.
 *
 * @example
 * ```ts
 * import { createEventRegister } from "@syft/syft/hub";
 * const register = createEventRegister().on("ping", ({ connection }) => connection.send("pong"));
 * console.log(register.eventNames()); // [ "ping" ]
 * ```
 */
export function createEventRegister(): EventRegister {
  return new EventRegisterImpl();
}
