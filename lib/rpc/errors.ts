/**
 * Typed errors of the file-RPC part. All extend {@linkcode SyftError}, carry `cause` and a stable
 * `code`.
 *
 * @module
 */
import { SyftError } from "../errors.ts";
import type { SyftResponse } from "./protocol.ts";

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
    super(message, { ...options, code: "RPC_BAD_URL", exitCode: 2 });
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
      exitCode: 124,
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
