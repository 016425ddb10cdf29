/**
 * What the `syft ensync` commands do, and the EnSync service of `syft up`; loaded when one runs.
 *
 * @module
 */
import { serveLimitsOf } from "../_limits.ts";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { join, resolve } from "node:path";
import { TextLineStream } from "../../lib/_lines.ts";
import {
  EnSyncEngine,
  type EnSyncEvent,
  EnSyncWebSocketEngine,
  generateKeyPair,
} from "../../lib/ensync/mod.ts";
import type { EnSyncClient } from "../../lib/ensync/client.ts";
import { exists } from "../../lib/_fs.ts";
import { claimServer, homeDir, resolveSyftHome } from "../../lib/home.ts";
import { getLogger } from "../../lib/_log.ts";
import {
  addEnSyncApp,
  ENSYNC_DEFAULT_PORTS,
  type EnSyncConfig,
  type EnSyncServer,
  type EnSyncServerOptions,
  type GrpcStreamMode,
  type GrpcWorkerCommand,
  loadEnSyncConfig,
  openEnSyncStore,
  runEnSyncGrpcWorker,
  startEnSyncServer,
  warnInProcessGrpc,
  writeEnSyncConfig,
} from "../../servers/ensync/mod.ts";
import { listening } from "../_listen.ts";
import { print, printErr, printJson } from "../_output.ts";
import type { RunningService, UpContext } from "../_service.ts";
import { type GlobalOptions, UsageError, waitForShutdownSignal } from "../_common.ts";
import { DEFAULT_ENSYNC_URL } from "../ensync.ts";
import type {
  AppAddOptions,
  AppListOptions,
  PublishOptions,
  ReplayOptions,
  ServeOptions,
  SubscribeOptions,
} from "../ensync.ts";

const log = getLogger(["cli", "ensync"]);

/**
 * The EnSync app config: `--apps` (or `$ENSYNC_APPS`), else `<SYFT_HOME>/ensync.yaml`. The old
 * forms (the global `--config` naming the YAML, `$ENSYNC_CONFIG`) get an error that says the new
 * one.
 */
async function appsPath(
  opts: { apps?: string | undefined },
  globals: GlobalOptions,
): Promise<string> {
  if (globals.config !== undefined && await looksLikeAppConfig(globals.config)) {
    throw new UsageError(
      `--config names the SyftBox client config (as for every command); give the EnSync app ` +
        `config with --apps ${globals.config} (or ENSYNC_APPS) after the ensync command`,
    );
  }
  if (opts.apps === undefined && Deno.env.get("ENSYNC_CONFIG")) {
    throw new UsageError(
      "ENSYNC_CONFIG is now ENSYNC_APPS (the EnSync app config; --apps FILE on the command line)",
    );
  }
  return resolve(opts.apps ?? join(resolveSyftHome(), "ensync.yaml"));
}

/** A YAML app config given where the SyftBox config belongs (the old `syft --config x.yaml ensync`). */
async function looksLikeAppConfig(path: string): Promise<boolean> {
  if (/\.ya?ml$/i.test(path)) return true;
  if (!(await exists(path))) return false;
  try {
    JSON.parse(await Deno.readTextFile(path));
    return false;
  } catch {
    return true;
  }
}

/** Creates an empty app config when there is none; returns whether it did. */
async function ensureConfig(path: string): Promise<boolean> {
  if (await exists(path)) return false;
  await writeEnSyncConfig(path, { apps: [], grpcStreams: "auto" });
  return true;
}

