/**
 * File-RPC commands: `syft init`, `syft rpc serve|echo|call|schema|requests`, `syft watch`, and the
 * `rpc-echo` service `syft up` starts. The tree only; what each command does is in
 * `_actions/rpc.ts`, loaded when it runs.
 *
 * @module
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { collect, positiveNumber } from "./_common.ts";
import { RPC_METHODS } from "./_defaults.ts";
import { lazy } from "./_lazy.ts";
import type { UpService } from "./_service.ts";

const actions = () => import("./_actions/rpc.ts");

/** Where the config comes from, for help texts. */
export const WORKSPACE_HELP =
  `The workspace: --config, else $SYFTBOX_CLIENT_CONFIG_PATH, else a SyftBox client's own
~/.syftbox/config.json when it exists, else the syft home ($SYFT_HOME or ~/.syft, which
syft up and syft init create). syft info prints the one in use.`;

// ---- syft init ---------------------------------------------------------------------------------

const initTree = () =>
  new Command("init")
    .description(
      "create the workspace (a SyftBox client config and your datasite) when none exists",
    )
    .option("--data-dir <dir>", "the data dir of a new config (default: data/ beside the config)")
    .option(
      "--email <email>",
      "your datasite e-mail in a new config (default <user>@localhost.dev)",
    )
    .option("--server-url <url>", "the SyftBox server of a new config", "https://syftbox.net")
    .addHelpText(
      "after",
      `
${WORKSPACE_HELP}
An existing config is never overwritten: init then only makes sure the datasite exists.
A new one at --config or $SYFTBOX_CLIENT_CONFIG_PATH is written there.

Examples:
  syft init
  syft init --email alice@example.com
  syft --config /tmp/box/config.json init --data-dir /tmp/box/data --email bob@example.com`,
    );
/** Options of `syft init`. */
export type InitOptions = ReturnType<ReturnType<typeof initTree>["opts"]>;

/** Builds `syft init`. */
export function initCommand(): CommandUnknownOpts {
  return initTree().action(lazy(actions, "init"));
}

// ---- syft rpc ----------------------------------------------------------------------------------

const serveTree = () =>
  new Command("serve")
    .description("run a module that exports `app` (a SyftEvents app) until Ctrl-C")
    .argument("<module>", "a TypeScript/JavaScript module exporting `app`")
    .addHelpText(
      "after",
      `
The module is imported with this process's permissions and must not start the app itself. Apps
created without a workspace use this command's (--config, ...; see syft rpc --help).

Example module (hello.ts):
  import { SyftEvents } from "@syft/syft/rpc";
  export const app = new SyftEvents("hello");
  app.onRequest("/hello", ({ name }: { name: string }) => \`Hello, \${name}!\`);

Examples:
  syft rpc serve ./hello.ts
  syft --config /tmp/box/config.json rpc serve ./hello.ts`,
    );

const echoTree = () =>
  new Command("echo")
    .description("run the built-in echo app: /echo returns the body, /ping returns pong")
    .option("--app <name>", "the app name", "echo")
    .addHelpText(
      "after",
      `
Examples:
  syft rpc echo
  syft rpc call syft://$(syft info --field email)/app_data/echo/rpc/echo --body '{"hi":1}'`,
    );
/** Options of `syft rpc echo`. */
export type EchoOptions = ReturnType<ReturnType<typeof echoTree>["opts"]>;

const callTree = () =>
  new Command("call")
    .description("send a request, wait for the response and print it as JSON")
    .argument("<syft-url>", "the endpoint, e.g. syft://bob@example.com/app_data/echo/rpc/echo")
    .option("-X, --method <method>", `the method (${RPC_METHODS.join(", ")})`, "GET")
    .option("-d, --body <body>", "the body: text or JSON as is, @file for a file, - for stdin")
    .option("-H, --header <K:V>", "a header (repeatable)", collect, [])
    .option("--timeout <seconds>", "how long to wait for the response", positiveNumber, 60)
    .option("--expiry <duration>", "how long the request lives (e.g. 30s, 15m, 1d)", "15m")
    .option("--no-cache", "always write a new request (no deterministic id)")
    .option(
      "--no-endpoint-check",
      "send even when the endpoint's folder is not in the local datasites (sync may bring it)",
    )
    .addHelpText(
      "after",
      `
Prints {"status_code":..,"headers":{..},"body":..} (body as JSON when it parses, else text).
Exits 0 for a status below 400, 1 otherwise, 124 when no response came in time, 130 on Ctrl-C
(which removes the request file). An endpoint whose folder (datasite, app or endpoint) is not in
the local datasites fails at once, naming what is missing.

Examples:
  syft rpc call syft://bob@example.com/app_data/echo/rpc/ping
  syft rpc call syft://bob@example.com/app_data/echo/rpc/echo -X POST --body '{"a":1}' -H Content-Type:application/json
  syft rpc call syft://bob@example.com/app_data/calc/rpc/add --body @args.json --timeout 120`,
    );
