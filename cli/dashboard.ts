/**
 * `syft dashboard`: the live page of a stack. `syft up` serves it (the {@linkcode DASHBOARD_UP_SERVICE},
 * reading every service in-process); `syft dashboard --url ...` serves one for servers that
 * already run, read through their `/live` routes. Cheap to import: the server loads inside the
 * actions.
 *
 * @module
 */
import { serveLimitsOf, withServeLimits } from "./_limits.ts";
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { print, printJson } from "./_output.ts";
import type { UpService } from "./_service.ts";
import type { DashboardService } from "../servers/dashboard/core.ts";
import { collect, type GlobalOptions, port, UsageError, waitForShutdownSignal } from "./_common.ts";

/** The dashboard's default port (kept here so importing this file loads no server code). */
const DASHBOARD_PORT = 8700;

/** The `syft up` service: the dashboard of every service started before it. */
export const DASHBOARD_UP_SERVICE: UpService = {
  name: "dashboard",
  description: "live dashboard of every service (charts, connections, queues, admin actions)",
  async start(ctx) {
    const { startDashboard } = await import("../servers/dashboard/serve.ts");
    const started = ctx.started ?? [];
    const dashboard = await startDashboard({
      hostname: ctx.host,
      port: ctx.anyPort ? 0 : DASHBOARD_PORT,
      limits: ctx.limits ?? {},
      ...(ctx.dashboardToken === undefined ? {} : { token: ctx.dashboardToken }),
      workspace: {
        root: ctx.home.root,
        config: ctx.home.configPath,
        email: ctx.home.email,
        dataDir: ctx.home.dataDir,
      },
      services: () =>
        started.map((s) => ({
          name: s.name,
          description: s.description,
          where: s.running.where,
          startedAt: s.startedAt,
          ...(s.running.detail === undefined ? {} : { detail: s.running.detail }),
          ...(s.running.live === undefined ? {} : { live: s.running.live }),
        })),
      signal: ctx.signal,
    });
    return {
      where: dashboard.url,
      detail: ctx.dashboardToken === undefined ? "open it in a browser" : "open /?token=<token>",
      stop: () => dashboard.close(),
    };
  },
};

/** Builds the `dashboard` command. */
export function dashboardCommand(): CommandUnknownOpts {
  return withServeLimits(new Command("dashboard"))
    .description(
      "serve the live dashboard for running syft servers (read through their /live routes)",
    )
    .option(
      "--url <url>",
      "a running proxy, hub or EnSync engine (repeat for each; any of its URLs)",
      collect,
      [] as string[],
    )
    .option(
      "--live-token <token>",
      "sent as Authorization: Bearer to the servers (hub token, proxy API key)",
    )
    .option(
      "--host <host>",
      "bind address; anything but loopback needs --dashboard-token",
      "127.0.0.1",
    )
    .option("--port <port>", "port (0 picks a free one)", port, DASHBOARD_PORT)
    .option(
      "--dashboard-token <token>",
      "token the page and API require (env SYFT_DASHBOARD_TOKEN)",
    )
    .option("--no-workspace", "do not read the SyftBox workspace (File RPC apps, try it)")
    .addHelpText(
      "after",
      "\nThe File RPC panel lists the apps of the workspace's datasites (--config, or $SYFT_HOME).\n" +
        "`syft up` already serves a dashboard on http://127.0.0.1:8700.\n\n" +
        "Examples:\n" +
        "  syft dashboard --url http://127.0.0.1:8000 --url ws://127.0.0.1:8765/ws --url ws://127.0.0.1:8082\n" +
        "  syft dashboard --url ws://127.0.0.1:8765/ws --live-token s3cret --port 0",
    )
    .action(async (opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions & typeof opts;
      if (opts.url.length === 0) {
        throw new UsageError(
          "Give at least one --url (a running proxy, hub or EnSync engine), or run `syft up`, which serves the dashboard itself",
        );
      }
      const { startDashboard } = await import("../servers/dashboard/serve.ts");
      const { connectRemote } = await import("../servers/dashboard/remote.ts");
      const services: DashboardService[] = [];
      const names = new Map<string, number>();
      for (const url of opts.url) {
        let service;
        try {
          service = await connectRemote(
            url,
            opts.liveToken === undefined ? {} : { token: opts.liveToken },
          );
        } catch (err) {
          throw new UsageError(err instanceof Error ? err.message : String(err), { cause: err });
        }
        const n = (names.get(service.name) ?? 0) + 1;
        names.set(service.name, n);
        services.push(n === 1 ? service : { ...service, name: `${service.name}-${n}` });
      }
      let workspace;
      if (opts.workspace !== false) {
        const { loadSyftBoxConfig } = await import("../lib/rpc/config.ts");
        const { resolveSyftHome } = await import("../lib/home.ts");
        const { join } = await import("node:path");
        const path = globals.config ?? join(resolveSyftHome(), "config.json");
        try {
          const cfg = await loadSyftBoxConfig({ path });
          workspace = { config: cfg.path, email: cfg.email, dataDir: cfg.dataDir };
        } catch {
          workspace = undefined; // no workspace: File RPC shows what the servers report
        }
      }
      const token = opts.dashboardToken ?? Deno.env.get("SYFT_DASHBOARD_TOKEN");
      const shutdown = waitForShutdownSignal();
      const dashboard = await startDashboard({
        hostname: opts.host,
        port: opts.port,
        services: () => services,
        limits: serveLimitsOf(opts),
        ...(token === undefined ? {} : { token }),
        ...(workspace === undefined ? {} : { workspace }),
      });
      try {
        if (globals.json) {
          printJson({
            event: "dashboard",
            url: dashboard.url,
            services: services.map((s) => s.name),
          });
        } else {
          print(
            `syft dashboard on ${dashboard.url}${
              token === undefined ? "" : " (open /?token=<token>)"
            }`,
          );
          for (const s of services) print(`  ${s.name.padEnd(8)}  ${s.where}`);
          if (workspace !== undefined) print(`  workspace ${workspace.config}`);
          print("Press Ctrl-C to stop.");
        }
        await shutdown;
      } finally {
        await dashboard.close();
      }
    });
}
