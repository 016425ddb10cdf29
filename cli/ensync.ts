/**
 * `syft ensync`: run the EnSync engine, manage its apps, and publish, subscribe and replay with the
 * EnSync client. The tree only; what each command does is in `_actions/ensync.ts`, loaded when it
 * runs (it brings gRPC and libsodium).
 *
 * @module
 */
import { withServeLimits } from "./_limits.ts";
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { parseDuration } from "../lib/rpc/time.ts";
import { collect, port, positiveInt, UsageError } from "./_common.ts";
import { ENSYNC_PORTS } from "./_defaults.ts";
import { lazy } from "./_lazy.ts";
import type { UpService } from "./_service.ts";

const actions = () => import("./_actions/ensync.ts");

/** The engine URL client commands use by default. */
export const DEFAULT_ENSYNC_URL = `ws://127.0.0.1:${ENSYNC_PORTS.ws}`;

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

function appsOption(): Option<"--apps <file>"> {
  return new Option(
    "--apps <file>",
    "the EnSync app config (YAML; default <SYFT_HOME>/ensync.yaml)",
  ).env("ENSYNC_APPS");
}

function keyOption(): Option<"--key <access-key>"> {
  return new Option("--key <access-key>", "the app's access key").env("ENSYNC_ACCESS_KEY");
}

function urlOption(): Option<"--url <url>"> {
  return new Option(
    "--url <url>",
    "engine URL: ws://host:port (WebSocket) or grpc://host:port (gRPC)",
  ).env("ENSYNC_URL").default(DEFAULT_ENSYNC_URL);
}

function secretOption(): Option<"--secret <secret-key>"> {
  return new Option("--secret <secret-key>", "the app's base64 secret key (decrypts events)")
    .env("ENSYNC_SECRET_KEY");
}

const serveTree = () =>
  withServeLimits(new Command("serve"))
    .description(
      "run the EnSync engine: WebSocket (/ and /message) and gRPC, apps from the app config (Ctrl-C stops it)",
    )
    .option("--host <host>", "bind address; 0.0.0.0 exposes the engine", "127.0.0.1")
    .option("--ws-port <port>", "WebSocket port (0 picks a free one)", port, ENSYNC_PORTS.ws)
    .option("--grpc-port <port>", "gRPC port (0 picks a free one)", port, ENSYNC_PORTS.grpc)
    .addOption(appsOption())
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
--apps <file> (or $ENSYNC_APPS) names the EnSync app config (YAML) of the ensync commands;
default <SYFT_HOME>/ensync.yaml (created empty on first run; add apps with
"syft ensync app add"). The engine reloads it when it changes. (The global --config is the
SyftBox client config, as everywhere.)

Endpoints: ws://HOST:WS_PORT/message (Node, Python SDKs) and ws://HOST:WS_PORT/ (Go SDK),
grpc://HOST:GRPC_PORT (ensync.EnSyncService), GET /health, GET /metrics (Prometheus: the
serving layer's connections, refusals and timeouts), GET /discarded (Authorization: Bearer
<access key>) on the WebSocket port.

gRPC is served by a worker process (started with deno, so it needs --allow-run=deno): Deno 2.9
can abort a process when a gRPC client closes a connection that carried many calls. When the
worker dies, a new one serves the same port at once; client ids, subscriptions and events live in
the engine (GET /health counts the restarts).

Examples:
  syft ensync app add shop --send 'orders/*' --receive 'payments/*'
  syft ensync serve
  syft ensync serve --store memory --ws-port 0 --grpc-port 0
  syft ensync serve --apps ./ensync.yaml --store redis://127.0.0.1:6379 --ack-timeout 10s`,
    );
/** Options of `syft ensync serve`. */
export type ServeOptions = ReturnType<ReturnType<typeof serveTree>["opts"]>;

const keygenTree = () =>
  new Command("keygen")
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
    );

