/**
 * Starting and stopping a dashboard: the model (sampling every source), the Hono app and
 * `Deno.serve`, plus an RPC client for the "try it" form when a workspace is known.
 *
 * @module
 */
import { serveHardened } from "../_serve.ts";
import type { ServeLimits } from "../_limits.ts";
import { getLogger } from "../../lib/_log.ts";
import { SyftError } from "../../lib/errors.ts";
import { isLoopbackHost } from "../../lib/live/mod.ts";
import { VERSION } from "../../lib/version.ts";
import { createDashboardApp, type RpcCallInput, type RpcCallResult } from "./app.ts";
import { DashboardCore, type DashboardService, type DashboardWorkspace } from "./core.ts";

const log = getLogger(["dashboard", "server"]);

/** The dashboard's default port. */
export const DEFAULT_DASHBOARD_PORT = 8700;

/** Options of {@linkcode startDashboard}. */
export interface DashboardOptions {
  /**
   * Connection limit and headers/body/idle timeouts (defaults: 10,000 connections, 10 s, 30 s,
   * 60 s; see docs/reliability.md).
   */
  limits?: ServeLimits;
  /** The services to show (read on every sample). */
  services: () => readonly DashboardService[];
  /** The workspace: shown on the overview, scanned for `rpc.schema.json`, used by "try it". */
  workspace?: DashboardWorkspace;
  /** Bind address (default 127.0.0.1; anything else needs `token`). */
  hostname?: string;
  /** Port (default 8700; 0 picks a free one). */
  port?: number;
  /** A token every request must carry; required when `hostname` is not loopback. */
  token?: string;
  /** Sample interval in ms (default 1000). */
  sampleMs?: number;
  /** Stops the dashboard when aborted. */
  signal?: AbortSignal;
}

/** A running dashboard. */
export interface RunningDashboard extends AsyncDisposable {
  /** Its URL, such as `http://127.0.0.1:8700`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Event-stream clients (open pages) now. */
  readonly watchers: number;
  /** Stops the server, the sampling and the RPC client. */
  close(): Promise<void>;
}

/** The codes of the dashboard's errors (one: it could not start). */
export type DashboardErrorCode = "DASHBOARD";

/**
 * The dashboard could not start: a non-loopback bind without a token, or the port is taken.
 *
 * @example
 * ```ts
 * import { DashboardError } from "@syft/syft/dashboard";
 * console.log(new DashboardError("Cannot bind 0.0.0.0:8700 without --dashboard-token").code);
 * ```
 */
export class DashboardError extends SyftError {
  /** Always `DASHBOARD` (the message says what was wrong). */
  declare readonly code: DashboardErrorCode;

  /**
   * Creates the error.
   *
   * @param message What was wrong and what to do.
   * @param options The underlying error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "DASHBOARD" });
    this.name = "DashboardError";
  }
}

async function rpcCaller(
  workspace: DashboardWorkspace,
): Promise<{ call: (input: RpcCallInput) => Promise<RpcCallResult>; close: () => Promise<void> }> {
  const { RpcClient } = await import("../../lib/rpc/client.ts");
  let client: Promise<InstanceType<typeof RpcClient>> | undefined;
  const open = () =>
    client ??= RpcClient.open({
      workspace: { dataDir: workspace.dataDir, email: workspace.email },
    });
  return {
    async call(input) {
      const c = await open();
      const timeoutS = Math.min(60, Math.max(1, Number(input.timeoutS ?? 10) || 10));
      const started = performance.now();
      const future = await c.send(input.url, {
        method: (input.method ?? "POST").toUpperCase() as "POST",
        ...(input.body === undefined || input.body === null ? {} : { body: input.body }),
        ...(input.headers === undefined ? {} : { headers: input.headers }),
        cache: false,
      });
      const res = await future.wait({ timeout: timeoutS * 1000 });
      const bytes = res.body ?? new Uint8Array();
      let text: string | null;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        text = null;
      }
      return {
        id: future.id,
        status: res.statusCode,
        headers: { ...res.headers },
        bodyText: text,
        bodyBase64: text === null ? bytes.toBase64() : null,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      };
    },
    async close() {
      if (client !== undefined) await (await client).close();
    },
  };
}

/**
 * Starts a dashboard.
 *
 * @param options The services, workspace, address and token.
 * @returns The running dashboard.
 * @throws {DashboardError} When bound off loopback without a token, or the port is taken.
 *
 * @example A dashboard of one echo app
 * ```ts
 * import { createEchoApp } from "@syft/syft/rpc";
 * import { startDashboard } from "@syft/syft/dashboard";
 * const workspace = { dataDir: await Deno.makeTempDir(), email: "me@example.com", config: "" };
 * await using app = createEchoApp({ workspace });
 * await app.start();
 * await using dashboard = await startDashboard({
 *   port: 0,
 *   workspace,
 *   services: () => [{ name: "echo", where: app.url("/echo"), live: app.live() }],
 * });
 * const state = await (await fetch(`${dashboard.url}/api/state`)).json();
 * console.log(state.services[0].name); // echo
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const hostname = options.hostname ?? "127.0.0.1";
  const loopback = isLoopbackHost(hostname);
  if (!loopback && (options.token === undefined || options.token === "")) {
    throw new DashboardError(
      `Cannot serve the dashboard on ${hostname} without a token: pass --dashboard-token <secret> ` +
        "(or keep the default 127.0.0.1)",
    );
  }
  if (options.token !== undefined && options.token.length < 8) {
    throw new DashboardError("The dashboard token is too short: use at least 8 characters");
  }
  const core = new DashboardCore({
    services: options.services,
    version: VERSION,
    ...(options.workspace === undefined ? {} : { workspace: options.workspace }),
    ...(options.sampleMs === undefined ? {} : { sampleMs: options.sampleMs }),
  });
  const rpc = options.workspace === undefined ? undefined : await rpcCaller(options.workspace);
  const app = createDashboardApp({
    core,
    loopback,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(rpc === undefined ? {} : { rpcCall: rpc.call }),
  });
  await core.start();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = serveHardened({
      ...options.limits,
      name: "the dashboard",
      hostname,
      port: options.port ?? DEFAULT_DASHBOARD_PORT,
      onListen() {},
      onError(err) {
        log.error("Unhandled dashboard error: {error}", { error: err });
        return new Response("Internal error", { status: 500 });
      },
    }, (request, info) => app.fetch(request, info));
  } catch (err) {
    await core.close();
    await rpc?.close();
    throw new DashboardError(
      `Cannot serve the dashboard on ${hostname}:${options.port ?? DEFAULT_DASHBOARD_PORT}: ${
        err instanceof Error ? err.message : String(err)
      } (pick another port, or --any-port)`,
      { cause: err },
    );
  }
  const port = server.addr.port;
  const host = hostname === "0.0.0.0" || hostname === "::"
    ? "127.0.0.1"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      await core.close();
      await server.shutdown();
      await rpc?.close();
    })();
  options.signal?.addEventListener("abort", () => void close(), { once: true });
  return {
    url: `http://${host}:${port}`,
    port,
    get watchers() {
      return core.watchers;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
