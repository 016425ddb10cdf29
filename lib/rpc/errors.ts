/**
 * Typed errors of the file-RPC part. All extend {@linkcode SyftError}, carry `cause` and a stable
 * `code`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";
import type { SyftResponse } from "./protocol.ts";

/**
 * Every `code` an error of the file-RPC part carries, in one place:
 *
 * - `RPC_PROTOCOL`: a request or response file is invalid ({@linkcode RpcProtocolError});
 * - `RPC_BAD_URL`: a `syft://` URL is malformed ({@linkcode SyftUrlError});
 * - `NO_CONFIG` / `BAD_CONFIG`: no usable SyftBox config ({@linkcode RpcConfigError});
 * - `RPC_TIMEOUT`: a wait elapsed ({@linkcode RpcTimeoutError});
 * - `RPC_STATUS`: a response has an error status ({@linkcode RpcStatusError});
 * - `RPC_WRITE`: a request file cannot be written (a full disk, permissions);
 * - `RPC_CLOSED`: the client is closed;
 * - `RPC_NOT_STARTED` / `RPC_STOPPED` / `RPC_NOT_IDLE`: an app's lifecycle;
 * - `RPC_NO_SCHEMA` / `RPC_BAD_SCHEMA`: an app's `rpc.schema.json` is missing or not JSON.
 *
 * @example
 * ```ts
 * import type { RpcErrorCode } from "@syft/syft/rpc";
 * const code: RpcErrorCode = "RPC_WRITE";
 * console.log(code);
 * ```
 */
export type RpcErrorCode =
  | "RPC_PROTOCOL"
  | "RPC_BAD_URL"
  | "NO_CONFIG"
  | "BAD_CONFIG"
  | "RPC_TIMEOUT"
  | "RPC_STATUS"
  | "RPC_WRITE"
  | "RPC_CLOSED"
  | "RPC_NOT_STARTED"
  | "RPC_STOPPED"
  | "RPC_NOT_IDLE"
  | "RPC_NO_SCHEMA"
  | "RPC_BAD_SCHEMA";

/** Options of {@linkcode RpcError}. */
export interface RpcErrorOptions {
  /** The code (one of {@linkcode RpcErrorCode}). */
  code: RpcErrorCode;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * An error of the file-RPC part without a class of its own (a request that cannot be written, a
 * closed client, a stopped app, a missing schema). `code` says which.
 *
 * @example
 * ```ts
 * import { RpcError } from "@syft/syft/rpc";
 * const err = new RpcError("The RPC client is closed", { code: "RPC_CLOSED" });
 * console.log(err.code); // RPC_CLOSED
 * ```
 */
export class RpcError extends SyftError {
  /** What went wrong, as a stable code. */
  declare readonly code: RpcErrorCode;

  /**
   * Creates the error.
   *
   * @param message What went wrong and what to do next.
   * @param options The code and the cause.
   */
  constructor(message: string, options: RpcErrorOptions) {
    super(message, options.cause === undefined ? { code: options.code } : options);
    this.name = "RpcError";
  }
}

/**
 * A request or response file (or a value meant to become one) is invalid. `field` names the JSON
 * field that was wrong (`"body"`, `"created"`, `"status_code"`, ...), or `"json"` when the text is
 * not JSON at all.
 *
 * @example Report which field was wrong
 * ```ts
 * import { RpcProtocolError, SyftRequest } from "@syft/syft/rpc";
 * try {
 *   SyftRequest.decode('{"sender":"a@b.co","url":"syft://b@c.io/x","method":"FETCH"}');
 * } catch (err) {
 *   if (err instanceof RpcProtocolError) console.log(err.field); // "method"
 * }
 * ```
 */
export class RpcProtocolError extends SyftError {
  /** The JSON field that was invalid, or `"json"` when the text does not parse. */
  readonly field: string;

  /**
   * Creates the error.
   *
   * @param field The field that was invalid.
   * @param message What was wrong with it.
   * @param options The underlying error.
   */
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "RPC_PROTOCOL" });
    this.name = "RpcProtocolError";
    this.field = field;
  }
}

