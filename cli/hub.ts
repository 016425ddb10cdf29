/**
 * `syft hub`: run the relay WebSocket hub, send one event to a hub, or listen to one.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { type EventData, ZapClient } from "../lib/hub/mod.ts";
import { DEFAULT_HUB_PATH } from "../servers/hub/app.ts";
import { DEFAULT_HUB_PORT, serveHub } from "../servers/hub/main.ts";
import { getLogger } from "../lib/_log.ts";
import { print, printErr, printJson } from "./_output.ts";
import type { UpService } from "./_service.ts";
import {
  collect,
  type GlobalOptions,
  nonNegativeInt,
  parseHeaderOptions,
  port,
  positiveInt,
  UsageError,
  waitForShutdownSignal,
} from "./_common.ts";

const log = getLogger(["cli", "hub"]);

/** Checks a hub URL and adds `?token=` when a token is given. */
function hubUrl(raw: string, token: string | undefined): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`Cannot use "${raw}": not a URL (expected ws://host:port/path)`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new UsageError(`Cannot use "${raw}": expected a ws:// or wss:// URL`);
  }
  if (token !== undefined) url.searchParams.set("token", token);
  return url.toString();
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.searchParams.has("token")) u.searchParams.set("token", "***");
  return u.toString();
}

async function readPayload(raw: string | undefined): Promise<unknown> {
  if (raw === undefined) return null;
  const text = raw === "-" ? await new Response(Deno.stdin.readable).text() : raw;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(
      `Cannot parse payload as JSON: ${err instanceof Error ? err.message : String(err)} ` +
        `(quote strings: '"hello"')`,
      { cause: err },
    );
  }
}

function tokenOption(): Option<"--token <token>"> {
  return new Option("--token <token>", "shared token of a hub started with --token")
    .env("SYFT_HUB_TOKEN");
}

function serveCommand(): CommandUnknownOpts {
  return new Command("serve")
    .description(
      "run the relay hub: clients join room lobby; events go to the other members of their room (Ctrl-C stops it)",
    )
    .option("--host <host>", "bind address; 0.0.0.0 exposes the hub", "127.0.0.1")
    .option("--port <port>", "port (0 picks a free one)", port, DEFAULT_HUB_PORT)
    .option("--path <path>", "WebSocket path", DEFAULT_HUB_PATH)
    .option("--redis <url>", "fan out through Redis: hubs sharing it act as one")
    .option("--redis-prefix <prefix>", "Redis channel and key prefix", "syft:hub")
    .addOption(tokenOption())
    .option(
      "--max-frame <bytes>",
      "largest frame (and /publish body) in bytes",
      positiveInt,
      1048576,
    )
    .option(
      "--idle-timeout <seconds>",
      "heartbeat: silent peers are pinged and dropped within this time (0: off)",
      nonNegativeInt,
      30,
    )
    .addHelpText(
      "after",
      `
Endpoints: ws://HOST:PORT/ws (events), POST /publish {eventName, payload, headers, room?},
GET / (connections and rooms), GET /metrics (Prometheus).
Clients send {"eventName":"$join","payload":{"room":"ops"}} to join a room and the header
"room" to send to it (default lobby). With --token, clients add ?token=T (or Authorization:
Bearer T) and /publish needs Authorization: Bearer T.

Examples:
  syft hub serve
  syft hub serve --port 9000 --token s3cret
  syft hub serve --redis redis://127.0.0.1:6379      # run several; they act as one hub
  curl -X POST localhost:8765/publish -H 'content-type: application/json' \\
    -d '{"eventName":"deploy","payload":{"v":2},"room":"ops"}'`,
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      if (!opts.path.startsWith("/")) {
        throw new UsageError(`Cannot use path "${opts.path}": it must start with "/"`);
      }
      const shutdown = waitForShutdownSignal();
      const running = await serveHub({
        hostname: opts.host,
        port: opts.port,
        path: opts.path,
        maxFrameBytes: opts.maxFrame,
        idleTimeout: opts.idleTimeout,
        ...(opts.token === undefined ? {} : { token: opts.token }),
        ...(opts.redis === undefined
          ? {}
          : { redisUrl: opts.redis, redisPrefix: opts.redisPrefix }),
      });
      const info = {
        event: "listening",
        ws: running.wsUrl,
        http: running.url,
        publish: `${running.url}/publish`,
        metrics: `${running.url}/metrics`,
        auth: opts.token !== undefined,
        redis: opts.redis !== undefined,
      };
      if (globals.json) printJson(info);
      else {
        print(`syft hub listening on ${running.wsUrl}`);
        print(`  publish  POST ${info.publish}`);
        print(`  status   GET ${running.url}/   metrics GET ${info.metrics}`);
        if (info.auth) print("  auth     token required (?token=T or Authorization: Bearer T)");
        if (info.redis) print(`  redis    fan-out with prefix ${opts.redisPrefix}`);
        print("Press Ctrl-C to stop.");
      }
      const signal = await shutdown;
      log.info("Received {signal}: stopping the hub", { signal });
      await running.shutdown();
      if (globals.json) printJson({ event: "stopped" });
      else print("syft hub: stopped");
    });
}

