/**
 * Typed errors of the WebSocket hub and the part's error codes, all in one union
 * ({@linkcode HubErrorCode}; each error class narrows it). Each error carries a stable `code` and,
 * where one exists, the underlying `cause`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";

/**
 * The codes of every error of the hub part, in one union: the hub's own (`HUB_ERROR`,
 * `HUB_OPTIONS` for an option out of range, `HUB_REGISTER` for a bad handler), a refused frame's
 * ({@linkcode FrameErrorCode}), the `error` lifecycle event's ({@linkcode HubErrorEventCode}),
 * `FRAME_ENCODE` for an event that cannot be encoded, the client's ({@linkcode ZapClientErrorCode})
 * and `HUB_REDIS` for the Redis adapter. Each error class narrows `code` to its subset.
 *
 * @example
 * ```ts
 * import type { HubErrorCode } from "@syft/syft/hub";
 * const code: HubErrorCode = "HUB_OPTIONS";
 * console.log(code);
 * ```
 */
export type HubErrorCode =
  | "HUB_ERROR"
  | "HUB_OPTIONS"
  | "HUB_REGISTER"
  | "FRAME_ENCODE"
  | "HUB_REDIS"
  | HubErrorEventCode
  | ZapClientErrorCode;

/**
 * Why an incoming frame was refused. These codes are also the `code` of the `error` event a hub
 * sends back to the peer that sent the frame.
 *
 * @example
 * ```ts
 * import type { FrameErrorCode } from "@syft/syft/hub";
 * const code: FrameErrorCode = "INVALID_JSON";
 * console.log(code);
 * ```
 */
export type FrameErrorCode =
  | "INVALID_JSON"
  | "NOT_AN_OBJECT"
  | "MISSING_EVENT_NAME"
  | "INVALID_EVENT_NAME"
  | "INVALID_HEADERS"
  | "BINARY_FRAME"
  | "FRAME_TOO_LARGE";

/**
 * Why the `error` lifecycle event fired (the `code` of its {@linkcode HubErrorInfo} payload): a
 * refused frame ({@linkcode FrameErrorCode}), a handler that failed, an event without a handler,
 * a full send buffer or event queue, or a socket error.
 *
 * @example
 * ```ts
 * import type { HubErrorEventCode } from "@syft/syft/hub";
 * const code: HubErrorEventCode = "HANDLER_ERROR";
 * console.log(code);
 * ```
 */
export type HubErrorEventCode =
  | "HANDLER_ERROR"
  | "UNKNOWN_EVENT"
  | FrameErrorCode
  | "SEND_BUFFER_OVERFLOW"
  | "EVENT_QUEUE_OVERFLOW"
  | "SOCKET_ERROR";

/**
 * Why a {@linkcode ZapClient} operation failed: it could not connect, the hub refused the
 * connection with 401 or 403, the client was closed, or its offline queue is full.
 *
 * @example
 * ```ts
 * import type { ZapClientErrorCode } from "@syft/syft/hub";
 * const code: ZapClientErrorCode = "QUEUE_FULL";
 * console.log(code);
 * ```
 */
export type ZapClientErrorCode = "CONNECT_FAILED" | "UNAUTHORIZED" | "CLIENT_CLOSED" | "QUEUE_FULL";

/**
 * Options of {@linkcode HubError}.
 *
 * @example
 * ```ts
 * import { HubError, type HubErrorOptions } from "@syft/syft/hub";
 * const options: HubErrorOptions = { code: "HUB_OPTIONS", cause: new RangeError("0") };
 * console.log(new HubError("Cannot use maxFrameBytes 0", options).code); // HUB_OPTIONS
 * ```
 */
export interface HubErrorOptions {
  /** The code (default `HUB_ERROR`). */
  code?: HubErrorCode;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Base class of every hub error.
 *
 * @example Catch any hub error
 * ```ts
 * import { HubError } from "@syft/syft/hub";
 * try {
 *   throw new HubError("Cannot start the hub: maxFrameBytes is 0", { code: "HUB_OPTIONS" });
 * } catch (err) {
 *   if (err instanceof HubError) console.error(err.code, err.message);
 * }
 * ```
 */
export class HubError extends SyftError {
  /** What went wrong, as a stable code (one of {@linkcode HubErrorCode}). */
  declare readonly code: HubErrorCode;

