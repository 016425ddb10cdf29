/**
 * The state of delivery across hub instances (scale-out) and what it counts, shared by the
 * router, its adapters and the `$scaleout` event connections receive.
 *
 * @module
 */

/**
 * `ok`: cross-instance delivery works. `degraded`: the adapter cannot reach its broker (Redis);
 * cross-instance publishes are dropped at once (counted) until it is back, local delivery goes on.
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
 */
export type ScaleOutDropReason = "redis_down" | "missed" | "stale";

/** Every {@linkcode ScaleOutDropReason}, in a stable order (for metrics labels). */
export const SCALEOUT_DROP_REASONS: readonly ScaleOutDropReason[] = [
  "redis_down",
  "missed",
  "stale",
];

/** Counters of a scale-out adapter since it connected. */
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
 */
export const SCALEOUT_EVENT = "$scaleout";

/** The payload of the {@linkcode SCALEOUT_EVENT} event. */
export interface ScaleOutEventPayload {
  /** The new state. */
  state: ScaleOutState;
}
