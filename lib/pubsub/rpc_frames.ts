// deno-lint-ignore-file camelcase -- the wire shapes of fastapi_websocket_rpc are snake_case
/**
 * The frame codec of fastapi_websocket_rpc, which fastapi_websocket_pubsub runs over, shared by
 * the client (`fastapi_client.ts`) and the server (`servers/pubsub/`).
 *
 * Each text frame is a pydantic `RpcMessage`:
 * `{"request": {"method", "arguments", "call_id"} | null, "response": {"result", "result_type",
 * "call_id"} | null}` (not JSON-RPC 2.0). Frames are written the way Python writes them (pydantic
 * `.json()` is `json.dumps`): separators `", "` and `": "`, `ensure_ascii` escapes, fields in
 * pydantic's order. Reading accepts that form and the compact one.
 *
 * @module
 */
import { RpcFrameError } from "./fastapi_errors.ts";

/** The magic topic that subscribes to every topic (`event_notifier.ALL_TOPICS`). */
export const ALL_TOPICS = "__EventNotifier_ALL_TOPICS__";

/** A request: the other side is asked to run `method(**arguments)`. */
export interface RpcRequest {
  /** The method name. */
  method: string;
  /** Keyword arguments (`{}` when the peer sent none or `null`). */
  arguments: Record<string, unknown>;
  /** The id the response carries back (`null` when the peer sent none). */
  call_id: string | null;
}

/** A response to an earlier request. */
export interface RpcResponse {
  /** The method's return value. */
  result: unknown;
  /** Python's type name of the result (`"str"`, `"bool"`, ...), or `null`. */
  result_type: string | null;
  /** The id of the request this answers. */
  call_id: string | null;
  /**
   * syft's extension: how many received a sync publish (local subscribers plus other instances),
   * sent only to clients that asked for it on upgrade; absent from Python servers.
   */
  syft_receivers?: number;
}

/** One decoded frame; either side may be `null` (Python may send both in one frame). */
export interface RpcMessage {
  /** A call from the peer. */
  request: RpcRequest | null;
  /** An answer from the peer. */
  response: RpcResponse | null;
}

const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_ALL = /[\u007f-\uffff]/g;

