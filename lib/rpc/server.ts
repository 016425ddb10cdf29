/**
 * `SyftEvents`: a SyftBox RPC app that answers `.request` files under
 * `<datasite>/app_data/<app>/rpc/<endpoint>/<sender>/`, compatible with syft-event (§4 of the
 * reference) and faster and sturdier: watcher-driven, bounded concurrency, idempotent, atomic
 * writes, a grace period for half-written requests.
 *
 * @module
 */
import { MAX_TIMER_MS } from "../_timers.ts";
import { dirname, join, sep } from "node:path";
import { LRUCache } from "lru-cache";
import { deadline } from "../_async.ts";
import { type Clock, systemClock } from "../_clock.ts";
import { ensureDir, writeFileAtomic } from "../_fs.ts";
import { getLogger } from "../_log.ts";
import { clearSpecialFile, hintRecycled, pathExists, readRegular, writeAtomic } from "./_io.ts";
import { answer, type AnswerRoute, describeLoadError, loadErrorResponse } from "./_answer.ts";
import { AnsweredMemory } from "./_answered.ts";
import { HalfWritten } from "./_half_written.ts";
import { migrateLegacy, removeOldRequests, scanEndpoint, type ScanSink } from "./_scan.ts";
import { WatchSet } from "./_watch_set.ts";
import { WorkQueue } from "./_work_queue.ts";
import { resolveWorkspace, SyftBoxWorkspace, type WorkspaceSource } from "./config.ts";
import { RpcError } from "./errors.ts";
import { canonicalUuid, type SyftMethod, SyftRequest } from "./protocol.ts";
import {
  type EndpointSchema,
  endpointSchema,
  type InferInput,
  type InferOutput,
  RPC_PERMISSIONS_YAML,
  type StandardSchemaV1,
} from "./schema.ts";
import { pythonJson } from "./_pydantic_schema.ts";
import { GlobWatcher, type WatchEvent, type WatchEventKind } from "./globs.ts";
import { parseDuration } from "./time.ts";
import type { RpcLiveSource } from "../live/mod.ts";
import { RpcLiveRecorder, type RpcLiveView } from "./_live.ts";
import { isValidEmail, type SyftBoxURL } from "./url.ts";
import type { FileChange, FileWatcherOptions, RescanReason } from "./watcher.ts";
import type { SyftReply } from "./reply.ts";

export { reply, type ReplyOptions, SyftReply } from "./reply.ts";

const log = getLogger(["rpc", "server"]);

/** What a handler receives besides the body. */
export interface RequestContext {
  /** The decoded request. */
  request: SyftRequest;
  /** The request id. */
  id: string;
  /** The requester's e-mail. */
  sender: string;
  /** The request URL (its `query` holds the query parameters). */
  url: SyftBoxURL;
  /** The method. */
  method: SyftMethod;
  /** The request headers. */
  headers: Record<string, string>;
  /** The raw body bytes, or `null`. */
  raw: Uint8Array | null;
  /** The endpoint, with a leading slash (`"/echo"`). */
  endpoint: string;
  /** The request file. */
  path: string;
  /** The app (for `app.state`, `app.workspace`). */
  app: SyftEvents;
  /** Aborted when the app stops. */
  signal: AbortSignal;
}

/** A request handler: receives the decoded body and the context; returns the reply body. */
export type RequestHandler<In = unknown, Out = unknown> = (
  body: In,
  ctx: RequestContext,
) => Out | SyftReply | Response | Promise<Out | SyftReply | Response>;

/** Schema and description of an endpoint. */
export interface EndpointOptions<
  I extends StandardSchemaV1 = StandardSchemaV1,
  O extends StandardSchemaV1 = StandardSchemaV1,
> {
  /** Validates (and transforms) the JSON body; errors are answered 400 with zod's messages. */
  input?: I;
  /** Describes the result in `rpc.schema.json` (not enforced). */
  output?: O;
  /** The description in `rpc.schema.json`. */
  description?: string;
  /**
   * The argument's name in `rpc.schema.json` (syft-event uses the Python handler's parameter
   * name); default `"body"`.
   */
  arg?: string;
  /** The input model's name in `rpc.schema.json` (default: the schema's `id`/`title` meta). */
  model?: string;
  /** The output model's name in `rpc.schema.json` (default: the schema's `id`/`title` meta). */
  outputModel?: string;
}

