/**
 * The zaptools wire format: one WebSocket text frame per event, holding one JSON object
 * `{"eventName", "payload", "headers"}`.
 *
 * Sending is conservative (always `eventName`, `payload` with `null` when there is none, and
 * `headers` as an object) so every historical peer can read it; receiving accepts every variant
 * the reference implementations send (no `payload`; no `headers`, or `headers: null`).
 *
 * @module
 */
import { FrameEncodeError, FrameError } from "./errors.ts";

/**
 * Per-event application metadata: a flat JSON object (not HTTP headers).
 *
 * @example
 * ```ts
 * import type { EventHeaders } from "@syft/syft/hub";
 * const headers: EventHeaders = { room: "lobby", traceId: "t-1" };
 * console.log(headers.room); // lobby
 * ```
 */
export type EventHeaders = Record<string, unknown>;

/**
 * One decoded event.
 *
 * @example
 * ```ts
 * import { decodeFrame, type EventData } from "@syft/syft/hub";
 * const event: EventData = decodeFrame('{"eventName":"chat","payload":"hi"}');
 * console.log(event); // { eventName: "chat", payload: "hi", headers: {} }
 * ```
 */
export interface EventData {
  /** The event name (a non-empty string). */
  eventName: string;
  /** Any JSON value; `null` when the frame had none. */
  payload: unknown;
  /** Always an object; `{}` when the frame had none or `null`. */
  headers: EventHeaders;
}

/**
 * The default largest incoming frame a hub accepts: 1 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_FRAME_BYTES } from "@syft/syft/hub";
 * console.log(DEFAULT_MAX_FRAME_BYTES); // 1048576
 * ```
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Encodes one event as the text of a frame: `{"eventName":…,"payload":…,"headers":{…}}` with
 * `payload` `null` and `headers` `{}` when not given.
 *
 * @param eventName The event name; must be a non-empty string.
 * @param payload Any JSON-serialisable value (default `null`).
 * @param headers Application metadata (default `{}`).
 * @returns The frame text, ready for `WebSocket.send()`.
 * @throws {FrameEncodeError} When the name is empty or the payload or headers cannot be encoded.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "@syft/syft/hub";
 * encodeFrame("greet", { name: "Ada" });
 * // '{"eventName":"greet","payload":{"name":"Ada"},"headers":{}}'
 * ```
 */
export function encodeFrame(
  eventName: string,
  payload: unknown = null,
  headers: EventHeaders | null = null,
): string {
  if (typeof eventName !== "string" || eventName === "") {
    throw new FrameEncodeError(
      `Cannot encode event: the event name must be a non-empty string, got ${describe(eventName)}`,
    );
  }
  try {
    return JSON.stringify({
      eventName,
      payload: payload === undefined ? null : payload,
      headers: headers ?? {},
    });
  } catch (err) {
    throw new FrameEncodeError(
      `Cannot encode event "${eventName}": ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/**
 * Decodes the text of a frame, accepting every variant zaptools peers send: a missing `payload`
 * becomes `null`; a missing or `null` `headers` becomes `{}`.
 *
 * @param text The text of one WebSocket text frame.
 * @returns The event.
 * @throws {FrameError} When the text is not JSON (`INVALID_JSON`), not an object
 * (`NOT_AN_OBJECT`), lacks `eventName` (`MISSING_EVENT_NAME`), has a non-string or empty
 * `eventName` (`INVALID_EVENT_NAME`), or has `headers` that are not an object (`INVALID_HEADERS`).
 *
 * @example
 * ```ts
 * import { decodeFrame } from "@syft/syft/hub";
 * const event = decodeFrame('{"eventName": "empty-event"}');
 * console.log(event); // { eventName: "empty-event", payload: null, headers: {} }
 * ```
 */
export function decodeFrame(text: string): EventData {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FrameError(
      "INVALID_JSON",
      `Cannot parse frame: invalid JSON (${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new FrameError(
      "NOT_AN_OBJECT",
      `Cannot use frame: expected a JSON object with "eventName", got ${describe(raw)}`,
    );
  }
  const obj = raw as Record<string, unknown>;
  const eventName = obj.eventName;
  if (eventName === undefined) {
    throw new FrameError("MISSING_EVENT_NAME", 'Cannot use frame: "eventName" is missing');
  }
  if (typeof eventName !== "string") {
    throw new FrameError(
      "INVALID_EVENT_NAME",
      `Cannot use frame: "eventName" must be a string, got ${describe(eventName)}`,
    );
  }
  if (eventName === "") {
    throw new FrameError("INVALID_EVENT_NAME", 'Cannot use frame: "eventName" is empty');
  }
  const h = obj.headers;
  let headers: EventHeaders;
  if (h === undefined || h === null) headers = {};
  else if (typeof h === "object" && !Array.isArray(h)) headers = h as EventHeaders;
  else {
    throw new FrameError(
      "INVALID_HEADERS",
      `Cannot use frame: "headers" must be an object or null, got ${describe(h)}`,
    );
  }
  const payload = obj.payload;
  return { eventName, payload: payload === undefined ? null : payload, headers };
}

/**
 * Returns the UTF-8 byte length of `text` without encoding it.
 *
 * @param text Any string.
 * @returns The number of bytes `TextEncoder` would produce (lone surrogates count as 3).
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Returns whether `text` is longer than `maxBytes` in UTF-8, counting bytes only when the length
 * in UTF-16 units cannot decide it (a UTF-16 unit is 1 to 3 UTF-8 bytes).
 *
 * @param text The frame text.
 * @param maxBytes The limit in bytes.
 * @returns `true` when the UTF-8 encoding of `text` exceeds `maxBytes`.
 */
export function exceedsBytes(text: string, maxBytes: number): boolean {
  const n = text.length;
  if (n * 3 <= maxBytes) return false;
  if (n > maxBytes) return true;
  return utf8Length(text) > maxBytes;
}

/** Names a JSON value's type for error messages: `number 42`, `array`, `null`. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}
