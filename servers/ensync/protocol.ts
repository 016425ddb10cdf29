/**
 * How the engine writes its messages: `+PASS:` replies with fields, `+RECORD:` / `+REPLAY:` frames
 * on WebSocket and `MessageStreamResponse` objects on gRPC. Commands are parsed with the shared
 * `parseCommand` of `@syft/syft/ensync`, so the client and the engine read the wire the same way.
 *
 * @module
 */
import { jsonString, quoteBase64 } from "./_json.ts";
import type { StoredEvent } from "./store.ts";

/** Replaces the characters that would split a reply field. */
function clean(value: string): string {
  return /[;\r\n]/.test(value) ? value.replace(/[;\r\n]/g, " ") : value;
}

/**
 * Formats a success reply: `+PASS:BODY;KEY=value;...` (the documented shapes, such as
 * `+PASS:PUBLISHED;IDEM=..;TIMESTAMP=..`).
 *
 * @param body The first part, such as `SUBSCRIBED`.
 * @param fields Extra fields.
 * @returns The frame.
 *
 * @example
 * ```ts
 * import { passReply } from "@syft/syft/ensync/engine";
 * console.log(passReply("ACKNOWLEDGED", { IDEM: "e1" })); // +PASS:ACKNOWLEDGED;IDEM=e1
 * ```
 */
export function passReply(body: string, fields: Record<string, string | number> = {}): string {
  let out = `+PASS:${body}`;
  for (const key in fields) out += `;${key}=${clean(String(fields[key]))}`;
  return out;
}

/** The `$internal.replay_info` the engine adds to a replayed event's metadata. */
export interface ReplayInfo {
  /** Always true. */
  isReplayed: true;
  /** When it was replayed (ms). */
  replayTimestamp: number;
  /** Whether the event had been acknowledged. */
  wasAcknowledged: boolean;
}

/**
 * Returns the event's metadata JSON with `$internal.replay_info` merged in.
 *
 * @param metadata The stored metadata JSON.
 * @param info The replay info.
 * @returns The new metadata JSON.
 *
 * @example
 * ```ts
 * import { metadataWithReplayInfo } from "@syft/syft/ensync/engine";
 * const meta = metadataWithReplayInfo('{"persist":true}', {
 *   isReplayed: true,
 *   replayTimestamp: 0,
 *   wasAcknowledged: true,
 * });
 * console.log(JSON.parse(meta).$internal.replay_info.wasAcknowledged); // true
 * ```
 */
export function metadataWithReplayInfo(metadata: string, info: ReplayInfo): string {
  let meta: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(metadata);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) meta = parsed;
  } catch { /* stored metadata was validated at publish; fall back to {} */ }
  const internal = meta.$internal && typeof meta.$internal === "object"
    ? meta.$internal as Record<string, unknown>
    : {};
  return JSON.stringify({ ...meta, $internal: { ...internal, "replay_info": info } });
}

/**
 * Formats a WebSocket delivery: `+RECORD:{"id","idem","name","block","loggedAt","payload",
 * "metadata","sender"}` with `metadata` as an object, the shape every SDK reads (`0.0.18` reads
 * `id`, the others `idem`). The stored metadata JSON is spliced in as is, so a delivery costs no
 * JSON parse.
 *
 * @param event The stored event.
 * @param kind `RECORD` for a push, `REPLAY` for the reply to `REPLAY`.
 * @param metadata Metadata JSON to send instead of the stored one (replay info).
 * @returns The frame.
 *
 * @example
 * ```ts
 * import { recordFrame } from "@syft/syft/ensync/engine";
 * const frame = recordFrame({
 *   idem: "e1", block: 1, app: "r", name: "a/b", payload: "e30=", metadata: "{}",
 *   sender: "s", loggedAt: 0, persist: true,
 * });
 * console.log(frame.startsWith("+RECORD:{")); // true
 * ```
 */
