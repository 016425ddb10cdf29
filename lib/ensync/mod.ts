/**
 * EnSync: a client for the EnSync message engine over WebSocket and gRPC, with end-to-end
 * encrypted per-recipient payloads and explicit ack, defer, discard, replay, pause and continue.
 *
 * @example Publish and receive an event over WebSocket
 * ```ts
 * import { EnSyncWebSocketEngine } from "@syft/syft/ensync";
 * const engine = new EnSyncWebSocketEngine("ws://127.0.0.1:8082");
 * const client = await engine.createClient("my-access-key", { appSecretKey: "<base64 secret>" });
 * const sub = await client.subscribe("orders/created");
 * sub.on(async (event) => console.log(event.payload));
 * await client.publish("orders/created", ["<recipient app id>"], { orderId: 7 });
 * await client.close({ closeEngine: true });
 * ```
 *
 * @module
 */
export { SyftError, type SyftErrorOptions } from "../errors.ts";
export {
  EnSyncAuthError,
  type EnSyncClientErrorCode,
  EnSyncConnectionError,
  EnSyncError,
  type EnSyncErrorCode,
  type EnSyncErrorOptions,
  type EnSyncFailCode,
  EnSyncGenericError,
  EnSyncPublishError,
  EnSyncSubscriptionError,
  EnSyncTimeoutError,
} from "./errors.ts";
export type {
  ClientOptions,
  CloseOptions,
  DeferResult,
  EngineOptions,
  EnSyncEvent,
  GrpcEngineOptions,
  SubscribeOptions,
  WebSocketEngineOptions,
} from "./types.ts";
export type { EnSyncClient, EventHandler, Subscription } from "./client.ts";
export type { Clock, TimerHandle } from "../_clock.ts";
export {
  EnSyncEngine,
  EnSyncWebSocketEngine,
  type GrpcTarget,
  resolveGrpcTarget,
  resolveWebSocketUrl,
  USER_AGENT,
} from "./engine.ts";
export {
  decodeEnvelope,
  decryptEnvelope,
  decryptPayload,
  ed25519PublicKeyToX25519,
  ed25519SecretKeyToX25519,
  encodeEnvelope,
  encryptEnvelope,
  encryptPayload,
  type EnSyncKeyPair,
  type Envelope,
  EnvelopeDecryptor,
  type EnvelopeDecryptorOptions,
  EnvelopeEncryptor,
  type EnvelopeEncryptorOptions,
  generateKeyPair,
  type HybridEnvelope,
  type HybridKeyEntry,
  publicKeyFromSecretKey,
  type SingleEnvelope,
} from "./crypto.ts";
export {
  buildCommand,
  formatConnPass,
  formatFail,
  formatRecord,
  jsonValue,
  matchesEventName,
  parseCommand,
  parseConnReply,
  type ParsedCommand,
  parsePublishReply,
  parseRecord,
  parseReplyFields,
  parseServerMessage,
  type ServerMessage,
  type WireRecord,
} from "./protocol.ts";
export {
  ENSYNC_SERVICE_NAME,
  ensyncClientConstructor,
  type EnSyncGrpcClientConstructor,
  type EnSyncServiceDefinition,
  ensyncServiceDefinition,
} from "./proto.ts";
