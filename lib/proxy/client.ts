// deno-lint-ignore-file camelcase -- the JSON wire shapes of both proxy APIs are snake_case
/**
 * HTTP clients for the proxy: {@linkcode ProxyClient} for one proxy and
 * {@linkcode LoadBalancedProxyClient} for several (round robin, moving on when one is down).
 *
 * @module
 */
import { ProxyTimeoutError, ProxyUnavailableError, RpcError, RpcExecutionError } from "./errors.ts";
import type { ProxyInfo, RequestStatus, StatusResult } from "./types.ts";

/** Options for {@linkcode ProxyClient}. */
export interface ProxyClientOptions {
  /** Sent as `X-API-Key` when the proxy requires a key. */
  apiKey?: string;
  /** Default seconds to wait for a response in `call()` and `waitFor()` (default 30). */
  timeout?: number;
  /** Extra headers on every HTTP request. */
  headers?: Record<string, string>;
}

/** Options of one call. */
export interface CallOptions {
  /** The datasite e-mail of the app's owner. */
  to: string;
  /** The JSON body sent to the app. */
  params?: unknown;
  /** Seconds to wait for the response (default: the client's timeout). */
  timeout?: number;
  /** Request headers for the app. */
  headers?: Record<string, string>;
  /** The request method (default POST). */
  method?: string;
  /** Aborts the HTTP request. */
  signal?: AbortSignal;
}

/** One call of {@linkcode ProxyClient.batch}. */
export interface BatchCall extends CallOptions {
  /** The app name. */
  app: string;
  /** The endpoint. */
  func: string;
}

/** The outcome of one call of a batch: its result, or the error `call()` would have thrown. */
export type BatchOutcome = { ok: true; value: unknown } | { ok: false; error: RpcError };

/** The answer of {@linkcode ProxyClient.schema}. */
export interface AppSchema {
  /** The app name. */
  app_name: string;
  /** The datasite the schema was read from. */
  datasite: string;
  /** The endpoints: parameters, return type and description. */
  functions: Record<string, { params: unknown; returns: unknown; description: string | null }>;
}

/** The HTTP answer of the proxy: status, decoded JSON body and headers. */
interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

function messageOf(body: unknown, fallback: string): string {
  if (body && typeof body === "object" && "message" in body) return String(body.message);
  return fallback;
}

/**
 * A client for one syft proxy (the seed API: `/rpc/send`, `/rpc/status`, ...).
 *
 * @example Call the echo app through a proxy
 * ```ts ignore
 * import { ProxyClient, RpcExecutionError } from "@syft/syft/proxy";
 * const client = new ProxyClient("http://127.0.0.1:8000", { apiKey: Deno.env.get("PROXY_API_KEY") });
 * try {
 *   const answer = await client.call("echo", "echo", { to: "you@localhost.dev", params: { hi: 1 } });
 *   console.log(answer); // { hi: 1 }
 * } catch (err) {
 *   if (err instanceof RpcExecutionError) console.error(err.statusCode, err.error);
 *   else throw err;
 * }
 * ```
 */
export class ProxyClient {
  /** The default seconds to wait for responses. */
  readonly timeout: number;
  #headers: Record<string, string>;
  #urls: string[];

  /**
   * Creates a client.
   *
   * @param baseUrl The proxy's URL, such as `http://127.0.0.1:8000`.
   * @param options API key, default timeout and headers.
   */
  constructor(baseUrl: string, options: ProxyClientOptions = {}) {
    this.#urls = [baseUrl.replace(/\/+$/, "")];
    this.timeout = options.timeout ?? 30;
    this.#headers = { ...options.headers };
    if (options.apiKey !== undefined) this.#headers["x-api-key"] = options.apiKey;
  }

  /** The proxies to try for the next HTTP request, in order. */
  protected targets(): readonly string[] {
    return this.#urls;
  }

