/**
 * File RPC compatible with SyftBox (`syft-event`, `syft-rpc`, `syft-core`): requests and responses
 * are JSON files in a datasite tree. This module reads and writes exactly their files and is
 * driven by a shared `Deno.watchFs` watcher instead of 100 ms polling.
 *
 * - **Protocol**: {@linkcode SyftRequest}, {@linkcode SyftResponse} (byte-exact codec),
 *   {@linkcode SyftBoxURL} (with a traversal guard), timestamps and durations.
 * - **Workspace**: {@linkcode loadSyftBoxConfig}, {@linkcode SyftBoxWorkspace}.
 * - **Server**: {@linkcode SyftEvents} apps with {@linkcode EventRouter}, {@linkcode reply}, zod
 *   schemas, glob watchers, bounded concurrency, idempotent handling, atomic writes.
 * - **Client**: {@linkcode RpcClient} (`send`, `call`, `broadcast`, `attach`, `readSchema`),
 *   {@linkcode SyftFuture} (`id`, `request`, `resolve()`, `wait({ timeout })`, `toJSON()`),
 *   {@linkcode SyftBulkFuture} (`gather()` in completion order).
 * - **Watching**: one shared `Deno.watchFs` watcher per tree (options: {@linkcode FileWatcherOptions});
 *   {@linkcode SyftEvents.watch} for glob watchers.
 *
 * Durations (`expiry`, `timeout`) are strings such as `"15m"`, `"30s"`, `"1d2h"`, or numbers of
 * milliseconds.
 *
 * @example Serve an app and call it
 * ```ts
 * import { RpcClient, SyftEvents } from "@syft/syft/rpc";
 *
 * const workspace = { dataDir: await Deno.makeTempDir(), email: "bob@example.com" };
 * await using box = new SyftEvents("greeter", { workspace });
 * box.onRequest("/hello", ({ name }: { name: string }) => `Hello, ${name}!`);
 * await box.start();
 *
 * await using client = await RpcClient.open({ workspace });
 * const future = await client.send(box.url("/hello"), { method: "POST", body: { name: "Ada" } });
 * const res = await future.wait({ timeout: "10s" });
 * console.log(res.statusCode, res.text()); // 200 Hello, Ada!
 * ```
 *
 * @module
 */
export {
  type FutureRef,
  readRpcSchema,
  RpcClient,
  type RpcClientOptions,
  type SendOptions,
  SyftBulkFuture,
  type SyftFuture,
  type SyftFutureRecord,
  type WaitOptions,
} from "./client.ts";
export {
  chooseSyftBoxConfig,
  CONFIG_PATH_ENV,
  type ConfigChoice,
  type ConfigPathOptions,
  type ConfigSource,
  DEFAULT_SERVER_URL,
  loadSyftBoxConfig,
  type NewSyftBoxConfig,
  parseSyftBoxConfig,
  resolveConfigPath,
  SYFT_HOME_ENV,
  type SyftBoxConfig,
  SyftBoxWorkspace,
  type WorkspaceSource,
  writeSyftBoxConfig,
} from "./config.ts";
export { createEchoApp, type EchoAppOptions } from "./echo.ts";
export {
  RpcConfigError,
  RpcError,
  type RpcErrorCode,
  type RpcErrorOptions,
  RpcProtocolError,
  RpcStatusError,
  RpcTimeoutError,
  SyftUrlError,
} from "./errors.ts";
export { type WatchEvent, type WatchEventKind } from "./globs.ts";
export { listPendingRequests, type PendingRequest } from "./pending.ts";
export {
  type BodyValue,
  type DecodeOptions,
  messageId,
  SYFT_METHODS,
  SYFT_STATUS_CODES,
  SyftMessage,
  type SyftMessageInit,
  type SyftMethod,
  SyftRequest,
  type SyftRequestInit,
  SyftResponse,
  type SyftResponseInit,
  SYSTEM_SENDER,
} from "./protocol.ts";
export { reply, type ReplyOptions, SyftReply } from "./reply.ts";
export {
  type EndpointSchema,
  type InferInput,
  type InferOutput,
  type StandardIssue,
  type StandardResult,
  type StandardSchemaV1,
  type TypeDescriptor,
} from "./schema.ts";
export {
  type EndpointOptions,
  EventRouter,
  type RequestContext,
  type RequestHandler,
  SyftEvents,
  type SyftEventsOptions,
  type SyftEventsStats,
  type WatchOptions,
} from "./server.ts";
export { formatTimestamp, parseDuration, parseTimestamp } from "./time.ts";
export { isValidEmail, SyftBoxURL } from "./url.ts";
export {
  type FileWatcherOptions,
  type FsEventSource,
  type FsEventSourceFactory,
} from "./watcher.ts";
export { type Clock, type TimerHandle } from "../_clock.ts";
export { SyftError, type SyftErrorOptions } from "../errors.ts";
