/**
 * The HTTP RPC proxy server: a Hono app on `Deno.serve` that turns HTTP calls into file-RPC
 * requests (both APIs: the seed's `/rpc/send`, `/rpc/status/{id}`, ... and the real syft-proxy
 * package's `POST /rpc`), with statuses in a request store of `@syft/syft/proxy`.
 *
 * @example Serve on a free port with an in-memory store
 * ```ts ignore
 * import { startProxyServer } from "@syft/syft/proxy/server";
 * const dir = await Deno.makeTempDir();
 * await using server = await startProxyServer({
 *   workspace: { email: "me@example.org", dataDir: dir },
 *   port: 0,
 *   store: "memory",
 * });
 * console.log(server.url);
 * ```
 *
 * @module
 */
export {
  DEFAULT_PROXY_PORT,
  type ProxyServer,
  type ProxyServerOptions,
  startProxyServer,
} from "./serve.ts";
export { type ProxyHttpOptions, type RateLimit } from "./app.ts";
export type { OutgoingRequest, PreparedRequest, RpcBackend, SentRequest } from "./_gateway.ts";
export type { ServeLimits } from "../_limits.ts";
