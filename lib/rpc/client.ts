/**
 * The RPC client: writes `.request` files into the recipient's datasite and resolves
 * {@linkcode SyftFuture}s from `.response` files, driven by the shared watcher (a low-rate poll is
 * only a safety net). Semantics follow syft-rpc's `send` / `SyftFuture.resolve` (§5 of the
 * reference): rejection markers → 403, response → consumed (both files deleted), request vanished
 * → 404, expired → 419.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join, sep } from "node:path";
import { LRUCache } from "lru-cache";
import { abortable } from "../_async.ts";
import { type Clock, systemClock } from "../_clock.ts";
import { recyclerFor } from "./_recycle.ts";
import { exists as fastExists } from "./_fastfs.ts";
import { commitFile, discardFile, readOrNull, removeQuiet, stageFile } from "./_io.ts";
import { FutureImpl, timeoutOf } from "./_future.ts";
import { FutureRegistry } from "./_futures.ts";
import { WatchSet } from "./_watch_set.ts";
import { resolveWorkspace, type SyftBoxWorkspace, type WorkspaceSource } from "./config.ts";
import { RpcError, RpcProtocolError } from "./errors.ts";
import {
  type BodyValue,
  canonicalUuid,
  messageId,
  type SyftMethod,
  SyftRequest,
  type SyftResponse,
  toBodyBytes,
} from "./protocol.ts";
import { parseDuration, toInstant } from "./time.ts";
import { LATEST_PYTHON_DATE_MS, nowMicros } from "./_micros.ts";
import { SyftBoxURL } from "./url.ts";
import type { FileWatcherOptions } from "./watcher.ts";

export { REJECTED_MESSAGE } from "./_resolve.ts";

/** Options of {@linkcode RpcClient}. */
export interface RpcClientOptions {
  /**
   * The workspace: a {@linkcode SyftBoxWorkspace}, a config, `{dataDir, email}`, or a config path.
   * Default: the SyftBox config found by {@linkcode loadSyftBoxConfig}.
   */
  workspace?: WorkspaceSource;
  /** Safety-net poll of waited futures, in ms (default 1000). The watcher does the real work. */
  pollMs?: number;
  /**
   * How long a response file that does not parse is given to complete before it is consumed as a
   * synthetic 500, in ms (default 1000). Python writes responses non-atomically; syft-rpc consumes
   * a half-written one as a 500 at once.
   */
  graceMs?: number;
  /**
   * Delete a response's files as soon as it is read, as syft-rpc does (default `true`). With
   * `false` they stay until {@linkcode SyftFuture.consume} is called: a caller that records the
   * result somewhere durable first (the HTTP proxy) never loses a response to a crash in between.
   */
  consumeOnRead?: boolean;
  /** Options for the watchers this client creates. */
  watcher?: FileWatcherOptions;
  /** The clock wait timeouts and grace periods run on (default the system clock; tests fake it). */
  clock?: Clock;
}

/** Options of {@linkcode RpcClient.send}. */
export interface SendOptions {
  /** The method (default `"GET"`). */
  method?: SyftMethod;
  /** The body: bytes as is, a string as UTF-8, anything else as JSON; none by default. */
  body?: BodyValue;
  /** String headers. */
  headers?: Record<string, string>;
  /** How long the request lives: a duration such as `"15m"` or milliseconds (default `"15m"`). */
  expiry?: string | number;
  /**
   * Cache mode (default `true`, as syft-rpc): the id is derived from sender, URL, body, headers and
   * method, and an identical unexpired request already on disk is reused instead of rewritten.
   */
  cache?: boolean;
  /**
   * Use this request id (a UUID) instead of a random or cache-derived one, for callers that must
   * know the id before the file is written. Turns cache mode off.
   */
  id?: string;
}

