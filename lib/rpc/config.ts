/**
 * SyftBox client config (syft-core's `SyftClientConfig`, the Go client's config.json) and the
 * workspace paths derived from it.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { ensureDir, exists, writeFileAtomic } from "../_fs.ts";
import { RpcConfigError } from "./errors.ts";
import { isValidEmail, SyftBoxURL } from "./url.ts";

/** The environment variable naming the config file (syft-core and the Go client's app runner). */
export const CONFIG_PATH_ENV = "SYFTBOX_CLIENT_CONFIG_PATH";

/** The server URL written into new configs (the Go client's default). */
export const DEFAULT_SERVER_URL = "https://syftbox.net";

/** A SyftBox client config. */
export interface SyftBoxConfig {
  /** The data dir holding `datasites/` (`data_dir`, alias `sync_folder`). */
  dataDir: string;
  /** The owner's e-mail. */
  email: string;
  /** The SyftBox server (`server_url`). */
  serverUrl: string;
  /** The local client's control plane (`client_url`, alias `port`), if any. */
  clientUrl?: string;
  /** The local control-plane token (`client_token`), if any. */
  clientToken?: string;
  /** The refresh token (`refresh_token`), if any. */
  refreshToken?: string;
  /** The access token (`access_token`; read, never written). */
  accessToken?: string;
  /** The config file this came from (never written into the file). */
  path: string;
}

/** Options for {@linkcode chooseSyftBoxConfig}, {@linkcode resolveConfigPath} and {@linkcode loadSyftBoxConfig}. */
export interface ConfigPathOptions {
  /** An explicit config path (wins over everything). */
  path?: string;
  /** The environment to read `SYFTBOX_CLIENT_CONFIG_PATH` and `SYFT_HOME` from (default `Deno.env`). */
  env?: Record<string, string | undefined>;
  /** The home directory (default `$HOME`). */
  home?: string;
  /** The syft home: the last place a config is looked for (default `$SYFT_HOME`, else `~/.syft`). */
  syftHome?: string;
}

/** The environment variable naming the syft home (`syft up`'s workspace root). */
export const SYFT_HOME_ENV = "SYFT_HOME";

/**
 * Where a config choice came from, in the order they are tried: an explicit path (`--config`),
 * `$SYFTBOX_CLIENT_CONFIG_PATH`, a SyftBox client's own config (`~/.syftbox/config.json` and the
 * Go client's other locations), the syft home (`$SYFT_HOME/config.json`, else `~/.syft/config.json`).
 */
export type ConfigSource = "path" | "env" | "syftbox" | "syft-home";

/** The config file every command uses, and why. */
export interface ConfigChoice {
  /** The config file: an existing one, or where a new one belongs. */
  path: string;
  /** Which rule chose it. */
  source: ConfigSource;
  /** Whether the file exists. */
  exists: boolean;
  /** Why this file, in words (for `--log-level debug` and `syft info`). */
  reason: string;
  /** The syft home that was considered (state lives there whatever the config). */
  syftHome: string;
}

function homeDir(): string {
  const home = getEnv({}, "HOME") ?? getEnv({}, "USERPROFILE");
  if (!home) {
    throw new RpcConfigError("Cannot find the home directory: neither HOME nor USERPROFILE is set");
  }
  return home;
}

