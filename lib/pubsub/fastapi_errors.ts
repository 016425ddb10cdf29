/**
 * Typed errors of the fastapi_websocket_pubsub client and server and of mDNS discovery. Each
 * carries a stable `code` (a subset of the part's one union, `PubSubErrorCode` in `errors.ts`) and,
 * where one exists, the underlying `cause`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";
import type {
  FastApiPubSubErrorCode,
  PubSubDiscoveryErrorCode,
  PubSubServerErrorCode,
  RpcFrameErrorCode,
} from "./errors.ts";

export type {
  FastApiPubSubErrorCode,
  PubSubDiscoveryErrorCode,
  PubSubServerErrorCode,
  RpcFrameErrorCode,
};

/**
 * A fastapi_websocket_pubsub client call failed. `code` says why; `FASTAPI_AUTH` means the server
 * wants a token (pass `{ token }` to `connectFastApiPubSub`).
 *
 * @example Tell a missing token from other failures
 * ```ts
 * import { FastApiPubSubError } from "./fastapi_errors.ts";
 * const err = new FastApiPubSubError("FASTAPI_AUTH", "The server refused the connection (HTTP 401)");
 * if (err instanceof FastApiPubSubError && err.code === "FASTAPI_AUTH") console.log(err.message);
 * ```
 */
export class FastApiPubSubError extends SyftError {
  /** Why the call failed. */
  override readonly code: FastApiPubSubErrorCode;

  /**
   * Creates the error.
   *
   * @param code Why the call failed.
   * @param message What failed and what to do next, in one or two sentences.
   * @param options The underlying error.
   */
  constructor(code: FastApiPubSubErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { code, cause: options.cause });
    this.name = "FastApiPubSubError";
    this.code = code;
  }
}

/**
 * A frame that is not a fastapi_websocket_rpc `RpcMessage`
 * (`{"request": {...} | null, "response": {...} | null}`), or a value that cannot be encoded.
 *
 * @example
 * ```ts
 * import { RpcFrameError } from "./fastapi_errors.ts";
 * const err = new RpcFrameError("NOT_JSON", "The frame is not JSON");
 * console.log(err.code); // NOT_JSON
 * ```
 */
export class RpcFrameError extends SyftError {
  /** Why the frame was refused. */
  override readonly code: RpcFrameErrorCode;

  /**
   * Creates the error.
   *
   * @param code Why the frame was refused.
   * @param message What was wrong with it.
   * @param options The underlying error (such as the `SyntaxError` of `JSON.parse`).
   */
  constructor(code: RpcFrameErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { code, cause: options.cause });
    this.name = "RpcFrameError";
    this.code = code;
  }
}

/**
 * The fastapi_websocket_pubsub server could not start. With `PUBSUB_ADDR_IN_USE`, `host` and
 * `port` name the address and `cause` is Deno's `AddrInUse` error.
 *
 * @example Name the taken address
 * ```ts
 * import { PubSubServerError } from "./fastapi_errors.ts";
 * const err = new PubSubServerError("PUBSUB_ADDR_IN_USE", "127.0.0.1:8085 is in use", {
 *   host: "127.0.0.1",
 *   port: 8085,
 * });
 * console.log(err.code, err.host, err.port);
 * ```
 */
export class PubSubServerError extends SyftError {
  /** Why the server could not start. */
  override readonly code: PubSubServerErrorCode;
  /** The bind address, when the error is about listening. */
  readonly host: string | undefined;
  /** The port, when the error is about listening. */
  readonly port: number | undefined;

  /**
   * Creates the error.
   *
   * @param code Why the server could not start.
   * @param message What failed and what to do next.
   * @param options The underlying error and the address.
   */
  constructor(
    code: PubSubServerErrorCode,
    message: string,
    options: { cause?: unknown; host?: string; port?: number } = {},
  ) {
    super(message, { code, cause: options.cause });
    this.name = "PubSubServerError";
    this.code = code;
    this.host = options.host;
    this.port = options.port;
  }
}

/**
 * mDNS advertising or lookup could not run.
 *
 * @example
 * ```ts
 * import { PubSubDiscoveryError } from "./fastapi_errors.ts";
 * const err = new PubSubDiscoveryError("DISCOVERY_UNSTABLE_NET", "Run deno with --unstable-net");
 * console.log(err.code);
 * ```
 */
export class PubSubDiscoveryError extends SyftError {
  /** Why discovery could not run. */
  override readonly code: PubSubDiscoveryErrorCode;

  /**
   * Creates the error.
   *
   * @param code Why discovery could not run.
   * @param message What failed and what to do next.
   * @param options The underlying error.
   */
  constructor(code: PubSubDiscoveryErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { code, cause: options.cause });
    this.name = "PubSubDiscoveryError";
    this.code = code;
  }
}