/** Options of {@linkcode SyftFuture.wait}. */
export interface WaitOptions {
  /**
   * Give up after this long: a duration such as `"30s"`, milliseconds, or `Infinity` (default
   * 300 s, syft-rpc's default).
   */
  timeout?: string | number;
  /** Stop waiting when aborted (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** What identifies a pending request for {@linkcode RpcClient.attach}. */
export type FutureRef =
  | string
  | { url: string | SyftBoxURL; id: string; sender?: string }
  | SyftFutureRecord;

/** The persisted form of a future (syft-rpc's `SyftFuture` model, plus the URL). */
export interface SyftFutureRecord {
  /** The request id. */
  id: string;
  /** The sender folder holding `<id>.request` / `<id>.response`. */
  path: string;
  /** The request's expiry (Python `isoformat`), when known. */
  expires?: string;
  /** The request URL, when known. */
  url?: string;
}

const EXPIRY_CACHE = new LRUCache<string, number>({ max: 64 });

function expiryMs(expiry: string | number | undefined): number {
  if (typeof expiry === "number") return parseDuration(expiry, "expiry");
  const key = expiry ?? "15m";
  let ms = EXPIRY_CACHE.get(key);
  if (ms === undefined) {
    ms = parseDuration(key, "expiry");
    EXPIRY_CACHE.set(key, ms);
  }
  return ms;
}

/**
 * A pending request. {@linkcode SyftFuture.resolve} makes one check (no waiting);
 * {@linkcode SyftFuture.wait} resolves as soon as the watcher sees the response (or a rejection
 * marker, the request vanishing, or expiry).
 *
 * @example Send and wait
 * ```ts ignore
 * import { RpcClient } from "@syft/syft/rpc";
 * await using client = await RpcClient.open();
 * const future = await client.send("syft://bob@example.com/app_data/echo/rpc/echo", { body: { hi: 1 } });
 * const res = await future.wait({ timeout: "30s" });
 * console.log(res.statusCode, res.json());
 * ```
 */
export interface SyftFuture {
  /** The request id (lower-case UUID). */
  readonly id: string;
  /** The sender folder: `<url local path>/<sender>`. */
  readonly dir: string;
  /** `<dir>/<id>.request`. */
  readonly requestPath: string;
  /** `<dir>/<id>.response`. */
  readonly responsePath: string;
  /** The request, when this future was created by `send` (or has loaded it since). */
  readonly request: SyftRequest | undefined;
  /** The request URL, when known. */
  readonly url: SyftBoxURL | undefined;
  /** The request's expiry, when known. */
  readonly expires: Temporal.Instant | undefined;
  /** The response once resolved, else `undefined`. */
  readonly response: SyftResponse | undefined;
  /** Whether the future has resolved. */
  readonly done: boolean;
  /**
   * Makes one check, in syft-rpc's order: a rejection marker (`<id>.syftrejected.request`, or the
   * Go client's `<id>.rejected[.<time>].request`) → 403; a response → loaded and both files
   * deleted (an expired response keeps its body with status 419; one that does not load is a 500
   * once the grace period is over); the request missing → 404; the request expired → 419 and both
   * files deleted; otherwise `null` (still pending). Once resolved, returns the same response.
   *
   * @returns The response, or `null` while pending.
   */
  resolve(): Promise<SyftResponse | null>;
  /**
   * Waits for the response. It returns as soon as the response is read; deleting the consumed
   * files finishes just after (a new send of the same id waits for that).
   *
   * @param options Timeout (default 300 s) and abort signal.
   * @returns The response (check `statusCode`, or call `raiseForStatus()`).
   * @throws {RpcTimeoutError} When the timeout elapses first; the request stays pending.
   */
  wait(options?: WaitOptions): Promise<SyftResponse>;
  /** The persisted form (`{id, path, expires, url}`), for {@linkcode RpcClient.attach}. */
  toJSON(): SyftFutureRecord;
  /**
   * Deletes the request and response files of a response that was read but kept on disk (a
   * client opened with `consumeOnRead: false`). Does nothing otherwise.
   */
  consume(): Promise<void>;
}

/**
 * Several futures sent together ({@linkcode RpcClient.broadcast}).
 *
 * @example Gather in completion order
 * ```ts ignore
 * const bulk = await client.broadcast([urlA, urlB], { body: "hi" });
 * for (const res of await bulk.gather({ timeout: "10s" })) console.log(res.sender, res.statusCode);
 * ```
 */
export class SyftBulkFuture {
  /** The futures, in the order of the URLs. */
  readonly futures: readonly SyftFuture[];
  /** A stable id: version-4 UUID from the SHA-256 of the comma-joined request ids (syft-rpc). */
  readonly id: string;

