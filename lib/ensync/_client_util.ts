/**
 * Helpers the EnSync client and its subscriptions share: event-name checks, error wrapping and
 * turning a delivered record into the decrypted event handlers receive.
 *
 * @module
 */
import type { EnvelopeDecryptor } from "./crypto.ts";
import { EnSyncError } from "./errors.ts";
import type { WireRecord } from "./protocol.ts";
import type { EnSyncEvent } from "./types.ts";

/** Limits of `defer()`, as the SDKs enforce them. */
export const MIN_DELAY_MS = 1000;
/** The longest `defer()` delay (24 h). */
export const MAX_DELAY_MS = 24 * 60 * 60 * 1000;

export function checkEventName(
  name: unknown,
  ErrorClass: typeof EnSyncError,
): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > 1024 || /[;\s]/.test(name)) {
    throw new ErrorClass(
      `Invalid event name ${
        JSON.stringify(name)
      }: it must be 1-1024 characters without ';' or whitespace`,
      { code: "INVALID_EVENT_NAME" },
    );
  }
}

export function freeText(text: string | undefined): string {
  // REASON is the last field of its command; keep it on one line.
  return (text ?? "").replace(/[\r\n]+/g, " ");
}

export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "object" ? "object" : typeof value;
}

export function wrap<E extends EnSyncError>(
  ErrorClass: new (message: string, options: { cause?: unknown; code?: string }) => E,
  message: string,
  cause: unknown,
): E {
  if (cause instanceof ErrorClass) return cause;
  const code = cause instanceof EnSyncError ? cause.code : undefined;
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new ErrorClass(`${message}${detail}`, { cause, ...(code ? { code } : {}) });
}

/** Decrypts a record into the event handed to handlers. */
export function toEvent(record: WireRecord, decryptor: EnvelopeDecryptor): EnSyncEvent {
  const payload = decryptor.openPayload(record.payload);
  const internal = record.metadata.$internal as { loggedAt?: unknown } | undefined;
  const timestamp = record.loggedAt ||
    (typeof internal?.loggedAt === "number" ? internal.loggedAt : 0) || Date.now();
  return {
    idem: record.idem,
    block: record.block,
    eventName: record.name,
    payload,
    timestamp,
    metadata: record.metadata,
    sender: record.sender,
  };
}
