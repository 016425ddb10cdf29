/**
 * The state and event types of each part, as its live source reports them (see
 * {@linkcode LiveSource}). All are JSON-serialisable; times are ms since the epoch.
 *
 * @module
 */
import type { LiveEventBase, LiveSource, LiveStateBase } from "./source.ts";

// ---- File RPC ---------------------------------------------------------------------------------

/**
 * One answered request of a file-RPC app.
 *
 * @example
 * ```ts
 * import type { RpcRequestSummary } from "@syft/syft/live";
 * const r: RpcRequestSummary = {
 *   id: "3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10", at: Date.now(), sender: "a@b.org",
 *   endpoint: "/echo", method: "POST", status: 200, durationMs: 1.2,
 *   url: "syft://c@d.org/app_data/echo/rpc/echo",
 * };
 * ```
 */
export interface RpcRequestSummary {
  /** The request id. */
  id: string;
  /** When the response was written. */
  at: number;
  /** The requester's e-mail. */
  sender: string;
  /** The endpoint, such as `/echo`. */
  endpoint: string;
  /** The method. */
  method: string;
  /** The response status code. */
  status: number;
  /** From reading the request to writing the response, in ms. */
  durationMs: number;
  /** The request's `syft://` URL. */
  url: string;
}

/**
 * A request or response message in full, body decoded where it is text.
 *
 * @example
 * ```ts
 * import type { RpcMessageDetail } from "@syft/syft/live";
 * const m: RpcMessageDetail = { headers: {}, bodyText: "{}", bodyBase64: null, bytes: 2, truncated: false };
 * ```
 */
export interface RpcMessageDetail {
  /** The headers. */
  headers: Record<string, string>;
  /** The body as UTF-8 text when it decodes as such, else `null`. */
  bodyText: string | null;
  /** The body as base64 when it is not text, else `null`. */
  bodyBase64: string | null;
  /** The body's size in bytes. */
  bytes: number;
  /** Whether the body was cut (only the first 64 KiB are kept). */
  truncated: boolean;
}

/**
 * The `request` action's answer: a recent request with its request and response.
 *
 * @example
 * ```ts
 * import type { RpcRequestDetail } from "@syft/syft/live";
 * function status(d: RpcRequestDetail): number { return d.summary.status; }
 * ```
 */
export interface RpcRequestDetail {
  /** The summary. */
  summary: RpcRequestSummary;
  /** The request. */
  request: RpcMessageDetail;
  /** The response. */
  response: RpcMessageDetail;
}

/** One endpoint of a running app. */
export interface RpcEndpointState {
  /** The endpoint, such as `/echo`. */
  path: string;
  /** Its description, or `null`. */
  description: string | null;
  /** Requests answered. */
  requests: number;
  /** Of those, answers with status 400 or more. */
  errors: number;
}

/**
 * A running file-RPC app (`SyftEvents`). Counters: `requests`, `answered`, `badRequests`,
 * `expired`, `errors`, `migrated`, `scans`, `cleaned`. Gauges: `inFlight`, `queued`. Latency by
 * endpoint. Action: `request` `{id}` → {@linkcode RpcRequestDetail}.
 *
 * @example
 * ```ts
 * import type { RpcLiveState } from "@syft/syft/live";
 * function busiest(s: RpcLiveState): string | undefined {
 *   return s.endpoints.toSorted((a, b) => b.requests - a.requests)[0]?.path;
 * }
 * ```
 */
export interface RpcLiveState extends LiveStateBase {
  /** `"rpc"`. */
  part: "rpc";
  /** The app name. */
  app: string;
  /** The datasite owner. */
  email: string;
  /** The app's `rpc` folder. */
  rpcDir: string;
  /** Its endpoints. */
  endpoints: RpcEndpointState[];
  /** Recent requests, newest first. */
  recent: RpcRequestSummary[];
}

/** A file-RPC feed event: one answered request. */
export interface RpcLiveEvent extends LiveEventBase, RpcRequestSummary {
  /** `"request"`. */
  type: "request";
  /** The app name. */
  app: string;
}

/** A file-RPC app's live source. */
export type RpcLiveSource = LiveSource<RpcLiveState, RpcLiveEvent>;

// ---- Proxy ------------------------------------------------------------------------------------

/**
 * A request the proxy waits on.
 *
 * @example
 * ```ts
 * import type { ProxyPendingRequest } from "@syft/syft/live";
 * const p: ProxyPendingRequest = {
 *   id: "x", app: "echo", func: "echo", destination: "a@b.org", createdAt: 0, ageMs: 5,
 * };
 * ```
 */
export interface ProxyPendingRequest {
  /** The request id. */
  id: string;
  /** The app name. */
  app: string;
  /** The endpoint. */
  func: string;
  /** The datasite it goes to. */
  destination: string;
  /** When it was accepted. */
  createdAt: number;
  /** How long it has waited, in ms. */
  ageMs: number;
}