function getEnv(options: ConfigPathOptions, name: string): string | undefined {
  if (options.env !== undefined) return options.env[name];
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function expandHome(path: string, home: () => string): string {
  if (path === "~") return home();
  if (path.startsWith("~/")) return join(home(), path.slice(2));
  return path;
}

/**
 * The syft home: `options.syftHome`, else `$SYFT_HOME`, else `~/.syft`.
 *
 * @param options The environment and the home directory.
 * @returns An absolute path.
 *
 * @example
 * ```ts ignore
 * console.log(syftHomeOf({ env: {}, home: "/home/ada" })); // /home/ada/.syft
 * ```
 */
export function syftHomeOf(options: ConfigPathOptions = {}): string {
  const home = (): string => options.home ?? homeDir();
  const explicit = options.syftHome ?? getEnv(options, SYFT_HOME_ENV);
  if (explicit !== undefined && explicit !== "") return resolve(expandHome(explicit, home));
  return join(home(), ".syft");
}

/** A SyftBox client's own config files, the preferred first (syft-core's and the Go client's). */
function syftBoxLocations(home: string): string[] {
  return [
    join(home, ".syftbox", "config.json"),
    join(home, ".syftbox", "client_config.json"),
    join(home, ".config", "syftbox", "config.json"),
  ];
}

/**
 * Chooses the config file, the one rule every `syft` command and the library follow:
 *
 * 1. the explicit path (`--config`), existing or not;
 * 2. else `$SYFTBOX_CLIENT_CONFIG_PATH`, existing or not;
 * 3. else a SyftBox client's own config when one exists (`~/.syftbox/config.json`, then the
 *    legacy `~/.syftbox/client_config.json` and `~/.config/syftbox/config.json`);
 * 4. else the syft home's `config.json` (`$SYFT_HOME` or `~/.syft`), which `syft up` and
 *    `syft init` create.
 *
 * For 1 and 2 a legacy `client_config.json` beside a missing `config.json` is used instead.
 *
 * @param options An explicit path, the environment, the home directory and the syft home.
 * @returns The chosen file, whether it exists, and why.
 *
 * @example
 * ```ts ignore
 * const choice = await chooseSyftBoxConfig({ env: {}, home: "/home/ada" });
 * console.log(choice.path, choice.reason); // /home/ada/.syft/config.json ...
 * ```
 */
export async function chooseSyftBoxConfig(options: ConfigPathOptions = {}): Promise<ConfigChoice> {
  const home = (): string => options.home ?? homeDir();
  const syftHome = syftHomeOf(options);
  const pick = async (raw: string, source: "path" | "env", why: string): Promise<ConfigChoice> => {
    const p = resolve(expandHome(raw, home));
    if (!(await exists(p))) {
      const legacy = join(dirname(p), "client_config.json");
      if (basename(p) === "config.json" && await exists(legacy)) {
        return { path: legacy, source, exists: true, reason: `${why} (legacy name)`, syftHome };
      }
      return { path: p, source, exists: false, reason: why, syftHome };
    }
    return { path: p, source, exists: true, reason: why, syftHome };
  };
  if (options.path !== undefined && options.path !== "") {
    return await pick(options.path, "path", "given with --config");
  }
  const fromEnv = getEnv(options, CONFIG_PATH_ENV);
  if (fromEnv !== undefined && fromEnv !== "") {
    return await pick(fromEnv, "env", `named by $${CONFIG_PATH_ENV}`);
  }
  for (const p of syftBoxLocations(home())) {
    if (await exists(p)) {
      return {
        path: p,
        source: "syftbox",
        exists: true,
        reason: "a SyftBox client's own config (it exists, and no --config or " +
          `$${CONFIG_PATH_ENV} was given)`,
        syftHome,
      };
    }
  }
  const p = join(syftHome, "config.json");
  const fromHomeEnv = options.syftHome === undefined && getEnv(options, SYFT_HOME_ENV);
  return {
    path: p,
    source: "syft-home",
    exists: await exists(p),
    reason: `the syft home's config (${
      options.syftHome !== undefined ? "--home" : fromHomeEnv ? `$${SYFT_HOME_ENV}` : "~/.syft"
    }; no --config, $${CONFIG_PATH_ENV} or ~/.syftbox/config.json)`,
    syftHome,
  };
}

/**
 * Lists the config files that are tried, in order: with an explicit path or
 * `$SYFTBOX_CLIENT_CONFIG_PATH`, that file (and the legacy `client_config.json` beside it); else a
 * SyftBox client's own locations (`~/.syftbox/config.json`, `~/.syftbox/client_config.json`,
 * `~/.config/syftbox/config.json`), then the syft home's `config.json`. See
 * {@linkcode chooseSyftBoxConfig} for the rule.
 *
 * @param options An explicit path, the environment and the home directory.
 * @returns Candidate paths, the preferred first.
 *
 * @example
 * ```ts
 * import { configCandidates } from "./config.ts";
 * console.log(configCandidates({ env: {}, home: "/home/me" }));
 * ```
 */
export function configCandidates(options: ConfigPathOptions = {}): string[] {
  const home = (): string => options.home ?? homeDir();
  const explicit = options.path ?? getEnv(options, CONFIG_PATH_ENV);
  if (explicit !== undefined && explicit !== "") {
    const p = resolve(expandHome(explicit, home));
    return [p, join(dirname(p), "client_config.json")];
  }
  return [...syftBoxLocations(home()), join(syftHomeOf(options), "config.json")];
}

/**
 * Returns the config file to use (see {@linkcode chooseSyftBoxConfig}): an existing one, or where
 * a new config belongs.
 *
 * @param options An explicit path, the environment and the home directory.
 * @returns The path.
 *
 * @example
 * ```ts
 * import { resolveConfigPath } from "@syft/syft/rpc";
 * console.log(await resolveConfigPath({ path: "/tmp/config.json" })); // /tmp/config.json
 * ```
 */
export async function resolveConfigPath(options: ConfigPathOptions = {}): Promise<string> {
  return (await chooseSyftBoxConfig(options)).path;
}

function optionalString(
  obj: Record<string, unknown>,
  key: string,
  path: string,
): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    throw new RpcConfigError(`Cannot use SyftBox config "${path}": "${key}" must be a string`, {
      path,
    });
  }
  return v;
}

