/**
 * Typed errors of the EnSync client. Every error is an {@linkcode EnSyncError} (a `SyftError`)
 * carrying `cause` and a `code`: the engine's `-FAIL:` code (`PERMISSION_DENIED`,
 * `CLIENT_NOT_FOUND`, ...) when the engine refused, otherwise a client code such as `TIMEOUT`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";

/**
 * The codes an EnSync engine refuses a command with (`-FAIL:<code>` on WebSocket, the error message
 * on gRPC), as syft's engine sends them.
 *
 * @example
 * ```ts
 * import type { EnSyncFailCode } from "@syft/syft/ensync";
 * const retry = (code: EnSyncFailCode): boolean => code === "STORE_ERROR" || code === "UNAVAILABLE";
 * console.log(retry("NOT_FOUND")); // false
 * ```
 */
export type EnSyncFailCode =
  | "CLIENT_NOT_FOUND"
  | "PERMISSION_DENIED"
  | "NOT_FOUND"
  | "NOT_SUBSCRIBED"
  | "ALREADY_PAUSED"
  | "NOT_PAUSED"
  | "NOT_IN_FLIGHT"
  | "INVALID_DELAY"
  | "INVALID_EVENT_NAME"
  | "INVALID_METADATA"
  | "INVALID_PAYLOAD"
  | "MISSING_PARAMETERS"
  | "PAYLOAD_TOO_LARGE"
  | "STORE_ERROR"
  | "MALFORMED_COMMAND"
  | "UNKNOWN_COMMAND"
  | "UNAVAILABLE";

/**
 * The codes the client itself gives its errors (bad input, connection state, wire problems).
 *
 * @example
 * ```ts
 * import type { EnSyncClientErrorCode } from "@syft/syft/ensync";
 * const code: EnSyncClientErrorCode = "MISSING_SECRET_KEY";
 * console.log(code);
 * ```
 */
export type EnSyncClientErrorCode =
  | "ENSYNC_ERROR"
  | "CONNECTION"
  | "TIMEOUT"
  | "AUTH"
  | "PUBLISH"
  | "SUBSCRIPTION"
  | "GENERIC"
  | "CLOSED"
  | "ENDED"
  | "FAILED"
  | "ALREADY_SUBSCRIBED"
  | "BAD_CONN_REPLY"
  | "DECRYPTION_FAILED"
  | "INVALID_ACCESS_KEY"
  | "INVALID_DELAY"
  | "INVALID_EVENT_NAME"
  | "INVALID_KEY"
  | "INVALID_METADATA"
  | "INVALID_PAYLOAD"
  | "INVALID_RECIPIENTS"
  | "INVALID_URL"
  | "INVALID_VALUE"
  | "MALFORMED_RECORD"
  | "MISSING_SECRET_KEY"
  | "UNEXPECTED_REPLY";

/**
 * The code of an {@linkcode EnSyncError}: a client code, a known engine code, or (open-ended) a
 * code another engine or a gRPC status sent.
 *
 * @example
 * ```ts
 * import { EnSyncError, type EnSyncErrorCode } from "@syft/syft/ensync";
 * const code: EnSyncErrorCode = new EnSyncError("no", { code: "NOT_FOUND" }).code;
 * console.log(code); // NOT_FOUND
 * ```
 */
// deno-lint-ignore ban-types
export type EnSyncErrorCode = EnSyncClientErrorCode | EnSyncFailCode | (string & {});

/** Options for the EnSync error classes. */
export interface EnSyncErrorOptions {
  /** The underlying error, kept as `cause`. */
  cause?: unknown;
  /** The engine's failure code (`PERMISSION_DENIED`, ...) or a client code (`TIMEOUT`, ...). */
  code?: EnSyncErrorCode;
}

/**
 * The base class of every EnSync error. Also thrown as-is for malformed wire data.
 *
 * @example Tell EnSync failures apart from other errors
 * ```ts
 * import { EnSyncError } from "@syft/syft/ensync";
 * const err: unknown = new EnSyncError("Engine said no", { code: "NOT_FOUND" });
 * if (err instanceof EnSyncError) console.log(err.code, err.message);
 * ```
 */
