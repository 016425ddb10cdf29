/**
 * What the `syft hub` commands do, and the hub service of `syft up`; loaded when one runs.
 *
 * @module
 */
import { serveLimitsOf } from "../_limits.ts";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import {
  createZapClient,
  type EventData,
  SCALEOUT_EVENT,
  ZapClientError,
} from "../../lib/hub/mod.ts";
import { DEFAULT_HUB_PATH } from "../../servers/hub/app.ts";
import { DEFAULT_HUB_PORT, serveHub } from "../../servers/hub/main.ts";
import { SyftError } from "../../lib/errors.ts";
import { delay } from "../../lib/_async.ts";
import { getLogger } from "../../lib/_log.ts";
import { listening } from "../_listen.ts";
import { print, printErr, printJson } from "../_output.ts";
import type { RunningService, UpContext } from "../_service.ts";
import {
  type GlobalOptions,
  parseHeaderOptions,
  UsageError,
  waitForShutdownSignal,
} from "../_common.ts";
import type { ListenOptions, SendOptions, ServeOptions } from "../hub.ts";

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

/** A hub that refused the connection (401) said what to do: pass (another) token. */
function refused(err: unknown, token: string | undefined): never {
  if (err instanceof ZapClientError && err.code === "UNAUTHORIZED") {
    throw new SyftError(
      token === undefined
        ? "the hub requires a token: pass --token (or set SYFT_HUB_TOKEN)"
        : "the hub refused the token given with --token (401): check its value",
      { code: "UNAUTHORIZED", cause: err },
    );
  }
  throw err;
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

/** `syft hub serve`. */
export async function serve(opts: ServeOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  if (!opts.path.startsWith("/")) {
    throw new UsageError(`Cannot use path "${opts.path}": it must start with "/"`);
  }
  const shutdown = waitForShutdownSignal();
  const running = await listening(
    { service: "hub", host: opts.host, ports: [opts.port], hint: "--port (0 picks a free one)" },
    () =>
      serveHub({
        hostname: opts.host,
        port: opts.port,
        path: opts.path,
        limits: serveLimitsOf(opts),
        maxFrameBytes: opts.maxFrame,
        idleTimeout: opts.idleTimeout,
        ...(opts.token === undefined ? {} : { token: opts.token }),
        ...(opts.redis === undefined
          ? {}
          : { redisUrl: opts.redis, redisPrefix: opts.redisPrefix }),
      }),
  );
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
  const connections = running.relay.router.all().length;
  await running.shutdown();
  if (globals.json) printJson({ event: "stopped", connections });
  else {
    print(
      `syft hub: stopped${
        connections ? ` (closed ${connections} connection${connections === 1 ? "" : "s"})` : ""
      }`,
    );
  }
}

/** `syft hub send <ws-url> <event> [payload-json]`. */
export async function send(
  url: string,
  eventName: string,
  payloadJson: string | undefined,
  opts: SendOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const target = hubUrl(url, opts.token);
  const payload = await readPayload(payloadJson);
  const headers: Record<string, unknown> = parseHeaderOptions(opts.header);
  if (opts.room !== undefined) headers.room = opts.room;
  const client = createZapClient({ reconnect: false });
  const errors: EventData[] = [];
  client.on("error", (event) => errors.push(event));
  try {
    await client.connect(target).catch((err) => refused(err, opts.token));
    // The relay delivers to a room only from its members; events of one connection are
    // handled in order, so the join takes effect before the event.
    if (opts.room !== undefined) client.send("$join", { room: opts.room });
    client.send(eventName, payload, headers);
    if (opts.linger > 0) await delay(opts.linger);
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
}

/** `syft hub listen <ws-url>`. */
export async function listen(url: string, opts: ListenOptions): Promise<void> {
  const target = hubUrl(url, opts.token);
  const only = new Set(opts.event);
  const rooms = opts.room;
  const client = createZapClient({
    onOnline: (c) => {
      for (const room of rooms) c.send("$join", { room });
    },
  });
  const shutdown = waitForShutdownSignal();
  let printed = 0;
  let closing = false;
  const done = (async () => {
    const events = client.events();
    for await (const event of events) {
      if (event.eventName === SCALEOUT_EVENT && !only.has(SCALEOUT_EVENT)) {
        const state = (event.payload as { state?: unknown } | null)?.state;
        printErr(
          state === "degraded"
            ? "the hub lost its Redis: events from other hub instances are dropped until it is back"
            : "the hub reaches its Redis again: events from other hub instances resume",
        );
        continue;
      }
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
    let connectedOnce = false;
    let online = false;
    let attempts = 0;
    let lost: { state: string; wasOnline: boolean } | undefined;
    for await (const state of client.states()) {
      if (state === "ONLINE") {
        printErr(
          `${connectedOnce ? "listening again" : "listening"} on ${redact(target)}${
            rooms.length ? ` (rooms: ${rooms.join(", ")})` : ""
          }`,
        );
        connectedOnce = true;
        online = true;
        lost = undefined;
      } else if (state === "OFFLINE" || state === "ERROR") {
        // Before the first attempt (the initial OFFLINE) and at the end nothing is said: only a
        // new attempt after a failure is a reconnect.
        if (attempts > 0) lost = { state, wasOnline: online };
        online = false;
      } else if (state === "CONNECTING") {
        attempts++;
        if (lost !== undefined && !closing) {
          log.warn(
            lost.wasOnline
              ? "Connection to {url} lost ({state}); reconnecting"
              : "Cannot connect to {url} ({state}); retrying",
            { url: redact(target), state: lost.state },
          );
        }
        lost = undefined;
      }
    }
  })();
  const connecting = client.connect(target);
  connecting.catch(() => {/* raced below; after a Ctrl-C, close() rejects it */});
  try {
    await Promise.race([connecting, shutdown]);
    await Promise.race([done, shutdown]);
  } catch (err) {
    closing = true;
    await client.close();
    await watchStates;
    refused(err, opts.token);
  }
  closing = true;
  await client.close();
  await watchStates;
}

/** The hub service of `syft up`. */
export async function startHubService(ctx: UpContext): Promise<RunningService> {
  const port = ctx.anyPort ? 0 : DEFAULT_HUB_PORT;
  const running = await listening(
    { service: "hub", host: ctx.host, ports: [port], hint: "--any-port, or --skip hub" },
    () => serveHub({ hostname: ctx.host, port, path: DEFAULT_HUB_PATH, limits: ctx.limits ?? {} }),
  );
  return {
    where: running.wsUrl,
    detail: `publish ${running.url}/publish, metrics ${running.url}/metrics`,
    hints: [
      `syft hub listen ${running.wsUrl}`,
      `syft hub send ${running.wsUrl} chat '"hello"'`,
    ],
    ports: { http: running.port },
    stop: () => running.shutdown(),
    live: running.relay.live,
  };
}
