/**
 * Typed errors of the proxy part: the client's (`RpcError` and its subclasses) and the request
 * store's (`StoreError`), with their codes in one union, {@linkcode ProxyErrorCode}.
 *
 * @module
 */
import { SyftError } from "../errors.ts";

/**
 * The codes of the proxy part's errors (`err.code`):
 *
 * - `RPC_ERROR`: the proxy answered with an HTTP error, or talking to it failed ({@linkcode RpcError});
 * - `RPC_EXECUTION`: the app answered with an error status ({@linkcode RpcExecutionError});
 * - `PROXY_TIMEOUT`: no answer in time ({@linkcode ProxyTimeoutError});
 * - `PROXY_UNAVAILABLE`: no proxy could be reached ({@linkcode ProxyUnavailableError});
 * - `PROXY_STORE`: the request store cannot be opened or used ({@linkcode StoreError});
 * - `PROXY_STORE_SPEC`: the store was named wrongly (`--store`), so nothing was opened
 *   ({@linkcode StoreError}).
 *
 * @example
 * ```ts
 * import type { ProxyErrorCode } from "@syft/syft/proxy";
 * const retryable: ProxyErrorCode[] = ["PROXY_TIMEOUT", "PROXY_UNAVAILABLE"];
 * ```
 */
export type ProxyErrorCode =
  | "RPC_ERROR"
  | "RPC_EXECUTION"
  | "PROXY_TIMEOUT"
  | "PROXY_UNAVAILABLE"
  | "PROXY_STORE"
  | "PROXY_STORE_SPEC";

/** Options shared by the proxy's error constructors. */
export interface ProxyErrorOptions {
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Base class of the errors `ProxyClient` throws: the proxy answered with an HTTP error (see
 * `httpStatus` and `body`), or something else went wrong talking to it.
 *
 * @example Tell a proxy-side error from an app-side one
 * ```ts
 * import { ProxyClient, RpcError, RpcExecutionError } from "@syft/syft/proxy";
 * const client = new ProxyClient("http://127.0.0.1:1");
 * try {
 *   await client.call("echo", "echo", { to: "bob@example.org" });
 * } catch (err) {
 *   if (err instanceof RpcExecutionError) console.error("app failed:", err.statusCode);
 *   else if (err instanceof RpcError) console.error("proxy problem:", err.message);
 * }
 * ```
 */
export class RpcError extends SyftError {
  /** Which error this is. */
  declare readonly code: ProxyErrorCode;
  /** The HTTP status of the proxy's answer, when there was one. */
  readonly httpStatus: number | undefined;
  /** The decoded body of the proxy's error answer, when there was one. */
  readonly body: unknown;

  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options HTTP status, body and cause.
   */
  constructor(
    message: string,
    options: ProxyErrorOptions & { httpStatus?: number; body?: unknown; code?: ProxyErrorCode } =
      {},
  ) {
    super(message, { cause: options.cause, code: options.code ?? "RPC_ERROR" });
    this.name = "RpcError";
    this.httpStatus = options.httpStatus;
    this.body = options.body;
  }
}

/**
 * The app answered the RPC with an error status (400 and above), or the request failed in the file
 * protocol (403 rejected, 404 vanished, 419 expired).
 *
 * @example
 * ```ts
 * import { RpcExecutionError } from "@syft/syft/proxy";
 * const err = new RpcExecutionError("Request failed with status 500", {
 *   id: "x", statusCode: 500, error: "Internal server error",
 * });
 * console.log(err.statusCode, err.error);
 * ```
 */
export class RpcExecutionError extends RpcError {
  /** The request id. */
  readonly id: string;
  /** The RPC status code. */
  readonly statusCode: number;
  /** The error text the app (or the protocol) gave. */
  readonly error: string | null;
  /** The app's decoded answer, if any. */
  readonly result: unknown;

  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options The request id, status code, error text and result.
   */
  constructor(
    message: string,
    options: ProxyErrorOptions & {
      id: string;
      statusCode: number;
      error?: string | null;
      result?: unknown;
    },
  ) {
    super(message, { cause: options.cause, code: "RPC_EXECUTION" });
    this.name = "RpcExecutionError";
    this.id = options.id;
    this.statusCode = options.statusCode;
    this.error = options.error ?? null;
    this.result = options.result;
  }
}

/**
 * The response did not arrive in time through the proxy (code `PROXY_TIMEOUT`). The request may
 * still complete: poll it with `id`. (File RPC's own timeout is `RpcTimeoutError` of
 * `@syft/syft/rpc`.)
 *
 * @example
 * ```ts
 * import { ProxyTimeoutError } from "@syft/syft/proxy";
 * const err = new ProxyTimeoutError("No response within 5 s", { id: "x", timeoutMs: 5000 });
 * console.log(err.id, err.timeoutMs, err.code); // x 5000 PROXY_TIMEOUT
 * ```
 */
export class ProxyTimeoutError extends RpcError {
  /** The request id, when the proxy had accepted the request. */
  readonly id: string | undefined;
  /** The wait that ran out, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param message What timed out.
   * @param options The request id and the timeout.
   */
  constructor(message: string, options: ProxyErrorOptions & { id?: string; timeoutMs: number }) {
    super(message, { cause: options.cause, code: "PROXY_TIMEOUT" });
    this.name = "ProxyTimeoutError";
    this.id = options.id;
    this.timeoutMs = options.timeoutMs;
  }
}

/**
 * No proxy could be reached (connection refused, DNS failure, reset before an answer).
 *
 * @example
 * ```ts
 * import { ProxyUnavailableError } from "@syft/syft/proxy";
 * const err = new ProxyUnavailableError("Cannot reach http://127.0.0.1:1", { urls: ["http://127.0.0.1:1"] });
 * console.log(err.urls);
 * ```
 */
export class ProxyUnavailableError extends RpcError {
  /** The proxies that were tried. */
  readonly urls: string[];

  /**
   * Creates the error.
   *
   * @param message Which proxies could not be reached.
   * @param options The URLs tried and the last connection error.
   */
  constructor(message: string, options: ProxyErrorOptions & { urls: string[] }) {
    super(message, { cause: options.cause, code: "PROXY_UNAVAILABLE" });
    this.name = "ProxyUnavailableError";
    this.urls = options.urls;
  }
}

/**
 * The request store cannot be opened or used (bad `--store` value, Redis unreachable, KV missing).
 *
 * @example
 * ```ts
 * import { openRequestStore, StoreError } from "@syft/syft/proxy";
 * try {
 *   await openRequestStore("postgres://nope");
 * } catch (err) {
 *   if (err instanceof StoreError) console.error(err.message);
 * }
 * ```
 */
export class StoreError extends SyftError {
  /** `PROXY_STORE_SPEC` when the store was named wrongly, else `PROXY_STORE`. */
  declare readonly code: "PROXY_STORE" | "PROXY_STORE_SPEC";
  /**
   * Creates the error.
   *
   * @param message What is wrong with the store.
   * @param options The underlying error.
   */
  constructor(
    message: string,
    options: ProxyErrorOptions & { code?: "PROXY_STORE" | "PROXY_STORE_SPEC" } = {},
  ) {
    super(message, { cause: options.cause, code: options.code ?? "PROXY_STORE" });
    this.name = "StoreError";
  }
}
