/**
 * The syft workspace ("home"): `~/.syft` or `$SYFT_HOME`, holding a SyftBox data dir, a SyftBox
 * client config and the Deno KV state used by `syft up`.
 *
 * @module
 */
import { join } from "node:path";
import { ensureDir, exists } from "./_fs.ts";
import { SyftError } from "./errors.ts";
import { loadSyftBoxConfig, writeSyftBoxConfig } from "./rpc/config.ts";

/** Where the parts of a syft workspace live. */
export interface SyftHome {
  /** The workspace root (`$SYFT_HOME` or `~/.syft`). */
  root: string;
  /** The SyftBox client config file (`<root>/config.json` unless another was given). */
  configPath: string;
  /** The SyftBox data dir (`data_dir` of the config). */
  dataDir: string;
  /** `<dataDir>/datasites`. */
  datasitesDir: string;
  /** The e-mail of this datasite's owner (`email` of the config). */
  email: string;
  /** The Deno KV file for state (`<root>/state/syft.kv`). */
  kvPath: string;
  /** Whether this call created the workspace config. */
  created: boolean;
}

/** Options for {@linkcode ensureSyftHome}. */
export interface EnsureSyftHomeOptions {
  /** The workspace root; default `$SYFT_HOME`, else `~/.syft`. */
  root?: string;
  /** Use this SyftBox client config instead of `<root>/config.json`; it must exist. */
  configPath?: string;
  /** The e-mail written into a new config; default `<user>@localhost.dev`. */
  email?: string;
}

/**
 * Returns the home directory of the current user, from `HOME` or `USERPROFILE`.
 *
 * @returns The home directory.
 * @throws {SyftError} When neither variable is set.
 *
 * @example
 * ```ts
 * import { homeDir } from "@syft/syft";
 * console.log(homeDir());
 * ```
 */
export function homeDir(): string {
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (!home) {
    throw new SyftError("Cannot find the home directory: neither HOME nor USERPROFILE is set", {
      code: "NO_HOME",
    });
  }
  return home;
}

/**
 * Returns the syft workspace root: `$SYFT_HOME` when set, else `~/.syft`.
 *
 * @returns An absolute or user-given path.
 *
 * @example
 * ```ts
 * import { resolveSyftHome } from "@syft/syft";
 * console.log(resolveSyftHome());
 * ```
 */
export function resolveSyftHome(): string {
  return Deno.env.get("SYFT_HOME") || join(homeDir(), ".syft");
}

/**
 * The e-mail a new workspace gets when none is given: `<user>@localhost.dev` from `USER` or
 * `USERNAME` (`you@localhost.dev` when neither is set).
 *
 * @returns The e-mail.
 *
 * @example
 * ```ts
 * import { defaultEmail } from "@syft/syft";
 * console.log(defaultEmail()); // e.g. "ada@localhost.dev"
 * ```
 */
export function defaultEmail(): string {
  const user = (Deno.env.get("USER") ?? Deno.env.get("USERNAME") ?? "you").toLowerCase()
    .replace(/[^a-z0-9._-]/g, "");
  return `${user || "you"}@localhost.dev`;
}

/**
 * Creates the syft workspace when it does not exist yet and returns its paths. A new workspace gets
 * `<root>/config.json` (a SyftBox client config: `data_dir`, `email`, `server_url`), the data dir
 * `<root>/data` with `datasites/<email>/`, and a `state/` dir for Deno KV. An existing config is
 * read, never overwritten.
 *
 * @param options Root, config path and e-mail for a new workspace.
 * @returns The workspace paths.
 * @throws {SyftError} When an existing config cannot be read.
 *
 * @example Create (or open) the workspace of `syft up`
 * ```ts
 * import { ensureSyftHome } from "@syft/syft";
 * const home = await ensureSyftHome({ root: await Deno.makeTempDir() });
 * console.log(home.email, home.datasitesDir);
 * ```
 */
export async function ensureSyftHome(options: EnsureSyftHomeOptions = {}): Promise<SyftHome> {
  const root = options.root ?? resolveSyftHome();
  const configPath = options.configPath ?? join(root, "config.json");
  const created = !(await exists(configPath));
  if (created && options.configPath !== undefined) {
    throw new SyftError(`Cannot use SyftBox config "${configPath}": the file does not exist`, {
      code: "NO_CONFIG",
    });
  }
  // A new config is used as written; an existing one goes through the file-RPC part's loader
  // (fields, aliases, typed errors naming the field).
  const { dataDir, email } = created
    ? await writeSyftBoxConfig(configPath, {
      dataDir: join(root, "data"),
      email: options.email ?? defaultEmail(),
    })
    : await loadSyftBoxConfig({ path: configPath });
  const datasitesDir = join(dataDir, "datasites");
  await ensureDir(join(datasitesDir, email));
  const kvPath = join(root, "state", "syft.kv");
  await ensureDir(join(root, "state"));
  return { root, configPath, dataDir, datasitesDir, email, kvPath, created };
}