const appAddTree = () =>
  new Command("add")
    .description(
      "add an app to the app config: new key pair and access key (the secret is printed once)",
    )
    .argument("<name>", "app name (letters, digits, . _ -)")
    .option("--send <pattern>", "event names it may publish (repeatable)", collect, [])
    .option("--receive <pattern>", "event names it may receive (repeatable)", collect, [])
    .option(
      "--env",
      "print the keys as ENSYNC_* shell variables (export lines) instead, for `. ./file`",
    )
    .addOption(appsOption())
    .addHelpText(
      "after",
      `
Patterns: '*' is any name, 'orders/*' one level below orders/, 'orders/**' any depth. Without
--send and --receive the app may send and receive everything ('*'). A running engine picks the
change up at once.

Examples:
  syft ensync app add shop --send 'orders/*' --receive 'payments/*'
  syft ensync app add billing --receive 'orders/*'
  syft --json ensync app add worker > worker-keys.json
  syft ensync app add billing --receive 'orders/*' --env > billing.env   # then: . ./billing.env`,
    );
/** Options of `syft ensync app add`. */
export type AppAddOptions = ReturnType<ReturnType<typeof appAddTree>["opts"]>;

const appListTree = () =>
  new Command("list")
    .description("list the apps of the app config (access keys masked)")
    .addOption(appsOption())
    .addHelpText("after", `\nExamples:\n  syft ensync app list\n  syft --json ensync app list`);
/** Options of `syft ensync app list`. */
export type AppListOptions = ReturnType<ReturnType<typeof appListTree>["opts"]>;

const publishTree = () =>
  new Command("publish")
    .description("publish one event, encrypted for each recipient, and print its ids")
    .argument("<event>", "the event name, e.g. orders/created")
    .requiredOption(
      "--to <app>",
      "recipient app id or app name from the app config (repeatable)",
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
    .addOption(appsOption())
    .addHelpText(
      "after",
      `
Examples:
  syft ensync publish orders/created --to billing --payload '{"id":7}' --key $SHOP_KEY
  echo '{"id":8}' | syft ensync publish orders/created --to <app id> --payload - --key $SHOP_KEY
  syft ensync publish orders/created --to billing --url grpc://127.0.0.1:50051 --key $SHOP_KEY`,
    );
/** Options of `syft ensync publish`. */
export type PublishOptions = ReturnType<ReturnType<typeof publishTree>["opts"]>;

const subscribeTree = () =>
  new Command("subscribe")
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
    );
/** Options of `syft ensync subscribe`. */
export type SubscribeOptions = ReturnType<ReturnType<typeof subscribeTree>["opts"]>;

const replayTree = () =>
  new Command("replay")
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
    );
/** Options of `syft ensync replay`. */
export type ReplayOptions = ReturnType<ReturnType<typeof replayTree>["opts"]>;

/**
 * Builds `syft ensync`.
 *
 * @returns The command group.
 */
export function ensyncCommand(): CommandUnknownOpts {
  const app = new Command("app")
    .description("manage the apps of the engine's app config")
    .addCommand(appAddTree().action(lazy(actions, "appAdd")))
    .addCommand(appListTree().action(lazy(actions, "appList")));
  const worker = new Command("grpc-worker")
    .description(
      "internal: the gRPC front end process of the engine (talks JSON lines on stdin/stdout)",
    )
    .action(lazy(actions, "grpcWorker"));
  return new Command("ensync")
    .description("the EnSync engine (serve, apps, keys) and client (publish, subscribe, replay)")
    .addCommand(serveTree().action(lazy(actions, "serve")))
    .addCommand(keygenTree().action(lazy(actions, "keygen")))
    .addCommand(app)
    .addCommand(publishTree().action(lazy(actions, "publish")))
    .addCommand(subscribeTree().action(lazy(actions, "subscribe")))
    .addCommand(replayTree().action(lazy(actions, "replay")))
    .addCommand(worker, { hidden: true })
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

/** `syft up` runs the engine with the workspace's app config and a KV store under its state dir. */
export const ENSYNC_UP_SERVICE: UpService = {
  name: "ensync",
  description: "EnSync engine (WebSocket and gRPC, durable delivery in Deno KV)",
  ports: { ws: ENSYNC_PORTS.ws, grpc: ENSYNC_PORTS.grpc },
  start: lazy(actions, "startEnSyncService"),
};