/**
 * Validates a parsed config object (fields and aliases as syft-core reads them: `data_dir` or
 * `sync_folder`, `email`, `server_url`, `client_url` or `port`, tokens; other keys are ignored).
 *
 * @param raw The parsed JSON.
 * @param path The file it came from (for messages and `dataDir` resolution).
 * @param options The home directory used to expand `~`.
 * @returns The config.
 * @throws {RpcConfigError} Naming the missing or invalid field.
 *
 * @example
 * ```ts
 * import { parseSyftBoxConfig } from "@syft/syft/rpc";
 * const cfg = parseSyftBoxConfig({ sync_folder: "/data", email: "me@example.com", port: 8080 }, "/c.json");
 * console.log(cfg.dataDir, cfg.clientUrl); // /data http://localhost:8080
 * ```
 */
export function parseSyftBoxConfig(
  raw: unknown,
  path: string,
  options: { home?: string } = {},
): SyftBoxConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new RpcConfigError(`Cannot use SyftBox config "${path}": expected a JSON object`, {
      path,
    });
  }
  const obj = raw as Record<string, unknown>;
  if (typeof obj.email !== "string" || !isValidEmail(obj.email)) {
    throw new RpcConfigError(`Cannot use SyftBox config "${path}": "email" is missing or invalid`, {
      path,
    });
  }
  const dataDirRaw = obj.data_dir ?? obj.sync_folder;
  if (typeof dataDirRaw !== "string" || dataDirRaw === "") {
    throw new RpcConfigError(`Cannot use SyftBox config "${path}": "data_dir" is missing`, {
      path,
    });
  }
  const home = (): string => options.home ?? homeDir();
  let dataDir = expandHome(dataDirRaw, home);
  if (!isAbsolute(dataDir)) dataDir = resolve(dirname(path), dataDir);
  const serverUrl = optionalString(obj, "server_url", path) ?? DEFAULT_SERVER_URL;
  let clientUrl = optionalString(obj, "client_url", path);
  if (clientUrl === undefined && obj.port !== undefined && obj.port !== null) {
    if (typeof obj.port === "number" && Number.isInteger(obj.port) && obj.port > 0) {
      clientUrl = `http://localhost:${obj.port}`;
    } else if (typeof obj.port === "string" && obj.port !== "") clientUrl = obj.port;
    else {
      throw new RpcConfigError(
        `Cannot use SyftBox config "${path}": "port" must be a port number`,
        {
          path,
        },
      );
    }
  }
  const config: SyftBoxConfig = { dataDir, email: obj.email, serverUrl, path };
  if (clientUrl !== undefined) config.clientUrl = clientUrl;
  const clientToken = optionalString(obj, "client_token", path);
  if (clientToken !== undefined) config.clientToken = clientToken;
  const refreshToken = optionalString(obj, "refresh_token", path);
  if (refreshToken !== undefined) config.refreshToken = refreshToken;
  const accessToken = optionalString(obj, "access_token", path);
  if (accessToken !== undefined) config.accessToken = accessToken;
  return config;
}

