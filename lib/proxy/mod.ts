/**
 * The HTTP RPC proxy, client side: apps and people that do not speak files (browsers, curl, other
 * languages) reach SyftBox apps over HTTP through a proxy; this module calls them, and holds the
 * request stores a proxy keeps its statuses in. The server itself (Hono on `Deno.serve`) is
 * `@syft/syft/proxy/server`.
 *
 * - {@linkcode ProxyClient} / {@linkcode LoadBalancedProxyClient}: call apps through proxies.
 * - {@linkcode openRequestStore} and the stores: where statuses live (memory, Deno KV, Redis).
 * - The JSON shapes of both HTTP APIs ({@linkcode SendResult}, {@linkcode RpcStatus}, ...) and
 *   the typed errors ({@linkcode ProxyErrorCode}).
 *
 * @example Call the echo app through a running proxy
 * ```ts ignore
 * import { ProxyClient } from "@syft/syft/proxy";
 * const client = new ProxyClient("http://127.0.0.1:8000");
 * console.log(await client.call("echo", "echo", { to: "you@localhost.dev", params: { hi: 1 } }));
 * ```
 *
 * @module
 */
export {
  type AppSchema,
  type BatchCall,
  type BatchOutcome,
  type CallOptions,
  LoadBalancedProxyClient,
  ProxyClient,
  type ProxyClientOptions,
} from "./client.ts";
export {
  type ProxyErrorCode,
  type ProxyErrorOptions,
  ProxyTimeoutError,
  ProxyUnavailableError,
  RpcError,
  RpcExecutionError,
  StoreError,
} from "./errors.ts";
export { openRequestStore, type OpenRequestStoreOptions, STORE_FORMS } from "./open_store.ts";
export {
  DEFAULT_STORE_TTL_MS,
  MemoryRequestStore,
  type RateLimitBackend,
  type RequestLeases,
  type RequestStore,
  type StoreOptions,
} from "./store.ts";
export { KvRequestStore, type KvRequestStoreOptions } from "./store_kv.ts";
export {
  DEFAULT_LEASE_MS,
  RedisRequestStore,
  type RedisRequestStoreOptions,
} from "./store_redis.ts";
export type {
  ProxyApi,
  ProxyInfo,
  RequestRecord,
  RequestStatus,
  RpcSendRequest,
  RpcStatus,
  RpcStatusName,
  SendRequest,
  SendResult,
  StatusResult,
  SyftMessageJson,
  SyftRequestJson,
  SyftResponseJson,
} from "./types.ts";
export { SyftError, type SyftErrorOptions } from "../errors.ts";
export type { Clock, TimerHandle } from "../_clock.ts";
