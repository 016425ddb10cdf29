/**
 * Defaults the command tree shows in `--help`, kept here so that building the tree loads no server
 * module. Each value mirrors a constant of its part (named beside it); `tests/cli/lazy_test.ts`
 * checks that they agree.
 *
 * @module
 */

/** `DEFAULT_PROXY_PORT` of `servers/proxy/serve.ts`. */
export const PROXY_PORT = 8000;
/** `DEFAULT_MAX_TIMEOUT_S` of `servers/proxy/app.ts`. */
export const PROXY_MAX_TIMEOUT_S = 300;
/** `STORE_FORMS` of `lib/proxy/open_store.ts`. */
export const PROXY_STORE_FORMS = "memory, kv, kv:PATH, redis://[user:pass@]host:port[/db]";
/** `DEFAULT_HUB_PORT` of `servers/hub/main.ts`. */
export const HUB_PORT = 8765;
/** `DEFAULT_HUB_PATH` of `servers/hub/app.ts`. */
export const HUB_PATH = "/ws";
/** `ENSYNC_DEFAULT_PORTS` of `servers/ensync/server.ts`. */
export const ENSYNC_PORTS: { ws: number; grpc: number } = { ws: 8082, grpc: 50051 };
/** `SYFT_METHODS` of `lib/rpc/protocol.ts`. */
export const RPC_METHODS: readonly string[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
