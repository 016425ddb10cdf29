/**
 * What the file-RPC commands do (`syft init`, `syft rpc ...`, `syft watch`, the `rpc-echo`
 * service of `syft up`); loaded when one of them runs.
 *
 * @module
 */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ensureDir } from "../../lib/_fs.ts";
import { SyftError } from "../../lib/errors.ts";
import { getLogger } from "../../lib/_log.ts";
import { findMissingEndpoint } from "../../lib/workspace.ts";
import {
  CONFIG_PATH_ENV,
  createEchoApp,
  isValidEmail,
  listPendingRequests,
  readRpcSchema,
  RpcClient,
  SYFT_METHODS,
  SyftBoxURL,
  SyftBoxWorkspace,
  SyftEvents,
  type SyftMethod,
  type SyftResponse,
  type WatchEventKind,
} from "../../lib/rpc/mod.ts";
import { GlobWatcher } from "../../lib/rpc/globs.ts";
import { print, printJson } from "../_output.ts";
import type { RunningService, UpContext } from "../_service.ts";
import {
  type GlobalOptions,
  parseHeaderOptions,
  UsageError,
  waitForShutdownSignal,
} from "../_common.ts";
import { workspaceFor } from "../_workspace.ts";
import type {
  CallOptions,
  EchoOptions,
  InitOptions,
  RequestsOptions,
  SchemaOptions,
  WatchOptions,
} from "../rpc.ts";

const log = getLogger(["cli", "rpc"]);

async function workspaceOf(globals: GlobalOptions, create = false): Promise<SyftBoxWorkspace> {
  const home = await workspaceFor(globals, { create });
  return new SyftBoxWorkspace({ dataDir: home.dataDir, email: home.email });
}