  /**
   * Groups futures.
   *
   * @param futures The futures.
   */
  constructor(futures: readonly SyftFuture[]) {
    this.futures = futures;
    const digest = createHash("sha256").update(futures.map((f) => f.id).join(",")).digest();
    const b = new Uint8Array(digest.subarray(0, 16));
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    this.id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
      hex.slice(20)
    }`;
  }

  /** Checks every pending future once; returns the responses known so far (in URL order). */
  async resolve(): Promise<SyftResponse[]> {
    const out = await Promise.all(this.futures.map((f) => f.resolve()));
    return out.filter((r): r is SyftResponse => r !== null);
  }

  /**
   * Yields responses as they arrive (completion order) until all are in or the timeout elapses.
   *
   * @param options Timeout (default 300 s) and abort signal.
   * @returns An async iterator of responses.
   */
  async *completed(options: WaitOptions = {}): AsyncGenerator<SyftResponse> {
    const timeoutMs = timeoutOf(options);
    const signals = [
      options.signal,
      Number.isFinite(timeoutMs) ? AbortSignal.timeout(timeoutMs) : undefined,
    ]
      .filter((s): s is AbortSignal => s !== undefined);
    const signal = AbortSignal.any(signals);
    const queue: SyftResponse[] = [];
    let notify: (() => void) | undefined;
    let left = this.futures.length;
    for (const f of this.futures) {
      f.wait({ timeout: Infinity, signal }).then((r) => {
        queue.push(r);
        left--;
        notify?.();
      }, () => {
        left--;
        notify?.();
      });
    }
    while (true) {
      while (queue.length > 0) yield queue.shift()!;
      if (left === 0 || signal.aborted) {
        if (options.signal?.aborted) throw options.signal.reason;
        return;
      }
      await abortable(new Promise<void>((r) => (notify = r)), signal).catch(() => {});
      notify = undefined;
    }
  }

  /**
   * Waits for all responses (or the timeout) and returns those that arrived, in completion order.
   * Futures still pending afterwards are listed by {@linkcode SyftBulkFuture.pending}.
   *
   * @param options Timeout (default 300 s) and abort signal.
   * @returns The responses in completion order.
   */
  async gather(options: WaitOptions = {}): Promise<SyftResponse[]> {
    return await Array.fromAsync(this.completed(options));
  }

  /** Futures without a response yet. */
  get pending(): SyftFuture[] {
    return this.futures.filter((f) => !f.done);
  }

  /** Responses with status 200–299. */
  get successes(): SyftResponse[] {
    return this.futures.flatMap((f) => f.response?.isSuccess ? [f.response] : []);
  }

  /** Responses with status 400 or above. */
  get failures(): SyftResponse[] {
    return this.futures.flatMap((f) => f.response?.isError ? [f.response] : []);
  }

  /** Whether every future resolved and every response is an error. */
  get allFailed(): boolean {
    return this.futures.every((f) => f.response?.isError === true);
  }
}

/** The error of a request file that could not be written, with what to do about it. */
function writeError(path: string, err: unknown): RpcError {
  const code = (err as { code?: unknown }).code;
  const hint = code === "ENOSPC" || code === "EDQUOT"
    ? " (the disk is full: free some space, then send again)"
    : "";
  return new RpcError(`Cannot write request ${path}: ${(err as Error).message}${hint}`, {
    cause: err,
    code: "RPC_WRITE",
  });
}

/**
 * A long-lived RPC client bound to one workspace. It shares one watcher per directory tree across
 * all its futures (and with a {@linkcode SyftEvents} server in the same process), so thousands of
 * requests can be in flight without a watcher or a poll loop each.
 *
 * Requests are written atomically (staged in `<data_dir>/.syft-tmp`, then renamed into place) to
 * `<datasites>/<recipient>/<path>/<sender>/<id>.request`.
 *
 * @example Call the echo app of your own datasite
 * ```ts ignore
 * import { RpcClient, SyftBoxURL } from "@syft/syft/rpc";
 * await using client = await RpcClient.open(); // default SyftBox config
 * const url = SyftBoxURL.rpc(client.email, "echo", "echo");
 * const res = await (await client.send(url, { method: "POST", body: { hello: "world" } })).wait();
 * console.log(res.statusCode, res.json());
 * ```
 */
export class RpcClient implements AsyncDisposable {
  /** The workspace this client writes into. */
  readonly workspace: SyftBoxWorkspace;
  #futures: FutureRegistry;
  #watches: WatchSet;
  /** URL → its local directory (many requests go to the same few endpoints). */
  #dirs = new LRUCache<string, string>({ max: 1024 });
  /** URLs whose app directory is known to be watched. */
  #watchedUrls = new LRUCache<string, true>({ max: 1024 });
  #closed = false;

  /**
   * Creates a client for a workspace (no I/O happens until the first send).
   *
   * @param workspace The workspace.
   * @param options Poll interval, grace period, watcher options and clock.
   */
  constructor(workspace: SyftBoxWorkspace, options: Omit<RpcClientOptions, "workspace"> = {}) {
    this.workspace = workspace;
    this.#futures = new FutureRegistry({
      clock: options.clock ?? systemClock,
      graceMs: options.graceMs ?? 1000,
      consumeOnRead: options.consumeOnRead ?? true,
      pollMs: options.pollMs ?? 1000,
      tmpDir: workspace.tmpDir,
    });
    this.#watches = new WatchSet(this.#futures, options.watcher ?? {});
  }

  /**
   * Creates a client, loading the workspace from `options.workspace` or the default SyftBox
   * config.
   *
   * @param options Workspace, poll interval, grace period and watcher options.
   * @returns The client; close it with `await client.close()` (or `await using`).
   * @throws {RpcConfigError} When no usable config is found.
   *
   * @example
   * ```ts
   * import { RpcClient } from "@syft/syft/rpc";
   * const dir = await Deno.makeTempDir();
   * await using client = await RpcClient.open({ workspace: { dataDir: dir, email: "me@example.com" } });
   * console.log(client.email);
   * ```
   */
  static async open(options: RpcClientOptions = {}): Promise<RpcClient> {
    const workspace = await resolveWorkspace(options.workspace);
    const { workspace: _, ...rest } = options;
    return new RpcClient(workspace, rest);
  }

  /** The sender e-mail (the workspace owner). */
  get email(): string {
    return this.workspace.email;
  }

  /** The futures sent or attached and not resolved yet. */
  get pending(): SyftFuture[] {
    return [...this.#futures.values()];
  }

  /**
   * Sends a request: writes `<id>.request` and returns its future. In cache mode (the default)
   * an identical unexpired request already on disk is reused, and a future already pending in this
   * client for the same id is returned as is.
   *
   * @param url The endpoint (`syft://<email>/app_data/<app>/rpc/<endpoint>`).
   * @param options Method, body, headers, expiry (default 15 min) and cache mode.
   * @returns The future.
   * @throws {SyftUrlError} When the URL is invalid.
   * @throws {RpcProtocolError} When a header or the method is invalid.
   *
   * @example
   * ```ts
   * import { RpcClient } from "@syft/syft/rpc";
   * const dir = await Deno.makeTempDir();
   * await using client = await RpcClient.open({ workspace: { dataDir: dir, email: "me@example.com" } });
   * const future = await client.send("syft://bob@example.com/app_data/echo/rpc/echo", { body: "hi" });
   * console.log(future.requestPath);
   * ```
   */
  async send(url: string | SyftBoxURL, options: SendOptions = {}): Promise<SyftFuture> {
    this.#assertOpen();
    const target = SyftBoxURL.parse(url);
    const body = toBodyBytes(options.body);
    const headers = { ...(options.headers ?? {}) };
    const method = options.method ?? "GET";
    // Epoch milliseconds with microsecond fractions (the codec keeps microseconds).
    const createdUs = nowMicros();
    const created = createdUs / 1000;
    const expires = (createdUs + Math.round(expiryMs(options.expiry) * 1000)) / 1000;
    if (!(expires <= LATEST_PYTHON_DATE_MS)) {
      throw new RangeError(
        `Invalid expiry: ${
          JSON.stringify(options.expiry)
        } puts the expiry after 9999-12-31, the latest date Python's datetime reads`,
      );
    }
    const cache = options.id === undefined && (options.cache ?? true);
    const sender = this.workspace.email;
    const id = options.id ??
      (cache ? messageId({ sender, url: target, body, headers, method }) : crypto.randomUUID());
    const request = new SyftRequest({
      id,
      sender,
      url: target,
      body,
      headers,
      created,
      expires,
      method,
    });
    return await this.#send(request, cache);
  }

