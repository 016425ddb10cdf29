/**
 * The `syft` command tree and its runner (loaded by `cli/main.ts` unless the call is
 * `syft --version`).
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
import { printErr } from "./_output.ts";
import { isAddrInUse, ListenError } from "./_listen.ts";
import { commandPath, type GlobalOptions, LOG_LEVELS, UsageError } from "./_common.ts";
import { infoCommand, upCommand } from "./up.ts";
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

/** `syft help [command...]`: the help of any command, `syft help proxy serve` included. */
function helpCommand(program: CommandUnknownOpts): CommandUnknownOpts {
  return new Command("help")
    .description("show the help of a command (syft help proxy serve)")
    .argument("[command...]", "the command, group first")
    .action((words: string[]) => {
      let target: CommandUnknownOpts = program;
      for (const [i, word] of words.entries()) {
        const next = target.commands.find((c) => c.name() === word || c.aliases().includes(word));
        if (next === undefined || next.name() === "help") {
          const known = target.commands.map((c) => c.name()).filter((n) => n !== "help");
          throw new UsageError(
            `unknown help topic "${words.slice(0, i + 1).join(" ")}"` +
              (known.length ? ` (${commandPath(target)} has: ${known.join(", ")})` : ""),
          );
        }
        target = next;
      }
      target.outputHelp();
    }) as unknown as CommandUnknownOpts;
}

/** Builds the `syft` command tree without running it; `running.path` names the command that runs. */
export function buildProgram(running: { path?: string }): CommandUnknownOpts {
  const program = new Command("syft")
    .description(
      "syft: events and RPC over files, HTTP, WebSockets and message engines.\n" +
        "Run `syft up` to start the local stack on embedded defaults.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .option(
      "--config <path>",
      "SyftBox client config (default: $SYFTBOX_CLIENT_CONFIG_PATH, an existing " +
        "~/.syftbox/config.json, else the syft home's: $SYFT_HOME or ~/.syft)",
    )
    .addOption(
      new Option("--log-level <level>", "log level; debug also prints error stacks")
        .choices(LOG_LEVELS)
        .env("SYFT_LOG_LEVEL")
        .default("info"),
    )
    .option("--json", "machine-readable JSON output where a command prints results")
    .showSuggestionAfterError(true)
    .helpCommand(false)
    .hook("preAction", async (_root, action) => {
      running.path = commandPath(action);
      const opts = action.optsWithGlobals() as GlobalOptions;
      const { configureLogging, parseLogLevel } = await import("./_logging.ts");
      configureLogging(parseLogLevel(opts.logLevel ?? "info"));
    });

  program.addCommand(upCommand());
  program.addCommand(infoCommand());
  program.addCommand(initCommand());
  program.addCommand(rpcCommand());
  program.addCommand(watchCommand());
  program.addCommand(proxyCommand());
  program.addCommand(hubCommand());
  program.addCommand(ensyncCommand());
  program.addCommand(pubsubCommand());
  program.addCommand(dashboardCommand());
  program.addCommand(helpCommand(program as unknown as CommandUnknownOpts));

  program.addHelpText(
    "after",
    "\nExamples:\n  syft up                 start everything locally\n" +
      "  syft info               the workspace and what runs there\n" +
      "  syft help proxy serve   help for one command",
  );
  applyToAll(program);
  return program as unknown as CommandUnknownOpts;
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
 * The error codes that mean "the command line or a file it names is wrong" (status 2): usage, a
 * bad `syft://` URL, a pub/sub config, a dashboard bind without a token, a store named wrongly.
 */
export const USAGE_ERROR_CODES: ReadonlySet<string> = new Set([
  "USAGE",
  "RPC_BAD_URL",
  "PUBSUB_CONFIG",
  "DASHBOARD",
  "PROXY_STORE_SPEC",
  "BAD_STORE",
]);

/**
 * The exit status of the error that ended a command, from its `code` (the library's errors carry
 * codes, not statuses): 2 for {@linkcode USAGE_ERROR_CODES}, 124 for any `…TIMEOUT` (as
 * `timeout(1)`), 130 for `INTERRUPTED` (as a shell's Ctrl-C), 1 otherwise.
 *
 * @param err What was thrown.
 * @returns The status.
 *
 * @example
 * ```ts
 * import { exitCodeOf } from "./_program.ts";
 * console.log(exitCodeOf({ code: "RPC_TIMEOUT" })); // 124
 * ```
 */
export function exitCodeOf(err: unknown): number {
  const code = typeof err === "object" && err !== null
    ? (err as { code?: unknown }).code
    : undefined;
  if (typeof code !== "string") return 1;
  if (USAGE_ERROR_CODES.has(code)) return 2;
  if (code.endsWith("TIMEOUT")) return 124;
  if (code === "INTERRUPTED") return 130;
  return 1;
}

/** Parses `args`, runs the command and returns its exit status (see `main()` in `main.ts`). */
export async function run(args: readonly string[]): Promise<number> {
  const running: { path?: string } = {};
  const program = buildProgram(running);
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
    let message = err instanceof Error ? err.message : String(err);
    if (isAddrInUse(err) && !(err instanceof ListenError)) {
      message += " (an address is in use: another port, or stop what holds it)";
    }
    printErr(`${running.path ?? "syft"}: ${message}`);
    if (wantsDebug(args) && err instanceof Error) {
      if (err.stack) printErr(err.stack);
      if (err.cause !== undefined) {
        printErr(`caused by: ${err.cause instanceof Error ? err.cause.stack : String(err.cause)}`);
      }
    }
    return exitCodeOf(err);
  }
}
