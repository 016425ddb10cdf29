/**
 * The syft dashboard: one live page for every part (File RPC apps and requests, the proxy, hub
 * connections and rooms, EnSync queues, pub/sub networks) with charts and admin actions, fed by
 * each part's live source (`@syft/syft/live`). `syft up` serves it on 127.0.0.1:8700;
 * `syft dashboard --url ...` points one at running servers through their `/live` routes.
 *
 * HTTP API: `GET /api/state` (a {@linkcode DashboardSnapshot}), `GET /api/events` (Server-Sent
 * Events: `snapshot`, then `tick` once a second and `events` batches), `GET
 * /api/rpc/requests/<service>/<id>`, `POST /api/actions/<service>/<action>`, `POST
 * /api/rpc/call`. See docs/dashboard.md.
 *
 * @example Serve a dashboard of one echo app
 * ```ts
 * import { createEchoApp } from "@syft/syft/rpc";
 * import { startDashboard } from "@syft/syft/dashboard";
 * const workspace = { dataDir: await Deno.makeTempDir(), email: "me@example.com", config: "" };
 * await using app = createEchoApp({ workspace });
 * await app.start();
 * await using dashboard = await startDashboard({
 *   port: 0,
 *   services: () => [{ name: "echo", where: app.url("/echo"), live: app.live() }],
 * });
 * console.log(dashboard.url);
 * ```
 *
 * @module
 */
export {
  DashboardError,
  type DashboardErrorCode,
  type DashboardOptions,
  DEFAULT_DASHBOARD_PORT,
  type RunningDashboard,
  startDashboard,
} from "./serve.ts";
export type {
  DashboardService,
  DashboardSnapshot,
  DashboardUpdate,
  DashboardWorkspace,
  PartView,
  ServiceState,
  ServiceStatus,
} from "./core.ts";
export type { HistoryColumns, HistoryPoint } from "./history.ts";
export type { RpcAppInfo } from "./rpc_apps.ts";
export type { ServeLimits } from "../_limits.ts";
export type { RpcCallInput, RpcCallResult } from "./app.ts";
export { connectRemote, liveBase, type RemoteOptions } from "./remote.ts";
