/**
 * File-RPC commands: `syft init`, `syft rpc serve|echo|call|schema|requests`, `syft watch`, and the
 * `rpc-echo` service `syft up` starts.
 *
 * @module
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ensureDir } from "../lib/_fs.ts";
import { SyftError } from "../lib/errors.ts";
import { defaultEmail, homeDir } from "../lib/home.ts";
import { getLogger } from "../lib/_log.ts";
import {
  CONFIG_PATH_ENV,
  createEchoApp,
  DEFAULT_SERVER_URL,
  GlobWatcher,
  isValidEmail,
  listPendingRequests,
  loadSyftBoxConfig,
  readRpcSchema,
  resolveConfigPath,
  RpcClient,
  SYFT_METHODS,
  SyftBoxURL,
  SyftBoxWorkspace,
  SyftEvents,
  type SyftMethod,
  type SyftResponse,
  type WatchEventKind,
  writeSyftBoxConfig,
} from "../lib/rpc/mod.ts";
import { print, printJson } from "./_output.ts";
import type { UpService } from "./_service.ts";
import {
  collect,
  type GlobalOptions,
  parseHeaderOptions,
  positiveNumber,
  UsageError,
  waitForShutdownSignal,
} from "./_common.ts";

const log = getLogger(["cli", "rpc"]);

async function workspaceOf(globals: GlobalOptions): Promise<SyftBoxWorkspace> {
  return await SyftBoxWorkspace.load(globals.config === undefined ? {} : { path: globals.config });
}

/** The home directory, or a usage error that says how to do without one. */
function homeOrHint(): string {
  try {
    return homeDir();
  } catch (err) {
    throw new UsageError(`${(err as Error).message}: set HOME or pass --data-dir`, { cause: err });
  }
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
        {
          cause: err,
        },
      );
    }
  }
  return new TextEncoder().encode(raw);
}

// ---- syft init ---------------------------------------------------------------------------------

/** Builds `syft init`. */
export function initCommand(): CommandUnknownOpts {
  return new Command("init")
    .description("write a SyftBox client config (when none exists) and create your datasite")
    .option("--data-dir <dir>", "the SyftBox data dir (default ~/SyftBox)")
    .option("--email <email>", "your datasite e-mail (default <user>@localhost.dev)")
    .option("--server-url <url>", "the SyftBox server", DEFAULT_SERVER_URL)
    .addHelpText(
      "after",
      `
The config goes to --config, else $${CONFIG_PATH_ENV}, else ~/.syftbox/config.json. An existing
config is never overwritten: init then only makes sure the datasite exists.

Examples:
  syft init --email alice@example.com
  syft init --data-dir /tmp/box --email bob@example.com --config /tmp/box/config.json`,
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const path = await resolveConfigPath(
        globals.config === undefined ? {} : { path: globals.config },
      );
      let created = false;
      let config;
      try {
        config = await loadSyftBoxConfig({ path });
      } catch (err) {
        if ((err as { code?: string }).code !== "NO_CONFIG") throw err;
        const email = opts.email ?? defaultEmail();
        if (!isValidEmail(email)) {
          throw new UsageError(`Cannot use e-mail "${email}": expected name@domain.tld`);
        }
        try {
          new URL(opts.serverUrl);
        } catch {
          throw new UsageError(`Cannot use server URL "${opts.serverUrl}": not a URL`);
        }
        config = await writeSyftBoxConfig(path, {
          dataDir: resolve(opts.dataDir ?? join(homeOrHint(), "SyftBox")),
          email,
          serverUrl: opts.serverUrl,
        });
        created = true;
      }
      const workspace = new SyftBoxWorkspace(config);
      await workspace.ensure();
      await ensureDir(join(workspace.myDatasite, "app_data"));
      const info = {
        event: "init",
        created,
        config: config.path,
        email: config.email,
        "data_dir": config.dataDir,
        datasite: workspace.myDatasite,
      };
      if (globals.json) printJson(info);
      else {
        print(created ? `Wrote ${config.path}` : `Using the existing config ${config.path}`);
        print(`  email     ${config.email}`);
        print(`  data dir  ${config.dataDir}`);
        print(`  datasite  ${workspace.myDatasite}`);
        if (!created && (opts.email ?? opts.dataDir) !== undefined) {
          print("  (--email and --data-dir only apply to a new config)");
        }
      }
    });
}

// ---- syft rpc ----------------------------------------------------------------------------------

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

function serveCommand(): CommandUnknownOpts {
  return new Command("serve")
    .description("run a module that exports `app` (a SyftEvents app) until Ctrl-C")
    .argument("<module>", "a TypeScript/JavaScript module exporting `app`")
    .addHelpText(
      "after",
      `
The module is imported with this process's permissions and must not start the app itself.
--config (or $${CONFIG_PATH_ENV}) is the config apps without an explicit workspace load.

Example module (hello.ts):
  import { SyftEvents } from "@syft/syft/rpc";
  export const app = new SyftEvents("hello");
  app.onRequest("/hello", ({ name }: { name: string }) => \`Hello, \${name}!\`);

Examples:
  syft rpc serve ./hello.ts
  syft --config /tmp/box/config.json rpc serve ./hello.ts`,
    )
    .action(async (module, _opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      if (globals.config !== undefined) Deno.env.set(CONFIG_PATH_ENV, resolve(globals.config));
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
    });
}

