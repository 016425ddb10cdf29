/**
 * Typed errors of the fastapi_websocket_pubsub client and server and of mDNS discovery. Each
 * carries a stable `code` from a union per concern and, where one exists, the underlying `cause`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";

/** Why a {@linkcode FastApiPubSubClient} call failed. */
export type FastApiPubSubErrorCode =
  /** The server refused the upgrade with 401 or 403: it needs a (different) token. */
  | "FASTAPI_AUTH"
  /** The client was closed (or closed itself after an auth refusal) before the call finished. */
  | "FASTAPI_CLOSED"
  /** No answer within the time allowed (`readyTimeoutMs`, `timeoutMs`). */
  | "FASTAPI_TIMEOUT"
  /** The connection dropped after the call was sent and before the server answered it. */
  | "FASTAPI_CONNECTION_LOST"
  /** The server answered `false` (it could not subscribe or publish). */
  | "FASTAPI_REFUSED"
  /** Too many publishes wait for a connection. */
  | "FASTAPI_QUEUE_FULL"
  /** The data cannot be written as JSON (a cycle). */
  | "FASTAPI_ENCODE"
  /** The URL is not a ws:// or wss:// URL, or an option is out of range. */
  | "FASTAPI_OPTIONS";

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

/** Why a fastapi_websocket_rpc frame was refused. */
export type RpcFrameErrorCode =
  /** The text is not JSON. */
  | "NOT_JSON"
  /** The JSON is not an object. */
  | "NOT_AN_OBJECT"
  /** Neither `request` nor `response` is an object. */
  | "EMPTY_MESSAGE"
  /** `request` lacks a string `method`, or has bad `arguments` / `call_id`. */
  | "BAD_REQUEST"
  /** `response` has a bad `call_id` or `result_type`. */
  | "BAD_RESPONSE"
  /** A binary frame (the protocol uses text frames only). */
  | "BINARY_FRAME"
  /** A value cannot be written as JSON (a cycle). */
  | "ENCODE";

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

/** Why the pub/sub server could not start. */
export type PubSubServerErrorCode =
  /** The address is taken; `cause` is Deno's `AddrInUse` error. */
  | "PUBSUB_ADDR_IN_USE"
  /** Another listen failure (permission, bad address). */
  | "PUBSUB_LISTEN"
  /** An option is out of range. */
  | "PUBSUB_OPTIONS"
  /** Redis (`redisUrl`) cannot be reached. */
  | "PUBSUB_REDIS";

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

/** Why mDNS discovery could not run. */
export type PubSubDiscoveryErrorCode =
  /** Deno's UDP multicast API is missing: run with `--unstable-net`. */
  | "DISCOVERY_UNSTABLE_NET"
  /** The mDNS socket could not be opened or the multicast group joined. */
  | "DISCOVERY_SOCKET"
  /** A name, host or port is not usable. */
  | "DISCOVERY_OPTIONS";

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
