/**
 * The state of delivery across hub instances (scale-out) and what it counts, shared by the
 * router, its adapters and the `$scaleout` event connections receive.
 *
 * @module
 */

/**
 * `ok`: cross-instance delivery works. `degraded`: the adapter cannot reach its broker (Redis);
 * cross-instance publishes are dropped at once (counted) until it is back, local delivery goes on.
 *
 * @example
 * ```ts
 * import type { ScaleOutState } from "@syft/syft/hub";
 * const describe = (state: ScaleOutState): string =>
 *   state === "ok" ? "cross-hub delivery works" : "local delivery only";
 * console.log(describe("degraded")); // local delivery only
 * ```
 */
export type ScaleOutState = "ok" | "degraded";

/**
 * Why a cross-instance frame was not delivered. Counted where it is known, so that summed over
 * the instances each lost frame counts once per instance that should have received it:
 * - `redis_down`, by the publisher: published while degraded, dropped at once (never sent);
 * - `missed`, by a receiver: sent by another instance but never arrived (a gap in that
 *   instance's sequence numbers: lost in flight when Redis went down, or published while this
 *   instance was not subscribed yet);
 * - `stale`, by a receiver: older than `maxAgeMs` when it arrived.
 *
 * @example
 * ```ts
 * import type { ScaleOutDropReason } from "@syft/syft/hub";
 * const reason: ScaleOutDropReason = "stale";
 * console.log(reason);
 * ```
 */
export type ScaleOutDropReason = "redis_down" | "missed" | "stale";

/**
 * Every {@linkcode ScaleOutDropReason}, in a stable order (for metrics labels).
 *
 * @example
 * ```ts
 * import { SCALEOUT_DROP_REASONS } from "@syft/syft/hub";
 * console.log(SCALEOUT_DROP_REASONS); // [ "redis_down", "missed", "stale" ]
 * ```
 */
export const SCALEOUT_DROP_REASONS: readonly ScaleOutDropReason[] = [
  "redis_down",
  "missed",
  "stale",
];

/**
 * Counters of a scale-out adapter since it connected.
 *
 * @example
 * ```ts
 * import type { ScaleOutStats } from "@syft/syft/hub";
 * const print = (stats: ScaleOutStats): void =>
 *   console.log(stats.state, stats.published, stats.dropped.redis_down);
 * print({
 *   state: "ok",
 *   since: Date.now(),
 *   published: 3,
 *   received: 2,
 *   dropped: { redis_down: 0, missed: 0, stale: 0 },
 *   unconfirmed: 0,
 *   buffered: 0,
 * }); // ok 3 0
 * ```
 */
export interface ScaleOutStats {
  /** The current state. */
  state: ScaleOutState;
  /** When the current state began (ms since the epoch). */
  since: number;
  /** Frames published and acknowledged by the broker. */
  published: number;
  /** Frames from other instances delivered to this one's connections. */
  received: number;
  /** Frames dropped, by reason. */
  dropped: Record<ScaleOutDropReason, number>;
  /**
   * Publishes Redis refused or did not acknowledge before the connection broke (never resent;
   * whether they arrived, the receivers count as `missed`).
   */
  unconfirmed: number;
  /** Publishes handed to the broker and not yet acknowledged (nothing else is ever held). */
  buffered: number;
}

/**
 * The event a router sends to its local connections when the scale-out state changes (and to a
 * connection that joins while degraded): `{"eventName":"$scaleout","payload":{"state":"degraded"}}`.
 * Names starting with `$` are the hub's own (the relay refuses them from peers); zaptools
 * clients ignore events they have no handler for.
 *
 * @example
 * ```ts
 * import { createZapClient, SCALEOUT_EVENT } from "@syft/syft/hub";
 * await using client = createZapClient();
 * client.on(SCALEOUT_EVENT, (event) => console.warn("scale-out:", event.payload));
 * ```
 */
export const SCALEOUT_EVENT = "$scaleout";

/**
 * The payload of the {@linkcode SCALEOUT_EVENT} event.
 *
 * @example
 * ```ts
 * import type { ScaleOutEventPayload } from "@syft/syft/hub";
 * const payload: ScaleOutEventPayload = { state: "ok" };
 * console.log(payload.state); // ok
 * ```
 */
export interface ScaleOutEventPayload {
  /** The new state. */
  state: ScaleOutState;
}
