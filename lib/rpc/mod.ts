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
 * - **Watcher**: {@linkcode FileWatcher}, {@linkcode acquireWatcher} (shared, ref-counted).
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
export * from "./client.ts";
export * from "./config.ts";
export * from "./echo.ts";
export * from "./errors.ts";
export * from "./globs.ts";
export * from "./pending.ts";
export * from "./protocol.ts";
export * from "./schema.ts";
export * from "./server.ts";
export * from "./time.ts";
export * from "./url.ts";
export * from "./watcher.ts";
export { SyftError, type SyftErrorOptions } from "../errors.ts";