function escapeChar(ch: string): string {
  return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * A JSON string literal as Python's `json.dumps` writes it (`ensure_ascii=True`): everything
 * outside 0x20–0x7E escaped, `\u` escapes in lower case, astral characters as surrogate pairs.
 */
export function pyString(value: string): string {
  const json = JSON.stringify(value);
  return NON_ASCII.test(json) ? json.replace(NON_ASCII_ALL, escapeChar) : json;
}

/**
 * A number as Python prints it after `json.loads`: safe integers as digits, other values as
 * `float.__repr__` (`1e-05`, `1e+16`).
 */
function pyNumber(value: number): string {
  // NaN and the infinities are not JSON; Python would write bare NaN / Infinity, which JSON
  // readers refuse. Write null, as JSON.stringify does.
  if (!Number.isFinite(value)) return "null";
  if (Number.isSafeInteger(value)) return String(value);
  const abs = Math.abs(value);
  // Positional in both languages (integral values up to 1e16 are written as ints).
  if (abs >= 1e-4 && abs < 1e16) return String(value);
  // Python: d.ddde±XX with at least two exponent digits (1e-05, 1.5e-07, 1e+300).
  const [mantissa, exponent] = value.toExponential().split("e") as [string, string];
  const sign = exponent.startsWith("-") ? "-" : "+";
  const digits = exponent.replace(/^[+-]/, "").padStart(2, "0");
  return `${mantissa}e${sign}${digits}`;
}

/**
 * Writes a value as Python's `json.dumps` does with its default separators (`", "`, `": "`)
 * and `ensure_ascii=True`. Like `JSON.stringify`, `undefined`, functions and symbols are left
 * out of objects (`null` in arrays), `toJSON()` is honoured, NaN and the infinities become
 * `null`; a `bigint` is written as its digits (a Python int).
 *
 * @param value Any JSON-like value.
 * @returns The JSON text.
 * @throws {RpcFrameError} `ENCODE` for a cyclic structure.
 */
export function pyJson(value: unknown): string {
  const seen = new Set<object>();
  const write = (v: unknown, inArray: boolean): string | undefined => {
    if (
      v !== null && typeof v === "object" &&
      typeof (v as { toJSON?: unknown }).toJSON === "function"
    ) {
      v = (v as { toJSON(): unknown }).toJSON();
    }
    switch (typeof v) {
      case "string":
        return pyString(v);
      case "number":
        return pyNumber(v);
      case "boolean":
        return v ? "true" : "false";
      case "bigint":
        return v.toString();
      case "undefined":
      case "function":
      case "symbol":
        return inArray ? "null" : undefined;
    }
    if (v === null) return "null";
    const obj = v as object;
    if (seen.has(obj)) {
      throw new RpcFrameError("ENCODE", "Cannot write the data as JSON: it contains a cycle");
    }
    seen.add(obj);
    let out: string;
    if (Array.isArray(obj)) {
      out = "[" + obj.map((item) => write(item, true)).join(", ") + "]";
    } else {
      const parts: string[] = [];
      for (const [key, item] of Object.entries(obj)) {
        const text = write(item, false);
        if (text !== undefined) parts.push(pyString(key) + ": " + text);
      }
      out = "{" + parts.join(", ") + "}";
    }
    seen.delete(obj);
    return out;
  };
  return write(value, false) ?? "null";
}

/**
 * Encodes a request frame, Python form.
 *
 * @param method The method to call on the other side.
 * @param args Its keyword arguments, in the order Python sends them.
 * @param callId The call id (32 hex characters, as `uuid4().hex`).
 * @returns The frame text, e.g.
 *   `{"request": {"method": "_ping_", "arguments": {}, "call_id": "..."}, "response": null}`.
 */
export function encodeRequest(
  method: string,
  args: Record<string, unknown>,
  callId: string,
): string {
  return `{"request": {"method": ${pyString(method)}, "arguments": ${pyJson(args)}, "call_id": ${
    pyString(callId)
  }}, "response": null}`;
}

/**
 * Encodes a response frame, Python form.
 *
 * @param callId The id of the request answered (`null` when it had none).
 * @param result The return value.
 * @param resultType Python's type name (`"str"`, `"bool"`); defaults to the type of `result`.
 * @returns The frame text, e.g.
 *   `{"request": null, "response": {"result": "pong", "result_type": "str", "call_id": "..."}}`.
 */
export function encodeResponse(
  callId: string | null,
  result: unknown,
  resultType: string = pythonTypeName(result),
  extra?: { syft_receivers: number },
): string {
  return `{"request": null, "response": {"result": ${pyJson(result)}, "result_type": ${
    pyString(resultType)
  }, "call_id": ${callId === null ? "null" : pyString(callId)}${
    extra === undefined ? "" : `, "syft_receivers": ${extra.syft_receivers}`
  }}}`;
}

/**
 * Encodes the server's `notify` call from parts already in JSON form, so a fan-out encodes the
 * data once.
 *
 * @param subscriptionId The subscription's id.
 * @param subscriberId The subscriber's channel id.
 * @param topicJson The topic, as `pyString(topic)`.
 * @param dataJson The data, as `pyJson(data)`.
 * @param callId The call id.
 * @returns The frame text.
 */
export function encodeNotify(
  subscriptionId: string,
  subscriberId: string,
  topicJson: string,
  dataJson: string,
  callId: string,
): string {
  return `{"request": {"method": "notify", "arguments": {"subscription": {"id": "${subscriptionId}", "subscriber_id": "${subscriberId}", "topic": ${topicJson}, "notifier_id": null}, "data": ${dataJson}}, "call_id": "${callId}"}, "response": null}`;
}

/**
 * Python's type name for a value, as fastapi_websocket_rpc reports `result_type`.
 *
 * @param value A result.
 * @returns `"str"`, `"bool"`, `"int"`, `"float"`, `"NoneType"`, `"list"` or `"dict"`.
 */
export function pythonTypeName(value: unknown): string {
  switch (typeof value) {
    case "string":
      return "str";
    case "boolean":
      return "bool";
    case "bigint":
      return "int";
    case "number":
      return Number.isInteger(value) ? "int" : "float";
  }
  if (value === null || value === undefined) return "NoneType";
  return Array.isArray(value) ? "list" : "dict";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** pydantic v1 coerces numbers to `str` for `Optional[str]` fields; do the same. */
function optionalId(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * Decodes one text frame.
 *
 * @param text The frame text (Python or compact form).
 * @returns The request and/or response it carries.
 * @throws {RpcFrameError} When it is not JSON, not an object, carries neither a request nor a
 *   response, or either is malformed.
 */
export function decodeRpcMessage(text: string): RpcMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RpcFrameError("NOT_JSON", `The frame is not JSON: ${preview(text)}`, { cause: err });
  }
  if (!isObject(parsed)) {
    throw new RpcFrameError("NOT_AN_OBJECT", `The frame is not a JSON object: ${preview(text)}`);
  }
  const { request: rawRequest, response: rawResponse } = parsed;
  let request: RpcRequest | null = null;
  let response: RpcResponse | null = null;
  if (rawRequest !== undefined && rawRequest !== null) {
    if (!isObject(rawRequest) || typeof rawRequest.method !== "string") {
      throw new RpcFrameError(
        "BAD_REQUEST",
        `The request has no string "method": ${preview(text)}`,
      );
    }
    const args = rawRequest.arguments ?? {};
    if (!isObject(args)) {
      throw new RpcFrameError(
        "BAD_REQUEST",
        `The request's "arguments" is not an object: ${preview(text)}`,
      );
    }
    const callId = optionalId(rawRequest.call_id);
    if (callId === undefined) {
      throw new RpcFrameError(
        "BAD_REQUEST",
        `The request's "call_id" is not a string: ${preview(text)}`,
      );
    }
    request = { method: rawRequest.method, arguments: args, call_id: callId };
  }
  if (rawResponse !== undefined && rawResponse !== null) {
    if (!isObject(rawResponse)) {
      throw new RpcFrameError("BAD_RESPONSE", `The response is not an object: ${preview(text)}`);
    }
    const callId = optionalId(rawResponse.call_id);
    const type = rawResponse.result_type ?? null;
    if (callId === undefined || (type !== null && typeof type !== "string")) {
      throw new RpcFrameError(
        "BAD_RESPONSE",
        `The response has a bad "call_id" or "result_type": ${preview(text)}`,
      );
    }
    response = { result: rawResponse.result ?? null, result_type: type, call_id: callId };
    const receivers = rawResponse.syft_receivers;
    if (typeof receivers === "number" && Number.isInteger(receivers) && receivers >= 0) {
      response.syft_receivers = receivers;
    }
  }
  if (request === null && response === null) {
    throw new RpcFrameError(
      "EMPTY_MESSAGE",
      `The frame carries neither a request nor a response: ${preview(text)}`,
    );
  }
  return { request, response };
}

/** The first 120 characters of a frame, for messages and logs. */
export function preview(text: string): string {
  return text.length > 120 ? JSON.stringify(text.slice(0, 120)) + "…" : JSON.stringify(text);
}

/**
 * Makes call ids shaped like Python's `uuid4().hex` (32 lower-case hex characters): a random
 * prefix per factory and a counter, unique without a random draw per call.
 *
 * @returns A function returning a fresh id on each call.
 */
export function callIdFactory(): () => string {
  const prefix = crypto.randomUUID().replaceAll("-", "").slice(0, 20);
  let counter = 0;
  return () => prefix + (counter++).toString(16).padStart(12, "0");
}

/**
 * A fresh random id shaped like `uuid4().hex`.
 *
 * @returns 32 lower-case hex characters.
 */
export function randomHexId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}
