/**
 * `syft ensync`: run the EnSync engine, manage its apps, and publish, subscribe and replay with the
 * EnSync client.
 *
 * @module
 */
import { TextLineStream } from "../lib/rpc/_lines.ts";
import { warnInProcessGrpc } from "../servers/ensync/_grpc_supervisor.ts";
import { join } from "node:path";
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import {
  EnSyncEngine,
  type EnSyncEvent,
  EnSyncWebSocketEngine,
  generateKeyPair,
} from "../lib/ensync/mod.ts";
import type { EnSyncClient } from "../lib/ensync/client.ts";
import { exists } from "../lib/_fs.ts";
import { resolveSyftHome } from "../lib/home.ts";
import { getLogger } from "../lib/_log.ts";
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
  writeEnSyncConfig,
} from "../servers/ensync/mod.ts";
import { print, printErr, printJson } from "./_output.ts";
import type { UpService } from "./_service.ts";
import {
  collect,
  type GlobalOptions,
  port,
  positiveInt,
  UsageError,
  waitForShutdownSignal,
} from "./_common.ts";
import { parseDuration } from "../lib/rpc/time.ts";

const log = getLogger(["cli", "ensync"]);

const DEFAULT_URL = `ws://127.0.0.1:${ENSYNC_DEFAULT_PORTS.ws}`;

// Option parsers throw UsageError (exit status 2) naming the option and the accepted form.

/** A duration option: lib/rpc's units (500ms, 30s, 5m, 24h, 7d, 1d2h) or a bare number of ms. */
function duration(option: string): (v: string) => number {
  return (v) => {
    try {
      const ms = /^\d+$/.test(v.trim()) ? Number(v) : parseDuration(v);
      if (ms <= 0) throw new RangeError("expected a duration longer than 0");
      return ms;
    } catch (err) {
      throw new UsageError(
        `Cannot use ${option} "${v}": ${(err as Error).message} (e.g. 500ms, 30s, 5m, 24h or 7d)`,
      );
    }
  };
}

/** Parses `500ms`, `30s`, `5m`, `24h`, `7d` or plain milliseconds. */

/** The EnSync app config: the global `--config`, else `$ENSYNC_CONFIG`, else `<SYFT_HOME>/ensync.yaml`. */
function configPath(globals: GlobalOptions): string {
  return globals.config ?? Deno.env.get("ENSYNC_CONFIG") ?? join(resolveSyftHome(), "ensync.yaml");
}

/** Creates an empty config when there is none; returns whether it did. */
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

