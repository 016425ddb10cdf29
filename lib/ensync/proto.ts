/**
 * The gRPC service `ensync.EnSyncService`, shared by the client (`EnSyncEngine`) and the engine in
 * `servers/ensync/`.
 *
 * One table below is the single source of truth: it yields both the `.proto` text
 * ({@linkcode ENSYNC_PROTO}) and the protobufjs JSON descriptor handed to `@grpc/proto-loader`'s
 * `fromJSON` (no file is read, so it works under `deno publish`, bundles and compiled binaries).
 *
 * The service carries **both method-name sets**: the current Node/Go names (`PublishMessage`,
 * `AcknowledgeMessage`, `PauseMessages`, ...) and the older Python names (`PublishEvent`,
 * `AcknowledgeEvent`, `PauseEvents`, ...). The Python variant's messages differ only in field names
 * (`event_name` for `message_name`, `event_idem` for `message_idem`, `event_data` for
 * `message_data`), and field names never reach the protobuf wire, so both method sets use the
 * `message_*` types: request objects always arrive with `message_*` keys, whichever method was called.
 *
 * Loaded with `keepCase: true` (snake_case keys), `longs: String` (int64 as decimal strings, as the
 * Node SDK loads it), `defaults: true` and `oneofs: true`. Serializers are wrapped to return a
 * `Buffer`: under Deno, grpc-js fails with "13 INTERNAL: Failed to write message" on a bare
 * `Uint8Array`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { fromJSON, type Options } from "@grpc/proto-loader";

type FieldType = "string" | "bool" | "int32" | "int64" | "map<string,string>";
/** [number, type, name, optional?] */
type Field = readonly [number, FieldType, string, "optional"?];

/** The messages of `ensync.proto`, in file order (Node/Go "Message" naming). */
const MESSAGES: ReadonlyArray<readonly [string, readonly Field[]]> = [
  ["ConnectRequest", [[1, "string", "access_key"]]],
  ["ConnectResponse", [
    [1, "bool", "success"],
    [2, "string", "client_id"],
    [3, "string", "client_hash"],
    [4, "map<string,string>", "server_config"],
    [5, "string", "error_message"],
  ]],
  ["HeartbeatRequest", [[1, "string", "client_id"]]],
  ["HeartbeatResponse", [[1, "bool", "success"]]],
  ["PublishMessageRequest", [
    [1, "string", "client_id"],
    [2, "string", "message_name"],
    [3, "string", "payload"],
    [4, "string", "delivery_to"],
    [5, "string", "metadata"],
    [6, "string", "payload_metadata", "optional"],
  ]],
  ["PublishMessageResponse", [
    [1, "bool", "success"],
    [2, "string", "message_idem"],
    [3, "string", "error_message"],
  ]],
  ["SubscribeRequest", [[1, "string", "client_id"], [2, "string", "message_name"]]],
  ["UnsubscribeRequest", [[1, "string", "client_id"], [2, "string", "message_name"]]],
  ["UnsubscribeResponse", [[1, "bool", "success"], [2, "string", "message"]]],
  ["MessageStreamResponse", [
    [1, "string", "message_idem"],
    [2, "string", "message_name"],
    [3, "string", "payload"],
    [4, "int64", "partition_block"],
    [5, "string", "metadata"],
    [6, "string", "sender"],
  ]],
  ["AcknowledgeRequest", [
    [1, "string", "client_id"],
    [2, "string", "message_idem"],
    [3, "string", "message_name"],
    [4, "int64", "partition_block"],
  ]],
  ["AcknowledgeResponse", [[1, "bool", "success"], [2, "string", "message"]]],
  ["DeferRequest", [
    [1, "string", "client_id"],
    [2, "string", "message_idem"],
    [3, "string", "message_name"],
    [4, "int64", "delay_ms"],
    [5, "int32", "priority"],
    [6, "string", "reason"],
  ]],
  ["DeferResponse", [
    [1, "bool", "success"],
    [2, "string", "message"],
    [3, "int64", "delivery_time"],
  ]],
  ["DiscardRequest", [
    [1, "string", "client_id"],
    [2, "string", "message_idem"],
    [3, "string", "message_name"],
    [4, "string", "reason"],
  ]],
  ["DiscardResponse", [[1, "bool", "success"], [2, "string", "message"]]],
  ["ReplayRequest", [
    [1, "string", "client_id"],
    [2, "string", "message_idem"],
    [3, "string", "message_name"],
  ]],
  ["ReplayResponse", [
    [1, "bool", "success"],
    [2, "string", "message"],
    [3, "string", "message_data"],
  ]],
  ["PauseRequest", [
    [1, "string", "client_id"],
    [2, "string", "message_name"],
    [3, "string", "reason"],
  ]],
  ["PauseResponse", [[1, "bool", "success"], [2, "string", "message"]]],
  ["ContinueRequest", [[1, "string", "client_id"], [2, "string", "message_name"]]],
  ["ContinueResponse", [[1, "bool", "success"], [2, "string", "message"]]],
];