interface Route {
  endpoint: string;
  handler: RequestHandler<unknown, unknown>;
  options: EndpointOptions;
}

function normaliseEndpoint(endpoint: string): string {
  const trimmed = endpoint.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") {
    throw new TypeError(`Invalid endpoint ${JSON.stringify(endpoint)}: it is empty`);
  }
  // deno-lint-ignore no-control-regex
  if (/[*?[\]\\]/.test(trimmed) || /[\x00-\x1f]/.test(trimmed)) {
    throw new TypeError(
      `Invalid endpoint ${
        JSON.stringify(endpoint)
      }: wildcards and control characters are not allowed`,
    );
  }
  if (trimmed.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new TypeError(`Invalid endpoint ${JSON.stringify(endpoint)}: empty, "." or ".." segment`);
  }
  return trimmed;
}

/** The arguments of either `onRequest` form, checked: `(endpoint, handler)` or with options. */
function toRoute(
  endpoint: string,
  a: EndpointOptions | RequestHandler<unknown, unknown>,
  b: RequestHandler<unknown, unknown> | undefined,
): Route {
  const [options, handler] = typeof a === "function" ? [{}, a] : [a, b];
  if (typeof handler !== "function") {
    throw new TypeError(`Invalid handler for ${JSON.stringify(endpoint)}: expected a function`);
  }
  return { endpoint: normaliseEndpoint(endpoint), handler, options };
}

/**
 * A group of endpoints registered elsewhere with {@linkcode SyftEvents.includeRouter}.
 *
 * @example
 * ```ts
 * import { EventRouter, SyftEvents } from "@syft/syft/rpc";
 * const users = new EventRouter();
 * users.onRequest("/get", (body: { id: string }) => ({ id: body.id, name: "Ada" }));
 * const box = new SyftEvents("shop");
 * box.includeRouter(users, { prefix: "/api/v1/users" }); // serves /api/v1/users/get
 * ```
 */
export class EventRouter {
  /** The registered routes: endpoint (no leading slash) → handler and options. */
  readonly routes: Map<
    string,
    { handler: RequestHandler<unknown, unknown>; options: EndpointOptions }
  > = new Map();

  /**
   * Registers a handler without a schema: the body is JSON when it parses, else text.
   *
   * @param endpoint The endpoint path, such as `"/hello"`.
   * @param handler The handler.
   * @returns This router.
   */
  onRequest<In = unknown, Out = unknown>(endpoint: string, handler: RequestHandler<In, Out>): this;
  /**
   * Registers a handler with an input schema (validated body), an output schema and a description.
   *
   * @param endpoint The endpoint path.
   * @param options Schemas and description.
   * @param handler The handler.
   * @returns This router.
   */
  onRequest<I extends StandardSchemaV1, O extends StandardSchemaV1 = StandardSchemaV1>(
    endpoint: string,
    options: EndpointOptions<I, O>,
    handler: RequestHandler<InferOutput<I>, InferInput<O>>,
  ): this;
  onRequest(
    endpoint: string,
    a: EndpointOptions | RequestHandler<unknown, unknown>,
    b?: RequestHandler<unknown, unknown>,
  ): this {
    const route = toRoute(endpoint, a, b);
    this.routes.set(route.endpoint, { handler: route.handler, options: route.options });
    return this;
  }
}

/** Options of {@linkcode SyftEvents.watch}. */
export interface WatchOptions {
  /** The kinds to deliver (default `["create", "modify"]`, as syft-event). */
  events?: readonly WatchEventKind[];
}

/** Options of {@linkcode SyftEvents}. */
export interface SyftEventsOptions {
  /** The workspace (default: the SyftBox config found by {@linkcode loadSyftBoxConfig}). */
  workspace?: WorkspaceSource;
  /** Write `rpc.schema.json` at start (default true). */
  publishSchema?: boolean;
  /** 500 replies carry the error type, message and stack as JSON (default false). */
  debug?: boolean;
  /** Handlers in flight at most (default 32). */
  concurrency?: number;
  /** How long a request that does not parse may take to complete before a 400, in ms (default 1000). */
  graceMs?: number;
  /**
   * Larger request files are answered 413 without being read (default 64 MiB). Requests must be
   * regular files: symlinks are not followed, and FIFOs, sockets and devices are removed.
   */
  maxRequestBytes?: number;
  /** Requests older than this are deleted by the periodic cleanup (default `"30d"`). */
  cleanupExpiry?: string | number;
  /** How often the cleanup runs (default `"1h"`; 0 disables it). */
  cleanupInterval?: string | number;
  /** Answer requests already waiting when the app starts (default true). */
  processPending?: boolean;
  /** Watcher options (event source, timings). */
  watcher?: FileWatcherOptions;
  /** How long `stop()` waits for handlers in flight, in ms (default 10000). */
  stopTimeoutMs?: number;
  /**
   * The clock grace periods, the stop timeout, `idle()` and the glob watchers' windows run on
   * (default the system clock; tests fake it).
   */
  clock?: Clock;
}

