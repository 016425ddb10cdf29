/**
 * Pub/sub: eventhive-compatible event networks over Redis, a fastapi_websocket_pubsub server
 * and NATS, configured from eventhive's YAML or a typed object; signed and encrypted with
 * eventhive's scheme when a connector has a secret.
 *
 * ```ts ignore
 * import { createHive } from "@syft/syft/pubsub";
 * await using hive = createHive({
 *   connectors: { hive: { type: "redis", url: "redis://127.0.0.1:6379", inputChannel: "worker" } },
 * });
 * hive.on("worker/work", (job) => console.log("got", job));
 * await hive.start();
 * await hive.emit("hive/worker/work", { task: "build" }); // comes back to our own handler
 * ```
 *
 * @module
 */
export type { PubSubClock } from "./_clock.ts";
export {
  type ConnectorState,
  type ConnectorStats,
  createHive,
  type EventContext,
  type EventHandler,
  type EventRoute,
  type Hive,
  type HiveDiscovery,
  type HiveErrorInfo,
  type HiveOptions,
  type HiveStats,
  openHive,
  REPLY_SEGMENT,
  type RequestOptions,
  type ServerStarter,
} from "./hive.ts";
export {
  type ConnectorCommonOptions,
  type ConnectorOptions,
  type FastApiConnectorOptions,
  type HiveConfig,
  type HiveConfigInput,
  loadHiveConfig,
  type NatsConnectorOptions,
  parseHiveConfig,
  type ParseHiveConfigOptions,
  type RedisConnectorOptions,
  resolveHiveConfig,
  type ServerInit,
  type ServerOptions,
} from "./config.ts";
export {
  decodeMessage,
  type DecodeOptions,
  type DecodeResult,
  DEFAULT_METADATA_KEY,
  DROP_REASONS,
  type DropReason,
  encodeMessage,
  type EncodeOptions,
  EVENTHIVE_VERSION,
  type EventMetadata,
  parseEventJson,
} from "./envelope.ts";
export { eventToSubject, inputSubject, subjectToEvent } from "./subjects.ts";
export {
  type ConnectorDescription,
  describeHive,
  type HiveDescription,
  type ServerDescription,
} from "./describe.ts";
export {
  PublishError,
  type PublishErrorCode,
  PubSubConfigError,
  PubSubError,
  type PubSubErrorCode,
  type PubSubServerErrorCode,
  RemoteHandlerError,
  RequestTimeoutError,
  type RpcFrameErrorCode,
} from "./errors.ts";
export {
  ALL_TOPICS,
  connectFastApiPubSub,
  type FastApiPublishOptions,
  type FastApiPubSubClient,
  type FastApiPubSubClientOptions,
  FastApiPubSubError,
  type FastApiPubSubErrorCode,
  type FastApiPubSubState,
} from "./fastapi_client.ts";
export {
  type AdvertisedPubSubServer,
  advertisePubSubServer,
  type DiscoveredServer,
  type DiscoverOptions,
  discoverPubSubServer,
  PubSubDiscoveryError,
  type PubSubDiscoveryErrorCode,
} from "./discovery.ts";
