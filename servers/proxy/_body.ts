/**
 * Body encoding between HTTP JSON and file-RPC bytes (private).
 *
 * @module
 */

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

let lastObject: object | undefined;
let lastBytes: Uint8Array = new Uint8Array();

/**
 * The UTF-8 of `JSON.stringify(value)`. The bytes of the last object are kept: validation measures
 * the body that the handler then sends (nothing changes a parsed body in between), so a request's
 * body is encoded once.
 */
export function jsonBytes(value: unknown): Uint8Array {
  if (value === lastObject && value !== undefined) return lastBytes;
  const bytes = encoder.encode(JSON.stringify(value));
  if (typeof value === "object" && value !== null) {
    lastObject = value;
    lastBytes = bytes;
  }
  return bytes;
}

/** Seed API: `params` become a JSON body; absent params mean no body. */
export function paramsToBody(params: unknown): Uint8Array | null {
  return params === undefined ? null : jsonBytes(params);
}

/** Real package: a string is sent as UTF-8 (not JSON-quoted), `null` as no body, else JSON. */
export function rpcBodyToBytes(body: unknown): Uint8Array | null {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return encoder.encode(body);
  return jsonBytes(body);
}

/** Decodes a wire body (URL-safe or standard base64, padded or not) to bytes. */
export function wireBodyBytes(body: string | null | undefined): Uint8Array | null {
  if (body === null || body === undefined) return null;
  const normalised = body.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return Uint8Array.fromBase64(normalised, { alphabet: "base64url", lastChunkHandling: "loose" });
}

/** Encodes bytes as a wire body: URL-safe base64 with padding. */
export function bytesToWireBody(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : bytes.toBase64({ alphabet: "base64url" });
}

/** The text of a wire body (`""` when empty; base64 when it is not UTF-8). */
export function wireBodyText(body: string | null | undefined): string {
  const bytes = wireBodyBytes(body);
  if (bytes === null) return "";
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return bytes.toBase64();
  }
}

/** A wire body as a value: JSON when it parses, else its text, `null` when there is none. */
export function wireBodyValue(body: string | null | undefined): unknown {
  if (body === null || body === undefined) return null;
  const text = wireBodyText(body);
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
