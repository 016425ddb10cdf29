/**
 * The implementation of {@linkcode EventRegister} (internal).
 *
 * @module
 */
import { HubError } from "./errors.ts";
import {
  type EventHandler,
  type EventRegister,
  LIFECYCLE_EVENTS,
  type LifecycleEvents,
} from "./register.ts";

const isLifecycle = (name: string): boolean =>
  (LIFECYCLE_EVENTS as readonly string[]).includes(name);

/** A table of event handlers (see {@linkcode EventRegister}); made by `createEventRegister()`. */
export class EventRegisterImpl implements EventRegister {
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
    const table = isLifecycle(eventName) ? this.#lifecycle : this.#handlers;
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
