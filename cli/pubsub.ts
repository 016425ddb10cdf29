/**
 * `syft pubsub`: run a fastapi_websocket_pubsub server, publish one eventhive event, listen to
 * events, check a hive config. Nothing of lib/pubsub, ioredis, NATS or the server is loaded until
 * a command runs (`await import()` inside the actions).
 *
 * @module
 */
import { serveLimitsOf, withServeLimits } from "./_limits.ts";
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import type { Hive, HiveConfig } from "../lib/pubsub/mod.ts";
import { print, printErr, printJson } from "./_output.ts";
import type { UpService } from "./_service.ts";
import {
  type GlobalOptions,
  port,
  positiveInt,
  positiveNumber,
  UsageError,
  waitForShutdownSignal,
} from "./_common.ts";

/** The default port and path of the pub/sub server (eventhive's defaults). */
export const DEFAULT_PUBSUB_PORT = 8085;
const DEFAULT_PUBSUB_PATH = "/pubsub";

function lib(): Promise<typeof import("../lib/pubsub/mod.ts")> {
  return import("../lib/pubsub/mod.ts");
}

/** JSON for one output line: bigints stay exact. */
function jsonLine(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      typeof v === "bigint"
        ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(v.toString())
        : v,
  );
}

interface SourceOptions {
  config?: string;
  connector?: string;
  redis?: string;
  url?: string;
  nats?: string;
  secret?: string;
  token?: string;
}

function sourceOptions<
  T extends Command<unknown[], Record<string, unknown>, Record<string, unknown>>,
>(
  cmd: T,
): T {
  cmd
    .option("--config <hive.yaml>", "an eventhive YAML file (its connectors)")
    .option("--connector <name>", "with --config: the connector (network) to use")
    .option("--redis <url>", "a Redis server, e.g. redis://127.0.0.1:6379")
    .option("--url <ws-url>", "a fastapi_websocket_pubsub server, e.g. ws://127.0.0.1:8085/pubsub")
    .option("--nats <url>", "a NATS server, e.g. nats://127.0.0.1:4222")
    .addOption(
      new Option(
        "--secret <secret>",
        "sign and encrypt (eventhive's secret); with --config also fills {secret}",
      )
        .env("EVENTHIVE_CLI_SECRET"),
    )
    .addOption(
      new Option("--token <token>", "the token of a server started with --token").env(
        "SYFT_PUBSUB_TOKEN",
      ),
    );
  return cmd;
}

/**
 * The source options of a command. `--config` given after the subcommand is taken by the root
 * command (whose `--config` is the SyftBox client config), so read it from there too.
 */
function sources(opts: object, globals: GlobalOptions): SourceOptions {
  const own = opts as SourceOptions;
  const config = own.config ?? globals.config;
  return { ...own, ...(config === undefined ? {} : { config }) };
}

function splitName(name: string, what: string): string[] {
  const parts = name.split("/");
  if (parts.length < 3 || parts.some((p) => p === "")) {
    throw new UsageError(
      `Cannot use ${what} "${name}": expected <network>/<input_channel>/<event> (e.g. hive/worker/work)`,
    );
  }
  return parts;
}

/**
 * Builds the hive a command uses: from `--config` (one connector) or an ad-hoc connector for
 * `--redis`, `--url` or `--nats`, on the network named by the event's first segment.
 */
