/**
 * `syft proxy`: run the HTTP RPC proxy and talk to one (health, info, test-request, call, status).
 * The tree only; what each command does is in `_actions/proxy.ts`, loaded when it runs.
 *
 * @module
 */
import { withServeLimits } from "./_limits.ts";
import {
  Command,
  type CommandUnknownOpts,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { parseOrigins, parseRateLimit, parseSize } from "../servers/proxy/options.ts";
import { port, positiveNumber } from "./_common.ts";
import { PROXY_MAX_TIMEOUT_S, PROXY_PORT, PROXY_STORE_FORMS } from "./_defaults.ts";
import { lazy } from "./_lazy.ts";
import type { UpService } from "./_service.ts";

const actions = () => import("./_actions/proxy.ts");

/** The URL client commands use by default. */
export const DEFAULT_PROXY_URL = `http://127.0.0.1:${PROXY_PORT}`;

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
  return new Option("--url <url>", "the proxy's URL").env("PROXY_URL").default(DEFAULT_PROXY_URL);
}

function apiKeyOption(): Option<"--api-key <key>"> {
  return new Option("--api-key <key>", "API key sent as X-API-Key").env("PROXY_API_KEY");
}

function parseJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON (${err instanceof Error ? err.message : err})`);
  }
}

const serveTree = () =>
  withServeLimits(new Command("serve"))
    .description("run the proxy: HTTP calls become file-RPC requests (Ctrl-C stops it)")
    .addOption(
      new Option("--host <host>", "bind address; 0.0.0.0 exposes the proxy").env("PROXY_HOST")
        .default("127.0.0.1"),
    )
    .addOption(
      new Option("--port <port>", "port (0 picks a free one)").env("PROXY_PORT").argParser(port)
        .default(PROXY_PORT),
    )
    .addOption(
      new Option("--store <store>", `request store: ${PROXY_STORE_FORMS}`).env("PROXY_STORE")
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
        .argParser(positiveNumber).default(PROXY_MAX_TIMEOUT_S),
    )
    .addOption(
      new Option("--ttl <seconds>", "how long finished statuses are kept").argParser(
        positiveNumber,
      ).default(3600),
    )
    .addOption(
      new Option("--redis-prefix <prefix>", "key prefix in Redis (--store redis://...)")
        .env("PROXY_REDIS_PREFIX").default("syft-proxy:"),
    )
    .addOption(
      new Option(
        "--lease <seconds>",
        "with Redis: how long a proxy's pending requests stay its own without a renewal before another proxy takes them over",
      ).argParser(positiveNumber).default(10),
    )
    .option(
      "--no-endpoint-check",
      "accept sends to endpoints whose folder is not in the local datasites (sync may bring it)",
    )
    .option("--home <dir>", "the syft home: state (default: $SYFT_HOME or ~/.syft)")
    .addHelpText(
      "after",
      `
Requests are written from the workspace's datasite: --config, else $SYFTBOX_CLIENT_CONFIG_PATH,
else ~/.syftbox/config.json when it exists, else <home>/config.json (created when missing; the
same workspace as syft up). A send to an endpoint whose folder (datasite, app or endpoint) is not
in the local datasites answers 404 at once, naming what is missing (--no-endpoint-check waits
instead). The default store is Deno KV at <home>/state/proxy.kv, so statuses survive a restart and
pending requests are resumed; use --store redis://... to let several proxies share statuses
(each renews a lease on its pending requests; when one stops, another follows them after --lease).
Flags override the environment (PROXY_HOST, PROXY_PORT, PROXY_STORE, PROXY_API_KEY,
PROXY_TIMEOUT, PROXY_LOG_LEVEL).