/**
 * The HTTP proxy, read from the registry `/metrics` prints. Counters: `requests` (accepted),
 * `completed`, `failed`, `rateLimited`, `http` (HTTP responses). Gauges: `pending`. Latency `all`:
 * accepted to response (what a blocking call waits).
 *
 * @example
 * ```ts
 * import type { ProxyLiveState } from "@syft/syft/live";
 * function oldest(s: ProxyLiveState): number { return s.pending[0]?.ageMs ?? 0; }
 * ```
 */
export interface ProxyLiveState extends LiveStateBase {
  /** `"proxy"`. */
  part: "proxy";
  /** The request store. */
  store: string;
  /** Finished RPC requests by final status (`completed`, `failed`). */
  byStatus: Record<string, number>;
  /** HTTP responses by status code. */
  byHttpStatus: Record<string, number>;
  /** Pending requests, oldest first (at most 100). */
  pending: ProxyPendingRequest[];
  /** How many requests are pending in all. */
  pendingTotal: number;
}

/** A proxy feed event: a request finished, or one was refused by the rate limit. */
export interface ProxyLiveEvent extends LiveEventBase {
  /** What happened. */
  type: "finished" | "rate_limited";
  /** The request id (finished). */
  id?: string;
  /** `app/func` (finished). */
  endpoint?: string;
  /** The final status (finished). */
  status?: string;
  /** The RPC status code (finished). */
  statusCode?: number | null;
  /** Seconds from accepting to the response (finished). */
  seconds?: number;
  /** The client address (rate limited). */
  client?: string;
}

/** The proxy's live source. */
export type ProxyLiveSource = LiveSource<ProxyLiveState, ProxyLiveEvent>;

// ---- Hub --------------------------------------------------------------------------------------

/**
 * One WebSocket connection of a hub.
 *
 * @example
 * ```ts
 * import type { HubConnectionState } from "@syft/syft/live";
 * const c: HubConnectionState = {
 *   id: "zpt-1", address: "127.0.0.1:50000", rooms: ["lobby"], since: 0, in: 0, out: 0,
 * };
 * ```
 */
export interface HubConnectionState {
  /** The connection id. */
  id: string;
  /** The peer's address (`host:port`), or `""` when unknown. */
  address: string;
  /** Its rooms. */
  rooms: string[];
  /** When it connected. */
  since: number;
  /** Frames received from it. */
  in: number;
  /** Frames sent to it. */
  out: number;
}

/** A room and its members. */
export interface HubRoomState {
  /** The room name. */
  name: string;
  /** Members on this instance. */
  size: number;
  /** Member ids (at most 50). */
  members: string[];
}

/**
 * A WebSocket hub. Counters: `connectionsTotal`, `eventsReceived`, `relayed`, `published`,
 * `deliveries`, `framesRejected`, `handlerErrors`, `overflows`, `authRefused` (the ones
 * `/metrics` prints). Gauges: `connections`, `rooms`. Recent events come through the feed only
 * (a dashboard keeps its own ring of them). Actions: `disconnect` `{id}`, `join`
 * `{id, room}`, `leave` `{id, room}`, `publish` `{eventName, payload?, room?}`.
 *
 * @example
 * ```ts
 * import type { HubLiveState } from "@syft/syft/live";
 * function lobby(s: HubLiveState): number { return s.rooms.find((r) => r.name === "lobby")?.size ?? 0; }
 * ```
 */
export interface HubLiveState extends LiveStateBase {
  /** `"hub"`. */
  part: "hub";
  /** The WebSocket path. */
  path: string;
  /** Whether a token is required. */
  auth: boolean;
  /** Connections (at most 200, oldest first). */
  connections: HubConnectionState[];
  /** Rooms, largest first (at most 200). */
  rooms: HubRoomState[];
}

/** A hub feed event. */
export interface HubLiveEvent extends LiveEventBase {
  /** What happened. */
  type: "connect" | "disconnect" | "event" | "join" | "leave" | "publish";
  /** The connection (not for `publish`). */
  connection?: string;
  /** The room, when one is involved. */
  room?: string;
  /** The event name (`event`, `publish`). */
  eventName?: string;
  /** The payload, shortened (`event`, `publish`). */
  payload?: string;
  /** The close code (`disconnect`). */
  code?: number;
  /** Receivers (`event`, `publish`). */
  delivered?: number;
}

/** A hub's live source. */
export type HubLiveSource = LiveSource<HubLiveState, HubLiveEvent>;

// ---- EnSync -----------------------------------------------------------------------------------

/** An app of the engine and its permissions. */
export interface EnSyncAppState {
  /** The app name. */
  name: string;
  /** The app id (base64 public key). */
  appId: string;
  /** Names and patterns it may publish. */
  send: string[];
  /** Names and patterns it may receive. */
  receive: string[];
  /** Connected clients of this app. */
  clients: number;
}

/**
 * One queue: the events of one name addressed to one app. `pending`, `inflight` and `deferred`
 * are levels (`null` when the store cannot count them); `acked` and `discarded` count since the
 * engine started (the dashboard turns `acked` into a rate).
 *
 * @example
 * ```ts
 * import type { EnSyncQueueState } from "@syft/syft/live";
 * const q: EnSyncQueueState = {
 *   app: "shop", appId: "x", event: "orders/created", pending: 1, inflight: 0, deferred: 0,
 *   discarded: 0, acked: 3,
 * };
 * ```
 */