  /**
   * Sends a request built by the caller (its id, times and sender as they are; the sender should
   * be this client's e-mail, since the request goes into the `<sender>` folder). Useful to know
   * the id before the file is written. No cache-mode reuse happens.
   *
   * @param request The request.
   * @returns The future.
   *
   * @example
   * ```ts
   * import { RpcClient, SyftRequest } from "@syft/syft/rpc";
   * const dir = await Deno.makeTempDir();
   * await using client = await RpcClient.open({ workspace: { dataDir: dir, email: "me@example.com" } });
   * const request = new SyftRequest({ sender: client.email, url: "syft://bob@example.com/app_data/echo/rpc/echo" });
   * const future = await client.sendRequest(request);
   * console.log(future.id === request.id); // true
   * ```
   */
  async sendRequest(request: SyftRequest): Promise<SyftFuture> {
    this.#assertOpen();
    return await this.#send(request, false);
  }

  async #send(request: SyftRequest, cache: boolean): Promise<SyftFuture> {
    const id = request.id;
    const dir = this.#localDir(request.url) + sep + request.sender;
    const key = dir + sep + id;
    const existing = this.#futures.get(key);
    if (existing !== undefined) return existing;
    // A response for this id is being consumed: let its files go first.
    const consuming = this.#futures.deletions.pending(key);
    if (consuming !== undefined) await consuming;
    if (!this.#watchedUrls.has(request.url.href)) await this.#watch(request.url);
    const path = key + ".request";
    const bytes = request.toBytes();
    let tmp: string;
    try {
      if (cache) {
        // Look for an identical pending request while the new one is staged. An identical
        // request on disk needs no write, so a staging failure (a full disk) does not matter then.
        const [reused, staged] = await Promise.allSettled([
          this.#reuseCached(dir, id),
          stageFile(path, bytes, this.workspace.tmpDir),
        ]);
        if (reused.status === "rejected") {
          if (staged.status === "fulfilled") {
            await discardFile(staged.value, this.workspace.tmpDir, { trusted: true });
          }
          throw reused.reason;
        }
        if (reused.value !== undefined) {
          if (staged.status === "fulfilled") {
            await discardFile(staged.value, this.workspace.tmpDir, { trusted: true });
          }
          return reused.value;
        }
        if (staged.status === "rejected") throw staged.reason;
        tmp = staged.value;
      } else tmp = await stageFile(path, bytes, this.workspace.tmpDir);
    } catch (err) {
      throw writeError(path, err);
    }
    const future = new FutureImpl(this.#futures, { id, dir, request, fresh: true });
    this.#futures.track(future);
    try {
      await commitFile(tmp, path, bytes);
    } catch (err) {
      this.#futures.untrack(future);
      throw writeError(path, err);
    }
    return future;
  }

  /** The local directory of a URL. */
  #localDir(url: SyftBoxURL): string {
    let dir = this.#dirs.get(url.href);
    if (dir === undefined) {
      dir = url.toLocalPath(this.workspace.datasitesDir);
      this.#dirs.set(url.href, dir);
    }
    return dir;
  }

