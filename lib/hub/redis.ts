/**
 * Scale-out through Redis: several hub instances act as one, as with Socket.IO's Redis adapter.
 * Broadcasts and room sends are published on one channel and delivered by every other instance
 * to its own members; `sendTo` finds the instance holding a connection in a Redis hash and
 * publishes to that instance's channel.
 *
 * Across a Redis outage the adapter drops at once, counted: while either of its two Redis
 * connections is down it is `degraded` and publishes are dropped (`redis_down`) instead of
 * queued; publishes in flight when the connection broke are never resent; receivers count the
 * frames of another instance that never arrived from gaps in its sequence numbers (`missed`) and
 * drop a frame older than `maxAgeMs` on arrival (`stale`). Nothing is ever delivered late.
 *
 * {@linkcode connectRedisAdapter} makes the adapter (the implementation is internal).
 *
 * @module
 */
import type { RouterAdapter } from "./router.ts";
import type { ScaleOutState, ScaleOutStats } from "./scaleout.ts";
import { RedisAdapterError } from "./errors.ts";
import { type Clock, systemClock } from "../_clock.ts";
import { RedisAdapterImpl } from "./_redis.ts";

/**
 * The default of {@linkcode RedisAdapterOptions.maxAgeMs}: 5 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_SCALEOUT_MAX_AGE_MS } from "@syft/syft/hub";
 * console.log(DEFAULT_SCALEOUT_MAX_AGE_MS); // 5000
 * ```
 */
export const DEFAULT_SCALEOUT_MAX_AGE_MS = 5_000;

/**
 * Options of {@linkcode connectRedisAdapter}.
 *
 * @example
 * ```ts
 * import type { RedisAdapterOptions } from "@syft/syft/hub";
 * const options: RedisAdapterOptions = { prefix: "myapp:hub", maxAgeMs: 2_000 };
 * console.log(options.prefix); // myapp:hub
 * ```
 */
export interface RedisAdapterOptions {
  /** Channel and key prefix shared by the instances that act as one hub (default `"syft:hub"`). */
  prefix?: string;
  /** How long to wait for Redis when connecting (default 5,000 ms). */
  connectTimeoutMs?: number;
  /**
   * A frame from another instance older than this when it arrives is dropped (counted `stale`)
   * instead of delivered late (default 5,000 ms; `Infinity` turns the check off). The age is
   * measured between the instances' clocks, so keep them in sync (NTP) or raise it.
   */
  maxAgeMs?: number;
  /** The clock that stamps and ages frames (default the system clock; tests pass a fake one). */
  clock?: Clock;
}

/**
 * A {@linkcode RouterAdapter} over Redis pub/sub (ioredis); {@linkcode connectRedisAdapter} makes
 * one. Give it to a router (`createConnectionRouter({ adapter })`) on every hub instance that
 * shares the prefix; `broadcast`, `to(room).send` and `sendTo` then reach connections held by any
 * of them. One adapter serves one router (`bind()` throws `RedisAdapterError` for a second one).
 *
 * Delivery across instances is at most once and never late: while Redis is unreachable the
 * adapter is `degraded` and drops each cross-instance publish at once (counted in `stats`), and
 * a frame older than `maxAgeMs` on arrival is dropped (counted). The router tells its
 * connections about each change of state with a `$scaleout` event. When Redis is back the adapter
 * resubscribes, registers its connections again and delivery resumes.
 *
 * @example Two routers acting as one
 * ```ts ignore
 * import { connectRedisAdapter, createConnectionRouter } from "@syft/syft/hub";
 * const a = createConnectionRouter({ adapter: await connectRedisAdapter("redis://127.0.0.1:6379") });
 * const b = createConnectionRouter({ adapter: await connectRedisAdapter("redis://127.0.0.1:6379") });
 * a.broadcast("news", "reaches the connections of b too");
 * console.log(a.adapter?.stats?.state); // "ok"
 * await a.close();
 * await b.close();
 * ```
 */
export interface RedisAdapter extends RouterAdapter, AsyncDisposable {
  /** This instance's id (unique per adapter). */
  readonly instanceId: string;
  /** The channel and key prefix. */
  readonly prefix: string;
  /** `ok` while both Redis connections are up and subscribed, else `degraded`. */
  readonly state: ScaleOutState;
  /** Cross-instance counters and the current state. */
  readonly stats: ScaleOutStats;
  /**
   * Calls `listener` on each change of state (the router uses it to tell its connections).
   *
   * @param listener Called with the new state.
   * @returns A function that removes the listener.
   */
  onStateChange(listener: (state: ScaleOutState) => void): () => void;
}

/**
 * Connects to Redis (one client to publish, one to subscribe) and subscribes.
 *
 * @param url A `redis://` or `rediss://` URL.
 * @param options Prefix, connect timeout, the largest age of a delivered frame, a clock.
 * @returns The adapter; pass it to `createConnectionRouter({ adapter })`.
 * @throws {RedisAdapterError} When `maxAgeMs` is not positive, Redis cannot be reached or the
 * subscription fails.
 *
 * @example A router that reaches the other hub instances
 * ```ts ignore
 * import { connectRedisAdapter, createConnectionRouter } from "@syft/syft/hub";
 * const adapter = await connectRedisAdapter("redis://127.0.0.1:6379", { prefix: "myapp:hub" });
 * await using router = createConnectionRouter({ adapter });
 * console.log(adapter.state); // "ok"
 * ```
 */
export async function connectRedisAdapter(
  url: string,
  options: RedisAdapterOptions = {},
): Promise<RedisAdapter> {
  const maxAge = options.maxAgeMs ?? DEFAULT_SCALEOUT_MAX_AGE_MS;
  if (!(maxAge > 0)) {
    throw new RedisAdapterError(
      `Cannot use maxAgeMs ${options.maxAgeMs}: expected a positive number of ms (or Infinity)`,
    );
  }
  return await RedisAdapterImpl.connect(url, {
    prefix: options.prefix ?? "syft:hub",
    timeout: options.connectTimeoutMs ?? 5_000,
    maxAge,
    clock: options.clock ?? systemClock,
  });
}