/** Counters of a running app. */
export interface SyftEventsStats {
  /** Responses written (any status). */
  answered: number;
  /** Replies with status 400 (unreadable requests, schema errors). */
  badRequests: number;
  /** Replies with status 419. */
  expired: number;
  /** Replies with status 500. */
  errors: number;
  /** Legacy flat-layout requests moved into sender folders. */
  migrated: number;
  /** Full scans (start, overflow, reconcile). */
  scans: number;
  /** Requests deleted by the cleanup. */
  cleaned: number;
}

interface GlobWatch {
  patterns: string[];
  handler: (e: WatchEvent) => unknown;
  events: WatchEventKind[];
}

/** The default of {@linkcode SyftEventsOptions.maxRequestBytes}: 64 MiB. */
const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024;

/**
 * A SyftBox RPC app (syft-event's `SyftEvents`). Register handlers with
 * {@linkcode SyftEvents.onRequest}, then {@linkcode SyftEvents.start} (or
 * {@linkcode SyftEvents.runForever}).
 *
 * Handlers receive `(body, ctx)`. The body is the validated input when a schema is given, else the
 * JSON value when the body parses, else its text (`undefined` when there is no body). Return a
 * string (sent as UTF-8), bytes, any JSON value, a {@linkcode reply} with status and headers, or a
 * Fetch `Response`. Errors are answered 500; invalid input 400; expired requests 419.
 *
 * @example An app with a typed endpoint
 * ```ts ignore
 * import { reply, SyftEvents } from "@syft/syft/rpc";
 * import { z } from "zod";
 *
 * const box = new SyftEvents("my_app", { publishSchema: true });
 * box.onRequest("/hello", ({ name }: { name: string }) => `Hello, ${name}!`);
 * box.onRequest("/calculate", {
 *   input: z.object({ a: z.number(), b: z.number(), operation: z.enum(["add", "multiply"]).default("add") }),
 *   output: z.number(),
 *   description: "Add or multiply",
 * }, ({ a, b, operation }) => operation === "add" ? a + b : a * b);
 * box.onRequest("/create", () => reply({ message: "created" }, { status: 201 }));
 * box.watch(["{datasite}/**\/*.json"], (event) => console.log(event.kind, event.path));
 * box.state.counter = 0;
 * await box.runForever();
 * ```
 */
export class SyftEvents implements AsyncDisposable {
  /** The app name (`app_data/<name>`). */
  readonly appName: string;
  /** Free-form shared state for handlers (not persisted). */
  readonly state: Record<string, unknown> = {};
  /** Counters. */
  readonly stats: SyftEventsStats = {
    answered: 0,
    badRequests: 0,
    expired: 0,
    errors: 0,
    migrated: 0,
    scans: 0,
    cleaned: 0,
  };
  #options: SyftEventsOptions;
  #clock: Clock;
  #routes = new Map<string, Route>();
  #globs: GlobWatch[] = [];
  #workspace: SyftBoxWorkspace | undefined;
  #rpcDir = "";
  #watches: WatchSet;
  #globWatchers: GlobWatcher[] = [];
  #controller = new AbortController();
  #started: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #queue: WorkQueue<string>;
  #answered = new AnsweredMemory();
  #halfWritten: HalfWritten;
  /** URL → its local directory (requests name their endpoint by URL). */
  #urlDirs = new LRUCache<string, string>({ max: 1024 });
  #scanning: Promise<void> | undefined;
  #rescanAgain = false;
  #cleanupTimer: ReturnType<typeof setInterval> | undefined;
  readonly #live: RpcLiveRecorder;