  async #reuseCached(dir: string, id: string): Promise<SyftFuture | undefined> {
    const path = join(dir, `${id}.request`);
    // Synchronous while file operations are fast: an async check would put a thread hop on the
    // path of every cache-mode send.
    if (!(await fastExists(path))) return undefined;
    const bytes = await readOrNull(path);
    if (bytes === null) return undefined;
    let old: SyftRequest;
    try {
      old = SyftRequest.decode(bytes, { fileId: id });
    } catch {
      return undefined; // unreadable: overwrite it
    }
    if (old.isExpired()) {
      await removeQuiet(path);
      return undefined;
    }
    const key = dir + sep + id;
    const future = this.#futures.get(key) ??
      new FutureImpl(this.#futures, { id, dir, request: old });
    this.#futures.track(future);
    return future;
  }

  /**
   * Sends a request and waits for its response.
   *
   * @param url The endpoint.
   * @param options Send options plus the wait timeout and signal.
   * @returns The response.
   * @throws {RpcTimeoutError} When the timeout elapses first.
   *
   * @example
   * ```ts ignore
   * const res = await client.call(url, { method: "POST", body: { a: 1, b: 2 }, timeout: "10s" });
   * console.log(res.raiseForStatus().json());
   * ```
   */
  async call(
    url: string | SyftBoxURL,
    options: SendOptions & WaitOptions = {},
  ): Promise<SyftResponse> {
    const { timeout, signal, ...send } = options;
    const future = await this.send(url, send);
    const wait: WaitOptions = {};
    if (timeout !== undefined) wait.timeout = timeout;
    if (signal !== undefined) wait.signal = signal;
    return await future.wait(wait);
  }