/** Resolves `--to` values: app ids as given, app names through the local config. */
async function recipients(values: string[], globals: GlobalOptions): Promise<string[]> {
  const names = values.filter((v) => !APP_ID_RE.test(v));
  if (names.length === 0) return values;
  const path = configPath(globals);
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

function keyOption(): Option<"--key <access-key>"> {
  return new Option("--key <access-key>", "the app's access key").env("ENSYNC_ACCESS_KEY");
}

function urlOption(): Option<"--url <url>"> {
  return new Option(
    "--url <url>",
    "engine URL: ws://host:port (WebSocket) or grpc://host:port (gRPC)",
  ).env("ENSYNC_URL").default(DEFAULT_URL);
}

function secretOption(): Option<"--secret <secret-key>"> {
  return new Option("--secret <secret-key>", "the app's base64 secret key (decrypts events)")
    .env("ENSYNC_SECRET_KEY");
}

async function connect(
  url: string | undefined,
  key: string | undefined,
  secret?: string,
): Promise<EnSyncClient> {
  if (!key) throw new UsageError("Cannot connect: give --key or set ENSYNC_ACCESS_KEY");
  url ??= DEFAULT_URL;
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
 * itself, or `deno run` of the same main module with only env and net (to `host`) permissions.
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
      `--allow-net=${host.includes(":") ? `[${host}]` : host}`,
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

function workerCommand(): CommandUnknownOpts {
  return new Command("grpc-worker")
    .description(
      "internal: the gRPC front end process of the engine (talks JSON lines on stdin/stdout)",
    )
    .action(async () => {
      await runEnSyncGrpcWorker();
      Deno.exit(0);
    });
}

function serveCommand(): CommandUnknownOpts {
  return new Command("serve")
    .description(
      "run the EnSync engine: WebSocket (/ and /message) and gRPC, apps from the config (Ctrl-C stops it)",
    )
    .option("--host <host>", "bind address; 0.0.0.0 exposes the engine", "127.0.0.1")
    .option(
      "--ws-port <port>",
      "WebSocket port (0 picks a free one)",
      port,
      ENSYNC_DEFAULT_PORTS.ws,
    )
    .option(
      "--grpc-port <port>",
      "gRPC port (0 picks a free one)",
      port,
      ENSYNC_DEFAULT_PORTS.grpc,
    )
    .option(
      "--store <store>",
      "memory | kv (<SYFT_HOME>/state/ensync.kv) | kv:PATH | redis://host:port (engines sharing it act as one)",
      "kv",
    )
    .option("--prefix <prefix>", "key prefix in the store (engines sharing Redis use the same)")
    .option(
      "--ack-timeout <duration>",
      "redeliver events not acked within this time",
      duration("--ack-timeout"),
      30_000,
    )
    .option(
      "--retention <duration>",
      "keep events this long (delivery and replay)",
      duration("--retention"),
      7 * 86_400_000,
    )
    .addOption(
      new Option(
        "--grpc-streams <mode>",
        "gRPC subscription streams (overrides the config's grpc_streams)",
      ).choices(["auto", "multiplexed", "per-subscription"] as const),
    )
    .option(
      "--grpc-in-process",
      "serve gRPC in the engine's process instead of a worker process (no crash isolation)",
    )
    .addHelpText(
      "after",
      `
The global --config <file> names the EnSync app config (YAML) for the ensync commands; default
$ENSYNC_CONFIG or <SYFT_HOME>/ensync.yaml (created empty on first run; add apps with
"syft ensync app add"). The engine reloads it when it changes.

Endpoints: ws://HOST:WS_PORT/message (Node, Python SDKs) and ws://HOST:WS_PORT/ (Go SDK),
grpc://HOST:GRPC_PORT (ensync.EnSyncService), GET /health, GET /discarded (Authorization:
Bearer <access key>) on the WebSocket port.

gRPC is served by a worker process (started with deno, so it needs --allow-run=deno): Deno 2.9
can abort a process when a gRPC client closes a connection that carried many calls. When the
worker dies, a new one serves the same port at once; client ids, subscriptions and events live in
the engine (GET /health counts the restarts).

Examples:
  syft ensync app add shop --send 'orders/*' --receive 'payments/*'
  syft ensync serve
  syft ensync serve --store memory --ws-port 0 --grpc-port 0
  syft --config ./ensync.yaml ensync serve --store redis://127.0.0.1:6379 --ack-timeout 10s`,
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const path = configPath(globals);
      const created = await ensureConfig(path);
      const config = await loadEnSyncConfig(path);
      const store = openEnSyncStore(opts.store, {
        defaultKvPath: join(resolveSyftHome(), "state", "ensync.kv"),
        ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
      });
      const shutdown = waitForShutdownSignal();
      const engine = await startEngine({
        config: path,
        store,
        host: opts.host,
        wsPort: opts.wsPort,
        grpcPort: opts.grpcPort,
        ackTimeoutMs: opts.ackTimeout,
        retentionMs: opts.retention,
        ...(opts.grpcStreams === undefined
          ? {}
          : { grpcStreams: opts.grpcStreams as GrpcStreamMode }),
      }, {
        inProcess: opts.grpcInProcess === true,
        ...(globals.logLevel === undefined ? {} : { logLevel: globals.logLevel }),
      });
      const info = {
        event: "listening",
        ws: `${engine.wsUrl}/message`,
        grpc: engine.grpcUrl,
        grpcProcess: engine.grpcWorker === undefined ? "engine" : "worker",
        store: store.description,
        config: path,
        apps: config.apps.map((a) => a.name),
      };
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
        print(`  config     ${path}${created ? " (new)" : ""}`);
        print(
          `  apps       ${
            info.apps.length
              ? info.apps.join(", ")
              : "none yet: add one with syft ensync app add NAME"
          }`,
        );
        print("Press Ctrl-C to stop.");
      }
      const signal = await shutdown;
      log.info("Received {signal}: stopping the engine", { signal });
      await engine.close();
      if (globals.json) printJson({ event: "stopped" });
      else print("syft ensync: stopped");
    });
}