/**
 * A `syft://` URL is malformed or would leave the datasites root (`..`, absolute parts, NUL,
 * percent-encoded traversal).
 *
 * @example
 * ```ts
 * import { SyftBoxURL, SyftUrlError } from "@syft/syft/rpc";
 * try {
 *   SyftBoxURL.parse("syft://bob@example.com/../../etc/passwd");
 * } catch (err) {
 *   if (err instanceof SyftUrlError) console.log(err.message);
 * }
 * ```
 */
export class SyftUrlError extends SyftError {
  /** The URL that was refused. */
  readonly url: string;

  /**
   * Creates the error.
   *
   * @param url The refused URL.
   * @param message Why it was refused.
   * @param options The underlying error.
   */
  constructor(url: string, message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "RPC_BAD_URL" });
    this.name = "SyftUrlError";
    this.url = url;
  }
}

/**
 * A SyftBox client config is missing or unusable. `code` is `"NO_CONFIG"` when no file was found
 * and `"BAD_CONFIG"` when one was found but could not be used.
 *
 * @example
 * ```ts
 * import { loadSyftBoxConfig, RpcConfigError } from "@syft/syft/rpc";
 * try {
 *   await loadSyftBoxConfig({ path: "/nonexistent/config.json" });
 * } catch (err) {
 *   if (err instanceof RpcConfigError) console.log(err.code); // "NO_CONFIG"
 * }
 * ```
 */
export class RpcConfigError extends SyftError {
  /** The config file concerned, when known. */
  readonly path: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What was wrong.
   * @param options The path, the code (`"NO_CONFIG"` or `"BAD_CONFIG"`) and the cause.
   */
  constructor(
    message: string,
    options: { path?: string; code?: "NO_CONFIG" | "BAD_CONFIG"; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause, code: options.code ?? "BAD_CONFIG" });
    this.name = "RpcConfigError";
    this.path = options.path;
  }
}

/**
 * Waiting for a response took longer than the timeout. The request is still pending: wait again,
 * or let it expire.
 *
 * @example
 * ```ts ignore
 * import { RpcTimeoutError } from "@syft/syft/rpc";
 * try {
 *   await future.wait({ timeout: "2s" });
 * } catch (err) {
 *   if (err instanceof RpcTimeoutError) console.log(`still pending: ${err.id}`);
 * }
 * ```
 */
export class RpcTimeoutError extends SyftError {
  /** The id of the request that is still pending. */
  readonly id: string;
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param id The request id.
   * @param timeoutMs The timeout that elapsed.
   */
  constructor(id: string, timeoutMs: number) {
    super(`Timed out after ${timeoutMs} ms waiting for the response to request ${id}`, {
      code: "RPC_TIMEOUT",
    });
    this.name = "RpcTimeoutError";
    this.id = id;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A response has an error status (400 or above); thrown by
 * {@linkcode SyftResponse.raiseForStatus}.
 *
 * @example
 * ```ts
 * import { RpcStatusError, SyftResponse } from "@syft/syft/rpc";
 * const res = SyftResponse.system(404, "Request with x not found");
 * try {
 *   res.raiseForStatus();
 * } catch (err) {
 *   if (err instanceof RpcStatusError) console.log(err.statusCode, err.response.text());
 * }
 * ```
 */
export class RpcStatusError extends SyftError {
  /** The response's status code. */
  readonly statusCode: number;
  /** The response itself. */
  readonly response: SyftResponse;

  /**
   * Creates the error.
   *
   * @param response The error response.
   */
  constructor(response: SyftResponse) {
    const text = response.text();
    super(
      `Request ${response.id} failed with status ${response.statusCode}${
        text ? `: ${text.length > 200 ? text.slice(0, 200) + "..." : text}` : ""
      }`,
      { code: "RPC_STATUS" },
    );
    this.name = "RpcStatusError";
    this.statusCode = response.statusCode;
    this.response = response;
  }
}
