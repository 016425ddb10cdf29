// deno-lint-ignore-file camelcase -- the JSON wire shapes of both proxy APIs are snake_case
/**
 * The data the proxy keeps per request and the JSON shapes of its two HTTP APIs: the seed API
 * (`/rpc/send`, `/rpc/status/{id}`) and the real syft-proxy package's (`POST /rpc`, `RPCStatus`).
 *
 * @module
 */

/** Where a request stands (seed API). `processing` is accepted on read for compatibility. */
export type RequestStatus = "pending" | "processing" | "completed" | "failed";

/** The status names of the real syft-proxy package's `RPCStatus`. */
export type RpcStatusName = "RPC_PENDING" | "RPC_COMPLETED" | "RPC_ERROR" | "RPC_NOT_FOUND";

/** Which HTTP API created a request; it decides the shape `/rpc/status/{id}` answers with. */
export type ProxyApi = "seed" | "rpc";

/**
 * The fields `.request` and `.response` files share, in their JSON wire form.
 *
 * @example
 * ```ts
 * import type { SyftMessageJson } from "@syft/syft/proxy";
 * const common: SyftMessageJson = {
 *   id: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10", sender: "a@b.org",
 *   url: "syft://c@d.org/app_data/echo/rpc/echo", body: null, headers: {},
 *   created: "2025-11-05T10:00:00+00:00", expires: "2025-11-05T10:15:00+00:00",
 * };
 * ```
 */
export interface SyftMessageJson {
  /** The request id (lower-case UUID, the file stem); a response carries its request's. */
  id: string;
  /** The writer's e-mail (the requester, or the responder). */
  sender: string;
  /** The endpoint's `syft://` URL. */
  url: string;
  /** The body, URL-safe base64 with padding, or `null`. */
  body: string | null;
  /** Headers. */
  headers: Record<string, string>;
  /** Creation time (ISO 8601 with offset). */
  created: string;
  /** Expiry time (ISO 8601 with offset). */
  expires: string;
}

/**
 * A `.request` file in its JSON wire form (body as URL-safe base64 or `null`).
 *
 * @example
 * ```ts
 * import type { SyftRequestJson } from "@syft/syft/proxy";
 * const req: SyftRequestJson = {
 *   id: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10", sender: "a@b.org",
 *   url: "syft://c@d.org/app_data/echo/rpc/echo", body: null, headers: {},
 *   created: "2025-11-05T10:00:00+00:00", expires: "2025-11-05T10:15:00+00:00", method: "POST",
 * };
 * ```
 */
export interface SyftRequestJson extends SyftMessageJson {
  /** The method (`GET`, `POST`, ...). */
  method: string;
}

/**
 * A `.response` file in its JSON wire form.
 *
 * @example
 * ```ts
 * import type { SyftResponseJson } from "@syft/syft/proxy";
 * const res: SyftResponseJson = {
 *   id: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10", sender: "c@d.org",
 *   url: "syft://c@d.org/app_data/echo/rpc/echo", body: "e30=", headers: {},
 *   created: "2025-11-05T10:00:01+00:00", expires: "2025-11-05T10:15:00+00:00", status_code: 200,
 * };
 * ```
 */
export interface SyftResponseJson extends SyftMessageJson {
  /** The RPC status code. */
  status_code: number;
}

/**
 * What the request store keeps for one request.
 *
 * @example
 * ```ts
 * import type { RequestRecord } from "@syft/syft/proxy";
 * function isDone(r: RequestRecord): boolean {
 *   return r.status === "completed" || r.status === "failed";
 * }
 * ```
 */
export interface RequestRecord {
  /** The request id (also the `.request` file stem). */
  id: string;
  /** The API that created it. */
  api: ProxyApi;
  /** Which proxy instance waits for the response (re-attached after a restart). */
  owner: string;
  /** The app name (from the URL). */
  app_name: string;
  /** The endpoint, without leading slash (from the URL). */
  func_name: string;
  /** The datasite e-mail the request goes to. */
  destination: string;
  /** Where it stands. */
  status: RequestStatus;
  /** The RPC status code once finished, else `null`. */
  status_code: number | null;
  /** Error text when failed, else `null`. */
  error: string | null;
  /** Creation time (ISO 8601, UTC). */
  created_at: string;
  /** Completion time (ISO 8601, UTC), or `null`. */
  completed_at: string | null;
  /** The request file in wire form. */
  request: SyftRequestJson;
  /** The response in wire form once finished (synthetic responses included), else `null`. */
  response: SyftResponseJson | null;
}

/**
 * The body of `POST /rpc/send` (seed API) after validation and defaults.
 *
 * @example
 * ```ts
 * import type { SendRequest } from "@syft/syft/proxy";
 * const body: SendRequest = {
 *   app_name: "echo", func_name: "echo", destination: "bob@example.org", params: { hi: 1 },
 *   blocking: true, timeout: 30, headers: {}, method: "POST",
 * };
 * ```
 */