function sendCommand(): CommandUnknownOpts {
  return new Command("send")
    .description("connect to a hub, send one event, and report an error event the hub answers")
    .argument("<ws-url>", "the hub's WebSocket URL, e.g. ws://127.0.0.1:8765/ws")
    .argument("<event>", "the event name")
    .argument("[payload-json]", "the payload as JSON (- reads stdin; default null)")
    .option("-H, --header <K:V>", "a header (repeatable), e.g. -H trace:abc", collect, [])
    .option(
      "--room <room>",
      "on a syft relay hub: join this room ($join) and send to it (header room)",
    )
    .addOption(tokenOption())
    .option(
      "--linger <ms>",
      "how long to wait for an error event from the hub before exiting",
      nonNegativeInt,
      150,
    )
    .addHelpText(
      "after",
      `
Examples:
  syft hub send ws://127.0.0.1:8765/ws chat '{"text":"hello"}'
  syft hub send ws://127.0.0.1:8765/ws deploy '{"v":2}' --room ops
  echo '"from stdin"' | syft hub send ws://127.0.0.1:8765/ws note -`,
    )
    .action(async (url, eventName, payloadJson, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const target = hubUrl(url, opts.token);
      const payload = await readPayload(payloadJson);
      const headers: Record<string, unknown> = parseHeaderOptions(opts.header);
      if (opts.room !== undefined) headers.room = opts.room;
      const client = new ZapClient({ reconnect: false });
      const errors: EventData[] = [];
      client.on("error", (event) => errors.push(event));
      try {
        await client.connect(target);
        // The relay delivers to a room only from its members; events of one connection are
        // handled in order, so the join takes effect before the event.
        if (opts.room !== undefined) client.send("$join", { room: opts.room });
        client.send(eventName, payload, headers);
        if (opts.linger > 0) await new Promise((r) => setTimeout(r, opts.linger));
      } finally {
        await client.close();
      }
      if (errors.length > 0) {
        const first = errors[0]!.payload as { code?: string; message?: string } | null;
        const hint = first?.code === "NOT_IN_ROOM" ? " (use --room to join it first)" : "";
        throw new UsageError(
          `The hub refused "${eventName}": ${first?.message ?? JSON.stringify(first)}${hint}`,
        );
      }
      if (globals.json) printJson({ sent: true, eventName, url: redact(target) });
      else print(`sent ${eventName} to ${redact(target)}`);
    });
}

function listenCommand(): CommandUnknownOpts {
  return new Command("listen")
    .description("connect to a hub and print the events it sends as JSON lines (Ctrl-C stops)")
    .argument("<ws-url>", "the hub's WebSocket URL, e.g. ws://127.0.0.1:8765/ws")
    .option("--event <name>", "print only this event (repeatable)", collect, [])
    .option("--room <room>", "join this room (repeatable; lobby is joined anyway)", collect, [])
    .option("--count <n>", "exit after printing n events", positiveInt)
    .addOption(tokenOption())
    .addHelpText(
      "after",
      `
Each line is {"eventName", "payload", "headers"}. The listener reconnects (and re-joins its
rooms) when the hub restarts; connection changes are logged on stderr.

Examples:
  syft hub listen ws://127.0.0.1:8765/ws
  syft hub listen ws://127.0.0.1:8765/ws --room ops --event deploy
  syft hub listen ws://127.0.0.1:8765/ws --count 1 | jq .payload`,
    )
    .action(async (url, opts) => {
      const target = hubUrl(url, opts.token);
      const only = new Set(opts.event);
      const rooms = opts.room;
      const client = new ZapClient({
        onOnline: (c) => {
          for (const room of rooms) c.send("$join", { room });
        },
      });
      const shutdown = waitForShutdownSignal();
      let printed = 0;
      const done = (async () => {
        const events = client.events();
        for await (const event of events) {
          const wanted = only.size > 0
            ? only.has(event.eventName)
            : event.eventName !== "$joined" && event.eventName !== "$left";
          if (!wanted) continue;
          printJson(event);
          printed++;
          if (opts.count !== undefined && printed >= opts.count) break;
        }
      })();
      const watchStates = (async () => {
        for await (const state of client.states()) {
          if (state === "ONLINE") {
            printErr(
              `listening on ${redact(target)}${
                rooms.length ? ` (rooms: ${rooms.join(", ")})` : ""
              }`,
            );
          } else if (state === "OFFLINE" || state === "ERROR") {
            log.warn("Connection to {url}: {state}; reconnecting", {
              url: redact(target),
              state,
            });
          }
        }
      })();
      await client.connect(target);
      await Promise.race([done, shutdown]);
      await client.close();
      await watchStates;
    });
}

/** Builds the `hub` command group. */
export function hubCommand(): CommandUnknownOpts {
  return new Command("hub")
    .description("WebSocket event hub (zaptools wire format): serve, send, listen")
    .addCommand(serveCommand())
    .addCommand(sendCommand())
    .addCommand(listenCommand())
    .addHelpText(
      "after",
      `
Examples:
  syft hub serve                                         # relay hub on ws://127.0.0.1:8765/ws
  syft hub listen ws://127.0.0.1:8765/ws --room ops      # print events as JSON lines
  syft hub send ws://127.0.0.1:8765/ws deploy '{"v":2}' --room ops`,
    );
}

/** The relay hub as a `syft up` service (127.0.0.1:8765, path /ws). */
export const HUB_UP_SERVICE: UpService = {
  name: "hub",
  description: "relay WebSocket hub (zaptools events, rooms, POST /publish, /metrics)",
  async start(ctx) {
    const running = await serveHub({
      hostname: ctx.host,
      port: ctx.anyPort ? 0 : DEFAULT_HUB_PORT,
      path: DEFAULT_HUB_PATH,
    });
    return {
      where: running.wsUrl,
      detail: `publish ${running.url}/publish, metrics ${running.url}/metrics`,
      hints: [
        `deno task syft hub listen ${running.wsUrl}`,
        `deno task syft hub send ${running.wsUrl} chat '"hello"'`,
      ],
      stop: () => running.shutdown(),
      live: running.relay.live,
    };
  },
};
