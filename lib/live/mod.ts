/**
 * Live state of syft's parts: the one small interface a dashboard (`syft up` serves one), a
 * `/live` endpoint or a script reads each part through.
 *
 * - {@linkcode LiveSource}: `state()` (counters, gauges, latency histograms, bounded lists of
 *   recent items), `feed` (coalesced event batches) and `act()` (admin actions).
 * - Building blocks: {@linkcode createLiveFeed}, {@linkcode createRing}, {@linkcode createLatency}
 *   with {@linkcode diffLatency} and {@linkcode quantile}.
 * - Each part's state type: {@linkcode RpcLiveState}, {@linkcode ProxyLiveState},
 *   {@linkcode HubLiveState}, {@linkcode EnSyncLiveState}, {@linkcode PubSubLiveState}.
 * - Over HTTP: {@linkcode liveHandler} (`GET /live`, `GET /live/events`, `POST /live/actions/<name>`).
 *
 * @example Read a running echo app's live state
 * ```ts
 * import { createEchoApp } from "@syft/syft/rpc";
 * const workspace = { dataDir: await Deno.makeTempDir(), email: "me@example.com" };
 * await using app = createEchoApp({ workspace });
 * await app.start();
 * const state = await app.live().state();
 * console.log(state.part, state.endpoints.map((e) => e.path)); // rpc ["/echo", "/ping"]
 * ```
 *
 * @module
 */
export {
  createLiveFeed,
  type LiveFeed,
  type LiveFeedOptions,
  type LiveFeedWriter,
  type LiveListener,
} from "./feed.ts";
export { createRing, type Ring } from "./ring.ts";
export {
  createLatency,
  DEFAULT_LATENCY_BOUNDS_MS,
  diffLatency,
  type Latency,
  type LatencySnapshot,
  quantile,
} from "./latency.ts";
export {
  LIVE_PARTS,
  LiveActionError,
  type LiveActionErrorCode,
  type LiveEventBase,
  type LivePart,
  type LiveSource,
  type LiveStateBase,
  preview,
  stringArg,
} from "./source.ts";
export type {
  AnyLiveState,
  EnSyncAppState,
  EnSyncClientState,
  EnSyncDiscardedState,
  EnSyncLiveEvent,
  EnSyncLiveSource,
  EnSyncLiveState,
  EnSyncQueueState,
  HubConnectionState,
  HubLiveEvent,
  HubLiveSource,
  HubLiveState,
  HubRoomState,
  ProxyLiveEvent,
  ProxyLiveSource,
  ProxyLiveState,
  ProxyPendingRequest,
  PubSubLiveEvent,
  PubSubLiveSource,
  PubSubLiveState,
  PubSubNetworkState,
  PubSubTopicState,
  RpcEndpointState,
  RpcLiveEvent,
  RpcLiveSource,
  RpcLiveState,
  RpcMessageDetail,
  RpcRequestDetail,
  RpcRequestSummary,
} from "./states.ts";
export {
  isLoopbackHost,
  isLoopbackPeer,
  type LiveHandler,
  liveHandler,
  type LiveHandlerOptions,
  type LiveSnapshot,
  runAction,
} from "./http.ts";