Examples:
  syft proxy serve
  syft proxy serve --port 0 --store memory
  PROXY_API_KEY=s3cret syft proxy serve --rate-limit 600/min --cors http://localhost:5173
  syft proxy serve --store redis://127.0.0.1:6379 --port 8001
  curl -s localhost:8000/rpc/send -H 'content-type: application/json' \\
    -d '{"app_name":"echo","func_name":"echo","destination":"'$(syft info --field email)'","params":{"hi":1}}'`,
    );
/** Options of `syft proxy serve`. */
export type ServeOptions = ReturnType<ReturnType<typeof serveTree>["opts"]>;

const healthTree = () =>
  new Command("health")
    .description("check a proxy; the exit status says healthy (0) or not (1)")
    .addOption(urlOption())
    .addHelpText(
      "after",
      "\nExamples:\n  syft proxy health\n  syft proxy health --url http://10.0.0.5:8000 && echo up",
    );
/** Options of `syft proxy health`. */
export type HealthOptions = ReturnType<ReturnType<typeof healthTree>["opts"]>;

const infoTree = () =>
  new Command("info")
    .description("print a proxy's version, uptime, store and request counts")
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .addHelpText(
      "after",
      "\nExamples:\n  syft proxy info\n  syft --json proxy info --url http://127.0.0.1:8001",
    );
/** Options of `syft proxy info`. */
export type InfoOptions = ReturnType<ReturnType<typeof infoTree>["opts"]>;

const testRequestTree = () =>
  new Command("test-request")
    .description(
      "send a request to an echo app through the proxy and print the result and round-trip time",
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
      `
Needs an echo app on the datasite (syft up runs one; or syft rpc echo). Says which datasite it
used, and whether the app is missing (exit 1) or did not answer in time (exit 124).

Examples:
  syft proxy test-request
  syft proxy test-request --to bob@example.org --app echo`,
    );
/** Options of `syft proxy test-request`. */
export type TestRequestOptions = ReturnType<ReturnType<typeof testRequestTree>["opts"]>;

const callTree = () =>
  new Command("call")
    .description("call an app's endpoint through the proxy and print its answer")
    .argument("<app>", "app name")
    .argument("<func>", "endpoint")
    .option("--to <email>", "the app's datasite e-mail (default: the proxy's own)")
    .addOption(new Option("--params <json>", "JSON body for the app").argParser(parseJson))
    .option("--no-wait", "print the request id at once instead of waiting")
    .addOption(
      new Option("--timeout <seconds>", "how long to wait").argParser(positiveNumber).default(30),
    )
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .addHelpText(
      "after",
      `
Exit status: 0 when the app answered below 400, 1 otherwise (the error names the status), 124
when no answer came within --timeout (the request stays pending: syft proxy status <id>).

Examples:
  syft proxy call echo echo --params '{"hi":1}'
  syft proxy call echo ping --to bob@example.org --no-wait
  syft proxy status <id> --wait 10`,
    );
/** Options of `syft proxy call`. */
export type CallOptions = ReturnType<ReturnType<typeof callTree>["opts"]>;

const statusTree = () =>
  new Command("status")
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
    );
/** Options of `syft proxy status`. */
export type StatusOptions = ReturnType<ReturnType<typeof statusTree>["opts"]>;

/** Builds the `proxy` command group. */
export function proxyCommand(): CommandUnknownOpts {
  return new Command("proxy")
    .description("the HTTP RPC proxy: serve it, check it, call apps through it")
    .addCommand(serveTree().action(lazy(actions, "serve")))
    .addCommand(healthTree().action(lazy(actions, "health")))
    .addCommand(infoTree().action(lazy(actions, "info")))
    .addCommand(testRequestTree().action(lazy(actions, "testRequest")))
    .addCommand(callTree().action(lazy(actions, "call")))
    .addCommand(statusTree().action(lazy(actions, "status")))
    .addHelpText(
      "after",
      `
Examples:
  syft proxy serve --port 8000
  syft proxy health
  syft proxy test-request
  syft proxy call echo echo --params '{"hi":1}'`,
    );
}

/** The proxy as a `syft up` service: port 8000 (or a free one), store in the workspace's KV. */
export const PROXY_UP_SERVICE: UpService = {
  name: "proxy",
  description: "HTTP RPC proxy (Hono): HTTP calls become file-RPC requests",
  ports: { http: PROXY_PORT },
  start: lazy(actions, "startProxyService"),
};