function randomAccessKey(): string {
  return crypto.getRandomValues(new Uint8Array(24)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

function mask(key: string): string {
  return `${key.slice(0, 4)}…`;
}

const APP_ID_RE = /^[A-Za-z0-9+/]{43}=$/;

/** Resolves `--to` values: app ids as given, app names through the local app config. */
async function recipients(values: string[], path: string): Promise<string[]> {
  const names = values.filter((v) => !APP_ID_RE.test(v));
  if (names.length === 0) return values;
  let config: EnSyncConfig | undefined;
  try {
    config = await loadEnSyncConfig(path);
  } catch {
    config = undefined;
  }
  return values.map((v) => {
    if (APP_ID_RE.test(v)) return v;
    const app = config?.apps.find((a) => a.name === v);
    if (app === undefined) {
      throw new UsageError(
        `Cannot send to "${v}": not an app id (base64 public key) and not an app name in ${path}`,
      );
    }
    return app.appId;
  });
}

async function connect(
  url: string | undefined,
  key: string | undefined,
  secret?: string,
): Promise<EnSyncClient> {
  if (!key) throw new UsageError("Cannot connect: give --key or set ENSYNC_ACCESS_KEY");
  url ??= DEFAULT_ENSYNC_URL;
  let engine: EnSyncEngine | EnSyncWebSocketEngine;
  if (/^(ws|wss|http|https):\/\//i.test(url)) {
    engine = new EnSyncWebSocketEngine(url, { maxReconnectAttempts: 5 });
  } else if (/^(grpc|grpcs):\/\//i.test(url)) {
    engine = new EnSyncEngine(url, { maxReconnectAttempts: 5 });
  } else {
    throw new UsageError(`Cannot use "${url}": expected ws://, wss://, grpc:// or grpcs://`);
  }
  return await engine.createClient(key, secret === undefined ? {} : { appSecretKey: secret });
}

async function readPayload(raw: string | undefined): Promise<unknown> {
  if (raw === undefined) return {};
  const text = raw === "-" ? await new Response(Deno.stdin.readable).text() : raw;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(
      `Cannot parse the payload as JSON: ${err instanceof Error ? err.message : String(err)} ` +
        `(quote strings: '"hello"')`,
      { cause: err },
    );
  }
}

function eventLine(e: EnSyncEvent): Record<string, unknown> {
  return {
    idem: e.idem,
    block: e.block,
    eventName: e.eventName,
    payload: e.payload,
    timestamp: e.timestamp,
    metadata: e.metadata,
    sender: e.sender,
  };
}

function runGranted(command: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * How this process starts another `syft` running `ensync grpc-worker`: the compiled binary
 * itself, or `deno run` of the same main module with only env and net (to `host` and 127.0.0.1)
 * permissions (and read of /dev/null).
 * Returns why not when `run` is not granted for it.
 */
function grpcWorkerCommand(host: string, logLevel?: string): GrpcWorkerCommand | string {
  const tail = [
    ...(logLevel === undefined ? [] : ["--log-level", logLevel]),
    "ensync",
    "grpc-worker",
  ];
  if (Deno.build.standalone) {
    const self = Deno.execPath();
    return runGranted(self) ? { command: self, args: tail } : `no run permission for ${self}`;
  }
  const command = [Deno.execPath(), "deno"].find(runGranted);
  if (command === undefined) return "no run permission for deno (--allow-run=deno)";
  return {
    command,
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-env",
      // And 127.0.0.1: the worker's channel to the engine (servers/ensync/_grpc_ipc.ts).
      `--allow-net=${host.includes(":") ? `[${host}]` : host}${
        host === "127.0.0.1" ? "" : ",127.0.0.1"
      }`,
      // Only to count free descriptors (servers/_grpc_listen.ts), so the worker stays under them.
      "--allow-read=/dev/null",
      Deno.mainModule,
      ...tail,
    ],
  };
}

/**
 * Starts the engine with gRPC in a worker process (so that a gRPC client cannot abort the engine,
 * denoland/deno#36788), or in this process, with a warning, when no worker can be started.
 */
async function startEngine(
  options: EnSyncServerOptions,
  isolate: { inProcess: boolean; logLevel?: string },
): Promise<EnSyncServer> {
  if (isolate.inProcess || options.grpcPort === false) return await startEnSyncServer(options);
  const worker = grpcWorkerCommand(options.host ?? "127.0.0.1", isolate.logLevel);
  if (typeof worker === "string") {
    warnInProcessGrpc(worker);
    return await startEnSyncServer(options);
  }
  return await startEnSyncServer({ ...options, grpcWorker: worker, grpcWorkerFallback: true });
}

/** The KV file a `--store` value uses, if any. */
function kvFileOf(store: string, defaultKvPath: string): string | undefined {
  const s = store.trim();
  if (s === "kv") return defaultKvPath;
  if (s.startsWith("kv:")) return resolve(s.slice(3));
  return undefined;
}

/** `syft ensync grpc-worker` (internal). */
export async function grpcWorker(): Promise<void> {
  await runEnSyncGrpcWorker();
  Deno.exit(0);
}

/** `syft ensync serve`. */
export async function serve(opts: ServeOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const path = await appsPath(opts, globals);
  const created = await ensureConfig(path);
  const config = await loadEnSyncConfig(path);
  const root = resolveSyftHome();
  const defaultKvPath = join(root, "state", "ensync.kv");
  const kvFile = kvFileOf(opts.store, defaultKvPath);
  await using claim = await claimServer({ root }, {
    name: kvFile === defaultKvPath ? "ensync" : `ensync-${Deno.pid}`,
    command: "syft ensync serve",
    holds: kvFile === undefined ? [] : [kvFile],
  });
  const store = openEnSyncStore(opts.store, {
    defaultKvPath,
    ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
  });
  const shutdown = waitForShutdownSignal();
  const engine = await listening(
    {
      service: "EnSync engine",
      host: opts.host,
      ports: [opts.wsPort, opts.grpcPort],
      hint: "--ws-port / --grpc-port (0 picks a free one)",
    },
    () =>
      startEngine({
        config: path,
        store,
        host: opts.host,
        wsPort: opts.wsPort,
        grpcPort: opts.grpcPort,
        limits: serveLimitsOf(opts),
        ackTimeoutMs: opts.ackTimeout,
        retentionMs: opts.retention,
        ...(opts.grpcStreams === undefined
          ? {}
          : { grpcStreams: opts.grpcStreams as GrpcStreamMode }),
      }, {
        inProcess: opts.grpcInProcess === true,
        ...(globals.logLevel === undefined ? {} : { logLevel: globals.logLevel }),
      }),
  );
  const info = {
    event: "listening",
    ws: `${engine.wsUrl}/message`,
    grpc: engine.grpcUrl,
    grpcProcess: engine.grpcWorker === undefined ? "engine" : "worker",
    store: store.description,
    config: path,
    apps: config.apps.map((a) => a.name),
  };
  await claim.update([{ name: "ensync", where: info.ws }]);
  if (globals.json) printJson(info);
  else {
    print(`syft ensync engine listening`);
    print(`  websocket  ${info.ws}  (also ${engine.wsUrl}/)`);
    print(
      `  grpc       ${info.grpc}${
        engine.grpcWorker === undefined ? "" : `  (worker process ${engine.grpcWorker.pid})`
      }`,
    );
    print(`  store      ${info.store}`);
    print(`  apps       ${path}${created ? " (new)" : ""}`);
    print(
      `             ${
        info.apps.length ? info.apps.join(", ") : "none yet: add one with syft ensync app add NAME"
      }`,
    );
    print("Press Ctrl-C to stop.");
  }
  const signal = await shutdown;
  log.info("Received {signal}: stopping the engine", { signal });
  await engine.close();
  if (globals.json) printJson({ event: "stopped" });
  else print("syft ensync: stopped");
}

/** `syft ensync keygen`. */
export function keygen(_opts: unknown, cmd: CommandUnknownOpts): void {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const keys = generateKeyPair();
  if (globals.json) printJson({ publicKey: keys.publicKey, secretKey: keys.secretKey });
  else {
    print(`public key (app id)  ${keys.publicKey}`);
    print(`secret key           ${keys.secretKey}`);
  }
}

/** `syft ensync app add <name>`. */
export async function appAdd(
  name: string,
  opts: AppAddOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const path = await appsPath(opts, globals);
  const all = opts.send.length === 0 && opts.receive.length === 0;
  const keys = generateKeyPair();
  const app = {
    name,
    accessKey: randomAccessKey(),
    appId: keys.publicKey,
    send: all ? ["*"] : opts.send,
    receive: all ? ["*"] : opts.receive,
  };
  await addEnSyncApp(path, app);
  if (globals.json) {
    printJson({ ...app, secretKey: keys.secretKey, config: path });
    return;
  }
  if (opts.env) {
    // What publish, subscribe and replay read: `. ./app.env` and they need no --key / --secret.
    print(`export ENSYNC_ACCESS_KEY='${app.accessKey}'`);
    print(`export ENSYNC_SECRET_KEY='${keys.secretKey}'`);
    print(`export ENSYNC_APP_ID='${app.appId}'`);
    printErr(`added app "${name}" to ${path}; keep its secret key: it is not stored anywhere`);
    return;
  }
  print(`added app "${name}" to ${path}`);
  print(`  app id      ${app.appId}`);
  print(`  access key  ${app.accessKey}`);
  print(`  secret key  ${keys.secretKey}`);
  print(`  send        ${app.send.join(", ") || "(nothing)"}`);
  print(`  receive     ${app.receive.join(", ") || "(nothing)"}`);
  printErr("Keep the secret key now: it is not stored anywhere (the engine never needs it).");
}

/** `syft ensync app list`. */
export async function appList(opts: AppListOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const path = await appsPath(opts, globals);
  const config = (await exists(path))
    ? await loadEnSyncConfig(path)
    : { apps: [], grpcStreams: "auto" as const };
  const rows = config.apps.map((a) => ({
    name: a.name,
    appId: a.appId,
    accessKey: mask(a.accessKey),
    send: a.send,
    receive: a.receive,
  }));
  if (globals.json) {
    printJson({ config: path, apps: rows });
    return;
  }
  if (rows.length === 0) {
    print(`no apps in ${path}: add one with syft ensync app add NAME`);
    return;
  }
  const width = Math.max(4, ...rows.map((r) => r.name.length));
  print(`${"name".padEnd(width)}  ${"app id".padEnd(44)}  key    send | receive`);
  for (const r of rows) {
    print(
      `${r.name.padEnd(width)}  ${r.appId}  ${r.accessKey.padEnd(5)}  ${
        r.send.join(",") || "-"
      } | ${r.receive.join(",") || "-"}`,
    );
  }
}

/** `syft ensync publish <event>`. */
export async function publish(
  eventName: string,
  opts: PublishOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const to = await recipients(opts.to ?? [], await appsPath(opts, globals));
  const payload = await readPayload(opts.payload);
  let metadata: Record<string, unknown>;
  try {
    metadata = JSON.parse(opts.metadata);
  } catch (err) {
    throw new UsageError(`Cannot parse --metadata as JSON: ${String(err)}`, { cause: err });
  }
  const client = await connect(opts.url, opts.key);
  try {
    const ids = await client.publish(eventName, to, payload, metadata);
    if (globals.json) printJson({ eventName, ids, recipients: to });
    else for (const id of ids) print(id);
  } finally {
    await client.close({ closeEngine: true });
  }
}

/** `syft ensync subscribe <event>`. */
export async function subscribe(eventName: string, opts: SubscribeOptions): Promise<void> {
  if (!opts.secret) {
    throw new UsageError("Cannot decrypt events: give --secret or set ENSYNC_SECRET_KEY");
  }
  const shutdown = waitForShutdownSignal();
  const client = await connect(opts.url, opts.key, opts.secret);
  const done = Promise.withResolvers<void>();
  let seen = 0;
  // With --count the events are acked here, before exiting, rather than by the client after the
  // handler: the process must not end before the last ack is answered.
  const ackHere = !opts.manualAck && opts.count !== undefined;
  try {
    const sub = await client.subscribe(eventName, { autoAck: !opts.manualAck && !ackHere });
    sub.on(async (event) => {
      if (opts.count !== undefined && seen >= opts.count) {
        // More than asked for: leave it unacked for another consumer.
        throw new Error("enough events");
      }
      seen++;
      printJson(eventLine(event));
      if (ackHere) await sub.ack(event.idem, event.block);
      if (opts.count !== undefined && seen >= opts.count) queueMicrotask(done.resolve);
    });
    if (opts.manualAck) void readCommands(sub, done.promise);
    await Promise.race([shutdown, done.promise, client.closed]);
  } finally {
    await client.close({ closeEngine: true });
  }
}

/** Reads manual-ack commands from stdin until `stop` resolves or stdin ends. */
async function readCommands(
  sub: Awaited<ReturnType<EnSyncClient["subscribe"]>>,
  stop: Promise<void>,
): Promise<void> {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream()).getReader();
  let stopped = false;
  stop.then(() => {
    stopped = true;
    lines.cancel().catch(() => {});
  });
  while (!stopped) {
    const { value, done } = await lines.read().catch(() => ({ value: undefined, done: true }));
    if (done || value === undefined) return;
    const line = value.trim();
    if (line) {
      const [verb, idem, arg, ...rest] = line.split(/\s+/);
      try {
        if (verb === "ack" && idem && arg) {
          await sub.ack(idem, Number(arg));
          printJson({ acked: idem });
        } else if (verb === "defer" && idem && arg) {
          const r = await sub.defer(idem, Number(arg), rest.join(" "));
          printJson({ deferred: idem, deliveryTime: r.deliveryTime });
        } else if (verb === "discard" && idem) {
          await sub.discard(idem, [arg, ...rest].filter(Boolean).join(" "));
          printJson({ discarded: idem });
        } else {
          printErr(
            `Cannot read "${line}": expected ack IDEM BLOCK | defer IDEM MS [REASON] | discard IDEM [REASON]`,
          );
        }
      } catch (err) {
        printErr(`${verb} ${idem} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

/** `syft ensync replay <idem>`. */
export async function replay(idem: string, opts: ReplayOptions): Promise<void> {
  if (!opts.secret) {
    throw new UsageError("Cannot decrypt the event: give --secret or set ENSYNC_SECRET_KEY");
  }
  const client = await connect(opts.url, opts.key, opts.secret);
  try {
    printJson(eventLine(await client.replay(idem, opts.event)));
  } finally {
    await client.close({ closeEngine: true });
  }
}

/** The EnSync service of `syft up`: the workspace's app config, a KV store in its state dir. */
export async function startEnSyncService(ctx: UpContext): Promise<RunningService> {
  const path = join(ctx.home.root, "ensync.yaml");
  await ensureConfig(path);
  const store = openEnSyncStore(`kv:${join(ctx.home.root, "state", "ensync.kv")}`);
  const ports = ctx.anyPort ? { ws: 0, grpc: 0 } : ENSYNC_DEFAULT_PORTS;
  const engine = await listening(
    {
      service: "EnSync engine",
      host: ctx.host,
      ports: [ports.ws, ports.grpc],
      hint: "--any-port, or --skip ensync",
    },
    () =>
      startEngine({
        config: path,
        store,
        host: ctx.host,
        wsPort: ports.ws,
        grpcPort: ports.grpc,
        limits: ctx.limits ?? {},
      }, { inProcess: false }),
  );
  // Another shell finds ~/.syft/ensync.yaml on its own; any other file is named.
  const apps = path === join(homeDir(), ".syft", "ensync.yaml") ? "" : ` --apps ${path}`;
  const wsPort = Number(new URL(engine.wsUrl ?? "ws://x:0").port);
  const grpcPort = Number(new URL((engine.grpcUrl ?? "grpc://x:0").replace(/^grpc/, "http")).port);
  return {
    where: `${engine.wsUrl}/message`,
    detail: `grpc ${engine.grpcUrl}${
      engine.grpcWorker === undefined ? "" : " (worker process)"
    }, apps in ${path}`,
    hints: [
      `syft ensync app add demo${apps}`,
      `curl -s ${engine.wsUrl?.replace(/^ws/, "http")}/health`,
    ],
    ports: { ws: wsPort, grpc: grpcPort },
    stop: () => engine.close(),
    live: engine.live,
  };
}
