/**
 * The workspace of a command: every command that needs a SyftBox config gets it here, through the
 * one rule of `lib/home.ts` (`--config` > `$SYFTBOX_CLIENT_CONFIG_PATH` > an existing
 * `~/.syftbox/config.json` > the syft home), and says which one it used under `--log-level debug`.
 *
 * @module
 */
import {
  chooseWorkspaceConfig,
  type ConfigChoice,
  ensureSyftHome,
  type EnsureSyftHomeOptions,
  openSyftHome,
  type SyftHome,
} from "../lib/home.ts";
import { getLogger } from "../lib/_log.ts";
import type { GlobalOptions } from "./_common.ts";

const log = getLogger(["cli", "workspace"]);

/** Logs a plain sentence at debug level (paths unquoted; braces kept). */
function debug(line: string): void {
  log.debug(line.replaceAll("{", "{{").replaceAll("}", "}}"));
}

/** How a command opens its workspace. */
export interface WorkspaceOptions extends Omit<EnsureSyftHomeOptions, "configPath" | "root"> {
  /** The command's `--home` (the syft home; default `$SYFT_HOME` or `~/.syft`). */
  home?: string | undefined;
  /** Create the workspace when there is none (servers and `init`); clients only open one. */
  create?: boolean;
}

function base(globals: GlobalOptions, options: WorkspaceOptions): EnsureSyftHomeOptions {
  const { home, create: _create, ...rest } = options;
  return {
    ...rest,
    ...(globals.config === undefined ? {} : { configPath: globals.config }),
    ...(home === undefined ? {} : { root: home }),
  };
}

/** Chooses the config without opening it (for `syft info`). */
export async function chooseConfig(
  globals: GlobalOptions,
  options: WorkspaceOptions = {},
): Promise<ConfigChoice> {
  const choice = await chooseWorkspaceConfig(base(globals, options));
  debug(
    `SyftBox config ${choice.path} (${choice.reason})${
      choice.exists ? "" : ": does not exist yet"
    }`,
  );
  return choice;
}

/** Opens (or, with `create`, creates) the workspace and logs which config it used and why. */
export async function workspaceFor(
  globals: GlobalOptions,
  options: WorkspaceOptions = {},
): Promise<SyftHome> {
  const opts = base(globals, options);
  const home = options.create ? await ensureSyftHome(opts) : await openSyftHome(opts);
  debug(
    `Using the SyftBox config ${home.configPath} (${home.reason})${
      home.created ? ", just created" : ""
    }: e-mail ${home.email}, data dir ${home.dataDir}, syft home ${home.root}`,
  );
  return home;
}
