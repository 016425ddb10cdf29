/**
 * Typed errors of the WebSocket hub. Each carries a stable `code` and, where one exists, the
 * underlying `cause`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";

/**
 * Base class of every hub error.
 *
 * @example Catch any hub error
 * ```ts
 * import { HubError } from "@syft/syft/hub";
 * try {
 *   throw new HubError("Cannot start the hub: port in use", { code: "HUB_START" });
 * } catch (err) {
 *   if (err instanceof HubError) console.error(err.code, err.message);
 * }
 * ```
 */
export class HubError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message What went wrong, in one sentence.
   * @param options A stable code and the underlying error.
   */
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? "HUB_ERROR", cause: options.cause });
    this.name = "HubError";
  }
}

/**
 * Why an incoming frame was refused. These codes are also the `code` of the `error` event a hub
 * sends back to the peer that sent the frame.
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
 * import { ZapClient, ZapClientError } from "@syft/syft/hub";
 * const client = new ZapClient({ reconnect: false });
 * try {
 *   await client.connect("ws://127.0.0.1:9/ws");
 * } catch (err) {
 *   if (err instanceof ZapClientError) console.log(err.code); // CONNECT_FAILED
 * }
 * ```
 */
export class ZapClientError extends HubError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options A stable code and the underlying error.
   */
  constructor(
    message: string,
    options: {
      code: "CONNECT_FAILED" | "UNAUTHORIZED" | "CLIENT_CLOSED" | "QUEUE_FULL";
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
 * import { RedisAdapter, RedisAdapterError } from "@syft/syft/hub";
 * try {
 *   await RedisAdapter.connect("redis://127.0.0.1:1", { connectTimeoutMs: 500 });
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