  /**
   * Creates the app (nothing touches the disk until {@linkcode SyftEvents.start}).
   *
   * @param appName The app name.
   * @param options Workspace, schema publishing, debug mode, concurrency, grace period, cleanup.
   */
  constructor(appName: string, options: SyftEventsOptions = {}) {
    if (!/^[a-zA-Z0-9_.+-][a-zA-Z0-9_.+\-/]*$/.test(appName) || appName.split("/").includes("..")) {
      throw new TypeError(
        `Invalid app name ${JSON.stringify(appName)}: use letters, digits, "_", "-", "." or "+"`,
      );
    }
    this.appName = appName;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#live = new RpcLiveRecorder(appName, () => this.#liveView());
    this.#queue = new WorkQueue<string>({
      concurrency: options.concurrency ?? 32,
      run: (path) => this.#process(path),
      onError: (path, err) =>
        log.error("Cannot process {path}: {error}", { path, error: String(err) }),
    });
    this.#halfWritten = new HalfWritten({
      clock: this.#clock,
      graceMs: options.graceMs ?? 1000,
      retry: (path) => this.#enqueue(path),
    });
    this.#watches = new WatchSet({
      onChange: (c) => this.#onChange(c),
      onRescan: (r) => this.#onRescan(r),
    }, options.watcher ?? {});
    // A workspace given as an object is known at once (so `url()` works before `start()`).
    if (options.workspace instanceof SyftBoxWorkspace) this.#setWorkspace(options.workspace);
    else if (options.workspace !== undefined && typeof options.workspace !== "string") {
      this.#setWorkspace(new SyftBoxWorkspace(options.workspace));
    }
  }

  #setWorkspace(ws: SyftBoxWorkspace): void {
    this.#workspace ??= ws;
    this.#rpcDir = this.#workspace.appRpcDir(this.appName);
  }

  /** The workspace (known once started, or at once when given as an object). */
  get workspace(): SyftBoxWorkspace {
    if (this.#workspace === undefined) {
      throw new RpcError(`The app "${this.appName}" has no workspace yet: call start() first`, {
        code: "RPC_NOT_STARTED",
      });
    }
    return this.#workspace;
  }

  /** The owner's e-mail. */
  get email(): string {
    return this.workspace.email;
  }

  /** `<datasites>/<email>/app_data/<app>`. */
  get appDir(): string {
    return this.workspace.appData(this.appName);
  }

  /** `<datasites>/<email>/app_data/<app>/rpc`. */
  get rpcDir(): string {
    return this.workspace.appRpcDir(this.appName);
  }

  /** The registered endpoints, with leading slashes. */
  get endpoints(): string[] {
    return [...this.#routes.keys()].map((e) => "/" + e);
  }

  /** Handlers running now. */
  get inFlight(): number {
    return this.#queue.running;
  }

  /** Requests waiting for a handler slot. */
  get queued(): number {
    return this.#queue.queued;
  }

  /**
   * This app's live state: counters, per-endpoint requests and latency, recent requests with
   * their messages (action `request`), and a feed of answered requests (`@syft/syft/live`).
   *
   * @returns The app's live source (the same one on every call).
   */
  live(): RpcLiveSource {
    return this.#live.source();
  }

  #liveView(): RpcLiveView {
    const known = this.#workspace !== undefined;
    return {
      appName: this.appName,
      email: known ? this.email : "",
      rpcDir: known ? this.rpcDir : "",
      stats: this.stats as unknown as Record<string, number>,
      inFlight: this.inFlight,
      queued: this.queued,
      endpoints: [...this.#routes.values()].map((r) => ({
        path: "/" + r.endpoint,
        description: r.options.description ?? null,
      })),
    };
  }

  /** The URL of one of this app's endpoints. */
  url(endpoint: string): string {
    return `syft://${this.email}/app_data/${this.appName}/rpc/${normaliseEndpoint(endpoint)}`;
  }

  /**
   * Registers a handler without a schema: the body is JSON when it parses, else text.
   *
   * @param endpoint The endpoint path, such as `"/hello"` (nesting allowed, no wildcards).
   * @param handler The handler.
   * @returns This app.
   */
  onRequest<In = unknown, Out = unknown>(endpoint: string, handler: RequestHandler<In, Out>): this;
  /**
   * Registers a handler with an input schema (the body is validated; errors are answered 400 with
   * zod's messages), an output schema (for `rpc.schema.json`) and a description.
   *
   * @param endpoint The endpoint path.
   * @param options Schemas and description.
   * @param handler The handler.
   * @returns This app.
   */
  onRequest<I extends StandardSchemaV1, O extends StandardSchemaV1 = StandardSchemaV1>(
    endpoint: string,
    options: EndpointOptions<I, O>,
    handler: RequestHandler<InferOutput<I>, InferInput<O>>,
  ): this;
  onRequest(
    endpoint: string,
    a: EndpointOptions | RequestHandler<unknown, unknown>,
    b?: RequestHandler<unknown, unknown>,
  ): this {
    const route = toRoute(endpoint, a, b);
    const ep = route.endpoint;
    this.#routes.set(ep, route);
    if (this.#started !== undefined && this.#stopping === undefined) {
      void this.#started.then(async () => {
        await this.#initEndpoint(ep);
        if (this.#options.publishSchema ?? true) await this.publishSchema();
        this.#requestScan();
      }).catch((err) => log.error("Cannot add endpoint {ep}: {error}", { ep, error: String(err) }));
    }
    return this;
  }

  /**
   * Registers every route of a router, under a prefix.
   *
   * @param router The router.
   * @param options The prefix (default none).
   * @returns This app.
   */
  includeRouter(router: EventRouter, options: { prefix?: string } = {}): this {
    const prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    for (const [ep, route] of router.routes) {
      this.onRequest(prefix ? `${prefix}/${ep}` : ep, route.options, route.handler);
    }
    return this;
  }

  /**
   * Calls `handler` for files matching glob patterns anywhere under the datasites directory.
   * Patterns may use `{datasite}` and `{email}` (this user's e-mail) and `{app_data}` (this app's
   * absolute data dir); like syft-event they are matched against absolute paths with `**\/`
   * prepended unless they start with it.
   *
   * @param patterns One glob or several (any may match).
   * @param handler Called with `{kind, path, origin}`; may be async (errors are logged).
   * @param options The kinds to deliver (default create and modify).
   * @returns This app.
   */
  watch(
    patterns: string | readonly string[],
    handler: (event: WatchEvent) => unknown,
    options: WatchOptions = {},
  ): this {
    const list = typeof patterns === "string" ? [patterns] : [...patterns];
    if (list.length === 0) throw new TypeError("Cannot watch: no glob pattern given");
    this.#globs.push({
      patterns: list,
      handler,
      events: [...(options.events ?? ["create", "modify"])],
    });
    if (this.#started !== undefined) {
      void this.#started.then(() => this.#startGlobs(this.#globs.slice(-1))).catch(() => {});
    }
    return this;
  }

  /** The content of `rpc.schema.json` for the registered endpoints. */
  schema(): Record<string, EndpointSchema> {
    const out: Record<string, EndpointSchema> = {};
    for (const [ep, route] of this.#routes) out["/" + ep] = endpointSchema(ep, route.options);
    return out;
  }

  /** Writes `rpc.schema.json` as syft-event does (`json.dumps(schema, indent=2)`: ASCII escapes). */
  async publishSchema(): Promise<void> {
    await writeFileAtomic(
      join(this.rpcDir, "rpc.schema.json"),
      pythonJson(this.schema()),
      {
        createDir: true,
      },
    );
  }

  /**
   * Creates the app directories, writes `syft.pub.yaml` and `rpc.schema.json`, starts watching,
   * migrates legacy flat-layout requests and queues every pending request. Resolves once watching
   * (pending requests are answered in the background). Idempotent.
   *
   * @throws {RpcConfigError} When no workspace was given and no SyftBox config is found.
   */
  start(): Promise<void> {
    if (this.#stopping !== undefined) {
      return Promise.reject(
        new RpcError(`The app "${this.appName}" was stopped`, { code: "RPC_STOPPED" }),
      );
    }
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    this.#setWorkspace(await resolveWorkspace(this.#options.workspace));
    const ws = this.workspace;
    await ws.ensure();
    await ensureDir(this.#rpcDir);
    await writeFileAtomic(join(this.#rpcDir, "syft.pub.yaml"), RPC_PERMISSIONS_YAML);
    for (const ep of this.#routes.keys()) await this.#initEndpoint(ep);
    if (this.#options.publishSchema ?? true) await this.publishSchema();
    // Watch first, then scan: nothing written in between is missed.
    await this.#watches.cover(this.#rpcDir);
    await this.#startGlobs(this.#globs);
    if (this.#options.processPending ?? true) await this.#scan();
    const interval = parseDuration(this.#options.cleanupInterval ?? "1h", "cleanupInterval");
    if (interval > 0) {
      // setInterval fires at once for intervals over ~24.8 days: clamp to that.
      this.#cleanupTimer = setInterval(
        () => void this.cleanup(),
        Math.min(interval, MAX_TIMER_MS),
      );
      Deno.unrefTimer(this.#cleanupTimer);
      const first = setTimeout(() => void this.cleanup(), 1000);
      Deno.unrefTimer(first);
    }
    log.info("App {app} serving {endpoints} in {dir}", {
      app: this.appName,
      endpoints: this.endpoints.join(", "),
      dir: this.#rpcDir,
    });
  }

  async #initEndpoint(ep: string): Promise<void> {
    const dir = join(this.#rpcDir, ...ep.split("/"));
    await ensureDir(dir);
    const keep = join(dir, ".syftkeep");
    if (!(await pathExists(keep))) await Deno.writeFile(keep, new Uint8Array());
  }

  /**
   * Stops watching, aborts `ctx.signal`, and waits (up to `stopTimeoutMs`) for handlers in flight
   * to write their responses. Requests still queued stay on disk for the next start. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    try {
      await this.#started;
    } catch { /* failed start: still release what was acquired */ }
    this.#watches.close();
    for (const g of this.#globWatchers) g.stop();
    this.#globWatchers = [];
    clearInterval(this.#cleanupTimer);
    this.#halfWritten.clear();
    this.#queue.close();
    this.#controller.abort(
      new RpcError(`The app "${this.appName}" is stopping`, { code: "RPC_STOPPED" }),
    );
    if (this.#queue.running > 0) {
      await deadline(this.#queue.drain(), this.#options.stopTimeoutMs ?? 10_000, {
        clock: this.#clock,
      }).catch(() => {});
    }
    await this.#scanning?.catch(() => {});
  }

  /**
   * Starts the app and runs until SIGINT/SIGTERM (or `options.signal`), then stops it.
   *
   * @param options An abort signal that also stops the app.
   */
  async runForever(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.start();
    const { promise, resolve } = Promise.withResolvers<void>();
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const onSignal = (): void => resolve();
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    options.signal?.addEventListener("abort", onSignal, { once: true });
    if (options.signal?.aborted) resolve();
    try {
      await promise;
    } finally {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      options.signal?.removeEventListener("abort", onSignal);
      await this.stop();
    }
  }

  /** Same as {@linkcode SyftEvents.stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Scans every endpoint now for requests without a response (what a watcher overflow triggers)
   * and resolves when the scan is done (the requests it found may still be in flight).
   */
  async rescan(): Promise<void> {
    await this.start();
    this.#requestScan();
    while (this.#scanning !== undefined) await this.#scanning;
  }

  /**
   * Waits until no request is queued or in flight (useful in tests and benchmarks).
   *
   * @param options Give up after `timeoutMs` (default 30 s).
   * @throws {RpcError} `RPC_NOT_IDLE` when the time runs out first.
   */
  async idle(options: { timeoutMs?: number } = {}): Promise<void> {
    await deadline(this.#queue.idle(), options.timeoutMs ?? 30_000, {
      clock: this.#clock,
      onTimeout: () =>
        new RpcError("Timed out waiting for the app to be idle", { code: "RPC_NOT_IDLE" }),
    });
  }

  // ---- events and scans ----------------------------------------------------------------------

  #onChange(change: FileChange): void {
    const p = change.path;
    if (!p.endsWith(".request")) {
      // A client consumed a response: it may be in the recycle directory now, for our next write.
      if (change.kind === "remove" && p.endsWith(".response")) {
        const name = p.slice(p.lastIndexOf(sep) + 1);
        if (name.length === 45) hintRecycled(name, this.workspace.tmpDir);
      }
      return;
    }
    if (change.kind === "remove") {
      this.#halfWritten.forget(p);
      this.#answered.unmarkOnDisk(p);
      return;
    }
    this.#enqueue(p);
  }

  #onRescan(reason: RescanReason): void {
    log.debug("Rescanning {dir} ({reason})", { dir: this.#rpcDir, reason });
    this.#requestScan();
  }

  #requestScan(): void {
    if (this.#stopping !== undefined) return;
    if (this.#scanning !== undefined) {
      this.#rescanAgain = true;
      return;
    }
    void this.#scan();
  }

  /** Lists every endpoint directory: queues requests without responses (legacy ones migrate). */
  #scan(): Promise<void> {
    const release = this.#queue.hold();
    const sink: ScanSink = {
      pending: (path) => {
        this.#answered.unmarkOnDisk(path);
        this.#enqueue(path);
      },
      answered: (path) => this.#answered.markOnDisk(path),
      special: (path) => this.#reportSpecial(path),
    };
    const run = async (): Promise<void> => {
      do {
        this.#rescanAgain = false;
        this.stats.scans++;
        for (const ep of this.#routes.keys()) {
          if (this.#stopping !== undefined) return;
          const childEndpoints = new Set<string>();
          for (const other of this.#routes.keys()) {
            if (other.startsWith(ep + "/")) {
              childEndpoints.add(other.slice(ep.length + 1).split("/")[0]!);
            }
          }
          try {
            await scanEndpoint(join(this.#rpcDir, ...ep.split("/")), childEndpoints, sink);
          } catch (err) {
            log.warn("Cannot scan endpoint {ep}: {error}", { ep, error: String(err) });
          }
        }
      } while (this.#rescanAgain && this.#stopping === undefined);
    };
    this.#scanning = run().finally(() => {
      this.#scanning = undefined;
      release();
    });
    return this.#scanning;
  }

  // ---- the request pipeline ------------------------------------------------------------------

  #enqueue(path: string): void {
    if (this.#stopping !== undefined) return;
    this.#queue.add(path);
  }

  /** Finds the route and layout of a request file from its location. */
  #locate(path: string): { route: Route; legacy: boolean; senderDir: string } | undefined {
    if (!path.startsWith(this.#rpcDir + sep)) return undefined;
    const rel = path.slice(this.#rpcDir.length + 1).split(sep);
    rel.pop();
    const flat = this.#routes.get(rel.join("/"));
    if (flat !== undefined) return { route: flat, legacy: true, senderDir: "" };
    if (rel.length >= 2) {
      const route = this.#routes.get(rel.slice(0, -1).join("/"));
      if (route !== undefined) return { route, legacy: false, senderDir: rel[rel.length - 1]! };
    }
    return undefined;
  }

  async #process(path: string): Promise<void> {
    const name = path.slice(path.lastIndexOf(sep) + 1);
    const stem = name.slice(0, -".request".length);
    const id = canonicalUuid(stem);
    if (id === undefined) return; // rejection markers and other names are not requests
    const where = this.#locate(path);
    if (where === undefined) return;
    const responsePath = path.slice(0, -".request".length) + ".response";
    const limit = this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    const bytes = await readRegular(path, limit);
    if (!(bytes instanceof Uint8Array)) {
      this.#halfWritten.forget(path);
      if (bytes === "special") {
        if (clearSpecialFile(path)) this.#reportSpecial(path);
      } else if (typeof bytes === "object") {
        await this.#writeLoadError(
          path,
          id,
          `Request file is ${bytes.tooLarge} bytes; the limit is ${limit}`,
          413,
        );
      }
      return;
    }
    let request: SyftRequest;
    try {
      request = SyftRequest.decode(bytes, { fileId: stem });
    } catch (err) {
      if (await pathExists(responsePath)) this.#halfWritten.forget(path);
      else if (await this.#halfWritten.check(path) === "give-up") {
        await this.#writeLoadError(path, id, describeLoadError(err));
      }
      return;
    }
    this.#halfWritten.forget(path);
    const started = performance.now();
    // Idempotency without a stat per request: what this process answered is remembered (keyed by
    // path and creation time), and what was already answered when a scan listed the directory is
    // marked. Only those (and requests older than anything forgotten) need a look at the disk.
    const created = request.createdMicros; // a number: no Temporal instant on the hot path
    const verdict = this.#answered.verdict(path, created);
    if (verdict === "done") return;
    if (verdict === "check-disk") {
      if (await pathExists(responsePath)) return;
      this.#answered.unmarkOnDisk(path);
    }
    if (where.legacy) {
      if (!isValidEmail(request.sender)) {
        await this.#writeLoadError(
          path,
          request.id,
          `Error loading request: the sender ${
            JSON.stringify(request.sender)
          } is not an e-mail address`,
        );
        return;
      }
      const target = await migrateLegacy(path, bytes, request, this.workspace.tmpDir);
      this.stats.migrated++;
      log.info("Moved legacy request {from} to {to}", { from: path, to: target });
      this.#enqueue(target);
      return;
    }
    // The response goes next to the request; refuse requests whose URL or sender disagree with
    // the location (syft-event would write the response elsewhere, even outside the app).
    const endpointDir = dirname(dirname(path));
    let urlDir = this.#urlDirs.get(request.url.href);
    if (urlDir === undefined) {
      try {
        urlDir = request.url.toLocalPath(this.workspace.datasitesDir);
      } catch {
        urlDir = "";
      }
      this.#urlDirs.set(request.url.href, urlDir);
    }
    if (urlDir !== endpointDir || where.senderDir !== request.sender) {
      await this.#writeLoadError(
        path,
        id,
        urlDir !== endpointDir
          ? `Error loading request: the url ${request.url.href} does not name the endpoint the request file is in`
          : `Error loading request: the sender ${
            JSON.stringify(request.sender)
          } does not match the folder ${JSON.stringify(where.senderDir)}`,
      );
      this.#answered.remember(path, created);
      return;
    }
    const route = where.route;
    const ctx: RequestContext = {
      request,
      id: request.id,
      sender: request.sender,
      url: request.url,
      method: request.method,
      headers: request.headers,
      raw: request.body,
      endpoint: "/" + route.endpoint,
      path,
      app: this,
      signal: this.#controller.signal,
    };
    const result = await answer(
      request,
      {
        endpoint: route.endpoint,
        handler: route.handler as AnswerRoute<RequestContext>["handler"],
        input: route.options.input,
      },
      ctx,
      { sender: this.workspace.email, debug: this.#options.debug ?? false },
    );
    if (result.outcome === "expired") this.stats.expired++;
    else if (result.outcome === "bad-request") this.stats.badRequests++;
    else if (result.outcome === "error") {
      this.stats.errors++;
      log.warn("Handler {endpoint} failed on {id}: {error}", {
        endpoint: ctx.endpoint,
        id: request.id,
        error: result.error instanceof Error ? result.error.message : String(result.error),
      });
    }
    await writeAtomic(responsePath, result.response.toBytes(), this.workspace.tmpDir);
    this.stats.answered++;
    this.#live.record(request, result.response, ctx.endpoint, performance.now() - started);
    this.#answered.remember(path, created);
  }

  /** A FIFO, socket or device in the RPC folder: never a request, and a FIFO stalls the watcher. */
  #reportSpecial(path: string): void {
    log.warn("Removed {path}: a FIFO, socket or device is never a request (and stalls watchers)", {
      path,
    });
  }

  /** Writes a 400 (or `status`) next to the request file, as syft-event's `write_response`. */
  async #writeLoadError(path: string, id: string, message: string, status = 400): Promise<void> {
    const response = loadErrorResponse(
      id,
      this.workspace.email,
      this.workspace.toSyftUrl(dirname(path)),
      message,
      status,
    );
    await writeAtomic(
      path.slice(0, -".request".length) + ".response",
      response.toBytes(),
      this.workspace.tmpDir,
    );
    this.stats.answered++;
    this.stats.badRequests++;
    log.debug("Answered {path} with {status}: {message}", { path, status, message });
  }

  // ---- cleanup and glob watchers ---------------------------------------------------------------

  /**
   * Deletes requests (and their responses) older than `cleanupExpiry` (by their `created` time,
   * or the file time when they do not parse). Runs periodically; call it to run it now.
   *
   * @returns The number of requests deleted.
   */
  async cleanup(): Promise<number> {
    if (this.#workspace === undefined || this.#stopping !== undefined) return 0;
    const expiry = parseDuration(this.#options.cleanupExpiry ?? "30d", "cleanupExpiry");
    let removed = 0;
    try {
      await removeOldRequests(this.#rpcDir, this.#clock.now() - expiry, () => removed++);
    } catch (err) {
      log.warn("Cleanup of {dir} failed: {error}", { dir: this.#rpcDir, error: String(err) });
    }
    this.stats.cleaned += removed;
    if (removed > 0) {
      log.info("Cleaned {n} old requests in {dir}", { n: removed, dir: this.#rpcDir });
    }
    return removed;
  }

  async #startGlobs(globs: GlobWatch[]): Promise<void> {
    for (const g of globs) {
      const watcher = new GlobWatcher(this.workspace, g.patterns, g.handler, {
        events: g.events,
        appDataDir: this.appDir,
        watcher: this.#options.watcher ?? {},
        clock: this.#clock,
      });
      this.#globWatchers.push(watcher);
      await watcher.start();
    }
  }
}