  /**
   * Creates the error.
   *
   * @param message What went wrong, in one sentence.
   * @param options A stable code and the underlying error.
   */
  constructor(message: string, options: HubErrorOptions = {}) {
    super(message, { code: options.code ?? "HUB_ERROR", cause: options.cause });
    this.name = "HubError";
  }
}

/**
 * A frame that does not follow the zaptools wire format (`{eventName, payload, headers}` as one
 * JSON text frame), or is too large.
 *
 * @example Tell a peer what was wrong
 * ```ts
 * import { decodeFrame, FrameError } from "@syft/syft/hub";
 * try {
 *   decodeFrame('{"payload": 1}');
 * } catch (err) {
 *   if (err instanceof FrameError) console.log(err.code, err.message); // MISSING_EVENT_NAME ...
 * }
 * ```
 */
export class FrameError extends HubError {
  /** Why the frame was refused. */
  override readonly code: FrameErrorCode;

  /**
   * Creates the error.
   *
   * @param code Why the frame was refused.
   * @param message A sentence naming the problem.
   * @param options The underlying error (such as the `SyntaxError` of `JSON.parse`).
   */
  constructor(code: FrameErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { code, cause: options.cause });
    this.name = "FrameError";
    this.code = code;
  }
}

/**
 * An event that cannot be encoded as a frame: its payload or headers are not JSON-serialisable
 * (a `BigInt`, a cycle), or its name is not a non-empty string.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameEncodeError } from "@syft/syft/hub";
 * try {
 *   encodeFrame("tick", { n: 1n });
 * } catch (err) {
 *   if (err instanceof FrameEncodeError) console.log(err.message);
 * }
 * ```
 */
export class FrameEncodeError extends HubError {
  /**
   * Creates the error.
   *
   * @param message What could not be encoded.
   * @param options The underlying error from `JSON.stringify`.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "FRAME_ENCODE", cause: options.cause });
    this.name = "FrameEncodeError";
  }
}

/**
 * A {@linkcode ZapClient} operation failed: it could not connect (`code` `"CONNECT_FAILED"`), the
 * hub refused the connection with 401 or 403 (`"UNAUTHORIZED"`: a token is needed), it was closed
 * (`"CLIENT_CLOSED"`), or its offline queue is full (`"QUEUE_FULL"`).
 *
 * @example
 * ```ts
 * import { createZapClient, ZapClientError } from "@syft/syft/hub";
 * const client = createZapClient({ reconnect: false });
 * try {
 *   await client.connect("ws://127.0.0.1:9/ws");
 * } catch (err) {
 *   if (err instanceof ZapClientError) console.log(err.code); // CONNECT_FAILED
 * }
 * ```
 */
export class ZapClientError extends HubError {
  /** Why it failed. */
  declare readonly code: ZapClientErrorCode;

  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options A stable code and the underlying error.
   */
  constructor(
    message: string,
    options: {
      code: ZapClientErrorCode;
      cause?: unknown;
    },
  ) {
    super(message, options);
    this.name = "ZapClientError";
  }
}

/**
 * The Redis scale-out adapter could not connect, subscribe or publish.
 *
 * @example
 * ```ts
 * import { connectRedisAdapter, RedisAdapterError } from "@syft/syft/hub";
 * try {
 *   await connectRedisAdapter("redis://127.0.0.1:1", { connectTimeoutMs: 500 });
 * } catch (err) {
 *   if (err instanceof RedisAdapterError) console.log(err.message);
 * }
 * ```
 */
export class RedisAdapterError extends HubError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options The underlying ioredis error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "HUB_REDIS", cause: options.cause });
    this.name = "RedisAdapterError";
  }
}