  async #request(
    method: string,
    path: string,
    init: { body?: unknown; timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<Answer> {
    const targets = this.targets();
    let lastError: unknown;
    for (const base of targets) {
      const signals = [AbortSignal.timeout(init.timeoutMs)];
      if (init.signal) signals.push(init.signal);
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: {
            ...this.#headers,
            ...(init.body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
          signal: AbortSignal.any(signals),
        });
      } catch (err) {
        if (init.signal?.aborted) throw err;
        if (err instanceof DOMException && err.name === "TimeoutError") {
          throw new ProxyTimeoutError(
            `No answer from ${base} within ${init.timeoutMs} ms`,
            { timeoutMs: init.timeoutMs, cause: err },
          );
        }
        lastError = err; // connection refused or reset: try the next proxy
        continue;
      }
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text === "" ? null : JSON.parse(text);
      } catch { /* not JSON: keep the text */ }
      return { status: res.status, body, headers: res.headers };
    }
    throw new ProxyUnavailableError(
      `Cannot reach ${targets.length === 1 ? "the proxy at " : "any proxy of "}${
        targets.join(", ")
      }: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
      { urls: [...targets], cause: lastError },
    );
  }

  #fail(answer: Answer, what: string): never {
    throw new RpcError(
      `${what} failed with HTTP ${answer.status}: ${messageOf(answer.body, String(answer.body))}`,
      { httpStatus: answer.status, body: answer.body },
    );
  }

  /**
   * Calls an app and waits for its answer.
   *
   * @param app The app name.
   * @param func The endpoint.
   * @param options Recipient, params, timeout, headers, method.
   * @returns The app's answer (JSON when it parses, else text).
   * @throws {RpcExecutionError} When the app answered with status 400 or above.
   * @throws {ProxyTimeoutError} When no answer came in time (the error carries the request id).
   * @throws {RpcError} When the proxy refused the call (see `httpStatus`).
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * const client = new ProxyClient("http://127.0.0.1:8000");
   * console.log(await client.call("echo", "ping", { to: "you@localhost.dev" }));
   * ```
   */
  async call(app: string, func: string, options: CallOptions): Promise<unknown> {
    const timeout = options.timeout ?? this.timeout;
    const answer = await this.#request("POST", "/rpc/send", {
      body: this.#sendBody(app, func, options, true, timeout),
      timeoutMs: timeout * 1000 + 10_000,
      signal: options.signal,
    });
    if (answer.status !== 200 && answer.status !== 202) this.#fail(answer, "call");
    const result = answer.body as StatusResult;
    return this.#settle(result, timeout);
  }

  #settle(
    result: Pick<StatusResult, "id" | "status" | "result" | "error" | "status_code">,
    timeout: number,
  ): unknown {
    if (result.status === "completed") return result.result;
    if (result.status === "failed") {
      throw new RpcExecutionError(
        `Request ${result.id} failed with status ${result.status_code}: ${result.error ?? ""}`,
        {
          id: result.id,
          statusCode: result.status_code ?? 500,
          error: result.error,
          result: result.result,
        },
      );
    }
    throw new ProxyTimeoutError(`No response to request ${result.id} within ${timeout} s`, {
      id: result.id,
      timeoutMs: timeout * 1000,
    });
  }

  #sendBody(app: string, func: string, options: CallOptions, blocking: boolean, timeout: number) {
    return {
      app_name: app,
      func_name: func,
      destination: options.to,
      ...(options.params === undefined ? {} : { params: options.params }),
      blocking,
      timeout,
      headers: options.headers ?? {},
      method: options.method ?? "POST",
    };
  }

  /**
   * Sends a request without waiting for its answer.
   *
   * @param app The app name.
   * @param func The endpoint.
   * @param options Recipient, params, headers, method.
   * @returns The request id (poll it with `status()` or `waitFor()`).
   * @throws {RpcError} When the proxy refused the request.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * const client = new ProxyClient("http://127.0.0.1:8000");
   * const id = await client.callAsync("echo", "echo", { to: "you@localhost.dev", params: [1] });
   * console.log((await client.waitFor(id)).result); // [1]
   * ```
   */
  async callAsync(app: string, func: string, options: CallOptions): Promise<string> {
    const answer = await this.#request("POST", "/rpc/send", {
      body: this.#sendBody(app, func, options, false, 1),
      timeoutMs: 30_000,
      signal: options.signal,
    });
    if (answer.status !== 200) this.#fail(answer, "callAsync");
    return (answer.body as StatusResult).id;
  }

  /**
   * Reads a request's status.
   *
   * @param id The request id.
   * @param options `wait`: seconds to long-poll for a change (default 0).
   * @returns The status.
   * @throws {RpcError} With `httpStatus` 404 for an unknown or expired id.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * const client = new ProxyClient("http://127.0.0.1:8000");
   * const s = await client.status("3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10");
   * console.log(s.status);
   * ```
   */
  async status(id: string, options: { wait?: number; signal?: AbortSignal } = {}): Promise<
    StatusResult
  > {
    const wait = options.wait ?? 0;
    const answer = await this.#request(
      "GET",
      `/rpc/status/${encodeURIComponent(id)}${wait > 0 ? `?wait=${wait}` : ""}`,
      { timeoutMs: wait * 1000 + 10_000, signal: options.signal },
    );
    if (answer.status >= 300 || typeof answer.body !== "object") this.#fail(answer, "status");
    return answer.body as StatusResult;
  }

  /**
   * Waits (long-polling, no spinning) until a request finishes.
   *
   * @param id The request id.
   * @param options `timeout` in seconds (default: the client's timeout).
   * @returns The finished status (`completed` or `failed`).
   * @throws {ProxyTimeoutError} When it is still pending after the timeout.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * const client = new ProxyClient("http://127.0.0.1:8000");
   * const id = await client.callAsync("echo", "ping", { to: "you@localhost.dev" });
   * const done = await client.waitFor(id, { timeout: 10 });
   * console.log(done.status, done.result);
   * ```
   */
  async waitFor(id: string, options: { timeout?: number; signal?: AbortSignal } = {}): Promise<
    StatusResult
  > {
    const timeout = options.timeout ?? this.timeout;
    const deadline = Date.now() + timeout * 1000;
    while (true) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      const status = await this.status(id, {
        wait: Math.min(60, Math.ceil(left * 10) / 10),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (isDone(status.status)) return status;
      if (Date.now() >= deadline) {
        throw new ProxyTimeoutError(`Request ${id} is still ${status.status} after ${timeout} s`, {
          id,
          timeoutMs: timeout * 1000,
        });
      }
    }
  }

  /**
   * Sends the same request to several datasites without waiting.
   *
   * @param app The app name.
   * @param func The endpoint.
   * @param destinations E-mails (the app and endpoint are added) or full `syft://` URLs.
   * @param options `params`, `headers`, `method`.
   * @returns The request ids, in the order of `destinations`.
   * @throws {RpcError} When the proxy refused the request.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * const client = new ProxyClient("http://127.0.0.1:8000");
   * const ids = await client.broadcast("echo", "ping", ["a@example.org", "b@example.org"]);
   * console.log(ids.length); // 2
   * ```
   */
  async broadcast(
    app: string,
    func: string,
    destinations: string[],
    options: Omit<CallOptions, "to" | "timeout"> = {},
  ): Promise<string[]> {
    const answer = await this.#request("POST", "/rpc/broadcast", {
      body: {
        app_name: app,
        func_name: func,
        destinations,
        ...(options.params === undefined ? {} : { params: options.params }),
        headers: options.headers ?? {},
        method: options.method ?? "POST",
      },
      timeoutMs: 30_000,
      signal: options.signal,
    });
    if (answer.status !== 200) this.#fail(answer, "broadcast");
    return (answer.body as { request_ids: string[] }).request_ids;
  }

  /**
   * Reads an app's published schema (`rpc.schema.json`).
   *
   * @param app The app name.
   * @param options `datasite`: whose app (default: the proxy's own datasite).
   * @returns The endpoints with their parameters, return types and descriptions.
   * @throws {RpcError} With `httpStatus` 404 when the app published none.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * const client = new ProxyClient("http://127.0.0.1:8000");
   * console.log(Object.keys((await client.schema("echo")).functions));
   * ```
   */
  async schema(app: string, options: { datasite?: string } = {}): Promise<AppSchema> {
    const q = options.datasite ? `?datasite=${encodeURIComponent(options.datasite)}` : "";
    const answer = await this.#request("GET", `/rpc/schema/${encodeURIComponent(app)}${q}`, {
      timeoutMs: 30_000,
    });
    if (answer.status !== 200) this.#fail(answer, "schema");
    return answer.body as AppSchema;
  }

  /**
   * Runs several calls concurrently; the outcomes come back in input order.
   *
   * @param calls The calls.
   * @param options `concurrency`: calls in flight at once (default 16).
   * @returns One outcome per call, in input order.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * const client = new ProxyClient("http://127.0.0.1:8000");
   * const out = await client.batch([
   *   { app: "echo", func: "echo", to: "you@localhost.dev", params: 1 },
   *   { app: "echo", func: "echo", to: "you@localhost.dev", params: 2 },
   * ]);
   * console.log(out.map((o) => o.ok ? o.value : o.error.message)); // [1, 2]
   * ```
   */
  async batch(calls: BatchCall[], options: { concurrency?: number } = {}): Promise<BatchOutcome[]> {
    const out = new Array<BatchOutcome>(calls.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < calls.length) {
        const i = next++;
        const { app, func, ...rest } = calls[i]!;
        try {
          out[i] = { ok: true, value: await this.call(app, func, rest) };
        } catch (err) {
          out[i] = {
            ok: false,
            error: err instanceof RpcError
              ? err
              : new RpcError(err instanceof Error ? err.message : String(err), { cause: err }),
          };
        }
      }
    };
    const n = Math.max(1, Math.min(options.concurrency ?? 16, calls.length));
    await Promise.all(Array.from({ length: n }, worker));
    return out;
  }

  /**
   * Reads the proxy's info (`GET /`).
   *
   * @returns Name, version, uptime, store and request counts.
   * @throws {RpcError} When the proxy answered with an error.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * console.log((await new ProxyClient("http://127.0.0.1:8000").info()).version);
   * ```
   */
  async info(): Promise<ProxyInfo> {
    const answer = await this.#request("GET", "/", { timeoutMs: 10_000 });
    if (answer.status !== 200) this.#fail(answer, "info");
    return answer.body as ProxyInfo;
  }

  /**
   * Asks the proxy whether it is healthy (`GET /health`, which needs no API key).
   *
   * @returns Whether it answered 200 with `status: "ok"`.
   * @throws {ProxyUnavailableError} When it cannot be reached.
   *
   * @example
   * ```ts ignore
   * import { ProxyClient } from "@syft/syft/proxy";
   * console.log(await new ProxyClient("http://127.0.0.1:8000").health());
   * ```
   */
  async health(): Promise<boolean> {
    const answer = await this.#request("GET", "/health", { timeoutMs: 10_000 });
    return answer.status === 200 &&
      (answer.body as { status?: string } | null)?.status === "ok";
  }
}

