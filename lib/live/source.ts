/**
 * The live-state contract every part implements: a snapshot of counters, gauges, latency
 * histograms and bounded lists of recent items, an event feed, and optional actions. Dashboards,
 * `/live` endpoints and scripts read parts only through it; no part depends on any of them.
 *
 * @module
 */
import { SyftError } from "../errors.ts";
import type { LiveFeed } from "./feed.ts";
import type { LatencySnapshot } from "./latency.ts";

/** The parts that expose live state. */
export type LivePart = "rpc" | "proxy" | "hub" | "ensync" | "pubsub";

/** The part names, in dashboard order. */
export const LIVE_PARTS: readonly LivePart[] = Object.freeze([
  "rpc",
  "proxy",
  "hub",
  "ensync",
  "pubsub",
]);

/**
 * What every part's state has. `counters` only grow (rates are differences between two
 * snapshots); `gauges` are levels now; `latency` holds cumulative histograms by key.
 *
 * @example
 * ```ts
 * import type { LiveStateBase } from "@syft/syft/live";
 * const state: LiveStateBase = {
 *   part: "hub", name: "ws://127.0.0.1:8765/ws", startedAt: Date.now(),
 *   counters: { eventsReceived: 0 }, gauges: { connections: 0 },
 * };
 * ```
 */
export interface LiveStateBase {
  /** Which part this is. */
  part: LivePart;
  /** This instance's name: an app name or an address. */
  name: string;
  /** When it started (ms since the epoch). */
  startedAt: number;
  /** Totals since start (they only grow). */
  counters: Record<string, number>;
  /** Levels now. */
  gauges: Record<string, number>;
  /** Cumulative latency histograms by key (an endpoint, `all`, ...). */
  latency?: Record<string, LatencySnapshot>;
}

/**
 * What every feed event has.
 *
 * @example
 * ```ts
 * import type { LiveEventBase } from "@syft/syft/live";
 * const ev: LiveEventBase = { type: "connect", at: Date.now() };
 * ```
 */
export interface LiveEventBase {
  /** What happened. */
  type: string;
  /** When (ms since the epoch). */
  at: number;
}

/**
 * A part's live state. `state()` must be cheap (it is read about once a second while anyone
 * watches); the feed costs nothing without subscribers.
 *
 * @example A source of your own
 * ```ts
 * import { createLiveFeed, type LiveSource } from "@syft/syft/live";
 * let sent = 0;
 * const source: LiveSource = {
 *   part: "hub",
 *   feed: createLiveFeed(),
 *   actions: [],
 *   state: () => ({
 *     part: "hub", name: "demo", startedAt: 0, counters: { sent }, gauges: {},
 *   }),
 * };
 * console.log((await source.state()).counters.sent);
 * ```
 */
export interface LiveSource<
  S extends LiveStateBase = LiveStateBase,
  E extends LiveEventBase = LiveEventBase,
> {
  /** Which part this is (the same as `state().part`). */
  readonly part: LivePart;
  /** A snapshot of the state (JSON-serialisable). */
  state(): S | Promise<S>;
  /** Events as they happen, in coalesced batches. */
  readonly feed: LiveFeed<E>;
  /** The names {@linkcode LiveSource.act} accepts (empty: none). */
  readonly actions: readonly string[];
  /**
   * Runs an action (disconnect a connection, replay an event, ...).
   *
   * @param action One of `actions`.
   * @param args The action's arguments.
   * @returns The action's result (JSON-serialisable).
   * @throws {LiveActionError} For an unknown action, bad arguments or a missing target.
   */
  act?(action: string, args: Readonly<Record<string, unknown>>): Promise<unknown>;
}

/** Why an action was refused. */
export type LiveActionErrorCode =
  | "LIVE_UNKNOWN_ACTION"
  | "LIVE_BAD_ARGS"
  | "LIVE_NOT_FOUND"
  | "LIVE_FAILED";

/**
 * An action could not run: unknown, bad arguments, missing target, or it failed.
 *
 * @example
 * ```ts
 * import { LiveActionError } from "@syft/syft/live";
 * const err = new LiveActionError("LIVE_NOT_FOUND", "No connection zpt-1");
 * console.log(err.code, err.status); // LIVE_NOT_FOUND 404
 * ```
 */
export class LiveActionError extends SyftError {
  /** The reason. */
  declare readonly code: LiveActionErrorCode;

  /**
   * Creates the error.
   *
   * @param code The reason.
   * @param message What was wrong and what to do.
   * @param options The underlying error.
   */
  constructor(code: LiveActionErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code });
    this.name = "LiveActionError";
  }

  /** The HTTP status that fits: 400, 404 or 500. */
  get status(): 400 | 404 | 500 {
    return this.code === "LIVE_NOT_FOUND" ? 404 : this.code === "LIVE_FAILED" ? 500 : 400;
  }
}

/**
 * Reads a string argument of an action.
 *
 * @param args The arguments.
 * @param name The argument's name.
 * @param options `optional: true` returns `undefined` when missing.
 * @returns The value.
 * @throws {LiveActionError} `LIVE_BAD_ARGS` when missing (and not optional) or not a string.
 *
 * @example
 * ```ts
 * import { stringArg } from "@syft/syft/live";
 * console.log(stringArg({ id: "a" }, "id")); // a
 * ```
 */
export function stringArg(
  args: Readonly<Record<string, unknown>>,
  name: string,
  options: { optional?: boolean } = {},
): string {
  const value = args[name];
  if (value === undefined && options.optional) return undefined as unknown as string;
  if (typeof value !== "string" || value === "") {
    throw new LiveActionError("LIVE_BAD_ARGS", `Argument "${name}" must be a non-empty string`);
  }
  return value;
}

/**
 * Shortens a value for display: JSON text cut to `max` characters (with `…`).
 *
 * @param value Any value.
 * @param max The most characters (default 200).
 * @returns The preview.
 *
 * @example
 * ```ts
 * import { preview } from "@syft/syft/live";
 * console.log(preview({ a: 1 })); // {"a":1}
 * ```
 */
export function preview(value: unknown, max = 200): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}
