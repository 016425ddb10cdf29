/**
 * `syft hub`: run the relay WebSocket hub, send one event to a hub, or listen to one. The tree
 * only; what each command does is in `_actions/hub.ts`, loaded when it runs.
 *
 * @module
 */
import { withServeLimits } from "./_limits.ts";
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { collect, nonNegativeInt, port, positiveInt } from "./_common.ts";
import { HUB_PATH, HUB_PORT } from "./_defaults.ts";
import { lazy } from "./_lazy.ts";
import type { UpService } from "./_service.ts";

const actions = () => import("./_actions/hub.ts");

function tokenOption(): Option<"--token <token>"> {
  return new Option(
    "--token <token>",
    "the token of a hub that requires one (the value given to syft hub serve --token)",
  ).env("SYFT_HUB_TOKEN");
}

const serveTree = () =>
  withServeLimits(new Command("serve"))
    .description(
      "run the relay hub: clients join room lobby; events go to the other members of their room (Ctrl-C stops it)",
    )
    .option("--host <host>", "bind address; 0.0.0.0 exposes the hub", "127.0.0.1")
    .option("--port <port>", "port (0 picks a free one)", port, HUB_PORT)
    .option("--path <path>", "WebSocket path", HUB_PATH)
    .option("--redis <url>", "fan out through Redis: hubs sharing it act as one")
    .option("--redis-prefix <prefix>", "Redis channel and key prefix", "syft:hub")
    .addOption(
      new Option(
        "--token <token>",
        "require this shared secret from clients (?token=T or Authorization: Bearer T) and on POST /publish",
      ).env("SYFT_HUB_TOKEN"),
    )
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
Bearer T; syft hub send/listen --token T) and /publish needs Authorization: Bearer T.

Examples:
  syft hub serve
  syft hub serve --port 9000 --token s3cret
  syft hub serve --redis redis://127.0.0.1:6379      # run several; they act as one hub
  curl -X POST localhost:8765/publish -H 'content-type: application/json' \\
    -d '{"eventName":"deploy","payload":{"v":2},"room":"ops"}'`,
    );
/** Options of `syft hub serve`. */
export type ServeOptions = ReturnType<ReturnType<typeof serveTree>["opts"]>;

const sendTree = () =>
  new Command("send")
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
    );
/** Options of `syft hub send`. */
export type SendOptions = ReturnType<ReturnType<typeof sendTree>["opts"]>;

const listenTree = () =>
  new Command("listen")
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
rooms) when the hub restarts; connection changes are logged on stderr. A hub that refuses the
connection (401: it requires a token, or another one) ends the listener with exit status 1.

Examples:
  syft hub listen ws://127.0.0.1:8765/ws
  syft hub listen ws://127.0.0.1:8765/ws --room ops --event deploy
  syft hub listen ws://127.0.0.1:8765/ws --count 1 | jq .payload`,
    );
/** Options of `syft hub listen`. */
export type ListenOptions = ReturnType<ReturnType<typeof listenTree>["opts"]>;

/** Builds the `hub` command group. */
export function hubCommand(): CommandUnknownOpts {
  return new Command("hub")
    .description("WebSocket event hub (zaptools wire format): serve, send, listen")
    .addCommand(serveTree().action(lazy(actions, "serve")))
    .addCommand(sendTree().action(lazy(actions, "send")))
    .addCommand(listenTree().action(lazy(actions, "listen")))
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
  ports: { http: HUB_PORT },
  start: lazy(actions, "startHubService"),
};