  /**
   * Sends the same request to several endpoints (always GET, as syft-rpc's `broadcast`, unless a
   * method is given).
   *
   * @param urls The endpoints.
   * @param options Send options.
   * @returns The bulk future.
   *
   * @example
   * ```ts ignore
   * const bulk = await client.broadcast(["syft://a@x.io/app_data/echo/rpc/ping", "syft://b@x.io/app_data/echo/rpc/ping"]);
   * console.log((await bulk.gather({ timeout: "5s" })).length);
   * ```
   */
  async broadcast(
    urls: readonly (string | SyftBoxURL)[],
    options: SendOptions = {},
  ): Promise<SyftBulkFuture> {
    const futures = await Promise.all(urls.map((u) => this.send(u, options)));
    return new SyftBulkFuture(futures);
  }

  /**
   * Re-attaches to a request written earlier (by this or another process, for instance before a
   * restart): by the request file's path, by `{url, id}` (sender defaults to this user), or by a
   * {@linkcode SyftFutureRecord} (`future.toJSON()`, or syft-rpc's `{id, path, expires}`).
   *
   * @param ref The request to follow.
   * @returns The future (the one already pending in this client when there is one).
   * @throws {RpcProtocolError} When the id is not a UUID.
   *
   * @example Persist a future and pick it up again
   * ```ts ignore
   * const record = future.toJSON();          // store it
   * const again = await client.attach(record); // after a restart
   * console.log(await again.resolve());
   * ```
   */
  async attach(ref: FutureRef): Promise<SyftFuture> {
    this.#assertOpen();
    let dir: string;
    let id: string | undefined;
    let url: SyftBoxURL | undefined;
    let expires: Temporal.Instant | undefined;
    if (typeof ref === "string") {
      const name = basename(ref);
      id = canonicalUuid(name.replace(/\.(request|response)$/, ""));
      dir = dirname(ref);
    } else if ("path" in ref) {
      id = canonicalUuid(ref.id);
      dir = ref.path;
      if (ref.expires !== undefined) expires = toInstant(ref.expires, "expires");
      if (ref.url !== undefined) url = SyftBoxURL.parse(ref.url);
    } else {
      id = canonicalUuid(ref.id);
      url = SyftBoxURL.parse(ref.url);
      dir = join(url.toLocalPath(this.workspace.datasitesDir), ref.sender ?? this.workspace.email);
    }
    if (id === undefined) {
      throw new RpcProtocolError(
        "id",
        `Invalid id: cannot find a request UUID in ${JSON.stringify(ref)}`,
      );
    }
    const key = dir + sep + id;
    const existing = this.#futures.get(key);
    if (existing !== undefined) return existing;
    url ??= this.#urlOfDir(dir);
    if (url !== undefined) await this.#watch(url);
    else await this.#watches.cover(dirname(dir));
    const future = new FutureImpl(this.#futures, { id, dir, url, expires });
    this.#futures.track(future);
    return future;
  }

  #urlOfDir(dir: string): SyftBoxURL | undefined {
    try {
      return this.workspace.toSyftUrl(dirname(dir));
    } catch {
      return undefined;
    }
  }

