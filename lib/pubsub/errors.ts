/**
 * Typed errors of the pub/sub part and the part's error codes, all in one union
 * ({@linkcode PubSubErrorCode}; each error class narrows it). Each error carries a stable `code`
 * and, where one exists, the underlying `cause`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";

/**
 * The codes of every error of the pub/sub part, in one union: the hive's, a failed publish's
 * ({@linkcode PublishErrorCode}), the fastapi_websocket_pubsub client's
 * ({@linkcode FastApiPubSubErrorCode}), a refused RPC frame's ({@linkcode RpcFrameErrorCode}), the
 * server's ({@linkcode PubSubServerErrorCode}) and discovery's
 * ({@linkcode PubSubDiscoveryErrorCode}). Each error class narrows `code` to its subset.
 */
export type PubSubErrorCode =
  | "PUBSUB_CONFIG"
  | "PUBSUB_CONNECT"
  | "PUBSUB_NOT_STARTED"
  | "PUBSUB_NO_ROUTE"
  | "PUBSUB_ENCODE"
  | "PUBSUB_REQUEST_TIMEOUT"
  | "PUBSUB_REMOTE_ERROR"
  | "PUBSUB_SERVER"
  | PublishErrorCode
  | FastApiPubSubErrorCode
  | RpcFrameErrorCode
  | PubSubServerErrorCode
  | PubSubDiscoveryErrorCode;

/** The codes a failed publish carries. */
export type PublishErrorCode =
  | "PUBSUB_QUEUE_FULL"
  | "PUBSUB_PUBLISH_TIMEOUT"
  | "PUBSUB_NO_SUBSCRIBER"
  | "PUBSUB_CLOSED"
  | "PUBSUB_PUBLISH";

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
  /** After a reconnect, a syft server reported no subscriber for the publish until its time was up. */
  | "FASTAPI_NO_SUBSCRIBER"
  /** The data cannot be written as JSON (a cycle). */
  | "FASTAPI_ENCODE"
  /** The URL is not a ws:// or wss:// URL, or an option is out of range. */
  | "FASTAPI_OPTIONS";

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

/** Why mDNS discovery could not run. */
export type PubSubDiscoveryErrorCode =
  /** Deno's UDP multicast API is missing: run with `--unstable-net`. */
  | "DISCOVERY_UNSTABLE_NET"
  /** The mDNS socket could not be opened or the multicast group joined. */
  | "DISCOVERY_SOCKET"
  /** A name, host or port is not usable. */
  | "DISCOVERY_OPTIONS";

/**
 * Base class of every pub/sub error.
 *
 * @example Catch any pub/sub error
 * ```ts
 * import { PubSubError } from "@syft/syft/pubsub";
 * try {
 *   throw new PubSubError("Cannot start the hive: no connector", { code: "PUBSUB_CONFIG" });
 * } catch (err) {
 *   if (err instanceof PubSubError) console.error(err.code, err.message);
 * }
 * ```
 */
export class PubSubError extends SyftError {
  /** Why it failed. */
  override readonly code: PubSubErrorCode;

  /**
   * Creates the error.
   *
   * @param message What went wrong and what to do next.
   * @param options The code and the underlying error.
   */
  constructor(message: string, options: { code: PubSubErrorCode; cause?: unknown }) {
    super(message, options);
    this.name = "PubSubError";
    this.code = options.code;
  }
}

/**
 * A hive configuration (YAML file, environment or options object) that cannot be used. The
 * message names the file and the key.
 *
 * @example
 * ```ts
 * import { parseHiveConfig, PubSubConfigError } from "@syft/syft/pubsub";
 * try {
 *   parseHiveConfig("connectors:\n  net:\n    pubsub_type: kafka\n", { file: "hive.yaml" });
 * } catch (err) {
 *   if (err instanceof PubSubConfigError) console.log(err.key, err.message);
 * }
 * ```
 */
export class PubSubConfigError extends PubSubError {
  /** The file the configuration came from, if any. */
  readonly file: string | undefined;
  /** The dotted key that is wrong, such as `connectors.net.pubsub_type`. */
  readonly key: string | undefined;

  /**
   * Creates the error.
   *
   * @param message The full message (it already names the file and key).
   * @param options The file, the key and the underlying error.
   */
  constructor(message: string, options: { file?: string; key?: string; cause?: unknown } = {}) {
    super(message, { code: "PUBSUB_CONFIG", cause: options.cause });
    this.name = "PubSubConfigError";
    this.file = options.file;
    this.key = options.key;
  }
}

/**
 * An event that was not published: the outbound queue is full, the backend stayed unreachable
 * past the publish timeout, nobody was subscribed when an event held during an outage was finally
 * sent, or the connector is closed.
 *
 * @example
 * ```ts
 * import { PublishError } from "@syft/syft/pubsub";
 * const err = new PublishError("Redis unreachable", {
 *   code: "PUBSUB_PUBLISH_TIMEOUT",
 *   event: "net/worker/work",
 *   network: "net",
 * });
 * console.log(err.code, err.event);
 * ```
 */
export class PublishError extends PubSubError {
  /** Why the event was not published. */
  override readonly code: PublishErrorCode;
  /** The full event name. */
  readonly event: string;
  /** The connector (network) it was published on. */
  readonly network: string;

  /**
   * Creates the error.
   *
   * @param message What happened.
   * @param options The code, the event, the network and the underlying error.
   */
  constructor(
    message: string,
    options: { code: PublishErrorCode; event: string; network: string; cause?: unknown },
  ) {
    super(message, options);
    this.name = "PublishError";
    this.code = options.code;
    this.event = options.event;
    this.network = options.network;
  }
}

/**
 * A request got no reply in time (an old eventhive peer never replies; it ignores the reply
 * channel in the metadata).
 *
 * @example
 * ```ts
 * import { RequestTimeoutError } from "@syft/syft/pubsub";
 * const err = new RequestTimeoutError("net/worker/work", 5000);
 * console.log(err.code, err.timeoutMs);
 * ```
 */
export class RequestTimeoutError extends PubSubError {
  /** The full event name of the request. */
  readonly event: string;
  /** How long the request waited. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param event The full event name.
   * @param timeoutMs How long the request waited.
   */
  constructor(event: string, timeoutMs: number) {
    super(
      `No reply to ${event} within ${timeoutMs} ms (is a syft hive handling it? eventhive peers do not reply)`,
      { code: "PUBSUB_REQUEST_TIMEOUT" },
    );
    this.name = "RequestTimeoutError";
    this.event = event;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The remote handler of a request threw; its message is carried in the reply.
 *
 * @example
 * ```ts
 * import { RemoteHandlerError } from "@syft/syft/pubsub";
 * const err = new RemoteHandlerError("net/worker/work", "out of paper");
 * console.log(err.remoteMessage);
 * ```
 */
export class RemoteHandlerError extends PubSubError {
  /** The full event name of the request. */
  readonly event: string;
  /** The message of the remote error. */
  readonly remoteMessage: string;

  /**
   * Creates the error.
   *
   * @param event The full event name.
   * @param remoteMessage The remote handler's error message.
   */
  constructor(event: string, remoteMessage: string) {
    super(`The handler of ${event} failed: ${remoteMessage}`, { code: "PUBSUB_REMOTE_ERROR" });
    this.name = "RemoteHandlerError";
    this.event = event;
    this.remoteMessage = remoteMessage;
  }
}