function keygenCommand(): CommandUnknownOpts {
  return new Command("keygen")
    .description(
      "generate an Ed25519 key pair (base64: 32-byte public key = app id, 64-byte secret)",
    )
    .addHelpText(
      "after",
      `
The public key is an app's id (what senders address); the secret key decrypts the events sent to
it. The engine never needs the secret key.

Examples:
  syft ensync keygen
  syft --json ensync keygen | jq -r .publicKey`,
    )
    .action((_opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const keys = generateKeyPair();
      if (globals.json) printJson({ publicKey: keys.publicKey, secretKey: keys.secretKey });
      else {
        print(`public key (app id)  ${keys.publicKey}`);
        print(`secret key           ${keys.secretKey}`);
      }
    });
}

function appCommand(): CommandUnknownOpts {
  const add = new Command("add")
    .description(
      "add an app to the config: new key pair and access key (the secret is printed once)",
    )
    .argument("<name>", "app name (letters, digits, . _ -)")
    .option("--send <pattern>", "event names it may publish (repeatable)", collect, [])
    .option("--receive <pattern>", "event names it may receive (repeatable)", collect, [])
    .addHelpText(
      "after",
      `
Patterns: '*' is any name, 'orders/*' one level below orders/, 'orders/**' any depth. Without
--send and --receive the app may send and receive everything ('*'). A running engine picks the
change up at once.

Examples:
  syft ensync app add shop --send 'orders/*' --receive 'payments/*'
  syft ensync app add billing --receive 'orders/*'
  syft --json ensync app add worker > worker-keys.json`,
    )
    .action(async (name, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const path = configPath(globals);
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
      print(`added app "${name}" to ${path}`);
      print(`  app id      ${app.appId}`);
      print(`  access key  ${app.accessKey}`);
      print(`  secret key  ${keys.secretKey}`);
      print(`  send        ${app.send.join(", ") || "(nothing)"}`);
      print(`  receive     ${app.receive.join(", ") || "(nothing)"}`);
      printErr("Keep the secret key now: it is not stored anywhere (the engine never needs it).");
    });
  const list = new Command("list")
    .description("list the apps of the config (access keys masked)")
    .addHelpText("after", `\nExamples:\n  syft ensync app list\n  syft --json ensync app list`)
    .action(async (_opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const path = configPath(globals);
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
    });
  return new Command("app")
    .description("manage the apps of the engine's config")
    .addCommand(add)
    .addCommand(list);
}

function publishCommand(): CommandUnknownOpts {
  return new Command("publish")
    .description("publish one event, encrypted for each recipient, and print its ids")
    .argument("<event>", "the event name, e.g. orders/created")
    .requiredOption(
      "--to <app>",
      "recipient app id or app name from the config (repeatable)",
      collect,
    )
    .option("--payload <json>", "the payload as JSON (- reads stdin; default {})")
    .option(
      "--metadata <json>",
      "plaintext metadata as a JSON object",
      '{"persist":true,"headers":{}}',
    )
    .addOption(urlOption())
    .addOption(keyOption())
    .addHelpText(
      "after",
      `
Examples:
  syft ensync publish orders/created --to billing --payload '{"id":7}' --key $SHOP_KEY
  echo '{"id":8}' | syft ensync publish orders/created --to <app id> --payload - --key $SHOP_KEY
  syft ensync publish orders/created --to billing --url grpc://127.0.0.1:50051 --key $SHOP_KEY`,
    )
    .action(async (eventName, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const to = await recipients(opts.to ?? [], globals);
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
    });
}