  /**
   * Reads an app's published `rpc.schema.json` from a datasite (default: this user's).
   *
   * @param appName The app.
   * @param options The datasite owner.
   * @returns The parsed schema: `{"/endpoint": {description, args, returns}}`.
   * @throws {SyftError} `RPC_NO_SCHEMA` when the app has not published one, `RPC_BAD_SCHEMA` when
   * it is not JSON.
   *
   * @example
   * ```ts ignore
   * const schema = await client.readSchema("echo", { datasite: "bob@example.com" });
   * console.log(Object.keys(schema));
   * ```
   */
  async readSchema(
    appName: string,
    options: { datasite?: string } = {},
  ): Promise<Record<string, unknown>> {
    return await readRpcSchema(this.workspace, appName, options);
  }

  /**
   * Stops watching, rejects every pending wait and waits for consumed files to be removed.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watches.close();
    this.#futures.close(new RpcError("The RPC client was closed", { code: "RPC_CLOSED" }));
    // Consumed files still being removed: finish that before the caller (a CLI) exits.
    await this.#futures.deletions.all();
    // This process's private recycled files go to the shared pool, for the processes that stay.
    await recyclerFor(this.workspace.tmpDir).release();
  }

  /** Same as {@linkcode RpcClient.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new RpcError("The RPC client is closed", { code: "RPC_CLOSED" });
  }

  /** Makes sure a watcher covers the app directory of `url`. */
  async #watch(url: SyftBoxURL): Promise<void> {
    const local = url.toLocalPath(this.workspace.datasitesDir);
    const app = url.appName;
    const dir = app === undefined
      ? local
      : join(this.workspace.datasitesDir, url.host, "app_data", ...app.split("/"), "rpc");
    await this.#watches.cover(dir);
    this.#watchedUrls.set(url.href, true);
  }
}

/**
 * Reads an app's `rpc.schema.json` from a datasite.
 *
 * @param workspace The workspace.
 * @param appName The app.
 * @param options The datasite owner (default: the workspace owner).
 * @returns The parsed schema.
 * @throws {SyftError} `RPC_NO_SCHEMA` when missing, `RPC_BAD_SCHEMA` when not a JSON object.
 *
 * @example
 * ```ts ignore
 * import { readRpcSchema, SyftBoxWorkspace } from "@syft/syft/rpc";
 * const schema = await readRpcSchema(await SyftBoxWorkspace.load(), "echo");
 * ```
 */
export async function readRpcSchema(
  workspace: SyftBoxWorkspace,
  appName: string,
  options: { datasite?: string } = {},
): Promise<Record<string, unknown>> {
  const datasite = options.datasite ?? workspace.email;
  const path = join(workspace.appRpcDir(appName, datasite), "rpc.schema.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new RpcError(
        `Cannot find the schema of app "${appName}" on ${datasite}: ${path} does not exist`,
        { cause: err, code: "RPC_NO_SCHEMA" },
      );
    }
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RpcError(`Cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
      code: "RPC_BAD_SCHEMA",
    });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new RpcError(`Cannot read ${path}: expected a JSON object`, { code: "RPC_BAD_SCHEMA" });
  }
  return parsed as Record<string, unknown>;
}