async function sourceHive(
  opts: SourceOptions,
  name: string,
  inputChannel: string | undefined,
  listenAll: boolean,
): Promise<{ hive: Hive; network: string; event: string }> {
  const { createHive, parseHiveConfig } = await lib();
  const direct = [opts.redis, opts.url, opts.nats].filter((v) => v !== undefined).length;
  if (direct + (opts.config === undefined ? 0 : 1) !== 1) {
    throw new UsageError(
      "Say where to connect: exactly one of --config hive.yaml, --redis URL, --url ws://..., --nats URL",
    );
  }
  if (opts.config !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(opts.config);
    } catch (err) {
      throw new UsageError(
        `Cannot read ${opts.config}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    // eventhive's CLI fills {secret} in the file; do the same (and nothing else of str.format).
    const templated = opts.secret !== undefined && text.includes("{secret}");
    if (templated) text = text.replaceAll("{secret}", opts.secret!);
    const config: HiveConfig = parseHiveConfig(text, {
      file: opts.config,
      env: Deno.env.toObject(),
    });
    const names = Object.keys(config.connectors);
    let network = opts.connector ?? name.split("/")[0]!;
    let event = name;
    if (opts.connector !== undefined && name.split("/").length === 2) {
      event = `${opts.connector}/${name}`;
    } else if (opts.connector !== undefined && !name.startsWith(`${opts.connector}/`)) {
      throw new UsageError(
        `Cannot use "${name}" with --connector ${opts.connector}: name it ${opts.connector}/<input_channel>/<event>`,
      );
    }
    const connector = config.connectors[network];
    if (connector === undefined) {
      throw new UsageError(
        `No connector "${network}" in ${opts.config} (connectors: ${names.join(", ") || "none"})${
          opts.connector === undefined
            ? "; name the event <network>/<input_channel>/<event> or pass --connector"
            : ""
        }`,
      );
    }
    splitName(event, "event");
    if (opts.secret !== undefined && !templated) connector.secret = opts.secret;
    const chosen = {
      ...connector,
      inputChannel: inputChannel ?? "",
      ...(opts.token !== undefined && connector.type === "fastapi" ? { token: opts.token } : {}),
    };
    network = event.split("/")[0]!;
    return {
      hive: createHive(
        {
          ...config,
          config: undefined,
          servers: {},
          connectors: { [network]: chosen },
          listenAll,
        } as never,
      ),
      network,
      event,
    };
  }
  const [network] = splitName(name, "event");
  const common = {
    inputChannel: inputChannel ?? "",
    ...(opts.secret === undefined ? {} : { secret: opts.secret }),
  };
  const connector = opts.redis !== undefined
    ? { type: "redis" as const, url: opts.redis, ...common }
    : opts.url !== undefined
    ? {
      type: "fastapi" as const,
      url: opts.url,
      ...common,
      ...(opts.token === undefined ? {} : { token: opts.token }),
    }
    : { type: "nats" as const, servers: opts.nats!, ...common };
  return {
    hive: createHive({ connectors: { [network!]: connector }, listenAll }),
    network: network!,
    event: name,
  };
}

async function readJson(raw: string | undefined, flag: string): Promise<Record<string, unknown>> {
  const { parseEventJson } = await lib();
  const text = raw === undefined
    ? "{}"
    : raw === "-"
    ? await new Response(Deno.stdin.readable).text()
    : raw;
  let value: unknown;
  try {
    value = parseEventJson(text);
  } catch (err) {
    throw new UsageError(
      `Cannot parse ${flag} as JSON: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(
      `Cannot publish ${flag}: eventhive events carry a JSON object, got ${
        Array.isArray(value) ? "a list" : value === null ? "null" : typeof value
      } (wrap it: '{"value": ...}')`,
    );
  }
  return value as Record<string, unknown>;
}

function serveCommand(): CommandUnknownOpts {
  return withServeLimits(new Command("serve"))
    .description(
      "run a fastapi_websocket_pubsub server (eventhive's fastapi backend) until Ctrl-C",
    )
    .option("--host <host>", "bind address; 0.0.0.0 exposes it", "127.0.0.1")
    .option("--port <port>", "port (0 picks a free one)", port, DEFAULT_PUBSUB_PORT)
    .option("--path <path>", "WebSocket path", DEFAULT_PUBSUB_PATH)
    .option("--redis <url>", "share topics through Redis: servers using it act as one")
    .addOption(
      new Option("--token <token>", "require this token on upgrade (Bearer or ?token=)").env(
        "SYFT_PUBSUB_TOKEN",
      ),
    )
    .option(
      "--max-queue <n>",
      "notifications queued per subscriber before it is dropped",
      positiveInt,
    )
    .addHelpText(
      "after",
      `
Python eventhive connectors (pubsub_type: fastapi) and fastapi_websocket_pubsub clients connect
unchanged. Also: GET /health, GET /metrics (Prometheus).

Examples:
  syft pubsub serve
  syft pubsub serve --port 9000 --token s3cret
  syft pubsub serve --redis redis://127.0.0.1:6379     # run several; they act as one`,
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      if (!opts.path.startsWith("/")) {
        throw new UsageError(`Cannot use path "${opts.path}": it must start with "/"`);
      }
      const shutdown = waitForShutdownSignal();
      const { startPubSubServer } = await import("../servers/pubsub/mod.ts");
      const server = await startPubSubServer({
        hostname: opts.host,
        port: opts.port,
        path: opts.path,
        ...(opts.redis === undefined ? {} : { redisUrl: opts.redis }),
        ...(opts.token === undefined ? {} : { token: opts.token }),
        ...(opts.maxQueue === undefined ? {} : { maxQueue: opts.maxQueue }),
        limits: serveLimitsOf(opts),
      });
      const http = server.url.replace(/^ws/, "http").replace(/\/[^/]*$/, "");
      const info = {
        event: "listening",
        url: server.url,
        health: `${http}/health`,
        metrics: `${http}/metrics`,
        auth: opts.token !== undefined,
        redis: opts.redis !== undefined,
      };
      if (globals.json) printJson(info);
      else {
        print(`syft pubsub listening on ${server.url}`);
        print(`  health   GET ${info.health}   metrics GET ${info.metrics}`);
        if (info.auth) print("  auth     token required (Authorization: Bearer T or ?token=T)");
        if (info.redis) print("  redis    topics shared with other servers on the same Redis");
        print("Try:");
        const { asTyped, currentInvocation } = await import("./_invocation.ts");
        const prefix = currentInvocation();
        for (const hint of pubsubHints(server.url)) print(`  ${asTyped(hint, prefix)}`);
        print("Press Ctrl-C to stop.");
      }
      const signal = await shutdown;
      const { getLogger } = await import("../lib/_log.ts");
      getLogger(["cli", "pubsub"]).info("Received {signal}: stopping the pub/sub server", {
        signal,
      });
      await server.close();
      if (globals.json) printJson({ event: "stopped" });
      else print("syft pubsub: stopped");
    });
}