/**
 * Loads the SyftBox client config chosen by {@linkcode chooseSyftBoxConfig}: the explicit path,
 * else `$SYFTBOX_CLIENT_CONFIG_PATH`, else a SyftBox client's own `~/.syftbox/config.json` (or
 * `~/.config/syftbox/config.json`), else the syft home's `config.json` (`$SYFT_HOME` or `~/.syft`,
 * written by `syft up` and `syft init`). A legacy `client_config.json` in the same directory is read
 * when `config.json` is missing.
 *
 * @param options An explicit path, the environment and the home directory.
 * @returns The config.
 * @throws {RpcConfigError} `NO_CONFIG` when no file exists; `BAD_CONFIG` naming the field when one
 * is unusable.
 *
 * @example
 * ```ts
 * import { loadSyftBoxConfig, writeSyftBoxConfig } from "@syft/syft/rpc";
 * const dir = await Deno.makeTempDir();
 * await writeSyftBoxConfig(`${dir}/config.json`, { dataDir: `${dir}/data`, email: "me@example.com" });
 * const cfg = await loadSyftBoxConfig({ path: `${dir}/config.json` });
 * console.log(cfg.email); // me@example.com
 * ```
 */
export async function loadSyftBoxConfig(options: ConfigPathOptions = {}): Promise<SyftBoxConfig> {
  const choice = await chooseSyftBoxConfig(options);
  const path = choice.path;
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new RpcConfigError(`Cannot read SyftBox config "${path}": ${(err as Error).message}`, {
        path,
        cause: err,
      });
    }
  }
  if (text === undefined) {
    const tried = choice.source === "syft-home"
      ? [...syftBoxLocations(options.home ?? homeDir()), path]
      : [path];
    throw new RpcConfigError(
      `Cannot find a SyftBox config: tried ${tried.map((c) => `"${c}"`).join(", ")} ` +
        "(run `syft up` or `syft init` to create one, pass --config or set " +
        `${CONFIG_PATH_ENV})`,
      { code: "NO_CONFIG", path },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RpcConfigError(`Cannot read SyftBox config "${path}": ${(err as Error).message}`, {
      path,
      cause: err,
    });
  }
  return parseSyftBoxConfig(raw, path, options.home === undefined ? {} : { home: options.home });
}

/** The fields of a new config file. */
export interface NewSyftBoxConfig {
  /** The data dir. */
  dataDir: string;
  /** The owner's e-mail. */
  email: string;
  /** The server URL (default `https://syftbox.net`). */
  serverUrl?: string;
  /** The local client's URL, if any. */
  clientUrl?: string;
}

/**
 * Writes a config file as syft-core saves it (indented JSON, `data_dir`, `email`, `server_url`,
 * `client_url` when set), atomically, creating its directory.
 *
 * @param path The config file.
 * @param config The fields.
 * @returns The written config.
 * @throws {RpcConfigError} When the e-mail is invalid.
 *
 * @example
 * ```ts
 * import { writeSyftBoxConfig } from "@syft/syft/rpc";
 * const dir = await Deno.makeTempDir();
 * await writeSyftBoxConfig(`${dir}/config.json`, { dataDir: `${dir}/data`, email: "me@example.com" });
 * ```
 */
export async function writeSyftBoxConfig(
  path: string,
  config: NewSyftBoxConfig,
): Promise<SyftBoxConfig> {
  if (!isValidEmail(config.email)) {
    throw new RpcConfigError(
      `Cannot write SyftBox config "${path}": "email" ${JSON.stringify(config.email)} is not an ` +
        "e-mail address with a dotted domain",
      { path },
    );
  }
  const out: Record<string, string> = {
    "data_dir": resolve(config.dataDir),
    email: config.email,
    "server_url": config.serverUrl ?? DEFAULT_SERVER_URL,
  };
  if (config.clientUrl !== undefined) out["client_url"] = config.clientUrl;
  await writeFileAtomic(path, JSON.stringify(out, null, 4) + "\n", { createDir: true });
  return parseSyftBoxConfig(out, path);
}

/**
 * The workspace of one SyftBox user: the data dir, the datasites, the user's own datasite and the
 * app directories in it.
 *
 * @example
 * ```ts
 * import { SyftBoxWorkspace } from "@syft/syft/rpc";
 * const ws = new SyftBoxWorkspace({ dataDir: "/data", email: "bob@example.com" });
 * console.log(ws.datasitesDir); // /data/datasites
 * console.log(ws.appRpcDir("echo")); // /data/datasites/bob@example.com/app_data/echo/rpc
 * ```
 */
