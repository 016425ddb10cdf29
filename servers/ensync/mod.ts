/**
 * The EnSync engine: a self-hostable engine that the EnSync SDKs (Node, Python, Go, and the
 * published `ensync-client-sdk@0.0.18`) and `@syft/syft/ensync` connect to. It speaks the
 * WebSocket dialect (port 8082, any path) and gRPC `ensync.EnSyncService` (port 50051, both
 * method-name sets), authenticates apps from a YAML file, and delivers end-to-end encrypted events
 * at least once from a durable queue per (recipient app, event name), one in flight per client and
 * subscription. The engine never sees plaintext and never needs secret keys.
 *
 * Stores: {@linkcode KvEventStore} (Deno KV, default), {@linkcode RedisEventStore} (several engines share
 * one state) and {@linkcode MemoryEventStore}.
 *
 * gRPC runs in the calling process unless `grpcWorker` starts it in a worker process (see
 * {@linkcode runEnSyncGrpcWorker}): Deno 2.9.6 can abort a process when a gRPC client closes a
 * connection that carried many calls (denoland/deno#36788), and then only the worker dies and is
 * replaced. `syft ensync serve` and `syft up` use a worker.
 *
 * @example Start an engine with one app pair
 * ```ts
 * import { startEnSyncServer } from "@syft/syft/ensync/engine";
 * const id = (n: number) => btoa(String.fromCharCode(...new Uint8Array(32).fill(n)));
 * await using engine = await startEnSyncServer({
 *   config: {
 *     grpcStreams: "auto",
 *     apps: [
 *       { name: "shop", accessKey: "shop-key-123", appId: id(1), send: ["orders/*"], receive: [] },
 *       { name: "billing", accessKey: "billing-key-123", appId: id(2), send: [], receive: ["orders/*"] },
 *     ],
 *   },
 *   wsPort: 0,
 *   grpcPort: 0,
 * });
 * console.log(`ws ${engine.wsUrl}, grpc ${engine.grpcUrl}`);
 * ```
 *
 * @module
 */
export { SyftError, type SyftErrorOptions } from "../../lib/errors.ts";
export {
  DEFER_LIMITS_MS,
  EngineSession,
  type EngineSessionSink,
  EngineSubscription,
  EnSyncBroker,
  type EnSyncBrokerOptions,
  EnSyncEngineError,
  type EnSyncEngineErrorCode,
  type EnSyncPublished,
  type EnSyncReplayed,
} from "./broker.ts";
export {
  addEnSyncApp,
  AppRegistry,
  type EnSyncApp,
  type EnSyncConfig,
  EnSyncConfigError,
  eventMatcher,
  type GrpcStreamMode,
  isEventPattern,
  loadEnSyncConfig,
  parseEnSyncConfig,
  writeEnSyncConfig,
} from "./config.ts";
export { type EnSyncGrpcOptions, EnSyncGrpcService, type GrpcServiceRegistry } from "./grpc.ts";
export {
  type EnSyncGrpcWorkerOptions,
  type GrpcWorkerCommand,
  type GrpcWorkerStatus,
  runEnSyncGrpcWorker,
} from "./grpc_worker.ts";
export { warnInProcessGrpc } from "./_grpc_supervisor.ts";
export {
  grpcMessage,
  grpcReplayData,
  type GrpcStreamMessage,
  metadataWithReplayInfo,
  passReply,
  recordFrame,
  type ReplayInfo,
  withLoggedAt,
} from "./protocol.ts";
export {
  ENSYNC_DEFAULT_PORTS,
  type EnSyncServer,
  EnSyncServerError,
  type EnSyncServerOptions,
  startEnSyncServer,
} from "./server.ts";
export {
  type DiscardedEvent,
  type EnSyncStore,
  EnSyncStoreError,
  type EventRecord,
  type EventState,
  type NewEvent,
  type QueueCounts,
  type QueueRef,
  type ReadyListener,
  type Settlement,
  type StoredEvent,
  type StoreOptions,
} from "./store.ts";
export { KvEventStore, type KvEventStoreOptions } from "./store_kv.ts";
export { MemoryEventStore } from "./store_memory.ts";
export { RedisEventStore, type RedisEventStoreOptions } from "./store_redis.ts";
export { openEnSyncStore, type OpenEnSyncStoreOptions } from "./stores.ts";
export { acceptEnSyncWebSocket, MAX_FRAME_CHARS } from "./ws.ts";
export { createEnSyncLive, EnSyncLiveRecorder, type QueueTotals } from "./live.ts";
export type { Clock, TimerHandle } from "../../lib/_clock.ts";
export {
  type LocalAdmission,
  type LocalEntry,
  LocalEventStore,
  type LocalQueueState,
} from "./store_base.ts";
export type { ServeLimits } from "../_limits.ts";
