/**
 * The counters of one pub/sub server, read by `/metrics` and `/health` (private).
 *
 * @module
 */

/** Why notifications or frames were dropped. */
export type DropReason =
  /** Notifications discarded when a subscriber over its queue limit was disconnected. */
  | "slow_subscriber"
  /** Notifications still queued for a subscriber whose connection closed. */
  | "disconnected"
  /** Frames that are not fastapi_websocket_rpc messages (not JSON, binary, bad shape, too large). */
  | "malformed"
  /** Publishes that could not be forwarded to the other instances through Redis. */
  | "redis";

/** The drop reasons, for metrics labels. */
export const DROP_REASONS: readonly DropReason[] = [
  "slow_subscriber",
  "disconnected",
  "malformed",
  "redis",
];

/** Counters since the server started. */
export class PubSubStats {
  /** WebSocket connections accepted. */
  connectionsTotal = 0;
  /** Publishes received from this instance's clients. */
  published = 0;
  /** Publishes received from other instances through Redis. */
  publishedRemote = 0;
  /** Notifications written to subscriber sockets. */
  delivered = 0;
  /** Subscribers disconnected for being over their queue limit. */
  slowDisconnects = 0;
  /** Upgrades refused for a missing or wrong token. */
  authRefused = 0;
  /** Calls of methods the server does not have (the connection is closed, as the original does). */
  unknownMethods = 0;
  /** Dropped notifications and frames by reason. */
  readonly dropped: Record<DropReason, number> = {
    slow_subscriber: 0,
    disconnected: 0,
    malformed: 0,
    redis: 0,
  };
  /** Called on every drop (the live feed); unset: nothing. */
  onDrop: ((reason: DropReason, count: number) => void) | undefined = undefined;

  /** Counts `count` dropped notifications or frames for `reason`. */
  drop(reason: DropReason, count = 1): void {
    this.dropped[reason] += count;
    this.onDrop?.(reason, count);
  }
}