function isDone(status: RequestStatus): boolean {
  return status === "completed" || status === "failed";
}

/**
 * A client for several proxies behind no load balancer: each HTTP request goes to the next proxy
 * in round robin, and moves on to the following one when a proxy cannot be reached. Polling a
 * request's status on another proxy than the one that accepted it needs a shared (Redis) store.
 *
 * @example
 * ```ts ignore
 * import { LoadBalancedProxyClient } from "@syft/syft/proxy";
 * const client = new LoadBalancedProxyClient(["http://127.0.0.1:8000", "http://127.0.0.1:8001"]);
 * console.log(await client.call("echo", "ping", { to: "you@localhost.dev" }));
 * ```
 */
export class LoadBalancedProxyClient extends ProxyClient {
  #all: string[];
  #next = 0;

  /**
   * Creates the client.
   *
   * @param urls The proxies (at least one).
   * @param options API key, default timeout and headers.
   * @throws {TypeError} When `urls` is empty.
   */
  constructor(urls: string[], options: ProxyClientOptions = {}) {
    if (urls.length === 0) throw new TypeError("LoadBalancedProxyClient needs at least one URL");
    super(urls[0]!, options);
    this.#all = urls.map((u) => u.replace(/\/+$/, ""));
  }

  /** The proxies, starting with the next one in round robin. */
  protected override targets(): readonly string[] {
    const start = this.#next;
    this.#next = (this.#next + 1) % this.#all.length;
    return [...this.#all.slice(start), ...this.#all.slice(0, start)];
  }
}