export interface EnSyncQueueState {
  /** The recipient app's name. */
  app: string;
  /** The recipient app id. */
  appId: string;
  /** The event name. */
  event: string;
  /** Ready to deliver. */
  pending: number | null;
  /** Delivered, not settled. */
  inflight: number | null;
  /** Deferred. */
  deferred: number | null;
  /** Discarded since start. */
  discarded: number;
  /** Acknowledged since start. */
  acked: number;
}

/** A connected client. */
export interface EnSyncClientState {
  /** The client id. */
  id: string;
  /** Its app's name. */
  app: string;
  /** When it connected. */
  since: number;
  /** Its subscriptions. */
  subscriptions: { pattern: string; paused: boolean; inflight: string | null }[];
}

/** A discarded event kept for inspection. */
export interface EnSyncDiscardedState {
  /** The recipient app's name. */
  app: string;
  /** The event id. */
  idem: string;
  /** The event name. */
  event: string;
  /** The reason given. */
  reason: string;
  /** When it was discarded. */
  at: number;
}

/**
 * The EnSync engine. Counters: `published`, `delivered`, `acked`, `deferred`, `discarded`,
 * `requeued`, `connects`. Gauges: `clients`, `paused`, `inflight`. Actions: `replay`
 * `{app, idem}` (the stored event and its state), `requeue` `{app, idem}` (a discarded or acked
 * event goes back to its queue), `purge` `{app}` (drops the app's discarded events).
 *
 * @example
 * ```ts
 * import type { EnSyncLiveState } from "@syft/syft/live";
 * function backlog(s: EnSyncLiveState): number {
 *   return s.queues.reduce((n, q) => n + (q.pending ?? 0), 0);
 * }
 * ```
 */
export interface EnSyncLiveState extends LiveStateBase {
  /** `"ensync"`. */
  part: "ensync";
  /** The store. */
  store: string;
  /** Apps and permissions. */
  apps: EnSyncAppState[];
  /** Queues. */
  queues: EnSyncQueueState[];
  /** Connected clients (at most 200). */
  clients: EnSyncClientState[];
  /** Recently discarded events, newest first (at most 20 per app). */
  discarded: EnSyncDiscardedState[];
}

/** An engine feed event. */
export interface EnSyncLiveEvent extends LiveEventBase {
  /** What happened. */
  type:
    | "publish"
    | "deliver"
    | "ack"
    | "defer"
    | "discard"
    | "requeue"
    | "connect"
    | "disconnect";
  /** The app involved (publisher for `publish`, recipient otherwise; client's app for connects). */
  app?: string;
  /** The event name. */
  event?: string;
  /** The event id. */
  idem?: string;
  /** The client id. */
  client?: string;
}

/** The engine's live source. */
export type EnSyncLiveSource = LiveSource<EnSyncLiveState, EnSyncLiveEvent>;

// ---- Pub/sub ----------------------------------------------------------------------------------

/** A topic of a pub/sub network. */
export interface PubSubTopicState {
  /** The topic. */
  name: string;
  /** Subscribers now. */
  subscribers: number;
  /** Events seen since start. */
  events: number;
}

/** A pub/sub network (one YAML-configured event network). */
export interface PubSubNetworkState {
  /** The network name. */
  name: string;
  /** Its transport (`redis`, `websocket`, `nats`, ...). */
  transport: string;
  /** Its topics. */
  topics: PubSubTopicState[];
}

/**
 * Pub/sub networks. Counters: `published`, `delivered`, `dropped`. Gauges: `subscribers`,
 * `topics`. `dropped` by reason: `bad_signature`, `replay`, `malformed` (and any other reason a
 * network reports).
 *
 * @example
 * ```ts
 * import type { PubSubLiveState } from "@syft/syft/live";
 * function topics(s: PubSubLiveState): number {
 *   return s.networks.reduce((n, net) => n + net.topics.length, 0);
 * }
 * ```
 */
export interface PubSubLiveState extends LiveStateBase {
  /** `"pubsub"`. */
  part: "pubsub";
  /** Networks. */
  networks: PubSubNetworkState[];
  /** Dropped messages by reason since start. */
  dropped: Record<string, number>;
}

/** A pub/sub feed event. */
export interface PubSubLiveEvent extends LiveEventBase {
  /** An event passed, or one was dropped. */
  type: "event" | "dropped";
  /** The network. */
  network: string;
  /** The topic. */
  topic: string;
  /** Why it was dropped (`dropped`). */
  reason?: string;
  /** The sender, when known. */
  sender?: string;
}

/** A pub/sub live source. */
export type PubSubLiveSource = LiveSource<PubSubLiveState, PubSubLiveEvent>;

/** Any part's state. */
export type AnyLiveState =
  | RpcLiveState
  | ProxyLiveState
  | HubLiveState
  | EnSyncLiveState
  | PubSubLiveState;