function pubsubHints(url: string): string[] {
  return [
    `syft pubsub listen 'hive/worker/*' --url ${url}`,
    `syft pubsub publish hive/worker/work '{"task": "build"}' --url ${url}`,
  ];
}

function publishCommand(): CommandUnknownOpts {
  return sourceOptions(
    new Command("publish")
      .description(
        "publish one event as eventhive does (plain, or signed and encrypted with --secret)",
      )
      .argument("<event>", "the full event name: <network>/<input_channel>/<event>")
      .argument("[json]", "the payload, a JSON object (- reads stdin; default {})")
      .option("--json-data <json>", "the payload (eventhive's flag; same as [json])")
      .option("--request", "wait for a syft handler's reply and print it")
      .option("--timeout <seconds>", "with --request: how long to wait", positiveNumber, 10),
  )
    .addHelpText(
      "after",
      `
Examples:
  syft pubsub publish hive/worker/work '{"task": "build"}' --redis redis://127.0.0.1:6379
  syft pubsub publish hive/worker/work --json-data '{"n": 1}' --url ws://127.0.0.1:8085/pubsub
  syft pubsub publish hive/worker/work '{"n": 1}' --config hive.yaml --secret s3cret
  syft pubsub publish hive/worker/add '{"a": 2, "b": 3}' --redis redis://127.0.0.1:6379 --request`,
    )
    .action(async (event, json, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      if (json !== undefined && opts.jsonData !== undefined) {
        throw new UsageError("Give the payload once: either [json] or --json-data");
      }
      const payload = await readJson(
        json ?? opts.jsonData,
        json !== undefined ? "[json]" : "--json-data",
      );
      const input = opts.request ? `syft-cli-${crypto.randomUUID().slice(0, 8)}` : undefined;
      const { hive, network, event: name } = await sourceHive(
        sources(opts, globals),
        event,
        input,
        false,
      );
      try {
        await hive.start();
        const where = hive.stats().connectors[network]!.where;
        if (opts.request) {
          const reply = await hive.request(name, payload, { timeoutMs: opts.timeout * 1000 });
          if (globals.json) print(jsonLine({ event: name, reply }));
          else print(jsonLine(reply));
          return;
        }
        await hive.emit(name, payload);
        if (globals.json) printJson({ published: true, event: name, network, where });
        else print(`published ${name} on ${network} (${where})`);
      } finally {
        await hive.stop();
      }
    });
}

function listenCommand(): CommandUnknownOpts {
  return sourceOptions(
    new Command("listen")
      .description("print the events under a pattern as JSON lines until Ctrl-C")
      .argument(
        "<pattern>",
        "<network>/<input_channel>/* or one event <network>/<input_channel>/<event>",
      )
      .option("--count <n>", "exit after n events", positiveInt),
  )
    .addHelpText(
      "after",
      `
Each line is {"event", "payload", "metadata"}. Messages that are malformed, wrongly signed or
replayed are dropped and logged once per kind on stderr. Reconnects by itself.

Examples:
  syft pubsub listen 'hive/worker/*' --redis redis://127.0.0.1:6379
  syft pubsub listen 'hive/worker/*' --url ws://127.0.0.1:8085/pubsub --count 1
  syft pubsub listen hive/worker/work --config hive.yaml --secret s3cret`,
    )
    .action(async (pattern, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const parts = splitName(pattern, "pattern");
      const all = parts.at(-1) === "*";
      if (parts.slice(0, -1).some((p) => p.includes("*")) || (!all && pattern.includes("*"))) {
        throw new UsageError(
          `Cannot listen to "${pattern}": only a trailing /* is a wildcard (<network>/<input_channel>/*)`,
        );
      }
      const inputChannel = parts.slice(1, -1).join("/");
      const shutdown = waitForShutdownSignal();
      const { hive, event } = await sourceHive(
        sources(opts, globals),
        all ? pattern.slice(0, -1) + "x" : pattern,
        inputChannel,
        all,
      );
      const prefix = all ? event.slice(0, -1) : event;
      const local = event.slice(event.indexOf("/") + 1);
      if (!all) hive.define(local);
      let printed = 0;
      const { promise: enough, resolve } = Promise.withResolvers<void>();
      hive.onAny((_event, payload, ctx) => {
        if (all ? !ctx.channel!.startsWith(prefix) : ctx.channel !== event) return;
        print(jsonLine({ event: ctx.channel, payload, metadata: ctx.metadata ?? null }));
        printed++;
        if (opts.count !== undefined && printed >= opts.count) resolve();
      });
      try {
        await hive.start();
        printErr(
          `listening to ${pattern} on ${hive.stats().connectors[event.split("/")[0]!]!.where}`,
        );
        await Promise.race([enough, shutdown]);
      } finally {
        await hive.stop();
      }
    });
}

