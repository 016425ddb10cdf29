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
export * from "./broker.ts";
export * from "./config.ts";
export * from "./grpc.ts";
export * from "./grpc_worker.ts";
export { createEnSyncLive, EnSyncLiveRecorder, type QueueTotals } from "./live.ts";
export * from "./protocol.ts";
export * from "./server.ts";
export type { Clock, TimerHandle } from "../../lib/_clock.ts";
export * from "./store.ts";
export {
  type LocalAdmission,
  type LocalEntry,
  LocalEventStore,
  type LocalQueueState,
} from "./store_base.ts";
export * from "./store_kv.ts";
export * from "./store_memory.ts";
export * from "./store_redis.ts";
export * from "./stores.ts";
export * from "./ws.ts";
export type { ServeLimits } from "../_limits.ts";