/** [method, request, response, server-streaming?] */
type Method = readonly [string, string, string, boolean?];

/** Methods shared by both naming sets. */
const COMMON_METHODS: readonly Method[] = [
  ["Connect", "ConnectRequest", "ConnectResponse"],
  ["Heartbeat", "HeartbeatRequest", "HeartbeatResponse"],
  ["Subscribe", "SubscribeRequest", "MessageStreamResponse", true],
  ["Unsubscribe", "UnsubscribeRequest", "UnsubscribeResponse"],
];

/** The current Node/Go method names. */
const MESSAGE_METHODS: readonly Method[] = [
  ["PublishMessage", "PublishMessageRequest", "PublishMessageResponse"],
  ["AcknowledgeMessage", "AcknowledgeRequest", "AcknowledgeResponse"],
  ["DeferMessage", "DeferRequest", "DeferResponse"],
  ["DiscardMessage", "DiscardRequest", "DiscardResponse"],
  ["ReplayMessage", "ReplayRequest", "ReplayResponse"],
  ["PauseMessages", "PauseRequest", "PauseResponse"],
  ["ContinueMessages", "ContinueRequest", "ContinueResponse"],
];

/** The older Python method names (same request and response types on the wire). */
const EVENT_METHODS: readonly Method[] = [
  ["PublishEvent", "PublishMessageRequest", "PublishMessageResponse"],
  ["AcknowledgeEvent", "AcknowledgeRequest", "AcknowledgeResponse"],
  ["DeferEvent", "DeferRequest", "DeferResponse"],
  ["DiscardEvent", "DiscardRequest", "DiscardResponse"],
  ["ReplayEvent", "ReplayRequest", "ReplayResponse"],
  ["PauseEvents", "PauseRequest", "PauseResponse"],
  ["ContinueEvents", "ContinueRequest", "ContinueResponse"],
];

/** Every method name of the service: the shared ones, the "Message" set, then the "Event" set. */
export const ENSYNC_METHODS: readonly string[] = [
  ...COMMON_METHODS,
  ...MESSAGE_METHODS,
  ...EVENT_METHODS,
].map(([name]) => name);

/** The "Event" method name → the equivalent "Message" method name (`PublishEvent` → `PublishMessage`). */
export const EVENT_METHOD_ALIASES: Readonly<Record<string, string>> = Object.fromEntries(
  EVENT_METHODS.map(([name], i) => [name, MESSAGE_METHODS[i]![0]]),
);

/**
 * The fully qualified service name.
 *
 * @example
 * ```ts
 * import { ENSYNC_SERVICE_NAME } from "@syft/syft/ensync";
 * console.log(ENSYNC_SERVICE_NAME); // ensync.EnSyncService
 * ```
 */
export const ENSYNC_SERVICE_NAME = "ensync.EnSyncService";

