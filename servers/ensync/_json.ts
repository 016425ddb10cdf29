/**
 * JSON string literals for the hand-built JSON of frames and stored events.
 *
 * @module
 */

/** Characters that never need escaping in a JSON string (ids, names, base64). */
const PLAIN_RE = /^[A-Za-z0-9+/=._~:*-]*$/;

/** A JSON string literal; text that needs no escaping (ids, names, base64) is quoted as is. */
export function jsonString(value: string): string {
  return PLAIN_RE.test(value) ? `"${value}"` : JSON.stringify(value);
}

/**
 * Quotes a payload without scanning it with a regex: the engine accepts only base64 payloads, so a
 * quote or backslash (the only characters to check cheaply on a large string) means it came
 * another way, and then it is escaped.
 */
export function quoteBase64(value: string): string {
  return value.indexOf('"') < 0 && value.indexOf("\\") < 0 ? `"${value}"` : JSON.stringify(value);
}
