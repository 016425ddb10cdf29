/**
 * The HTTP RPC proxy: apps and people that do not speak files (browsers, curl, other languages)
 * reach SyftBox apps over HTTP. The proxy writes the file-RPC request for them and hands back the
 * response; statuses live in a request store (memory, Deno KV or Redis).
 *
 * - {@linkcode startProxyServer}: run a proxy (Hono on `Deno.serve`) in your program.
 * - {@linkcode ProxyClient} / {@linkcode LoadBalancedProxyClient}: call apps through proxies.
 * - {@linkcode openRequestStore} and the stores: where statuses live.
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
export * from "./client.ts";
export * from "./errors.ts";
export * from "./open_store.ts";
export * from "./store.ts";
export * from "./store_kv.ts";
export * from "./store_redis.ts";
export * from "./types.ts";
export { SyftError, type SyftErrorOptions } from "../errors.ts";
export {
  DEFAULT_PROXY_PORT,
  type ProxyServer,
  type ProxyServerOptions,
  startProxyServer,
} from "../../servers/proxy/serve.ts";
export type { ProxyHttpOptions, RateLimit } from "../../servers/proxy/app.ts";
export type { ServeLimits } from "../../servers/_limits.ts";