/** Options of `syft rpc call`. */
export type CallOptions = ReturnType<ReturnType<typeof callTree>["opts"]>;

const schemaTree = () =>
  new Command("schema")
    .description("print an app's rpc.schema.json")
    .argument("<app>", "the app name")
    .option("--datasite <email>", "whose datasite (default: yours)")
    .addHelpText(
      "after",
      "\nExamples:\n  syft rpc schema echo\n  syft rpc schema calc --datasite bob@example.com",
    );
/** Options of `syft rpc schema`. */
export type SchemaOptions = ReturnType<ReturnType<typeof schemaTree>["opts"]>;

const requestsTree = () =>
  new Command("requests")
    .description("list the requests in your datasite that have no response yet")
    .option("--app <name>", "only this app")
    .addHelpText(
      "after",
      "\nExamples:\n  syft rpc requests\n  syft --json rpc requests --app echo",
    );
/** Options of `syft rpc requests`. */
export type RequestsOptions = ReturnType<ReturnType<typeof requestsTree>["opts"]>;

/** Builds `syft rpc` and its subcommands. */
export function rpcCommand(): CommandUnknownOpts {
  return new Command("rpc")
    .description("SyftBox file RPC: serve apps, call endpoints, inspect requests")
    .addCommand(serveTree().action(lazy(actions, "serve")))
    .addCommand(echoTree().action(lazy(actions, "echo")))
    .addCommand(callTree().action(lazy(actions, "call")))
    .addCommand(schemaTree().action(lazy(actions, "schema")))
    .addCommand(requestsTree().action(lazy(actions, "requests")))
    .addHelpText(
      "after",
      `
Requests are files: <data_dir>/datasites/<owner>/app_data/<app>/rpc/<endpoint>/<sender>/<id>.request,
answered by <id>.response beside them.
${WORKSPACE_HELP}

Examples:
  syft rpc echo &
  syft rpc call syft://$(syft info --field email)/app_data/echo/rpc/echo -X POST --body '{"hi":1}'`,
    );
}

// ---- syft watch --------------------------------------------------------------------------------

const watchTree = () =>
  new Command("watch")
    .description("print file changes under your datasites that match globs, as JSON lines")
    .argument("<glob...>", "globs such as '{datasite}/**/*.json' ({datasite}, {email}, {app_data})")
    .option(
      "--events <kinds>",
      "comma-separated kinds: create, modify, remove",
      "create,modify,remove",
    )
    .addHelpText(
      "after",
      `
Globs match absolute paths under <data_dir>/datasites with **/ in front (as syft-event's watch).
Each change prints {"kind","path","rel","origin","ts"}; origin "scan" means it was found by
scanning a new directory or after the watcher lost events.

Examples:
  syft watch '{datasite}/**/*.json'
  syft watch '**/*.request' '**/*.response' --events create`,
    );
/** Options of `syft watch`. */
export type WatchOptions = ReturnType<ReturnType<typeof watchTree>["opts"]>;

/** Builds `syft watch`. */
export function watchCommand(): CommandUnknownOpts {
  return watchTree().action(lazy(actions, "watch"));
}

// ---- syft up -----------------------------------------------------------------------------------

/** The echo app for the workspace's own datasite, started by `syft up`. */
export const RPC_ECHO_UP_SERVICE: UpService = {
  name: "rpc-echo",
  description: "the built-in echo app (/echo, /ping) on the workspace's own datasite",
  start: lazy(actions, "startEchoService"),
};
