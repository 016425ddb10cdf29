/**
 * `syft up`: the main job. Creates the workspace on first run, opens its Deno KV state, starts every
 * local server on embedded defaults, prints what runs where and stops it all on Ctrl-C.
 *
 * @module
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { ensureSyftHome } from "../lib/home.ts";
import { openKv } from "../lib/kv.ts";
import { VERSION } from "../lib/version.ts";
import { getLogger } from "../lib/_log.ts";
import { print, printJson } from "./_output.ts";
import type { RunningService, StartedService, UpContext, UpService } from "./_service.ts";
import { type GlobalOptions, UsageError, waitForShutdownSignal } from "./_common.ts";
import { PROXY_UP_SERVICE } from "./proxy.ts";
import { HUB_UP_SERVICE } from "./hub.ts";
import { RPC_ECHO_UP_SERVICE } from "./rpc.ts";
import { ENSYNC_UP_SERVICE } from "./ensync.ts";
import { PUBSUB_UP_SERVICE } from "./pubsub.ts";
import { DASHBOARD_UP_SERVICE } from "./dashboard.ts";
import { isLoopbackHost } from "../lib/live/http.ts";

const log = getLogger(["cli", "up"]);

/** The services `syft up` starts, in start order (each part adds its own as it lands). */
export const UP_SERVICES: UpService[] = [
  RPC_ECHO_UP_SERVICE,
  PROXY_UP_SERVICE,
  HUB_UP_SERVICE,
  ENSYNC_UP_SERVICE,
  PUBSUB_UP_SERVICE,
  // Last: it shows every service started before it.
  DASHBOARD_UP_SERVICE,
];

const STOP_TIMEOUT_MS = 5_000;

async function stopAll(started: { name: string; running: RunningService }[]): Promise<void> {
  for (const { name, running } of started.toReversed()) {
    try {
      await Promise.race([
        running.stop(),
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new Error(`did not stop within ${STOP_TIMEOUT_MS} ms`)),
            STOP_TIMEOUT_MS,
          )
            .unref?.()
        ),
      ]);
    } catch (err) {
      log.warn("Service {name} did not stop cleanly: {error}", { name, error: String(err) });
    }
  }
}

/** Builds the `up` command. */
export function upCommand(): CommandUnknownOpts {
  return new Command("up")
    .description(
      "start the local stack on embedded defaults and print what runs where (Ctrl-C stops it)",
    )
    .option("--home <dir>", "workspace root (default: $SYFT_HOME or ~/.syft)")
    .option("--host <host>", "bind address for every server; 0.0.0.0 exposes them", "127.0.0.1")
    .option("--any-port", "bind every server to a free port instead of its default port")
    .option("--skip <names>", "comma-separated services not to start")
    .option(
      "--dashboard-token <token>",
      "token the dashboard requires (needed with a --host off loopback; env SYFT_DASHBOARD_TOKEN)",
    )
    .addHelpText(
      "after",
      "\nOn first run the workspace is created: a SyftBox config with an e-mail such as\n" +
        "you@localhost.dev, a data dir with datasites/, and Deno KV state under state/.\n\n" +
        "The dashboard (http://127.0.0.1:8700) shows every service live.\n\n" +
        "Examples:\n  syft up\n  SYFT_HOME=/tmp/demo syft up --any-port\n  syft up --skip hub,dashboard",
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      const skip = new Set((opts.skip ?? "").split(",").map((s) => s.trim()).filter(Boolean));
      const known = new Set(UP_SERVICES.map((s) => s.name));
      for (const name of skip) {
        if (!known.has(name)) {
          throw new UsageError(
            `Cannot skip "${name}": no such service (services: ${[...known].join(", ") || "none"})`,
          );
        }
      }
      const dashboardToken = opts.dashboardToken ?? Deno.env.get("SYFT_DASHBOARD_TOKEN");
      if (!skip.has("dashboard") && !isLoopbackHost(opts.host) && dashboardToken === undefined) {
        throw new UsageError(
          `The dashboard cannot serve on ${opts.host} without a token: pass --dashboard-token <secret> ` +
            "(or --skip dashboard)",
        );
      }
      // Listen before anything starts, so a signal during start-up also stops cleanly.
      const shutdown = waitForShutdownSignal();
      const home = await ensureSyftHome({
        ...(opts.home === undefined ? {} : { root: opts.home }),
        ...(globals.config === undefined ? {} : { configPath: globals.config }),
      });
      const kv = await openKv(home.kvPath);
      const controller = new AbortController();
      const started: StartedService[] = [];
      try {
        const runs = (await kv.get<number>(["up", "runs"])).value ?? 0;
        await kv.set(["up", "runs"], runs + 1);
        await kv.set(["up", "last_start"], new Date().toISOString());
        const ctx: UpContext = {
          home,
          kv,
          host: opts.host,
          anyPort: opts.anyPort === true,
          signal: controller.signal,
          started,
          ...(dashboardToken === undefined ? {} : { dashboardToken }),
        };
        for (const service of UP_SERVICES) {
          if (skip.has(service.name)) continue;
          log.debug("Starting {name}", { name: service.name });
          const startedAt = Date.now();
          started.push({
            name: service.name,
            description: service.description,
            startedAt,
            running: await service.start(ctx),
          });
        }
        const report = {
          version: VERSION,
          workspace: home.root,
          created: home.created,
          config: home.configPath,
          email: home.email,
          datasite: `${home.datasitesDir}/${home.email}`,
          state: home.kvPath,
          services: started.map(({ name, running }) => ({
            name,
            where: running.where,
            ...(running.detail === undefined ? {} : { detail: running.detail }),
            ...(running.hints === undefined ? {} : { hints: running.hints }),
          })),
        };
        if (globals.json) printJson({ event: "up", ...report });
        else {
          print(`syft ${VERSION} is up${home.created ? " (new workspace)" : ""}`);
          const rows: [string, string][] = [
            ["workspace", home.root],
            ["config", home.configPath],
            ["datasite", `${home.email}  ${report.datasite}`],
            ["state", `Deno KV  ${home.kvPath}`],
            ...started.map(({ name, running }): [string, string] => [
              name,
              running.detail ? `${running.where}  (${running.detail})` : running.where,
            ]),
          ];
          const width = Math.max(...rows.map(([k]) => k.length));
          for (const [k, v] of rows) print(`  ${k.padEnd(width)}  ${v}`);
          const hints = started.flatMap(({ running }) => running.hints ?? []);
          if (hints.length > 0) {
            print("Try:");
            for (const hint of hints) print(`  ${hint}`);
          }
          print("Press Ctrl-C to stop.");
        }
        const signal = await shutdown;
        log.info("Received {signal}: stopping", { signal });
      } finally {
        controller.abort();
        await stopAll(started);
        kv.close();
      }
      if (globals.json) printJson({ event: "stopped" });
      else print("syft: stopped");
    });
}