function echoCommand(): CommandUnknownOpts {
  return new Command("echo")
    .description("run the built-in echo app: /echo returns the body, /ping returns pong")
    .option("--app <name>", "the app name", "echo")
    .addHelpText(
      "after",
      `
Examples:
  syft rpc echo
  syft rpc call syft://you@localhost.dev/app_data/echo/rpc/echo --body '{"hi":1}'
  syft rpc call syft://you@localhost.dev/app_data/echo/rpc/ping`,
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const workspace = await workspaceOf(globals);
      await serveApp(createEchoApp({ app: opts.app, workspace }), globals);
    });
}

function callCommand(): CommandUnknownOpts {
  return new Command("call")
    .description("send a request, wait for the response and print it as JSON")
    .argument("<syft-url>", "the endpoint, e.g. syft://bob@example.com/app_data/echo/rpc/echo")
    .option("-X, --method <method>", `the method (${SYFT_METHODS.join(", ")})`, "GET")
    .option("-d, --body <body>", "the body: text or JSON as is, @file for a file, - for stdin")
    .option("-H, --header <K:V>", "a header (repeatable)", collect, [])
    .option("--timeout <seconds>", "how long to wait for the response", positiveNumber, 60)
    .option("--expiry <duration>", "how long the request lives (e.g. 30s, 15m, 1d)", "15m")
    .option("--no-cache", "always write a new request (no deterministic id)")
    .addHelpText(
      "after",
      `
Prints {"status_code":..,"headers":{..},"body":..} (body as JSON when it parses, else text).
Exits 0 for a status below 400, 1 otherwise, 124 when no response came in time.

Examples:
  syft rpc call syft://bob@example.com/app_data/echo/rpc/ping
  syft rpc call syft://bob@example.com/app_data/echo/rpc/echo -X POST --body '{"a":1}' -H Content-Type:application/json
  syft rpc call syft://bob@example.com/app_data/calc/rpc/add --body @args.json --timeout 120`,
    )
    .action(async (target, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
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
      await using client = new RpcClient(workspace);
      const future = await client.send(url, {
        method,
        headers,
        expiry: opts.expiry,
        cache: opts.cache,
        ...(body === undefined ? {} : { body }),
      });
      log.debug("Wrote {path}", { path: future.requestPath });
      const res = await future.wait({ timeout: opts.timeout * 1000 });
      printJson({ "status_code": res.statusCode, headers: res.headers, body: bodyValue(res) });
      if (res.statusCode >= 400) {
        throw new SyftError(`The request failed with status ${res.statusCode}`, {
          code: "RPC_STATUS",
        });
      }
    });
}

function schemaCommand(): CommandUnknownOpts {
  return new Command("schema")
    .description("print an app's rpc.schema.json")
    .argument("<app>", "the app name")
    .option("--datasite <email>", "whose datasite (default: yours)")
    .addHelpText(
      "after",
      "\nExamples:\n  syft rpc schema echo\n  syft rpc schema calc --datasite bob@example.com",
    )
    .action(async (app, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const workspace = await workspaceOf(globals);
      const schema = await readRpcSchema(
        workspace,
        app,
        opts.datasite === undefined ? {} : { datasite: opts.datasite },
      );
      if (globals.json) printJson(schema);
      else print(JSON.stringify(schema, null, 2));
    });
}

function requestsCommand(): CommandUnknownOpts {
  return new Command("requests")
    .description("list the requests in your datasite that have no response yet")
    .option("--app <name>", "only this app")
    .addHelpText("after", "\nExamples:\n  syft rpc requests\n  syft --json rpc requests --app echo")
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
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
    });
}

/** Builds `syft rpc` and its subcommands. */
export function rpcCommand(): CommandUnknownOpts {
  return new Command("rpc")
    .description("SyftBox file RPC: serve apps, call endpoints, inspect requests")
    .addCommand(serveCommand())
    .addCommand(echoCommand())
    .addCommand(callCommand())
    .addCommand(schemaCommand())
    .addCommand(requestsCommand())
    .addHelpText(
      "after",
      `
Requests are files: <data_dir>/datasites/<owner>/app_data/<app>/rpc/<endpoint>/<sender>/<id>.request,
answered by <id>.response beside them. The config comes from --config, $${CONFIG_PATH_ENV} or
~/.syftbox/config.json (create one with syft init).

Examples:
  syft init --email you@example.com
  syft rpc echo &
  syft rpc call syft://you@example.com/app_data/echo/rpc/echo -X POST --body '{"hi":1}'`,
    );
}

// ---- syft watch --------------------------------------------------------------------------------

/** Builds `syft watch`. */
export function watchCommand(): CommandUnknownOpts {
  return new Command("watch")
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
    )
    .action(async (globs, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
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
    });
}

// ---- syft up -----------------------------------------------------------------------------------

/** The echo app for the workspace's own datasite, started by `syft up`. */
export const RPC_ECHO_UP_SERVICE: UpService = {
  name: "rpc-echo",
  description: "the built-in echo app (/echo, /ping) on the workspace's own datasite",
  async start(ctx) {
    const app = createEchoApp({ workspace: { dataDir: ctx.home.dataDir, email: ctx.home.email } });
    await app.start();
    const config = ctx.home.configPath.includes(" ")
      ? `'${ctx.home.configPath}'`
      : ctx.home.configPath;
    return {
      where: `syft://${ctx.home.email}/app_data/echo/rpc`,
      detail: "file RPC echo app: /echo, /ping",
      hints: [
        `deno task syft --config ${config} rpc call syft://${ctx.home.email}/app_data/echo/rpc/ping`,
      ],
      stop: () => app.stop(),
      live: app.live(),
    };
  },
};