export interface SendRequest {
  /** The app name. */
  app_name: string;
  /** The endpoint (a leading slash is removed). */
  func_name: string;
  /** The datasite e-mail of the app's owner. */
  destination: string;
  /** The JSON body sent to the app. */
  params?: unknown;
  /** Wait for the response (default true). */
  blocking: boolean;
  /** Seconds to wait when blocking (default 30). */
  timeout: number;
  /** Request headers. */
  headers: Record<string, string>;
  /** The request method (default POST). */
  method: string;
}

/**
 * The answer of `POST /rpc/send`: finished (`completed` / `failed`) or still `pending`.
 *
 * @example
 * ```ts
 * import type { SendResult } from "@syft/syft/proxy";
 * const r: SendResult = { id: "x", status: "pending" };
 * ```
 */
export interface SendResult {
  /** The request id. */
  id: string;
  /** Where it stands. */
  status: RequestStatus;
  /** The app's answer (JSON when it parses, else text) when completed. */
  result?: unknown;
  /** Error text when failed. */
  error?: string | null;
  /** The RPC status code when finished. */
  status_code?: number | null;
}

/**
 * The answer of `GET /rpc/status/{id}` for a request created through the seed API.
 *
 * @example
 * ```ts
 * import type { StatusResult } from "@syft/syft/proxy";
 * function ok(s: StatusResult): boolean {
 *   return s.status === "completed";
 * }
 * ```
 */
export interface StatusResult {
  /** The request id. */
  id: string;
  /** The app name. */
  app_name: string;
  /** The endpoint. */
  func_name: string;
  /** The datasite e-mail. */
  destination: string;
  /** Where it stands. */
  status: RequestStatus;
  /** The app's answer when completed (JSON when it parses, else text), else `null`. */
  result: unknown;
  /** Error text when failed, else `null`. */
  error: string | null;
  /** The RPC status code when finished, else `null`. */
  status_code: number | null;
  /** Creation time. */
  created_at: string;
  /** Completion time, or `null`. */
  completed_at: string | null;
}

/**
 * The real syft-proxy package's `RPCStatus`.
 *
 * @example
 * ```ts
 * import type { RpcStatus } from "@syft/syft/proxy";
 * const s: RpcStatus = { id: "x", status: "RPC_NOT_FOUND", request: null, response: null };
 * ```
 */
export interface RpcStatus {
  /** The request id. */
  id: string;
  /** Where it stands. */
  status: RpcStatusName;
  /** The request in wire form. */
  request: SyftRequestJson | null;
  /** The response in wire form once finished. */
  response: SyftResponseJson | null;
}

/**
 * The body of `POST /rpc` (the real package's `RPCSendRequest`) after validation and defaults.
 *
 * @example
 * ```ts
 * import type { RpcSendRequest } from "@syft/syft/proxy";
 * const body: RpcSendRequest = {
 *   app_name: "echo", url: "syft://bob@example.org/app_data/echo/rpc/echo", body: { hi: 1 },
 *   headers: {}, expiry: "15m", cache: false, method: "GET",
 * };
 * ```
 */
export interface RpcSendRequest {
  /** The app name (at least 3 characters). */
  app_name: string;
  /** The endpoint's `syft://` URL. */
  url: string;
  /** The body: a string is sent as UTF-8, anything else as JSON. */
  body?: unknown;
  /** Request headers. */
  headers: Record<string, string>;
  /** How long the request stays valid, such as `"15m"` (one unit: d, h, m or s). */
  expiry: string;
  /** Accepted for compatibility; the proxy always writes a new request. */
  cache: boolean;
  /** The request method (default GET, as the real package). */
  method: string;
}

/**
 * The answer of `GET /` (and the data of `GET /info`).
 *
 * @example
 * ```ts
 * import type { ProxyInfo } from "@syft/syft/proxy";
 * function describe(i: ProxyInfo): string {
 *   return `${i.name} ${i.version} (${i.store})`;
 * }
 * ```
 */
export interface ProxyInfo {
  /** Always `"syft-proxy"`. */
  name: string;
  /** Always `"SyftBox HTTP Proxy"` (the line the real package's `GET /` banner ends with). */
  description: string;
  /** The syft version. */
  version: string;
  /** Seconds since the server started. */
  uptime_s: number;
  /** The store, such as `"kv:/home/me/.syft/state/proxy.kv"` (credentials removed). */
  store: string;
  /** The datasite e-mail requests are sent from. */
  email: string;
  /** Requests handled by this process since it started. */
  requests: { total: number; pending: number; completed: number; failed: number };
}