function checkCommand(): CommandUnknownOpts {
  return new Command("check")
    .description("validate a hive config and print what each connector will publish and receive")
    .argument("<hive.yaml>", "an eventhive YAML file")
    .addHelpText(
      "after",
      `
EVENTHIVE_SECRET ("net1:secret1 net2:secret2") is applied as the hive would. Exit status 2
with the file and key when the config is invalid.

Examples:
  syft pubsub check eventhive.yaml
  syft --json pubsub check hive.yaml`,
    )
    .action(async (file, _opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const { describeHive, loadHiveConfig } = await lib();
      const d = describeHive(await loadHiveConfig(file));
      if (globals.json) {
        printJson({ valid: true, ...d });
        return;
      }
      print(
        `${file}: valid (${d.connectors.length} connector${
          d.connectors.length === 1 ? "" : "s"
        }, ${d.servers.length} server${d.servers.length === 1 ? "" : "s"})`,
      );
      for (const c of d.connectors) {
        print(
          `connector ${c.network}: ${c.type} ${c.where}${
            c.secret ? ", signed+encrypted" : ", plaintext"
          }${c.acceptLegacy ? " (+legacy)" : ""}`,
        );
        print(`  publishes  ${c.publishes}`);
        print(
          c.subscribes === null
            ? "  receives   nothing (input_channel is empty: publish-only)"
            : `  receives   ${c.subscribes} -> handlers of ${c.delivers}`,
        );
      }
      for (const s of d.servers) {
        print(
          `server ${s.name}: ${s.where} create: ${s.create}${
            s.broadcast ? ", advertised by mDNS" : ""
          }`,
        );
      }
    });
}

/** Builds the `pubsub` command group. */
export function pubsubCommand(): CommandUnknownOpts {
  return new Command("pubsub")
    .description(
      "eventhive-compatible pub/sub over Redis, a fastapi_websocket_pubsub server and NATS",
    )
    .addCommand(serveCommand())
    .addCommand(publishCommand())
    .addCommand(listenCommand())
    .addCommand(checkCommand())
    .addHelpText(
      "after",
      `
Event names: <network>/<input_channel>/<event>; a connector with input_channel worker receives
<network>/worker/* and delivers it to the handlers of worker/<event>.

Examples:
  syft pubsub serve                                                   # ws://127.0.0.1:8085/pubsub
  syft pubsub listen 'hive/worker/*' --redis redis://127.0.0.1:6379
  syft pubsub publish hive/worker/work '{"task": "build"}' --redis redis://127.0.0.1:6379 --secret s3cret
  syft pubsub check eventhive.yaml`,
    );
}

/** The pub/sub server as a `syft up` service (127.0.0.1:8085, path /pubsub). */
export const PUBSUB_UP_SERVICE: UpService = {
  name: "pubsub",
  description: "fastapi_websocket_pubsub server for eventhive hives (/health, /metrics)",
  async start(ctx) {
    const { startPubSubServer } = await import("../servers/pubsub/mod.ts");
    const server = await startPubSubServer({
      hostname: ctx.host,
      port: ctx.anyPort ? 0 : DEFAULT_PUBSUB_PORT,
      path: DEFAULT_PUBSUB_PATH,
      limits: ctx.limits ?? {},
    });
    const http = server.url.replace(/^ws/, "http").replace(/\/[^/]*$/, "");
    return {
      where: server.url,
      detail: `health ${http}/health, metrics ${http}/metrics`,
      hints: pubsubHints(server.url),
      live: server.live,
      stop: () => server.close(),
    };
  },
};
