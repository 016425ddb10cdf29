/**
 * `syft proxy`: run the HTTP RPC proxy and talk to one (health, info, test-request, call, status).
 *
 * @module
 */
import {
  Command,
  type CommandUnknownOpts,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { join } from "node:path";
import { SyftError } from "../lib/errors.ts";
import { ensureSyftHome } from "../lib/home.ts";
import { ProxyClient } from "../lib/proxy/client.ts";
import { RpcExecutionError } from "../lib/proxy/errors.ts";
import { STORE_FORMS } from "../lib/proxy/open_store.ts";
import { DEFAULT_MAX_TIMEOUT_S } from "../servers/proxy/app.ts";
import { parseOrigins, parseRateLimit, parseSize } from "../servers/proxy/options.ts";
import { DEFAULT_PROXY_PORT, startProxyServer } from "../servers/proxy/serve.ts";
import { configureLogging, parseLogLevel } from "./_logging.ts";
import { print, printJson, printResult } from "./_output.ts";
import type { UpService } from "./_service.ts";
import {
  type GlobalOptions,
  port,
  positiveNumber,
  UsageError,
  waitForShutdownSignal,
} from "./_common.ts";

const DEFAULT_URL = `http://127.0.0.1:${DEFAULT_PROXY_PORT}`;

function wrap<T>(parse: (v: string) => T): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}

function urlOption(): Option<"--url <url>", undefined, string, undefined, false, undefined> {
  return new Option("--url <url>", "the proxy's URL").env("PROXY_URL").default(DEFAULT_URL);
}

function apiKeyOption(): Option<"--api-key <key>"> {
  return new Option("--api-key <key>", "API key sent as X-API-Key").env("PROXY_API_KEY");
}

function clientFor(opts: { url: string; apiKey?: string | undefined }): ProxyClient {
  return new ProxyClient(opts.url, opts.apiKey === undefined ? {} : { apiKey: opts.apiKey });
}

function serveCommand(): CommandUnknownOpts {
  return new Command("serve")
    .description("run the proxy: HTTP calls become file-RPC requests (Ctrl-C stops it)")
    .addOption(
      new Option("--host <host>", "bind address; 0.0.0.0 exposes the proxy").env("PROXY_HOST")
        .default("127.0.0.1"),
    )
    .addOption(
      new Option("--port <port>", "port (0 picks a free one)").env("PROXY_PORT").argParser(port)
        .default(DEFAULT_PROXY_PORT),
    )
    .addOption(
      new Option("--store <store>", `request store: ${STORE_FORMS}`).env("PROXY_STORE")
        .default("kv"),
    )
    .addOption(
      new Option("--api-key <key>", "require this key (X-API-Key or Bearer) on all but /health")
        .env("PROXY_API_KEY"),
    )
    .addOption(
      new Option("--rate-limit <rate>", "per-client limit such as 600/min (default: off)")
        .argParser(wrap(parseRateLimit)),
    )
    .addOption(
      new Option("--max-body <size>", "largest request body, such as 1MiB").argParser(
        wrap(parseSize),
      ).default(1024 * 1024, "1MiB"),
    )
    .addOption(
      new Option("--cors <origins>", "allowed CORS origins, comma-separated, or *").argParser(
        wrap(parseOrigins),
      ),
    )
    .addOption(
      new Option("--timeout <seconds>", "longest blocking wait").env("PROXY_TIMEOUT")
        .argParser(positiveNumber).default(DEFAULT_MAX_TIMEOUT_S),
    )
    .addOption(
      new Option("--ttl <seconds>", "how long finished statuses are kept").argParser(
        positiveNumber,
      ).default(3600),
    )
    .option("--home <dir>", "syft workspace (default: $SYFT_HOME or ~/.syft)")
    .addHelpText(
      "after",
      `
Requests are written from the workspace's datasite (its SyftBox config: --config, or
<home>/config.json). The default store is Deno KV at <home>/state/proxy.kv, so statuses
survive a restart and pending requests are resumed; use --store redis://... to let several
proxies share statuses. Flags override the environment (PROXY_HOST, PROXY_PORT,
PROXY_STORE, PROXY_API_KEY, PROXY_TIMEOUT, PROXY_LOG_LEVEL).

Examples:
  syft proxy serve
  syft proxy serve --port 0 --store memory
  PROXY_API_KEY=s3cret syft proxy serve --rate-limit 600/min --cors http://localhost:5173
  syft proxy serve --store redis://127.0.0.1:6379 --port 8001
  curl -s localhost:8000/rpc/send -H 'content-type: application/json' \\
    -d '{"app_name":"echo","func_name":"echo","destination":"you@localhost.dev","params":{"hi":1}}'`,
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const root = cmd.parent?.parent;
      const proxyLevel = Deno.env.get("PROXY_LOG_LEVEL");
      if (proxyLevel && root?.getOptionValueSource("logLevel") === "default") {
        configureLogging(parseLogLevel(proxyLevel));
      }
      if (opts.timeout > 3600) throw new UsageError("--timeout must be at most 3600 seconds");
      const shutdown = waitForShutdownSignal();
      const home = await ensureSyftHome({
        ...(opts.home === undefined ? {} : { root: opts.home }),
        ...(globals.config === undefined ? {} : { configPath: globals.config }),
      });
      const server = await startProxyServer({
        workspace: { email: home.email, dataDir: home.dataDir },
        hostname: opts.host,
        port: opts.port,
        store: opts.store,
        kvPath: join(home.root, "state", "proxy.kv"),
        storeTtlMs: opts.ttl * 1000,
        maxBodyBytes: opts.maxBody,
        maxTimeoutS: opts.timeout,
        ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
        ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
        ...(opts.cors ? { cors: opts.cors } : {}),
      });
      try {
        const report = {
          url: server.url,
          store: server.store.description,
          email: home.email,
          datasites: home.datasitesDir,
          resumed: server.resumed,
          auth: opts.apiKey ? "api-key" : "none",
        };
        if (globals.json) printJson({ event: "listening", ...report });
        else {
          print(`syft proxy listening on ${server.url}`);
          print(
            `  store     ${report.store}${server.resumed ? ` (${server.resumed} resumed)` : ""}`,
          );
          print(`  datasite  ${home.email}  ${home.datasitesDir}`);
          print(`  auth      ${report.auth}`);
          print("Press Ctrl-C to stop.");
        }
        await shutdown;
      } finally {
        await server.close();
      }
      if (globals.json) printJson({ event: "stopped" });
      else print("syft proxy: stopped");
    });
}