function protoText(): string {
  const lines = [
    "// ensync.proto as served by syft: the Node/Go messages, and both method-name sets.",
    "// The Python copy names the same fields event_name / event_idem / event_data;",
    "// field names never reach the wire, so its clients are served by the *Event methods.",
    'syntax = "proto3";',
    "",
    "package ensync;",
    "",
    "option java_multiple_files = true;",
    'option java_package = "io.opensink.master.grpc.ensync";',
    'option java_outer_classname = "EnSyncProto";',
    "",
    "service EnSyncService {",
  ];
  for (
    const [name, req, res, stream] of [...COMMON_METHODS, ...MESSAGE_METHODS, ...EVENT_METHODS]
  ) {
    lines.push(`  rpc ${name}(${req}) returns (${stream ? "stream " : ""}${res});`);
  }
  lines.push("}");
  for (const [name, fields] of MESSAGES) {
    lines.push("", `message ${name} {`);
    for (const [no, type, field, optional] of fields) {
      lines.push(`  ${optional ? "optional " : ""}${type} ${field} = ${no};`);
    }
    lines.push("}");
  }
  return lines.join("\n") + "\n";
}

/**
 * The text of `ensync.proto` (package `ensync`, service `EnSyncService`) with both method-name sets,
 * for use with other gRPC toolchains.
 */
export const ENSYNC_PROTO: string = protoText();

/** The protobufjs JSON descriptor (`INamespace`) of the same file. */
function protoDescriptor(): Record<string, unknown> {
  const nested: Record<string, unknown> = {};
  const methods: Record<string, unknown> = {};
  for (
    const [name, req, res, stream] of [...COMMON_METHODS, ...MESSAGE_METHODS, ...EVENT_METHODS]
  ) {
    methods[name] = {
      requestType: req,
      responseType: res,
      ...(stream ? { responseStream: true } : {}),
    };
  }
  nested.EnSyncService = { methods };
  for (const [name, fields] of MESSAGES) {
    const out: Record<string, unknown> = {};
    const oneofs: Record<string, unknown> = {};
    for (const [id, type, field, optional] of fields) {
      if (type === "map<string,string>") {
        out[field] = { keyType: "string", type: "string", id };
      } else if (optional) {
        out[field] = { type, id, options: { proto3_optional: true } };
        oneofs[`_${field}`] = { oneof: [field] };
      } else {
        out[field] = { type, id };
      }
    }
    nested[name] = Object.keys(oneofs).length ? { oneofs, fields: out } : { fields: out };
  }
  return { nested: { ensync: { nested } } };
}

/** The proto-loader options both sides use. */
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The grpc-js service definition type of {@linkcode ensyncServiceDefinition}.
 *
 * @example
 * ```ts
 * import { type EnSyncServiceDefinition, ensyncServiceDefinition } from "@syft/syft/ensync";
 * const def: EnSyncServiceDefinition = ensyncServiceDefinition();
 * console.log(Object.keys(def).includes("PublishMessage")); // true
 * ```
 */
export type EnSyncServiceDefinition = grpc.ServiceDefinition;

let cached: grpc.ServiceDefinition | undefined;

/**
 * Returns the grpc-js service definition of `ensync.EnSyncService` (both method-name sets), built
 * once from the in-memory descriptor. Pass it to `server.addService(def, impl)` (register the same
 * handler under `PublishMessage` and `PublishEvent`, see {@linkcode EVENT_METHOD_ALIASES}) or to
 * `grpc.makeGenericClientConstructor(def, "EnSyncService")`.
 *
 * @returns The service definition (the same object on every call).
 *
 * @example Serve the EnSync service from your own grpc-js server
 * ```ts ignore
 * import * as grpc from "@grpc/grpc-js";
 * import { ensyncServiceDefinition } from "@syft/syft/ensync";
 * const server = new grpc.Server();
 * server.addService(ensyncServiceDefinition(), handlers);
 * ```
 */
export function ensyncServiceDefinition(): EnSyncServiceDefinition {
  if (cached) return cached;
  const pkg = fromJSON(protoDescriptor(), PROTO_LOADER_OPTIONS);
  const def = pkg[ENSYNC_SERVICE_NAME] as unknown as grpc.ServiceDefinition;
  const wrapped: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(def)) {
    const m = method as grpc.MethodDefinition<unknown, unknown>;
    wrapped[name] = {
      ...m,
      requestSerialize: (value: unknown) => toBuffer(m.requestSerialize(value)),
      responseSerialize: (value: unknown) => toBuffer(m.responseSerialize(value)),
    };
  }
  cached = wrapped as grpc.ServiceDefinition;
  return cached;
}

