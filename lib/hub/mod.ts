/**
 * Named events over WebSocket, wire-compatible with zaptools (Python, Dart, Go, Swift peers):
 * each text frame is one JSON object `{"eventName", "payload", "headers"}`. The public types are
 * interfaces, made by factory functions (as in nats.js); the implementations stay internal.
 *
 * - {@linkcode createEventRegister} → {@linkcode EventRegister}: handlers per event name plus
 *   `connected`, `disconnected`, `error`;
 * - {@linkcode createZapHub} → {@linkcode ZapHub}: serves a register behind `Deno.serve`
 *   (`hub.fetch`) or Hono (`honoHandler` from `@syft/syft/hub/hono`, an adapter apart from the
 *   core, so that this entry point loads no Hono), with per-connection ordering, frame and
 *   send-buffer limits, heartbeats and an `authenticate` hook;
 * - {@linkcode createConnectionRouter} → {@linkcode ConnectionRouter}: connections, rooms and
 *   broadcasts encoded once, across instances with {@linkcode connectRedisAdapter};
 * - {@linkcode createZapClient} → {@linkcode ZapClient}: a reconnecting client on the standard
 *   `WebSocket` (Deno and browsers).
 *
 * @example An echo hub and a client
 * ```ts
 * import { createEventRegister, createZapClient, createZapHub } from "@syft/syft/hub";
 *
 * const register = createEventRegister()
 *   .on("echo", ({ connection, payload, headers }) => connection.send("echo", payload, headers));
 * const hub = createZapHub(register);
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hub.fetch);
 *
 * const client = createZapClient();
 * await client.connect(`ws://127.0.0.1:${server.addr.port}/`);
 * const replies = client.events();
 * client.send("echo", { hello: "world" });
 * console.log((await replies.next()).value); // { eventName: "echo", payload: { hello: "world" }, headers: {} }
 * await client.close();
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */
export { SyftError, type SyftErrorOptions } from "../errors.ts";
export type { Clock, TimerHandle } from "../_clock.ts";
export {
  FrameEncodeError,
  FrameError,
  type FrameErrorCode,
  HubError,
  type HubErrorCode,
  type HubErrorEventCode,
  type HubErrorOptions,
  RedisAdapterError,
  ZapClientError,
  type ZapClientErrorCode,
} from "./errors.ts";
export {
  decodeFrame,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  type EventData,
  type EventHeaders,
} from "./frame.ts";
export { type Connection, DEFAULT_SEND_BUFFER_LIMIT } from "./connection.ts";
export {
  createEventRegister,
  type DisconnectInfo,
  type EventContext,
  type EventHandler,
  type EventRegister,
  type HubErrorInfo,
  LIFECYCLE_EVENTS,
  type LifecycleEvents,
} from "./register.ts";
export {
  type BroadcastOptions,
  type ConnectionRouter,
  type ConnectionRouterOptions,
  createConnectionRouter,
  type Exclude,
  type RoomSender,
  type RouterAdapter,
} from "./router.ts";
export {
  type AuthResult,
  createZapHub,
  type HubCloseOptions,
  type HubStats,
  type ZapHub,
  type ZapHubOptions,
} from "./hub.ts";
export {
  type ClientEventHandler,
  createZapClient,
  type ReconnectOptions,
  type ZapClient,
  type ZapClientOptions,
  type ZapClientState,
} from "./client.ts";
export {
  connectRedisAdapter,
  DEFAULT_SCALEOUT_MAX_AGE_MS,
  type RedisAdapter,
  type RedisAdapterOptions,
} from "./redis.ts";
export {
  SCALEOUT_DROP_REASONS,
  SCALEOUT_EVENT,
  type ScaleOutDropReason,
  type ScaleOutEventPayload,
  type ScaleOutState,
  type ScaleOutStats,
} from "./scaleout.ts";