function healthCommand(): CommandUnknownOpts {
  return new Command("health")
    .description("check a proxy; the exit status says healthy (0) or not (1)")
    .addOption(urlOption())
    .addHelpText(
      "after",
      "\nExamples:\n  syft proxy health\n  syft proxy health --url http://10.0.0.5:8000 && echo up",
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      let healthy = false;
      let detail = "";
      try {
        healthy = await clientFor(opts).health();
        if (!healthy) detail = "the proxy reports unhealthy";
      } catch (err) {
        detail = err instanceof Error ? err.message : String(err);
      }
      printResult(
        globals.json === true,
        { url: opts.url, healthy, ...(detail ? { detail } : {}) },
        () => [
          healthy
            ? `healthy: ${opts.url}`
            : `unhealthy: ${opts.url}${detail ? ` (${detail})` : ""}`,
        ],
      );
      if (!healthy) {
        throw new SyftError(`Proxy at ${opts.url} is not healthy`, { code: "UNHEALTHY" });
      }
    });
}

function infoCommand(): CommandUnknownOpts {
  return new Command("info")
    .description("print a proxy's version, uptime, store and request counts")
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .addHelpText(
      "after",
      "\nExamples:\n  syft proxy info\n  syft --json proxy info --url http://127.0.0.1:8001",
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const info = await clientFor(opts).info();
      printResult(globals.json === true, info, () => [
        `${info.name} ${info.version} at ${opts.url}`,
        `  uptime    ${info.uptime_s} s`,
        `  store     ${info.store}`,
        `  datasite  ${info.email}`,
        `  requests  ${info.requests.total} total, ${info.requests.pending} pending, ${info.requests.completed} completed, ${info.requests.failed} failed`,
      ]);
    });
}

function testRequestCommand(): CommandUnknownOpts {
  return new Command("test-request")
    .description(
      "send a request to the echo app through the proxy and print the result and round-trip time",
    )
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option("--to <email>", "the echo app's datasite (default: the proxy's own)")
    .option("--app <name>", "the echo app's name", "echo")
    .addOption(
      new Option("--timeout <seconds>", "how long to wait").argParser(positiveNumber).default(10),
    )
    .addHelpText(
      "after",
      "\nNeeds an echo app on the datasite (`syft up` runs one; or `syft rpc echo`).\n\nExamples:\n  syft proxy test-request\n  syft proxy test-request --to bob@example.org --app echo",
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const client = clientFor(opts);
      const to = opts.to ?? (await client.info()).email;
      const params = { msg: "hello from syft proxy test-request", ts: new Date().toISOString() };
      const start = performance.now();
      const result = await client.call(opts.app, "echo", { to, params, timeout: opts.timeout });
      const rttMs = Math.round((performance.now() - start) * 100) / 100;
      printResult(globals.json === true, { to, app: opts.app, result, rtt_ms: rttMs }, () => [
        `echo from ${opts.app} on ${to}: ${JSON.stringify(result)}`,
        `round trip: ${rttMs} ms`,
      ]);
    });
}

function parseJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON (${err instanceof Error ? err.message : err})`);
  }
}

function callCommand(): CommandUnknownOpts {
  return new Command("call")
    .description("call an app's endpoint through the proxy and print its answer")
    .argument("<app>", "app name")
    .argument("<func>", "endpoint")
    .requiredOption("--to <email>", "the app's datasite e-mail")
    .addOption(new Option("--params <json>", "JSON body for the app").argParser(parseJson))
    .option("--no-wait", "print the request id at once instead of waiting")
    .addOption(
      new Option("--timeout <seconds>", "how long to wait").argParser(positiveNumber).default(30),
    )
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .addHelpText(
      "after",
      `\nExit status: 0 when the app answered below 400, 1 otherwise (the error names the status).

Examples:
  syft proxy call echo echo --to you@localhost.dev --params '{"hi":1}'
  syft proxy call echo ping --to you@localhost.dev --no-wait
  syft proxy status <id> --wait 10`,
    )
    .action(async (app, func, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const client = clientFor(opts);
      const call = {
        to: opts.to,
        timeout: opts.timeout,
        ...(opts.params === undefined ? {} : { params: opts.params }),
      };
      if (!opts.wait) {
        const id = await client.callAsync(app, func, call);
        printResult(globals.json === true, { id, status: "pending" }, () => [id]);
        return;
      }
      try {
        const result = await client.call(app, func, call);
        if (globals.json) printJson({ status: "completed", result });
        else print(typeof result === "string" ? result : JSON.stringify(result, null, 2));
      } catch (err) {
        if (err instanceof RpcExecutionError && globals.json) {
          printJson({
            id: err.id,
            status: "failed",
            status_code: err.statusCode,
            error: err.error,
          });
        }
        throw err;
      }
    });
}

function statusCommand(): CommandUnknownOpts {
  return new Command("status")
    .description("print a request's status (optionally long-polling until it finishes)")
    .argument("<id>", "request id")
    .addOption(
      new Option("--wait <seconds>", "wait up to this long for it to finish").argParser(
        positiveNumber,
      ),
    )
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .addHelpText(
      "after",
      "\nExamples:\n  syft proxy status 3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10\n  syft proxy status <id> --wait 30",
    )
    .action(async (id, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const client = clientFor(opts);
      const status = opts.wait === undefined
        ? await client.status(id)
        : await client.waitFor(id, { timeout: opts.wait }).catch(async (err) => {
          if (err?.code === "RPC_TIMEOUT") return await client.status(id);
          throw err;
        });
      printResult(globals.json === true, status, () => [
        `${status.id}: ${status.status}${
          status.status_code === null ? "" : ` (${status.status_code})`
        }`,
        ...(status.status === "completed" ? [`result: ${JSON.stringify(status.result)}`] : []),
        ...(status.error ? [`error: ${status.error}`] : []),
        `app: ${status.app_name}/${status.func_name} on ${status.destination}`,
        `created: ${status.created_at}${
          status.completed_at ? `, completed: ${status.completed_at}` : ""
        }`,
      ]);
    });
}

/** Builds the `proxy` command group. */
export function proxyCommand(): CommandUnknownOpts {
  return new Command("proxy")
    .description("the HTTP RPC proxy: serve it, check it, call apps through it")
    .addCommand(serveCommand())
    .addCommand(healthCommand())
    .addCommand(infoCommand())
    .addCommand(testRequestCommand())
    .addCommand(callCommand())
    .addCommand(statusCommand())
    .addHelpText(
      "after",
      `
Examples:
  syft proxy serve --port 8000
  syft proxy health
  syft proxy test-request
  syft proxy call echo echo --to you@localhost.dev --params '{"hi":1}'`,
    );
}

/** The proxy as a `syft up` service: port 8000 (or a free one), store in the workspace's KV. */
export const PROXY_UP_SERVICE: UpService = {
  name: "proxy",
  description: "HTTP RPC proxy (Hono): HTTP calls become file-RPC requests",
  async start(ctx) {
    const server = await startProxyServer({
      workspace: { email: ctx.home.email, dataDir: ctx.home.dataDir },
      hostname: ctx.host,
      port: ctx.anyPort ? 0 : DEFAULT_PROXY_PORT,
      store: "kv",
      kv: ctx.kv,
      signal: ctx.signal,
    });
    const body = JSON.stringify({
      app_name: "echo",
      func_name: "echo",
      destination: ctx.home.email,
      params: { hi: 1 },
    });
    return {
      where: server.url,
      detail: `store ${ctx.home.kvPath}${server.resumed ? `, ${server.resumed} resumed` : ""}`,
      hints: [
        `curl -s ${server.url}/rpc/send -H 'content-type: application/json' -d '${body}'`,
      ],
      stop: () => server.close(),
      live: server.live,
    };
  },
};