function subscribeCommand(): CommandUnknownOpts {
  return new Command("subscribe")
    .description("subscribe and print each event, decrypted, as a JSON line (Ctrl-C stops)")
    .argument("<event>", "the event name or pattern, e.g. orders/*")
    .option(
      "--manual-ack",
      "do not ack; read 'ack IDEM BLOCK', 'defer IDEM MS [REASON]', 'discard IDEM [REASON]' lines on stdin",
    )
    .option("--count <n>", "exit after n events", positiveInt)
    .addOption(urlOption())
    .addOption(keyOption())
    .addOption(secretOption())
    .addHelpText(
      "after",
      `
Each line is {"idem","block","eventName","payload","timestamp","metadata","sender"}. Events are
acknowledged after they are printed unless --manual-ack is given; with it, unacknowledged events
come back after the engine's ack timeout.

Examples:
  syft ensync subscribe 'orders/*' --key $BILLING_KEY --secret $BILLING_SECRET
  syft ensync subscribe orders/created --count 1 --key $K --secret $S | jq .payload
  syft ensync subscribe orders/created --manual-ack --key $K --secret $S   # then type: ack <idem> <block>`,
    )
    .action(async (eventName, opts) => {
      if (!opts.secret) {
        throw new UsageError("Cannot decrypt events: give --secret or set ENSYNC_SECRET_KEY");
      }
      const shutdown = waitForShutdownSignal();
      const client = await connect(opts.url, opts.key, opts.secret);
      const done = Promise.withResolvers<void>();
      let seen = 0;
      try {
        const sub = await client.subscribe(eventName, { autoAck: !opts.manualAck });
        sub.on((event) => {
          if (opts.count !== undefined && seen >= opts.count) {
            // More than asked for: leave it unacked for another consumer.
            throw new Error("enough events");
          }
          printJson(eventLine(event));
          seen++;
          if (opts.count !== undefined && seen >= opts.count) queueMicrotask(done.resolve);
        });
        if (opts.manualAck) void readCommands(sub, done.promise);
        await Promise.race([shutdown, done.promise, client.closed]);
        // Let the last auto-ack go out.
        if (!opts.manualAck) await new Promise((r) => setTimeout(r, 50));
      } finally {
        await client.close({ closeEngine: true });
      }
    });
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

function replayCommand(): CommandUnknownOpts {
  return new Command("replay")
    .description("fetch one stored event by id (acked or not, within retention) and print it")
    .argument("<idem>", "the event id")
    .requiredOption("--event <name>", "the event's name")
    .addOption(urlOption())
    .addOption(keyOption())
    .addOption(secretOption())
    .addHelpText(
      "after",
      `
Prints {"idem","block","eventName","payload","timestamp","metadata","sender"}; metadata carries
$internal.replay_info (wasAcknowledged, ...). Nothing is delivered or acknowledged.

Examples:
  syft ensync replay 1Ab.0.x9Kd2Q --event orders/created --key $K --secret $S`,
    )
    .action(async (idem, opts) => {
      if (!opts.secret) {
        throw new UsageError("Cannot decrypt the event: give --secret or set ENSYNC_SECRET_KEY");
      }
      const client = await connect(opts.url, opts.key, opts.secret);
      try {
        printJson(eventLine(await client.replay(idem, opts.event)));
      } finally {
        await client.close({ closeEngine: true });
      }
    });
}

/**
 * Builds `syft ensync`.
 *
 * @returns The command group.
 */
export function ensyncCommand(): CommandUnknownOpts {
  return new Command("ensync")
    .description("the EnSync engine (serve, apps, keys) and client (publish, subscribe, replay)")
    .addCommand(serveCommand())
    .addCommand(keygenCommand())
    .addCommand(appCommand())
    .addCommand(publishCommand())
    .addCommand(subscribeCommand())
    .addCommand(replayCommand())
    .addCommand(workerCommand(), { hidden: true })
    .addHelpText(
      "after",
      `
Quick start (three terminals):
  syft ensync app add shop --send 'orders/*'        # prints shop's keys
  syft ensync app add billing --receive 'orders/*'  # prints billing's keys
  syft ensync serve
  syft ensync subscribe 'orders/*' --key <billing access key> --secret <billing secret key>
  syft ensync publish orders/created --to billing --payload '{"id":7}' --key <shop access key>`,
    );
}

/** `syft up` runs the engine with the workspace's config and a KV store under its state dir. */
export const ENSYNC_UP_SERVICE: UpService = {
  name: "ensync",
  description: "EnSync engine (WebSocket and gRPC, durable delivery in Deno KV)",
  async start(ctx) {
    const path = join(ctx.home.root, "ensync.yaml");
    await ensureConfig(path);
    const store = openEnSyncStore(`kv:${join(ctx.home.root, "state", "ensync.kv")}`);
    const engine = await startEngine({
      config: path,
      store,
      host: ctx.host,
      wsPort: ctx.anyPort ? 0 : ENSYNC_DEFAULT_PORTS.ws,
      grpcPort: ctx.anyPort ? 0 : ENSYNC_DEFAULT_PORTS.grpc,
    }, { inProcess: false });
    return {
      where: `${engine.wsUrl}/message`,
      detail: `grpc ${engine.grpcUrl}${
        engine.grpcWorker === undefined ? "" : " (worker process)"
      }, apps in ${path}`,
      hints: [
        `deno task syft --config ${path} ensync app add demo`,
        `curl -s ${engine.wsUrl?.replace(/^ws/, "http")}/health`,
      ],
      stop: () => engine.close(),
      live: engine.live,
    };
  },
};