/**
 * The client constructor type for {@linkcode ensyncClientConstructor}.
 *
 * @example
 * ```ts
 * import { ensyncClientConstructor, type EnSyncGrpcClientConstructor } from "@syft/syft/ensync";
 * const Client: EnSyncGrpcClientConstructor = ensyncClientConstructor();
 * console.log(typeof Client);
 * ```
 */
export type EnSyncGrpcClientConstructor = grpc.ServiceClientConstructor;

/**
 * A grpc-js client constructor for `ensync.EnSyncService` (`new Ctor(target, credentials, options)`):
 * for talking to an engine with raw grpc-js calls, below `EnSyncClient`.
 *
 * @returns The constructor.
 *
 * @example
 * ```ts ignore
 * import * as grpc from "@grpc/grpc-js";
 * import { ensyncClientConstructor } from "@syft/syft/ensync";
 * const Client = ensyncClientConstructor();
 * const raw = new Client("127.0.0.1:50051", grpc.credentials.createInsecure());
 * raw.close();
 * ```
 */
export function ensyncClientConstructor(): EnSyncGrpcClientConstructor {
  return grpc.makeGenericClientConstructor(ensyncServiceDefinition(), "EnSyncService");
}

// ---- Wire shapes (as delivered by proto-loader with PROTO_LOADER_OPTIONS) -----------------------

/** `ConnectRequest`. */
export interface ConnectRequest {
  "access_key": string;
}
/** `ConnectResponse`. */
export interface ConnectResponse {
  success: boolean;
  "client_id": string;
  "client_hash": string;
  "server_config": Record<string, string>;
  "error_message": string;
}
/** `HeartbeatRequest`. */
export interface HeartbeatRequest {
  "client_id": string;
}
/** `HeartbeatResponse`. */
export interface HeartbeatResponse {
  success: boolean;
}
/** `PublishMessageRequest` (also the request of `PublishEvent`). */
export interface PublishMessageRequest {
  "client_id": string;
  "message_name": string;
  payload: string;
  "delivery_to": string;
  metadata: string;
  "payload_metadata"?: string;
}
/** `PublishMessageResponse`. */
export interface PublishMessageResponse {
  success: boolean;
  "message_idem": string;
  "error_message": string;
}
/** `SubscribeRequest` and `UnsubscribeRequest`. */
export interface SubscribeRequest {
  "client_id": string;
  "message_name": string;
}
/** `MessageStreamResponse`: one delivery on a `Subscribe` stream. int64 as a decimal string. */
export interface MessageStreamResponse {
  "message_idem": string;
  "message_name": string;
  payload: string;
  "partition_block": string | number;
  metadata: string;
  sender: string;
}
/** `AcknowledgeRequest`. */
export interface AcknowledgeRequest {
  "client_id": string;
  "message_idem": string;
  "message_name": string;
  "partition_block": string | number;
}
/** `DeferRequest`. */
export interface DeferRequest {
  "client_id": string;
  "message_idem": string;
  "message_name": string;
  "delay_ms": string | number;
  priority: number;
  reason: string;
}
/** `DeferResponse`. */
export interface DeferResponse {
  success: boolean;
  message: string;
  "delivery_time": string | number;
}
/** `DiscardRequest`. */
export interface DiscardRequest {
  "client_id": string;
  "message_idem": string;
  "message_name": string;
  reason: string;
}
/** `ReplayRequest`. */
export interface ReplayRequest {
  "client_id": string;
  "message_idem": string;
  "message_name": string;
}
/** `ReplayResponse`: `message_data` is the JSON of a `MessageStreamResponse` (snake_case keys). */
export interface ReplayResponse {
  success: boolean;
  message: string;
  "message_data": string;
}
/** `PauseRequest`. */
export interface PauseRequest {
  "client_id": string;
  "message_name": string;
  reason: string;
}
/** `ContinueRequest`. */
export interface ContinueRequest {
  "client_id": string;
  "message_name": string;
}
/** `{success, message}` responses: Unsubscribe, Acknowledge, Discard, Pause, Continue. */
export interface StatusResponse {
  success: boolean;
  message: string;
}
