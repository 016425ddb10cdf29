/**
 * `SyftEvents`: a SyftBox RPC app that answers `.request` files under
 * `<datasite>/app_data/<app>/rpc/<endpoint>/<sender>/`, compatible with syft-event (§4 of the
 * reference) and faster and sturdier: watcher-driven, bounded concurrency, idempotent, atomic
 * writes, a grace period for half-written requests.
 *
 * @module
 */
import { MAX_TIMER_MS } from "../_timers.ts";
import { basename, dirname, join, sep } from "node:path";
import { ensureDir, writeFileAtomic } from "../_fs.ts";
import { SyftError } from "../errors.ts";
import { getLogger } from "../_log.ts";
import {
  clearSpecialFile,
  hintRecycled,
  isSpecialEntry,
  pathExists,
  readOrNull,
  readRegular,
  removeQuiet,
  writeAtomic,
} from "./_io.ts";
import { resolveWorkspace, SyftBoxWorkspace, type WorkspaceSource } from "./config.ts";
import { TRUSTED } from "./_trusted.ts";
import {
  canonicalUuid,
  SYFT_STATUS_CODES,
  type SyftMethod,
  SyftRequest,
  SyftResponse,
  type SyftResponseInit,
  toBodyBytes,
} from "./protocol.ts";
import {
  type EndpointSchema,
  endpointSchema,
  formatIssues,
  type InferInput,
  type InferOutput,
  RPC_PERMISSIONS_YAML,
  type StandardSchemaV1,
} from "./schema.ts";
import { pythonJson } from "./_pydantic_schema.ts";
import { GlobWatcher, type WatchEvent, type WatchEventKind } from "./globs.ts";
import { parseDuration } from "./time.ts";
import { nowMicros } from "./_micros.ts";
import type { RpcLiveSource } from "../live/mod.ts";
import { RpcLiveRecorder, type RpcLiveView } from "./_live.ts";
import { isValidEmail, type SyftBoxURL } from "./url.ts";
import {
  acquireWatcher,
  type FileChange,
  type FileWatcherOptions,
  type RescanReason,
  walkFiles,
  type WatcherLease,
} from "./watcher.ts";

const log = getLogger(["rpc", "server"]);
const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

