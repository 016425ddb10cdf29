/**
 * syft: a Deno-native toolkit for apps that exchange events and RPC calls over files, HTTP,
 * WebSockets and message engines.
 *
 * The root module holds the shared pieces (workspace, Deno KV, errors) and every part as a
 * namespace: `rpc` (SyftBox file RPC), `proxy` (the HTTP RPC proxy client), `hub` (the zaptools
 * WebSocket hub), `pubsub` (eventhive-compatible pub/sub) and `ensync` (the EnSync client). Each
 * part also has its own, lighter entry point: `@syft/syft/rpc`, `@syft/syft/proxy`,
 * `@syft/syft/hub`, `@syft/syft/pubsub`, `@syft/syft/ensync`, the proxy server at
 * `@syft/syft/proxy/server`, the pub/sub server at
 * `@syft/syft/pubsub/server`, the EnSync engine at `@syft/syft/ensync/engine` and the command
 * line at `@syft/syft/cli`. The library logs through
 * LogTape under the category `["syft"]`; configure LogTape in your program to see it.
 *
 * @example Create the workspace `syft up` uses
 * ```ts
 * import { ensureSyftHome } from "@syft/syft";
 * const home = await ensureSyftHome({ root: await Deno.makeTempDir() });
 * console.log(home.email);
 * ```
 *
 * @example Use a part through its namespace
 * ```ts
 * import { rpc } from "@syft/syft";
 * const url = rpc.SyftBoxURL.parse("syft://bob@example.com/app_data/echo/rpc/ping");
 * console.log(url.host);
 * ```
 *
 * @module
 */
export * as ensync from "./lib/ensync/mod.ts";
export * as hub from "./lib/hub/mod.ts";
export * as proxy from "./lib/proxy/mod.ts";
export * as pubsub from "./lib/pubsub/mod.ts";
export * as rpc from "./lib/rpc/mod.ts";
export { SyftError, type SyftErrorOptions } from "./lib/errors.ts";
export {
  chooseWorkspaceConfig,
  claimServer,
  type ConfigChoice,
  type ConfigSource,
  defaultEmail,
  ensureSyftHome,
  type EnsureSyftHomeOptions,
  homeDir,
  listRunningServers,
  openSyftHome,
  resolveSyftHome,
  type RunningServer,
  type RunningServerStatus,
  type ServerClaim,
  type SyftHome,
  type SyftHomeOptions,
  WorkspaceBusyError,
} from "./lib/home.ts";
export { isKvAvailable, KvUnavailableError, openKv } from "./lib/kv.ts";
export { VERSION } from "./lib/version.ts";
