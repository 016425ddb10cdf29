/**
 * `syft up`: the main job. Creates the workspace on first run, opens its Deno KV state, starts every
 * local server on embedded defaults, prints what runs where and stops it all on Ctrl-C. The tree
 * only; what it does is in `_actions/up.ts`, loaded when it runs.
 *
 * @module
 */
import { withServeLimits } from "./_limits.ts";
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { lazy } from "./_lazy.ts";
import type { UpService } from "./_service.ts";
import { PROXY_UP_SERVICE } from "./proxy.ts";
import { HUB_UP_SERVICE } from "./hub.ts";
import { RPC_ECHO_UP_SERVICE } from "./rpc.ts";
import { ENSYNC_UP_SERVICE } from "./ensync.ts";
import { PUBSUB_UP_SERVICE } from "./pubsub.ts";
import { DASHBOARD_UP_SERVICE } from "./dashboard.ts";

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

const upTree = () =>
  withServeLimits(new Command("up"))
    .description(
      "start the local stack on embedded defaults and print what runs where (Ctrl-C stops it)",
    )
    .option("--home <dir>", "the syft home: state, and the config when no other is found")
    .option("--host <host>", "bind address for every server; 0.0.0.0 exposes them", "127.0.0.1")
    .option("--any-port", "bind every server to a free port instead of its default port")
    .option(
      "--skip <names>",
      `comma-separated services not to start: ${UP_SERVICES.map((s) => s.name).join(", ")}`,
    )
    .option(
      "--dashboard-token <token>",
      "token the dashboard requires (needed with a --host off loopback; env SYFT_DASHBOARD_TOKEN)",
    )
    .addHelpText(
      "after",
      `
Services (default ports):
${
        UP_SERVICES.map((s) =>
          `  ${s.name.padEnd(9)} ${s.description}${
            s.ports ? ` (${Object.values(s.ports).join(", ")})` : ""
          }`
        ).join("\n")
      }

The workspace: --config, else $SYFTBOX_CLIENT_CONFIG_PATH, else ~/.syftbox/config.json when it
exists, else <home>/config.json with <home> = --home, $SYFT_HOME or ~/.syft. On first run that
config is created (e-mail <user>@localhost.dev from $USER, a data dir with datasites/), and Deno
KV state under <home>/state/. One syft up runs per home: a second one says which process holds
it. syft info shows the workspace and what runs there.

The dashboard (http://127.0.0.1:8700) shows every service live.

Examples:
  syft up
  SYFT_HOME=/tmp/demo syft up --any-port
  syft up --skip hub,dashboard`,
    );
/** Options of `syft up`. */
export type UpOptions = ReturnType<ReturnType<typeof upTree>["opts"]>;

/** Builds the `up` command. */
export function upCommand(): CommandUnknownOpts {
  return upTree().action(lazy(() => import("./_actions/up.ts"), "up"));
}

const infoTree = () =>
  new Command("info")
    .description(
      "print the workspace: its config (and why that one), e-mail, data dir, and what runs there",
    )
    .option("--home <dir>", "the syft home (default: $SYFT_HOME or ~/.syft)")
    .option("--field <name>", "print only this field (config, email, data_dir, datasite, home)")
    .addHelpText(
      "after",
      `
Servers started by syft up, syft proxy serve and syft ensync serve are listed with their
addresses while their process runs. Nothing is created: without a workspace, info says so.

Examples:
  syft info
  syft --json info
  syft rpc call syft://$(syft info --field email)/app_data/echo/rpc/ping`,
    );
/** Options of `syft info`. */
export type InfoOptions = ReturnType<ReturnType<typeof infoTree>["opts"]>;

/** Builds the `info` command. */
export function infoCommand(): CommandUnknownOpts {
  return infoTree().action(lazy(() => import("./_actions/up.ts"), "info"));
}