/** Decodes a response body for printing: JSON when it parses, else text. */
function bodyValue(res: SyftResponse): unknown {
  if (res.body === null) return null;
  const text = res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function readBody(raw: string | undefined): Promise<Uint8Array | undefined> {
  if (raw === undefined) return undefined;
  if (raw === "-") return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  if (raw.startsWith("@")) {
    try {
      return await Deno.readFile(raw.slice(1));
    } catch (err) {
      throw new UsageError(
        `Cannot read the body file "${raw.slice(1)}": ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return new TextEncoder().encode(raw);
}

/** `syft init`. */
export async function init(opts: InitOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  if (opts.email !== undefined && !isValidEmail(opts.email)) {
    throw new UsageError(`Cannot use e-mail "${opts.email}": expected name@domain.tld`);
  }
  try {
    new URL(opts.serverUrl);
  } catch {
    throw new UsageError(`Cannot use server URL "${opts.serverUrl}": not a URL`);
  }
  const home = await workspaceFor(globals, {
    create: true,
    createNamed: true,
    serverUrl: opts.serverUrl,
    ...(opts.email === undefined ? {} : { email: opts.email }),
    ...(opts.dataDir === undefined ? {} : { dataDir: resolve(opts.dataDir) }),
  });
  const datasite = join(home.datasitesDir, home.email);
  await ensureDir(join(datasite, "app_data"));
  await ensureDir(join(home.dataDir, ".syft-tmp"));
  const info = {
    event: "init",
    created: home.created,
    config: home.configPath,
    reason: home.reason,
    email: home.email,
    "data_dir": home.dataDir,
    datasite,
    home: home.root,
  };
  if (globals.json) {
    printJson(info);
    return;
  }
  print(
    home.created
      ? `Wrote ${home.configPath}`
      : `Using the existing config ${home.configPath} (${home.reason})`,
  );
  print(`  email     ${home.email}`);
  print(`  data dir  ${home.dataDir}`);
  print(`  datasite  ${datasite}`);
  if (!home.created && (opts.email ?? opts.dataDir) !== undefined) {
    print("  (--email and --data-dir only apply to a new config)");
  }
}

async function serveApp(app: SyftEvents, globals: GlobalOptions): Promise<void> {
  const shutdown = waitForShutdownSignal();
  await app.start();
  const info = {
    event: "serving",
    app: app.appName,
    datasite: app.email,
    dir: app.rpcDir,
    endpoints: app.endpoints.map((e) => app.url(e)),
  };
  if (globals.json) printJson(info);
  else {
    print(`syft rpc: serving app "${app.appName}" for ${app.email}`);
    for (const url of info.endpoints) print(`  ${url}`);
    print(`  requests in ${app.rpcDir}`);
    print("Press Ctrl-C to stop.");
  }
  const signal = await shutdown;
  log.info("Received {signal}: stopping {app}", { signal, app: app.appName });
  await app.stop();
  if (globals.json) printJson({ event: "stopped", ...app.stats });
  else print(`syft rpc: stopped (${app.stats.answered} answered)`);
}

/** `syft rpc serve <module>`. */
export async function serve(
  module: string,
  _opts: unknown,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  // Apps created without a workspace load the config this command resolved.
  const home = await workspaceFor(globals, { create: true });
  Deno.env.set(CONFIG_PATH_ENV, home.configPath);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(resolve(module)).href);
  } catch (err) {
    throw new SyftError(`Cannot load module "${module}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  const app = mod.app;
  if (!(app instanceof SyftEvents)) {
    throw new UsageError(
      `Cannot serve "${module}": it must export \`app\`, a SyftEvents (found ${
        app === undefined ? "no `app` export" : typeof app
      })`,
    );
  }
  await serveApp(app, globals);
}

/** `syft rpc echo`. */
export async function echo(opts: EchoOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const workspace = await workspaceOf(globals, true);
  await serveApp(createEchoApp({ app: opts.app, workspace }), globals);
}

/** `syft rpc call <syft-url>`. */
export async function call(
  target: string,
  opts: CallOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const method = opts.method.toUpperCase() as SyftMethod;
  if (!SYFT_METHODS.includes(method)) {
    throw new UsageError(
      `Cannot use method "${opts.method}": expected one of ${SYFT_METHODS.join(", ")}`,
    );
  }
  let url: SyftBoxURL;
  try {
    url = SyftBoxURL.parse(target);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  const headers = parseHeaderOptions(opts.header);
  const body = await readBody(opts.body);
  const workspace = await workspaceOf(globals);
  if (opts.endpointCheck) {
    const parts = /^\/?app_data\/([^/]+)\/rpc\/(.+)$/.exec(url.path);
    if (parts) {
      const missing = await findMissingEndpoint(workspace.datasitesDir, {
        datasite: url.host,
        app: parts[1]!,
        endpoint: parts[2]!,
      });
      if (missing) {
        throw new SyftError(`${missing.message}; --no-endpoint-check sends anyway`, {
          code: "ENDPOINT_NOT_FOUND",
        });
      }
    }
  }
  await using client = new RpcClient(workspace);
  // Ctrl-C (or SIGTERM) stops waiting and takes back the request this call wrote; listen before
  // writing it, so that no signal falls between.
  const interrupted = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = (): void => interrupted.abort();
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const sentAt = Date.now();
  let future: Awaited<ReturnType<typeof client.send>> | undefined;
  let res: SyftResponse;
  try {
    future = await client.send(url, {
      method,
      headers,
      expiry: opts.expiry,
      cache: opts.cache,
      ...(body === undefined ? {} : { body }),
    });
    log.debug("Wrote {path}", { path: future.requestPath });
    res = await future.wait({ timeout: opts.timeout * 1000, signal: interrupted.signal });
  } catch (err) {
    if (!interrupted.signal.aborted || future === undefined) throw err;
    // Only a request this call wrote (cache mode may have joined an identical pending one).
    const ours = (future.request?.created.epochMilliseconds ?? 0) >= sentAt - 1;
    if (ours) await Deno.remove(future.requestPath).catch(() => {});
    throw new SyftError(
      `Interrupted${ours ? `: removed the request ${future.requestPath}` : ""}`,
      { code: "INTERRUPTED" },
    );
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
  printJson({ "status_code": res.statusCode, headers: res.headers, body: bodyValue(res) });
  if (res.statusCode >= 400) {
    throw new SyftError(`The request failed with status ${res.statusCode}`, {
      code: "RPC_STATUS",
    });
  }
}

/** `syft rpc schema <app>`. */
export async function schema(
  app: string,
  opts: SchemaOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const workspace = await workspaceOf(globals);
  const schema = await readRpcSchema(
    workspace,
    app,
    opts.datasite === undefined ? {} : { datasite: opts.datasite },
  );
  if (globals.json) printJson(schema);
  else print(JSON.stringify(schema, null, 2));
}

/** `syft rpc requests`. */
export async function requests(opts: RequestsOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const workspace = await workspaceOf(globals);
  const pending = await listPendingRequests(
    workspace,
    opts.app === undefined ? {} : { app: opts.app },
  );
  if (globals.json) {
    for (const p of pending) printJson(p);
    return;
  }
  if (pending.length === 0) {
    print(`No pending requests${opts.app === undefined ? "" : ` for app "${opts.app}"`}.`);
    return;
  }
  for (const p of pending) {
    const state = p.error !== undefined
      ? `unreadable: ${p.error}`
      : p.expired
      ? "expired"
      : "pending";
    print(
      `${p.id}  ${p.app}${p.endpoint}  ${p.method ?? "?"}  from ${p.sender ?? p.folder}  ${
        p.created ?? ""
      }  ${state}`,
    );
  }
  print(`${pending.length} pending request${pending.length === 1 ? "" : "s"}`);
}

/** `syft watch <glob...>`. */
export async function watch(
  globs: string[],
  opts: WatchOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const kinds = opts.events.split(",").map((s) => s.trim()).filter(Boolean);
  for (const k of kinds) {
    if (k !== "create" && k !== "modify" && k !== "remove") {
      throw new UsageError(`Cannot watch for "${k}" events: use create, modify or remove`);
    }
  }
  const workspace = await workspaceOf(globals);
  const shutdown = waitForShutdownSignal();
  const base = workspace.datasitesDir + "/";
  const watcher = new GlobWatcher(workspace, globs, (e) => {
    printJson({
      kind: e.kind,
      path: e.path,
      rel: e.path.startsWith(base) ? e.path.slice(base.length) : e.path,
      origin: e.origin,
      ts: new Date().toISOString(),
    });
  }, { events: kinds as WatchEventKind[] });
  await watcher.start();
  log.info("Watching {patterns} under {dir}", {
    patterns: watcher.patterns.join(" "),
    dir: workspace.datasitesDir,
  });
  printJson({ event: "watching", dir: workspace.datasitesDir, patterns: watcher.patterns });
  await shutdown;
  watcher.stop();
}

/** The `rpc-echo` service of `syft up`. */
export async function startEchoService(ctx: UpContext): Promise<RunningService> {
  const app = createEchoApp({ workspace: { dataDir: ctx.home.dataDir, email: ctx.home.email } });
  await app.start();
  const config = ctx.configArg;
  return {
    where: `syft://${ctx.home.email}/app_data/echo/rpc`,
    detail: "file RPC echo app: /echo, /ping",
    hints: [`syft ${config}rpc call syft://${ctx.home.email}/app_data/echo/rpc/ping`],
    stop: () => app.stop(),
    live: app.live(),
  };
}
