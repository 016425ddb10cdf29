/**
 * syft: a Deno-native toolkit for apps that exchange events and RPC calls over files, HTTP,
 * WebSockets and message engines.
 *
 * The root module holds the shared pieces (workspace, Deno KV, errors). The library logs through
 * LogTape under the category `["syft"]`; configure LogTape in your program to see it. Each part has its
 * own entry point: `@syft/syft/rpc`, `@syft/syft/proxy`, `@syft/syft/hub`, `@syft/syft/ensync`, and
 * the command line at `@syft/syft/cli`.
 *
 * @example Create the workspace `syft up` uses
 * ```ts
 * import { ensureSyftHome } from "@syft/syft";
 * const home = await ensureSyftHome({ root: await Deno.makeTempDir() });
 * console.log(home.email);
 * ```
 *
 * @module
 */
export * from "./lib/errors.ts";
export * from "./lib/home.ts";
export * from "./lib/kv.ts";
export * from "./lib/version.ts";
