/**
 * The built-in echo app (`syft rpc echo`, started by `syft up`): `/echo` returns the request body,
 * `/ping` returns `{"msg":"pong","ts":...}`.
 *
 * @module
 */
import type { WorkspaceSource } from "./config.ts";
import { reply, SyftEvents, type SyftEventsOptions } from "./server.ts";

/** Options of {@linkcode createEchoApp}. */
export interface EchoAppOptions extends SyftEventsOptions {
  /** The app name (default `"echo"`). */
  app?: string;
  /** The workspace (default: the SyftBox config). */
  workspace?: WorkspaceSource;
}

/**
 * Creates the echo app: `/echo` answers with the request body (bytes unchanged, `Content-Type`
 * copied from the request when present) and `/ping` with `{"msg":"pong","ts":"<ISO time>"}`.
 *
 * @param options App name, workspace and any {@linkcode SyftEventsOptions}.
 * @returns The app (not started).
 *
 * @example Serve and call it in one process
 * ```ts
 * import { createEchoApp, RpcClient } from "@syft/syft/rpc";
 * const workspace = { dataDir: await Deno.makeTempDir(), email: "me@example.com" };
 * await using app = createEchoApp({ workspace });
 * await app.start();
 * await using client = await RpcClient.open({ workspace });
 * const res = await client.call(app.url("/echo"), { method: "POST", body: { hi: 1 }, timeout: "10s" });
 * console.log(res.json()); // { hi: 1 }
 * ```
 */
export function createEchoApp(options: EchoAppOptions = {}): SyftEvents {
  const { app = "echo", ...rest } = options;
  const box = new SyftEvents(app, rest);
  box.onRequest("/echo", { description: "Returns the request body unchanged" }, (_body, ctx) => {
    const type = Object.entries(ctx.headers).find(([k]) => k.toLowerCase() === "content-type");
    return reply(ctx.raw, type === undefined ? {} : { headers: { [type[0]]: type[1] } });
  });
  box.onRequest(
    "/ping",
    { description: "Answers with pong and the server time" },
    () => ({ msg: "pong", ts: new Date().toISOString() }),
  );
  return box;
}
