/**
 * The `syft` command: one binary, a subcommand per part.
 *
 * ```sh
 * deno task syft --help
 * deno run -P jsr:@syft/syft/cli up
 * ```
 *
 * @module
 */
import {
  Command,
  CommanderError,
  type CommandUnknownOpts,
  Option,
} from "@commander-js/extra-typings";
import { VERSION } from "../lib/version.ts";
import { configureLogging, LOG_LEVELS, parseLogLevel } from "./_logging.ts";
import { printErr } from "./_output.ts";
import type { GlobalOptions } from "./_common.ts";
import { upCommand } from "./up.ts";
import { proxyCommand } from "./proxy.ts";
import { hubCommand } from "./hub.ts";
import { initCommand, rpcCommand, watchCommand } from "./rpc.ts";
import { ensyncCommand } from "./ensync.ts";
import { pubsubCommand } from "./pubsub.ts";
import { dashboardCommand } from "./dashboard.ts";

function applyToAll(
  cmd: Command<unknown[], Record<string, unknown>, Record<string, unknown>>,
): void {
  cmd.exitOverride().showSuggestionAfterError(true).showHelpAfterError(
    "(run with --help for usage)",
  );
  cmd.configureOutput({ writeErr: (s) => printErr(s.trimEnd()) });
  for (const sub of cmd.commands) applyToAll(sub);
}

/** Builds the `syft` command tree without running it. */
function buildProgram(): CommandUnknownOpts {
  const program = new Command("syft")
    .description(
      "syft: events and RPC over files, HTTP, WebSockets and message engines.\n" +
        "Run `syft up` to start the local stack on embedded defaults.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .option(
      "--config <path>",
      "SyftBox client config (default: $SYFTBOX_CLIENT_CONFIG_PATH, ~/.syftbox/config.json)",
    )
    .addOption(
      new Option("--log-level <level>", "log level; debug also prints error stacks")
        .choices(LOG_LEVELS)
        .env("SYFT_LOG_LEVEL")
        .default("info"),
    )
    .option("--json", "machine-readable JSON output where a command prints results")
    .showSuggestionAfterError(true)
    .hook("preAction", (_root, action) => {
      const opts = action.optsWithGlobals() as GlobalOptions;
      configureLogging(parseLogLevel(opts.logLevel ?? "info"));
    });

  program.addCommand(upCommand());
  program.addCommand(proxyCommand());
  program.addCommand(hubCommand());
  program.addCommand(initCommand());
  program.addCommand(rpcCommand());
  program.addCommand(watchCommand());
  program.addCommand(ensyncCommand());
  program.addCommand(pubsubCommand());
  program.addCommand(dashboardCommand());

  program.addHelpText(
    "after",
    "\nExamples:\n  syft up                 start everything locally\n  syft help up            help for one command",
  );
  applyToAll(program);
  return program;
}

function wantsDebug(args: readonly string[]): boolean {
  const at = args.findIndex((a) => a === "--log-level" || a.startsWith("--log-level="));
  if (at >= 0) {
    const value = args[at]!.includes("=") ? args[at]!.split("=")[1] : args[at + 1];
    return value === "debug" || value === "trace";
  }
  const env = Deno.env.get("SYFT_LOG_LEVEL");
  return env === "debug" || env === "trace";
}

/**
 * Runs the `syft` command with `args` and returns its exit status. Errors print one line to stderr
 * (`--log-level debug` adds the stack); nothing here calls `Deno.exit`.
 *
 * @param args The arguments after the program name.
 * @returns The exit status: 0 on success, 2 on a usage error, 1 on other errors.
 *
 * @example Print the version
 * ```ts
 * import { main } from "@syft/syft/cli";
 * const status = await main(["--version"]);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...args], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (or the help/version text). A command line it
      // refused (unknown option or command, an option value its parser rejected) is a usage
      // error: status 2, as UsageError.
      return err.exitCode === 1 ? 2 : err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    printErr(`error: ${message}`);
    if (wantsDebug(args) && err instanceof Error) {
      if (err.stack) printErr(err.stack);
      if (err.cause !== undefined) {
        printErr(`caused by: ${err.cause instanceof Error ? err.cause.stack : String(err.cause)}`);
      }
    }
    const exitCode = (err as { exitCode?: unknown }).exitCode;
    return typeof exitCode === "number" && exitCode > 0 ? exitCode : 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