export class SyftBoxWorkspace {
  /** The data dir. */
  readonly dataDir: string;
  /** The owner's e-mail. */
  readonly email: string;
  /** `<dataDir>/datasites`. */
  readonly datasitesDir: string;
  /** Where atomic writes stage their temp files: `<dataDir>/.syft-tmp` (outside `datasites/`). */
  readonly tmpDir: string;
  /** The config this workspace came from, when it came from one. */
  readonly config: SyftBoxConfig | undefined;

  /**
   * Creates the workspace description (nothing is created on disk).
   *
   * @param init The data dir and e-mail, or a loaded config.
   */
  constructor(init: { dataDir: string; email: string } | SyftBoxConfig) {
    if (!isValidEmail(init.email)) {
      throw new RpcConfigError(
        `Cannot use e-mail ${JSON.stringify(init.email)}: not a valid address`,
      );
    }
    this.dataDir = resolve(init.dataDir);
    this.email = init.email;
    this.datasitesDir = join(this.dataDir, "datasites");
    this.tmpDir = join(this.dataDir, ".syft-tmp");
    this.config = "path" in init ? init as SyftBoxConfig : undefined;
  }

  /**
   * Loads the config (see {@linkcode loadSyftBoxConfig}) and returns its workspace.
   *
   * @param options An explicit path, the environment and the home directory.
   * @returns The workspace.
   * @throws {RpcConfigError} When no usable config is found.
   *
   * @example
   * ```ts ignore
   * import { SyftBoxWorkspace } from "@syft/syft/rpc";
   * const ws = await SyftBoxWorkspace.load();
   * console.log(ws.myDatasite);
   * ```
   */
  static async load(options: ConfigPathOptions = {}): Promise<SyftBoxWorkspace> {
    return new SyftBoxWorkspace(await loadSyftBoxConfig(options));
  }

  /** The user's own datasite: `<datasites>/<email>`. */
  get myDatasite(): string {
    return join(this.datasitesDir, this.email);
  }

  /**
   * An app's data directory: `<datasites>/<datasite>/app_data/<app>`.
   *
   * @param appName The app.
   * @param datasite The datasite owner (default: this user).
   * @returns The path.
   */
  appData(appName: string, datasite: string = this.email): string {
    return join(this.datasitesDir, datasite, "app_data", appName);
  }

  /**
   * An app's RPC directory: `<datasites>/<datasite>/app_data/<app>/rpc`.
   *
   * @param appName The app.
   * @param datasite The datasite owner (default: this user).
   * @returns The path.
   */
  appRpcDir(appName: string, datasite: string = this.email): string {
    return join(this.appData(appName, datasite), "rpc");
  }

  /**
   * The `syft://` URL of a local path inside the datasites.
   *
   * @param path The path.
   * @returns The URL.
   */
  toSyftUrl(path: string): SyftBoxURL {
    return SyftBoxURL.fromPath(path, this.datasitesDir);
  }

  /** Creates `datasites/<email>` and the temp dir. */
  async ensure(): Promise<void> {
    await ensureDir(this.myDatasite);
    await ensureDir(this.tmpDir);
  }
}

/** Anything that names a workspace: a workspace, a config, or a config path to load. */
export type WorkspaceSource =
  | SyftBoxWorkspace
  | SyftBoxConfig
  | { dataDir: string; email: string }
  | string;

/**
 * Turns a workspace source into a workspace: a workspace as is; a config or `{dataDir, email}`
 * directly; a string is a config path to load; `undefined` loads the default config.
 *
 * @param source The source.
 * @returns The workspace.
 * @throws {RpcConfigError} When a config must be loaded and cannot be.
 *
 * @example
 * ```ts
 * import { resolveWorkspace } from "./config.ts";
 * const ws = await resolveWorkspace({ dataDir: "/data", email: "me@example.com" });
 * console.log(ws.myDatasite);
 * ```
 */
export async function resolveWorkspace(source?: WorkspaceSource): Promise<SyftBoxWorkspace> {
  if (source instanceof SyftBoxWorkspace) return source;
  if (source === undefined) return await SyftBoxWorkspace.load();
  if (typeof source === "string") return await SyftBoxWorkspace.load({ path: source });
  return new SyftBoxWorkspace(source);
}