function textBytes(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** The body of a 500 reply in production mode (syft-event's text). */
export const INTERNAL_ERROR_MESSAGE = "Internal server error. Please try again later.";

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

/**
 * A reply with a status and headers (syft-event's `Response`). Return it from a handler, usually
 * through {@linkcode reply}.
 *
 * @example
 * ```ts
 * import { SyftReply } from "@syft/syft/rpc";
 * const r = new SyftReply({ message: "created" }, { status: 201 });
 * console.log(r.status); // 201
 * ```
 */
export class SyftReply {
  /** The body: bytes, a string (UTF-8) or any JSON value; `null`/`undefined` for none. */
  readonly body: unknown;
  /** The status code (default 200). */
  readonly status: number;
  /** Response headers. */
  readonly headers: Record<string, string>;

  /**
   * Creates a reply.
   *
   * @param body The body.
   * @param options Status and headers.
   */
  constructor(body: unknown, options: ReplyOptions = {}) {
    this.body = body;
    this.status = options.status ?? 200;
    this.headers = options.headers ?? {};
  }
}

/** Options of {@linkcode reply}. */
export interface ReplyOptions {
  /** The status code (default 200); must be one SyftBox accepts. */
  status?: number;
  /** Response headers. */
  headers?: Record<string, string>;
}

/**
 * Builds a reply with a custom status and headers.
 *
 * @param body The body: bytes, a string (UTF-8) or any JSON value.
 * @param options Status and headers.
 * @returns The reply to return from a handler.
 *
 * @example
 * ```ts
 * import { reply, SyftEvents } from "@syft/syft/rpc";
 * const box = new SyftEvents("users");
 * box.onRequest("/create", () => reply({ message: "created" }, { status: 201, headers: { "X-Custom": "v" } }));
 * ```
 */
export function reply(body: unknown, options: ReplyOptions = {}): SyftReply {
  return new SyftReply(body, options);
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
const LEGACY_SKIP = new Set(["rpc.schema.json", "syft.pub.yaml", ".syftkeep"]);
const DONE_LIMIT = 100_000;

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
  #routes = new Map<string, Route>();
  #globs: GlobWatch[] = [];
  #workspace: SyftBoxWorkspace | undefined;
  #rpcDir = "";
  #leases: WatcherLease[] = [];
  #globWatchers: GlobWatcher[] = [];
  #controller = new AbortController();
  #started: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #queue: string[] = [];
  #qhead = 0;
  #queued = new Set<string>();
  #inFlight = new Map<string, Promise<void>>();
  #dirty = new Set<string>();
  /** Requests this process answered: path → creation time (µs since the epoch). */
  #done = new Map<string, number>();
  /** The newest creation time dropped from `#done` (older requests are checked on disk). */
  #forgottenUpTo = -1;
  /** Requests that had a response when a scan listed their directory. */
  #answeredOnDisk = new Set<string>();
  #urlDirs = new Map<string, string>();
  #unreadable = new Map<string, { first: number; timer?: ReturnType<typeof setTimeout> }>();
  #scanning: Promise<void> | undefined;
  #rescanAgain = false;
  #cleanupTimer: ReturnType<typeof setInterval> | undefined;
  #concurrency: number;
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
    this.#live = new RpcLiveRecorder(appName, () => this.#liveView());
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 32));
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
      throw new SyftError(`The app "${this.appName}" has no workspace yet: call start() first`, {
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
    return this.#inFlight.size;
  }

  /** Requests waiting for a handler slot. */
  get queued(): number {
    return this.#queue.length - this.#qhead;
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
        new SyftError(`The app "${this.appName}" was stopped`, { code: "RPC_STOPPED" }),
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
    const lease = await acquireWatcher(this.#rpcDir, this.#options.watcher ?? {});
    this.#leases.push(lease);
    lease.subscribe({
      dir: this.#rpcDir,
      onChange: (c) => this.#onChange(c),
      onRescan: (r) => this.#onRescan(r),
    });
    await this.#startGlobs(this.#globs);
    if (this.#options.processPending ?? true) await this.#scan("start");
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
    for (const lease of this.#leases) lease.release();
    this.#leases = [];
    for (const g of this.#globWatchers) g.stop();
    this.#globWatchers = [];
    clearInterval(this.#cleanupTimer);
    for (const entry of this.#unreadable.values()) clearTimeout(entry.timer);
    this.#unreadable.clear();
    this.#queue = [];
    this.#qhead = 0;
    this.#queued.clear();
    this.#controller.abort(
      new SyftError(`The app "${this.appName}" is stopping`, { code: "RPC_STOPPED" }),
    );
    const pending = [...this.#inFlight.values()];
    if (pending.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise((r) => (timer = setTimeout(r, this.#options.stopTimeoutMs ?? 10_000))),
      ]);
      clearTimeout(timer);
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
   */
  async idle(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (this.#inFlight.size > 0 || this.queued > 0 || this.#scanning !== undefined) {
      if (Date.now() > deadline) throw new SyftError("Timed out waiting for the app to be idle");
      await new Promise((r) => setTimeout(r, 5));
    }
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
      this.#forgetUnreadable(p);
      this.#answeredOnDisk.delete(p);
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
    void this.#scan("rescan");
  }

  /** Lists every endpoint directory: migrates legacy files, queues requests without responses. */
  #scan(_why: string): Promise<void> {
    const run = async (): Promise<void> => {
      do {
        this.#rescanAgain = false;
        this.stats.scans++;
        for (const ep of this.#routes.keys()) {
          if (this.#stopping !== undefined) return;
          try {
            await this.#scanEndpoint(ep);
          } catch (err) {
            log.warn("Cannot scan endpoint {ep}: {error}", { ep, error: String(err) });
          }
        }
      } while (this.#rescanAgain && this.#stopping === undefined);
    };
    this.#scanning = run().finally(() => {
      this.#scanning = undefined;
    });
    return this.#scanning;
  }

  async #scanEndpoint(ep: string): Promise<void> {
    const dir = join(this.#rpcDir, ...ep.split("/"));
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    const childEndpoints = new Set<string>();
    for (const other of this.#routes.keys()) {
      if (other.startsWith(ep + "/")) childEndpoints.add(other.slice(ep.length + 1).split("/")[0]!);
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (isSpecialEntry(entry)) this.#clearSpecial(path);
      else if (entry.isFile && entry.name.endsWith(".request") && !LEGACY_SKIP.has(entry.name)) {
        this.#enqueue(path); // legacy flat layout: migrated when processed
      } else if (entry.isDirectory && !childEndpoints.has(entry.name)) {
        let names: string[];
        try {
          const inner = await Array.fromAsync(Deno.readDir(path));
          for (const e of inner) if (isSpecialEntry(e)) this.#clearSpecial(join(path, e.name));
          names = inner.map((e) => e.name);
        } catch {
          continue;
        }
        const present = new Set(names);
        for (const name of names) {
          if (name.length !== 44 || !name.endsWith(".request")) continue;
          const request = join(path, name);
          if (present.has(name.slice(0, 36) + ".response")) this.#answeredOnDisk.add(request);
          else {
            this.#answeredOnDisk.delete(request);
            this.#enqueue(request);
          }
        }
      }
    }
  }

  // ---- the request pipeline ------------------------------------------------------------------

  #enqueue(path: string): void {
    if (this.#stopping !== undefined) return;
    if (this.#queued.has(path)) return;
    if (this.#inFlight.has(path)) {
      this.#dirty.add(path);
      return;
    }
    this.#queued.add(path);
    this.#queue.push(path);
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight.size < this.#concurrency && this.#qhead < this.#queue.length) {
      const path = this.#queue[this.#qhead++]!;
      if (this.#qhead > 1024 && this.#qhead * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#qhead);
        this.#qhead = 0;
      }
      this.#queued.delete(path);
      const run = this.#process(path).catch((err) => {
        log.error("Cannot process {path}: {error}", { path, error: String(err) });
      }).finally(() => {
        this.#inFlight.delete(path);
        if (this.#dirty.delete(path)) this.#enqueue(path);
        this.#pump();
      });
      this.#inFlight.set(path, run);
    }
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
    const bytes = await readRegular(
      path,
      this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    );
    if (!(bytes instanceof Uint8Array)) {
      this.#forgetUnreadable(path);
      if (bytes === "special") this.#clearSpecial(path);
      else if (typeof bytes === "object") {
        await this.#writeLoadError(
          path,
          id,
          `Request file is ${bytes.tooLarge} bytes; the limit is ${
            this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES
          }`,
          413,
        );
      }
      return;
    }
    let request: SyftRequest;
    try {
      request = SyftRequest.decode(bytes, { fileId: stem });
    } catch (err) {
      if (await pathExists(responsePath)) this.#forgetUnreadable(path);
      else await this.#unreadableRequest(path, id, err);
      return;
    }
    this.#forgetUnreadable(path);
    const started = performance.now();
    // Idempotency without a stat per request: what this process answered is remembered (keyed by
    // path and creation time), and what was already answered when a scan listed the directory is
    // marked. Only those (and requests older than anything forgotten) need a look at the disk.
    const created = request.createdMicros; // a number: no Temporal instant on the hot path
    if (this.#done.get(path) === created) return;
    if (this.#answeredOnDisk.has(path) || created <= this.#forgottenUpTo) {
      if (await pathExists(responsePath)) return;
      this.#answeredOnDisk.delete(path);
    }
    if (where.legacy) {
      await this.#migrate(path, bytes, request);
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
      if (this.#urlDirs.size >= 1024) this.#urlDirs.clear();
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
      this.#remember(path, created);
      return;
    }
    const response = await this.#answer(request, where.route, path);
    await writeAtomic(responsePath, response.toBytes(), this.workspace.tmpDir);
    this.stats.answered++;
    this.#live.record(request, response, "/" + where.route.endpoint, performance.now() - started);
    this.#remember(path, created);
  }

  #remember(path: string, created: number): void {
    this.#done.delete(path);
    this.#done.set(path, created);
    if (this.#done.size > DONE_LIMIT) {
      const [oldest, at] = this.#done.entries().next().value!;
      this.#done.delete(oldest);
      if (at > this.#forgottenUpTo) this.#forgottenUpTo = at;
    }
  }

  #forgetUnreadable(path: string): void {
    const entry = this.#unreadable.get(path);
    if (entry !== undefined) {
      clearTimeout(entry.timer);
      this.#unreadable.delete(path);
    }
  }

  async #unreadableRequest(path: string, id: string, err: unknown): Promise<void> {
    const grace = this.#options.graceMs ?? 1000;
    const now = Date.now();
    let entry = this.#unreadable.get(path);
    if (entry === undefined) {
      entry = { first: now };
      // A file that has not changed for the whole grace period is not being written any more.
      try {
        const info = await Deno.stat(path);
        const mtime = info.mtime?.getTime();
        if (mtime !== undefined && now - mtime >= grace) entry.first = mtime;
      } catch { /* gone */ }
      this.#unreadable.set(path, entry);
    }
    const age = now - entry.first;
    if (age >= grace) {
      this.#forgetUnreadable(path);
      const message = err instanceof Error
        ? `${err.name}(${JSON.stringify(err.message)})`
        : String(err);
      await this.#writeLoadError(path, id, `Error loading request: ${message}`);
      return;
    }
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this.#enqueue(path), grace - age + 5);
  }

  /** A FIFO, socket or device in the RPC folder: never a request, and a FIFO stalls the watcher. */
  #clearSpecial(path: string): void {
    if (clearSpecialFile(path)) {
      log.warn(
        "Removed {path}: a FIFO, socket or device is never a request (and stalls watchers)",
        {
          path,
        },
      );
    }
  }

  /** Writes a 400 (or `status`) next to the request file, as syft-event's `write_response`. */
  async #writeLoadError(path: string, id: string, message: string, status = 400): Promise<void> {
    const response = new SyftResponse({
      id,
      sender: this.workspace.email,
      url: this.workspace.toSyftUrl(dirname(path)),
      body: message,
      statusCode: status,
    });
    await writeAtomic(
      path.slice(0, -".request".length) + ".response",
      response.toBytes(),
      this.workspace.tmpDir,
    );
    this.stats.answered++;
    this.stats.badRequests++;
    log.debug("Answered {path} with {status}: {message}", { path, status, message });
  }

  async #migrate(path: string, bytes: Uint8Array, request: SyftRequest): Promise<void> {
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
    const target = join(dirname(path), request.sender, basename(path));
    await writeAtomic(target, bytes, this.workspace.tmpDir);
    await removeQuiet(path);
    this.stats.migrated++;
    log.info("Moved legacy request {from} to {to}", { from: path, to: target });
    this.#enqueue(target);
  }

  async #answer(request: SyftRequest, route: Route, path: string): Promise<SyftResponse> {
    // Replies are built from a decoded request and validated values: skip re-validation.
    const base = {
      [TRUSTED]: true,
      id: request.id,
      sender: this.workspace.email,
      url: request.url,
      createdUs: nowMicros(),
      expiresUs: request.expiresMicros,
      headers: {},
      body: null,
    } as unknown as SyftResponseInit;
    if (request.isExpired()) {
      this.stats.expired++;
      return new SyftResponse({ ...base, body: textBytes("Request expired"), statusCode: 419 });
    }
    let input: unknown;
    const raw = request.body;
    const schema = route.options.input;
    if (schema !== undefined) {
      let data: unknown = undefined;
      if (raw !== null && raw.length > 0) {
        try {
          data = JSON.parse(textDecoder.decode(raw));
        } catch (err) {
          this.stats.badRequests++;
          return new SyftResponse({
            ...base,
            body: textBytes(
              `Invalid request schema: the body is not JSON (${(err as Error).message})`,
            ),
            statusCode: 400,
          });
        }
      }
      const result = await schema["~standard"].validate(data);
      if (result.issues !== undefined) {
        this.stats.badRequests++;
        return new SyftResponse({
          ...base,
          body: textBytes(`Invalid request schema: ${formatIssues(result.issues)}`),
          statusCode: 400,
        });
      }
      input = result.value;
    } else if (raw !== null && raw.length > 0) {
      const text = textDecoder.decode(raw);
      try {
        input = JSON.parse(text);
      } catch {
        input = text;
      }
    }
    const ctx: RequestContext = {
      request,
      id: request.id,
      sender: request.sender,
      url: request.url,
      method: request.method,
      headers: request.headers,
      raw,
      endpoint: "/" + route.endpoint,
      path,
      app: this,
      signal: this.#controller.signal,
    };
    try {
      const result = await route.handler(input, ctx);
      const { body, status, headers } = await toReply(result);
      return new SyftResponse({ ...base, body, headers, statusCode: status });
    } catch (err) {
      this.stats.errors++;
      log.warn("Handler {endpoint} failed on {id}: {error}", {
        endpoint: ctx.endpoint,
        id: request.id,
        error: err instanceof Error ? err.message : String(err),
      });
      if (this.#options.debug) {
        const e = err instanceof Error ? err : new Error(String(err));
        return new SyftResponse({
          ...base,
          body: textBytes(JSON.stringify(
            {
              "error_type": e.name,
              "error_message": e.message,
              "function_name": route.handler.name || ctx.endpoint,
              traceback: e.stack ?? "",
            },
            null,
            2,
          )),
          headers: { "Content-Type": "application/json" },
          statusCode: 500,
        });
      }
      return new SyftResponse({
        ...base,
        body: textBytes(INTERNAL_ERROR_MESSAGE),
        statusCode: 500,
      });
    }
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
    const cutoff = Date.now() - expiry;
    let removed = 0;
    try {
      for await (const file of walkFiles(this.#rpcDir)) {
        if (!file.endsWith(".request")) continue;
        let created: number | undefined;
        const bytes = await readOrNull(file);
        if (bytes === null) continue;
        try {
          created = SyftRequest.decode(bytes).createdMicros / 1000;
        } catch {
          created = (await Deno.stat(file).catch(() => undefined))?.mtime?.getTime();
        }
        if (created !== undefined && created < cutoff) {
          await removeQuiet(file);
          await removeQuiet(file.slice(0, -".request".length) + ".response");
          removed++;
        }
      }
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
      });
      this.#globWatchers.push(watcher);
      await watcher.start();
    }
  }
}

async function toReply(
  result: unknown,
): Promise<{ body: Uint8Array | null; status: number; headers: Record<string, string> }> {
  let body: unknown = result;
  let status = 200;
  let headers: Record<string, string> = {};
  if (result instanceof SyftReply) {
    body = result.body;
    status = result.status;
    headers = result.headers;
  } else if (result instanceof Response) {
    status = result.status;
    result.headers.forEach((v, k) => (headers[k] = v));
    const bytes = new Uint8Array(await result.arrayBuffer());
    body = bytes.length === 0 ? null : bytes;
  }
  if (!SYFT_STATUS_CODES.has(status)) {
    throw new RangeError(`Invalid reply status ${status}: not an HTTP status SyftBox accepts`);
  }
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== "string") {
      throw new TypeError(`Invalid reply header ${JSON.stringify(k)}: not a string`);
    }
  }
  return { body: toBodyBytes(body), status, headers };
}
