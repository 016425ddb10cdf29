/**
 * The eventhive 0.5.0 message envelope, byte-compatible with what the Python original writes and
 * reads:
 *
 * - plain: the payload object plus metadata `{time, version, event, id}` under `__eventhive__`,
 *   written as Python's `json.dumps` writes it;
 * - with a secret: `__sign__` = HMAC-SHA1(K, canonical JSON) is added, the canonical text is
 *   encrypted with AES-128-CTR (K = SHA-256(secret)[:16]) and the wire carries
 *   `{"iv": "<base64>", "ciphertext": "<base64>"}`.
 *
 * Reading verifies a signature by removing the top-level `__sign__` member from the decrypted
 * canonical text (so floats and Unicode are never re-formatted), falling back to a lossless
 * re-canonicalisation for senders that laid the text out differently. Anything malformed yields a
 * {@linkcode DropReason}, never an exception.
 *
 * @module
 */
import { pyParse } from "./_pyjson.ts";
import { decodeWith, encodeWith, keysFor } from "./_envelope.ts";

/** The metadata key eventhive uses by default. */
export const DEFAULT_METADATA_KEY = "__eventhive__";
/** The eventhive version syft writes into metadata (the wire format it speaks). */
export const EVENTHIVE_VERSION = "0.5.0";

/** The metadata eventhive adds to every message (syft adds the optional reply fields). */
export interface EventMetadata {
  /** Seconds since the epoch (Python `time.time()`). */
  time: number;
  /** The eventhive version of the sender. */
  version: string;
  /** The full event name, network included. */
  event: string;
  /** A UUID (v4) per message. */
  id: string;
  /** syft: the channel a reply to this request goes to (old peers ignore it). */
  "reply_to"?: string;
  /** syft: the id of the request this message answers. */
  "in_reply_to"?: string;
}

/**
 * Why an incoming message was dropped. Malformed input: `not_json`, `not_object` (a JSON list,
 * string, number), `bad_base64` (an `iv` or `ciphertext` that is not padded base64, or an IV that
 * is not 16 bytes), `bad_key` (decrypts to something that is not JSON: a wrong secret),
 * `bad_signature`, `unsigned` (plaintext or a missing `__sign__` at a receiver with a secret),
 * `encrypted` (an encrypted message at a receiver without a secret), `bad_metadata` (metadata
 * that is not an object, or without an `id`). Policy: `duplicate` (an id seen recently), `stale`
 * (older than the maximum age), `own` (sent by this hive, with `receiveOwn` off),
 * `unknown_event` (no handler), `wrong_channel` (outside the connector's input channel).
 */
export type DropReason =
  | "not_json"
  | "not_object"
  | "bad_base64"
  | "bad_key"
  | "bad_signature"
  | "unsigned"
  | "encrypted"
  | "bad_metadata"
  | "duplicate"
  | "stale"
  | "own"
  | "unknown_event"
  | "wrong_channel";

/** Every {@linkcode DropReason}, in a stable order (for counters). */
export const DROP_REASONS: readonly DropReason[] = [
  "not_json",
  "not_object",
  "bad_base64",
  "bad_key",
  "bad_signature",
  "unsigned",
  "encrypted",
  "bad_metadata",
  "duplicate",
  "stale",
  "own",
  "unknown_event",
  "wrong_channel",
];

/** Options of {@linkcode encodeMessage}. */
export interface EncodeOptions {
  /** The key metadata goes under (default `__eventhive__`). */
  metadataKey?: string;
  /** The metadata, or `null` to add none (eventhive's `remove_metadata: true`). */
  metadata: EventMetadata | null;
  /** Sign and encrypt with this secret (absent or empty: plaintext). */
  secret?: string;
  /** The IV to encrypt with (default: 16 random bytes; give one only for test vectors). */
  iv?: Uint8Array;
}

/** Options of {@linkcode decodeMessage}. */
export interface DecodeOptions {
  /** The receiver's secret (absent or empty: plaintext only). */
  secret?: string;
  /** Also accept eventhive <= 0.3.2 messages: plaintext signed with the raw secret. */
  acceptLegacy?: boolean;
}

/** The outcome of {@linkcode decodeMessage}. */
export type DecodeResult =
  | {
    /** The message was accepted. */
    ok: true;
    /** The message object (payload and metadata; `__sign__` removed). */
    message: Record<string, unknown>;
    /** Whether it carried a valid signature. */
    signed: boolean;
  }
  | {
    /** The message was dropped. */
    ok: false;
    /** Why. */
    reason: DropReason;
    /** A sentence for the log. */
    detail: string;
  };

/**
 * Reads JSON text as Python's `json.loads` does, the way eventhive peers write payloads: `NaN`,
 * `Infinity` and `-Infinity` are accepted, and integers beyond 2^53 stay exact (`bigint`).
 *
 * @param text The JSON text.
 * @returns The value.
 * @throws {SyntaxError} When the text is not JSON (the message gives the position).
 *
 * @example
 * ```ts
 * import { parseEventJson } from "@syft/syft/pubsub";
 * console.log(parseEventJson('{"n": NaN, "big": 12345678901234567890}'));
 * // { n: NaN, big: 12345678901234567890n }
 * ```
 */
export function parseEventJson(text: string): unknown {
  return pyParse(text);
}

/**
 * Writes one message as eventhive 0.5.0 does. The payload object is never changed.
 *
 * @param payload The event's payload (a JSON object).
 * @param options Metadata, metadata key and secret.
 * @returns The wire text (what goes to `PUBLISH` or into a fastapi publish's `data`).
 * @throws {TypeError} When the payload holds something JSON cannot (a cycle, a symbol).
 *
 * @example Plain and with a secret
 * ```ts
 * import { encodeMessage } from "@syft/syft/pubsub";
 * const metadata = { time: 1680610165.4884348, version: "0.5.0", event: "net/worker/work", id: crypto.randomUUID() };
 * const plain = encodeMessage({ work: "heavy load" }, { metadata });
 * // {"work": "heavy load", "__eventhive__": {"time": 1680610165.4884348, ...}}
 * const sealed = encodeMessage({ work: "heavy load" }, { metadata, secret: "s3cret" });
 * // {"iv": "...", "ciphertext": "..."}
 * ```
 */
export function encodeMessage(payload: Record<string, unknown>, options: EncodeOptions): string {
  const keys = options.secret ? keysFor(options.secret) : undefined;
  return encodeWith(
    payload,
    options.metadataKey ?? DEFAULT_METADATA_KEY,
    options.metadata,
    keys,
    options.iv,
  );
}

/**
 * Reads one message as eventhive 0.5.0 does, but never throws: anything malformed is reported
 * with a {@linkcode DropReason}. Accepts what Python writes: bare `NaN` / `Infinity`, integers
 * beyond 2^53 (as `bigint`), `1e-05` floats.
 *
 * @param text The wire text.
 * @param options The receiver's secret; `acceptLegacy` for eventhive <= 0.3.2 signed plaintext.
 * @returns The message, or why it was dropped.
 *
 * @example Decode what a Python peer wrote
 * ```ts
 * import { decodeMessage } from "@syft/syft/pubsub";
 * const result = decodeMessage('{"work": "heavy load", "__eventhive__": {"time": 1.5, "version": "0.5.0", "event": "net/worker/work", "id": "x"}}');
 * if (result.ok) console.log(result.message.work);
 * else console.log(result.reason);
 * ```
 */
export function decodeMessage(text: string, options: DecodeOptions = {}): DecodeResult {
  return decodeWith(
    text,
    options.secret ? keysFor(options.secret) : undefined,
    options.acceptLegacy === true,
  );
}
