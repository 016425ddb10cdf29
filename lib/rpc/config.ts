/**
 * SyftBox client config (syft-core's `SyftClientConfig`, the Go client's config.json) and the
 * workspace paths derived from it.
 *
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
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

/** Options for {@linkcode resolveConfigPath} and {@linkcode loadSyftBoxConfig}. */
export interface ConfigPathOptions {
  /** An explicit config path (wins over everything). */
  path?: string;
  /** The environment to read `SYFTBOX_CLIENT_CONFIG_PATH` from (default `Deno.env`). */
  env?: Record<string, string | undefined>;
  /** The home directory (default `$HOME`). */
  home?: string;
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
 * Lists the config files to try, in order: the explicit path; else `$SYFTBOX_CLIENT_CONFIG_PATH`;
 * else `~/.syftbox/config.json`, then `~/.config/syftbox/config.json` (the Go client's second
 * location). With an explicit or environment path only that one file is listed (plus the legacy
 * `client_config.json` beside it).
 *
 * @param options An explicit path, the environment and the home directory.
 * @returns Candidate paths, the preferred first.
 *
 * @example
 * ```ts
 * import { configCandidates } from "@syft/syft/rpc";
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
  return [
    join(home(), ".syftbox", "config.json"),
    join(home(), ".syftbox", "client_config.json"),
    join(home(), ".config", "syftbox", "config.json"),
  ];
}

/**
 * Returns the config file to use: the first existing candidate of {@linkcode configCandidates},
 * or the preferred candidate when none exists (where a new config should be written).
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
  const candidates = configCandidates(options);
  for (const c of candidates) if (await exists(c)) return c;
  return candidates[0]!;
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
 * Loads the SyftBox client config: the explicit path, else `$SYFTBOX_CLIENT_CONFIG_PATH`, else
 * `~/.syftbox/config.json`, else `~/.config/syftbox/config.json` (a legacy `client_config.json` in
 * the same directory is read when `config.json` is missing).
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
  const candidates = configCandidates(options);
  for (const path of candidates) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw new RpcConfigError(`Cannot read SyftBox config "${path}": ${(err as Error).message}`, {
        path,
        cause: err,
      });
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
  throw new RpcConfigError(
    `Cannot find a SyftBox config: tried ${candidates.map((c) => `"${c}"`).join(", ")} ` +
      "(run `syft init`, pass --config or set SYFTBOX_CLIENT_CONFIG_PATH)",
    { code: "NO_CONFIG", path: candidates[0]! },
  );
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
 * import { resolveWorkspace } from "@syft/syft/rpc";
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