export function recordFrame(
  event: StoredEvent,
  kind: "RECORD" | "REPLAY" = "RECORD",
  metadata?: string,
): string {
  const idem = jsonString(event.idem);
  return `+${kind}:{"id":${idem},"idem":${idem},"name":${
    jsonString(event.name)
  },"block":${event.block},"loggedAt":${event.loggedAt},"payload":${
    quoteBase64(event.payload)
  },"metadata":${metadata ?? event.metadata},"sender":${jsonString(event.sender)}}`;
}

/** A gRPC `MessageStreamResponse` as the engine writes it. */
export interface GrpcStreamMessage {
  /** The idem. */
  "message_idem": string;
  /** The concrete name. */
  "message_name": string;
  /** The base64 envelope. */
  payload: string;
  /** The block (int64, as a decimal string). */
  "partition_block": string;
  /** Metadata as a JSON string. */
  metadata: string;
  /** The sender app id. */
  sender: string;
}

/**
 * Builds the gRPC form of a delivery (`MessageStreamResponse`); metadata is a JSON string, as the
 * Node and Go SDKs expect. `$internal.loggedAt` carries the publish time (gRPC has no field for it).
 *
 * @param event The stored event.
 * @param metadata Metadata JSON to send instead of the stored one.
 * @returns The message object.
 *
 * @example
 * ```ts
 * import { grpcMessage } from "@syft/syft/ensync/engine";
 * const msg = grpcMessage({
 *   idem: "e1", block: 3, app: "r", name: "a/b", payload: "e30=", metadata: "{}",
 *   sender: "s", loggedAt: 0, persist: true,
 * });
 * console.log(msg.partition_block); // "3"
 * ```
 */
export function grpcMessage(event: StoredEvent, metadata?: string): GrpcStreamMessage {
  return {
    "message_idem": event.idem,
    "message_name": event.name,
    payload: event.payload,
    "partition_block": String(event.block),
    metadata: metadata ?? withLoggedAt(event.metadata, event.loggedAt),
    sender: event.sender,
  };
}

/**
 * Adds `$internal.loggedAt` to metadata JSON (for gRPC deliveries, which have no timestamp field).
 *
 * @param metadata The metadata JSON (an object).
 * @param loggedAt When the engine logged the event (ms).
 * @returns The new metadata JSON.
 *
 * @example
 * ```ts
 * import { withLoggedAt } from "@syft/syft/ensync/engine";
 * console.log(withLoggedAt("{}", 5)); // {"$internal":{"loggedAt":5}}
 * ```
 */
export function withLoggedAt(metadata: string, loggedAt: number): string {
  // Fast path for the common object shape: splice before the closing brace.
  const text = metadata.trimEnd();
  if (!text.startsWith("{") || !text.endsWith("}") || text.includes('"$internal"')) {
    try {
      const meta = JSON.parse(metadata);
      if (!meta || typeof meta !== "object" || Array.isArray(meta)) return metadata;
      meta.$internal = { ...(meta.$internal ?? {}), loggedAt };
      return JSON.stringify(meta);
    } catch {
      return metadata;
    }
  }
  const inner = text.slice(1, -1).trim();
  return `{${inner}${inner ? "," : ""}"$internal":{"loggedAt":${loggedAt}}}`;
}

/**
 * The JSON the gRPC `ReplayMessage` returns in `message_data`: exactly the keys the Node SDK reads
 * and Go's protojson accepts (`message_idem`, `message_name`, `payload`, `partition_block`,
 * `metadata` as a string, `sender`).
 *
 * @param event The stored event.
 * @param metadata The metadata JSON to include.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { grpcReplayData } from "@syft/syft/ensync/engine";
 * const data = grpcReplayData({
 *   idem: "e1", block: 3, app: "r", name: "a/b", payload: "e30=", metadata: "{}",
 *   sender: "s", loggedAt: 0, persist: true,
 * }, "{}");
 * console.log(JSON.parse(data).message_idem); // "e1"
 * ```
 */
export function grpcReplayData(event: StoredEvent, metadata: string): string {
  return JSON.stringify({
    "message_idem": event.idem,
    "message_name": event.name,
    payload: event.payload,
    "partition_block": String(event.block),
    metadata,
    sender: event.sender,
  });
}
