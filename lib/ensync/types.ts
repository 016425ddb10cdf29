/**
 * Public types of the EnSync client: events, engine and client options.
 *
 * @module
 */
import type { Clock } from "../_clock.ts";
import type { EnSyncError } from "./errors.ts";

/**
 * An event handed to subscription handlers and iterators, and returned by `replay()`.
 *
 * @typeParam T The decrypted payload type.
 */
export interface EnSyncEvent<T = unknown> {
  /** The event id (unique per recipient); pass it to `ack`, `defer`, `discard`, `replay`. */
  idem: string;
  /** The partition block, an integer ≥ 1; pass it to `ack`. */
  block: number;
  /** The concrete event name (also for wildcard subscriptions). */
  eventName: string;
  /** The decrypted payload. */
  payload: T;
  /** When the engine logged the event (ms since the epoch); the receive time when it does not say. */
  timestamp: number;
  /** The publisher's plaintext metadata (plus the engine's `$internal`, if any). */
  metadata: Record<string, unknown>;
  /** The publisher's app id (base64 Ed25519 public key); "" when the engine does not say. */
  sender: string;
}

/** Options shared by {@linkcode EnSyncEngine} and {@linkcode EnSyncWebSocketEngine}. */
export interface EngineOptions {
  /** The first reconnect delay in ms; later ones grow ×1.5 up to 30 s (default 5000). */
  reconnectInterval?: number;
  /** Reconnect attempts after a lost connection before giving up; 0 disables reconnecting (default 10). */
  maxReconnectAttempts?: number;
  /** How long a request may wait for its reply, in ms (default 30,000). */
  requestTimeout?: number;
  /** How many requests may await their replies at once per client; more wait their turn (default 1024). */
  maxInFlight?: number;
  /**
   * The clock the client's timers run on (default the system clock): request timeouts, reconnect
   * delays and the wait for a reconnect, the gRPC heartbeat and subscribe grace period, the
   * WebSocket close limit, and `defer()`'s `deliveryTime` when the engine sends none. Tests pass a
   * fake one and advance it instead of sleeping. (The connect timeouts of grpc-js and `ws` run on
   * their own timers.)
   *
   * @example A clock that runs ten times as fast as the real one
   * ```ts
   * import { type Clock, EnSyncWebSocketEngine } from "@syft/syft/ensync";
   * const start = Date.now();
   * const fast: Clock = {
   *   now: () => start + (Date.now() - start) * 10,
   *   setTimeout: (fn, ms) => setTimeout(fn, ms / 10),
   *   clearTimeout: (handle) => clearTimeout(handle as number),
   * };
   * const engine = new EnSyncWebSocketEngine("ws://127.0.0.1:8082", { clock: fast });
   * await engine.close();
   * ```
   */
  clock?: Clock;
}

/** Options of {@linkcode EnSyncEngine} (gRPC). */
export interface GrpcEngineOptions extends EngineOptions {
  /** Speak plaintext even where the URL rules choose TLS (default false). */
  disableTls?: boolean;
  /** Interval of the `Heartbeat` RPC in ms (default 30,000); a failed heartbeat reconnects. */
  heartbeatInterval?: number;
}

/** Options of {@linkcode EnSyncWebSocketEngine}. */
export type WebSocketEngineOptions = EngineOptions;

/** Options of `engine.createClient()`. */
export interface ClientOptions {
  /** The app's base64 64-byte Ed25519 secret key: decrypts deliveries (per-subscription keys override it). */
  appSecretKey?: string;
  /**
   * Envelopes sealed per ephemeral key and recipient before a fresh key is made (default 1000; 1 =
   * a fresh ephemeral key per message, as the SDKs do). Either way every SDK can open them.
   */
  ephemeralKeyMaxUses?: number;
  /** Called for failures that have no caller to throw to: handler errors, undecryptable deliveries, failed auto-acks, reconnects that fail. */
  onError?: (error: EnSyncError) => void;
  /** Called after the client reconnected (new client id) and restored its subscriptions. */
  onReconnect?: (info: { clientId: string; attempt: number }) => void;
}

/** Options of `client.subscribe()`. */
export interface SubscribeOptions {
  /** Acknowledge each event once every handler settled without throwing (default true). */
  autoAck?: boolean;
  /** The secret key for this subscription's deliveries (default: the client's `appSecretKey`). */
  appSecretKey?: string;
  /** Deliveries kept while no handler or iterator is attached (default 1024; beyond it they are left unacked for redelivery). */
  maxBuffered?: number;
}

/** The result of `subscription.defer()`. */
export interface DeferResult {
  /** The deferred event. */
  idem: string;
  /** The requested delay in ms. */
  delayMs: number;
  /** When the engine will deliver it again (ms since the epoch; the engine's value when it sends one). */
  deliveryTime: number;
}

/** Options of `client.close()`. */
export interface CloseOptions {
  /** Also close the engine object and every other client it created (default false). */
  closeEngine?: boolean;
}