export class EnSyncError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Cause and code.
   */
  constructor(message: string, options: EnSyncErrorOptions = {}) {
    super(message, { cause: options.cause, code: options.code ?? "ENSYNC_ERROR" });
    this.name = "EnSyncError";
  }

  /** The client's or the engine's code (one of {@linkcode EnSyncErrorCode}). */
  declare readonly code: EnSyncErrorCode;
}

/**
 * The connection to the engine could not be opened, was lost, or the client was closed.
 *
 * @example Retry later when the engine is down
 * ```ts
 * import { EnSyncConnectionError } from "@syft/syft/ensync";
 * const err: unknown = new EnSyncConnectionError("Cannot reach ws://127.0.0.1:9/message");
 * if (err instanceof EnSyncConnectionError) console.log("engine unreachable:", err.message);
 * ```
 */
export class EnSyncConnectionError extends EnSyncError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Cause and code (default `CONNECTION`).
   */
  constructor(message: string, options: EnSyncErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? "CONNECTION" });
    this.name = "EnSyncConnectionError";
  }
}

/**
 * A request got no reply within the request timeout (a kind of connection error: the client drops
 * the connection and reconnects, because strict FIFO correlation can no longer be trusted).
 *
 * @example Catch a slow engine
 * ```ts
 * import { EnSyncTimeoutError } from "@syft/syft/ensync";
 * const err = new EnSyncTimeoutError("No reply to PUB within 30000 ms");
 * console.log(err.code); // "TIMEOUT"
 * ```
 */
export class EnSyncTimeoutError extends EnSyncConnectionError {
  /**
   * Creates the error.
   *
   * @param message What timed out.
   * @param options Cause and code (default `TIMEOUT`).
   */
  constructor(message: string, options: EnSyncErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? "TIMEOUT" });
    this.name = "EnSyncTimeoutError";
  }
}

/**
 * The engine refused the access key (`CONN` / `Connect` failed), or a secret key is missing or
 * malformed.
 *
 * @example Report a bad access key
 * ```ts
 * import { EnSyncAuthError } from "@syft/syft/ensync";
 * const err = new EnSyncAuthError("Authentication failed: Invalid access key", {
 *   code: "CLIENT_NOT_FOUND",
 * });
 * console.log(err.code);
 * ```
 */
export class EnSyncAuthError extends EnSyncError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Cause and code (default `AUTH`).
   */
  constructor(message: string, options: EnSyncErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? "AUTH" });
    this.name = "EnSyncAuthError";
  }
}

/**
 * Publishing failed (bad recipients, permission denied, engine error, lost connection); `cause`
 * holds the underlying error.
 *
 * @example Handle a denied publish
 * ```ts
 * import { EnSyncPublishError } from "@syft/syft/ensync";
 * const err = new EnSyncPublishError("Publish of orders/created failed", {
 *   code: "PERMISSION_DENIED",
 * });
 * if (err.code === "PERMISSION_DENIED") console.log("not allowed to send this event");
 * ```
 */
export class EnSyncPublishError extends EnSyncError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Cause and code (default `PUBLISH`).
   */
  constructor(message: string, options: EnSyncErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? "PUBLISH" });
    this.name = "EnSyncPublishError";
  }
}

/**
 * Subscribing or unsubscribing failed, or a subscription was used after `unsubscribe()`.
 *
 * @example Handle a denied subscription
 * ```ts
 * import { EnSyncSubscriptionError } from "@syft/syft/ensync";
 * const err = new EnSyncSubscriptionError("Subscribe to orders/* failed", {
 *   code: "PERMISSION_DENIED",
 * });
 * console.log(err.name, err.code);
 * ```
 */
export class EnSyncSubscriptionError extends EnSyncError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Cause and code (default `SUBSCRIPTION`).
   */
  constructor(message: string, options: EnSyncErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? "SUBSCRIPTION" });
    this.name = "EnSyncSubscriptionError";
  }
}

/**
 * Any other operation failed: ack, defer, discard, replay, pause, continue, or decryption.
 *
 * @example Handle a failed ack
 * ```ts
 * import { EnSyncGenericError } from "@syft/syft/ensync";
 * const err = new EnSyncGenericError("Ack of evt-1 failed", { code: "NOT_FOUND" });
 * console.log(err.message);
 * ```
 */
export class EnSyncGenericError extends EnSyncError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Cause and code (default `GENERIC`).
   */
  constructor(message: string, options: EnSyncErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? "GENERIC" });
    this.name = "EnSyncGenericError";
  }
}
