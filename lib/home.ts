/**
 * The syft workspace: which SyftBox client config every command uses (one rule, see
 * {@linkcode chooseWorkspaceConfig}), the syft home (`$SYFT_HOME` or `~/.syft`) that holds the
 * Deno KV state of `syft up`, and the record of which servers run there.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { ensureDir, writeFileAtomic } from "./_fs.ts";
import { SyftError } from "./errors.ts";
import {
  chooseSyftBoxConfig,
  type ConfigChoice,
  type ConfigSource,
  loadSyftBoxConfig,
  syftHomeOf,
  writeSyftBoxConfig,
} from "./rpc/config.ts";
import { VERSION } from "./version.ts";

export type { ConfigChoice, ConfigSource };

/** Where the parts of a syft workspace live. */
export interface SyftHome {
  /** The syft home (`$SYFT_HOME` or `~/.syft`): state, and the config when no other was found. */
  root: string;
  /** The SyftBox client config file. */
  configPath: string;
  /** Which rule chose the config (see {@linkcode chooseWorkspaceConfig}). */
  source: ConfigSource;
  /** Why that config, in words. */
  reason: string;
  /** The SyftBox data dir (`data_dir` of the config). */
  dataDir: string;
  /** `<dataDir>/datasites`. */
  datasitesDir: string;
  /** The e-mail of this datasite's owner (`email` of the config). */
  email: string;
  /** The Deno KV file for state (`<root>/state/syft.kv`). */
  kvPath: string;
  /** Whether this call created the config. */
  created: boolean;
}

/** Options for {@linkcode ensureSyftHome}, {@linkcode openSyftHome} and {@linkcode chooseWorkspaceConfig}. */
export interface SyftHomeOptions {
  /** The syft home; default `$SYFT_HOME`, else `~/.syft`. */
  root?: string;
  /** An explicit SyftBox client config (as `--config`). */
  configPath?: string;
  /** The environment (default `Deno.env`): `SYFTBOX_CLIENT_CONFIG_PATH`, `SYFT_HOME`, `USER`. */
  env?: Record<string, string | undefined>;
  /** The user's home directory (default `$HOME`). */
  homeDir?: string;
}

/** Options for {@linkcode ensureSyftHome}. */
export interface EnsureSyftHomeOptions extends SyftHomeOptions {
  /** The e-mail written into a new config; default {@linkcode defaultEmail}. */
  email?: string;
  /** The data dir of a new config; default `data/` beside the config. */
  dataDir?: string;
  /** The server URL of a new config (default `https://syftbox.net`). */
  serverUrl?: string;
  /**
   * Create a config that was named explicitly (`configPath` or `$SYFTBOX_CLIENT_CONFIG_PATH`) and
   * does not exist (default false: that is an error). The syft home's config is always created.
   */
  createNamed?: boolean;
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
 * Returns the syft home: `$SYFT_HOME` when set, else `~/.syft`.
 *
 * @returns An absolute path.
 *
 * @example
 * ```ts
 * import { resolveSyftHome } from "@syft/syft";
 * console.log(resolveSyftHome());
 * ```
 */
export function resolveSyftHome(): string {
  return syftHomeOf({});
}

/**
 * The e-mail a new workspace gets when none is given: `<user>@localhost.dev` from `USER` or
 * `USERNAME` (`you@localhost.dev` when neither is set). `syft info` prints the one in use.
 *
 * @param env The environment (default `Deno.env`).
 * @returns The e-mail.
 *
 * @example
 * ```ts
 * import { defaultEmail } from "@syft/syft";
 * console.log(defaultEmail({ USER: "ada" })); // ada@localhost.dev
 * ```
 */
export function defaultEmail(env?: Record<string, string | undefined>): string {
  const get = (name: string): string | undefined => env ? env[name] : Deno.env.get(name);
  const user = (get("USER") ?? get("USERNAME") ?? "you").toLowerCase()
    .replace(/[^a-z0-9._-]/g, "");
  return `${user || "you"}@localhost.dev`;
}

function configOptions(options: SyftHomeOptions) {
  return {
    ...(options.configPath === undefined ? {} : { path: options.configPath }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.homeDir === undefined ? {} : { home: options.homeDir }),
    ...(options.root === undefined ? {} : { syftHome: options.root }),
  };
}

/**
 * Chooses the SyftBox client config, the one rule every `syft` command follows: `--config` (the
 * `configPath` option), else `$SYFTBOX_CLIENT_CONFIG_PATH`, else a SyftBox client's own existing
 * `~/.syftbox/config.json`, else the syft home's `config.json` (`$SYFT_HOME` or `~/.syft`, created
 * by `syft up` and `syft init`). Nothing is created or read.
 *
 * @param options The explicit config, the syft home, the environment and the home directory.
 * @returns The path, whether it exists, which rule chose it and why.
 *
 * @example
 * ```ts
 * import { chooseWorkspaceConfig } from "@syft/syft";
 * const choice = await chooseWorkspaceConfig({ env: {}, homeDir: "/home/ada" });
 * console.log(choice.path, choice.source); // /home/ada/.syft/config.json syft-home
 * ```
 */
export async function chooseWorkspaceConfig(options: SyftHomeOptions = {}): Promise<ConfigChoice> {
  return await chooseSyftBoxConfig(configOptions(options));
}

function homeFrom(
  choice: ConfigChoice,
  config: { dataDir: string; email: string },
  created: boolean,
): SyftHome {
  const root = choice.syftHome;
  const datasitesDir = join(config.dataDir, "datasites");
  return {
    root,
    configPath: choice.path,
    source: choice.source,
    reason: choice.reason,
    dataDir: config.dataDir,
    datasitesDir,
    email: config.email,
    kvPath: join(root, "state", "syft.kv"),
    created,
  };
}

/**
 * Opens the workspace without creating anything: the config chosen by
 * {@linkcode chooseWorkspaceConfig}, read through the file-RPC part's loader.
 *
 * @param options The explicit config, the syft home, the environment and the home directory.
 * @returns The workspace paths (`created` is false).
 * @throws {SyftError} `NO_CONFIG` naming what to run when there is no config yet; `BAD_CONFIG`
 * naming the field when it is unusable.
 *
 * @example
 * ```ts
 * import { ensureSyftHome, openSyftHome } from "@syft/syft";
 * const root = await Deno.makeTempDir();
 * await ensureSyftHome({ root, configPath: `${root}/config.json`, createNamed: true });
 * console.log((await openSyftHome({ configPath: `${root}/config.json` })).email);
 * ```
 */
export async function openSyftHome(options: SyftHomeOptions = {}): Promise<SyftHome> {
  const choice = await chooseWorkspaceConfig(options);
  if (!choice.exists) {
    throw new SyftError(
      choice.source === "syft-home"
        ? `No syft workspace yet: ${choice.path} does not exist (run \`syft up\` or \`syft init\` ` +
          "to create it, or pass --config with a SyftBox client config)"
        : `Cannot use SyftBox config "${choice.path}" (${choice.reason}): the file does not exist`,
      { code: "NO_CONFIG" },
    );
  }
  const config = await loadSyftBoxConfig(configOptions({ ...options, configPath: choice.path }));
  return homeFrom(choice, config, false);
}

/**
 * Opens the workspace, creating what is missing. The config is the one
 * {@linkcode chooseWorkspaceConfig} picks; when it is the syft home's and does not exist yet, it is
 * written (`data_dir`, `email`, `server_url`: a SyftBox client config) with the data dir `data/`
 * beside it. An existing config is read, never overwritten. Then `datasites/<email>/` and the
 * home's `state/` dir are created.
 *
 * @param options The syft home, an explicit config, and the fields of a new config.
 * @returns The workspace paths.
 * @throws {SyftError} When a named config does not exist (unless `createNamed`) or an existing one
 * cannot be read.
 *
 * @example Create (or open) a workspace of its own
 * ```ts
 * import { ensureSyftHome } from "@syft/syft";
 * const root = await Deno.makeTempDir();
 * const home = await ensureSyftHome({ root, configPath: `${root}/config.json`, createNamed: true });
 * console.log(home.email, home.datasitesDir);
 * ```
 */
export async function ensureSyftHome(options: EnsureSyftHomeOptions = {}): Promise<SyftHome> {
  const choice = await chooseWorkspaceConfig(options);
  let created = false;
  let config: { dataDir: string; email: string };
  if (choice.exists) {
    // An existing config goes through the file-RPC part's loader (fields, aliases, typed errors).
    config = await loadSyftBoxConfig(configOptions({ ...options, configPath: choice.path }));
  } else {
    if (choice.source !== "syft-home" && !options.createNamed) {
      throw new SyftError(
        `Cannot use SyftBox config "${choice.path}" (${choice.reason}): the file does not exist`,
        { code: "NO_CONFIG" },
      );
    }
    // A new config is used as written.
    config = await writeSyftBoxConfig(choice.path, {
      dataDir: options.dataDir ?? join(dirname(choice.path), "data"),
      email: options.email ?? defaultEmail(options.env),
      ...(options.serverUrl === undefined ? {} : { serverUrl: options.serverUrl }),
    });
    created = true;
  }
  const home = homeFrom(choice, config, created);
  await ensureDir(join(home.datasitesDir, home.email));
  await ensureDir(join(home.root, "state"));
  return home;
}

// ---- which servers run in a workspace ------------------------------------------------------------

/** A server process recorded in a workspace (`<home>/state/running/<name>.json`). */
export interface RunningServer {
  /** The record's name: `up`, `proxy`, `ensync`, ... */
  name: string;
  /** The command that runs, such as `syft up`. */
  command: string;
  /** Its process id. */
  pid: number;
  /** When it started (ISO 8601). */
  started: string;
  /** The syft version it runs. */
  version: string;
  /** State files it owns (one process per Deno KV file). */
  holds: string[];
  /** What it serves, once started. */
  services: { name: string; where: string; ports?: Record<string, number> }[];
  /** Where it answers "I am alive" (127.0.0.1), with the nonce it sends. */
  beacon?: { port: number; nonce: string };
}

/** A {@linkcode RunningServer} read back, with whether its process is still alive. */
export interface RunningServerStatus extends RunningServer {
  /** Whether the process lives (`undefined` where this OS gives no way to tell). */
  alive: boolean | undefined;
  /** The record file. */
  file: string;
}

/** The record of a server this process runs: update it when started, release it on stop. */
export interface ServerClaim extends AsyncDisposable {
  /** The record file. */
  readonly file: string;
  /** Records what it serves. */
  update(services: RunningServer["services"]): Promise<void>;
  /** Removes the record (idempotent). */
  release(): Promise<void>;
}

/**
 * Another process already runs a server on this workspace (or holds a state file this one needs).
 *
 * @example
 * ```ts
 * import { WorkspaceBusyError } from "@syft/syft";
 * try {
 *   // await claimServer(home, { name: "up", command: "syft up", holds: [home.kvPath] });
 * } catch (err) {
 *   if (err instanceof WorkspaceBusyError) console.error(err.holder.pid, err.message);
 * }
 * ```
 */
export class WorkspaceBusyError extends SyftError {
  /** The process that holds it. */
  readonly holder: RunningServerStatus;

  /**
   * Creates the error.
   *
   * @param message What is busy and what to do.
   * @param holder The record of the process that holds it.
   */
  constructor(message: string, holder: RunningServerStatus) {
    super(message, { code: "WORKSPACE_BUSY" });
    this.name = "WorkspaceBusyError";
    this.holder = holder;
  }
}

function runningDir(root: string): string {
  return join(root, "state", "running");
}

/**
 * Whether the process of a record lives: it answers on its beacon (a 127.0.0.1 listener that sends
 * the record's nonce) — portable, and needs only `--allow-net` (Deno gives `/proc/<pid>` of other
 * processes only to `--allow-all`, and `kill(pid, 0)` needs `--allow-run`). A refused connection
 * means it is gone; a nonce that differs means another program took the port; no answer within a
 * second (a stopped process, a loaded machine) counts as unknown.
 */
async function recordAlive(record: RunningServer): Promise<boolean | undefined> {
  if (record.pid === Deno.pid) return true;
  if (record.beacon === undefined) return undefined;
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port: record.beacon.port });
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) return false;
    return undefined;
  }
  try {
    const buf = new Uint8Array(64);
    const timer = setTimeout(() => conn.close(), 1000);
    let text = "";
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        text += new TextDecoder().decode(buf.subarray(0, n));
        if (text.includes("\n")) break;
      }
    } finally {
      clearTimeout(timer);
    }
    if (!text.includes("\n")) return undefined;
    return text.trim() === record.beacon.nonce;
  } catch {
    return undefined;
  } finally {
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

async function readRecord(file: string): Promise<RunningServerStatus | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    return undefined;
  }
  let raw: RunningServer;
  try {
    raw = JSON.parse(text);
  } catch {
    // Being written (the claim writes it right after creating it): treat as alive, unknown.
    return undefined;
  }
  if (typeof raw?.pid !== "number") return undefined;
  return { ...raw, alive: await recordAlive(raw), file };
}

/**
 * Lists the servers recorded in a workspace's state dir and whether each still runs.
 *
 * @param home The workspace (its `root`).
 * @returns The records, by name.
 *
 * @example
 * ```ts
 * import { listRunningServers } from "@syft/syft";
 * for (const s of await listRunningServers({ root: await Deno.makeTempDir() })) console.log(s.name, s.pid);
 * ```
 */
export async function listRunningServers(home: { root: string }): Promise<RunningServerStatus[]> {
  const out: RunningServerStatus[] = [];
  try {
    for await (const entry of Deno.readDir(runningDir(home.root))) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const record = await readRecord(join(runningDir(home.root), entry.name));
      if (record !== undefined) out.push(record);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function describe(r: RunningServerStatus): string {
  return `${r.command} (pid ${r.pid}, since ${r.started})`;
}

/**
 * Records that this process runs server `name` on the workspace, refusing when a live process
 * already runs one of that name or holds one of the same state files (Deno KV files are used by one
 * process). A record left by a process that died is replaced.
 *
 * @param home The workspace (its `root`).
 * @param init The record's name, the command and the state files it will hold.
 * @returns The claim; `release()` (or `await using`) removes the record.
 * @throws {WorkspaceBusyError} When another live process runs or holds it.
 *
 * @example
 * ```ts
 * import { claimServer } from "@syft/syft";
 * const root = await Deno.makeTempDir();
 * await using claim = await claimServer({ root }, { name: "demo", command: "demo", holds: [] });
 * await claim.update([{ name: "web", where: "http://127.0.0.1:8080" }]);
 * ```
 */
export async function claimServer(
  home: { root: string },
  init: { name: string; command: string; holds: string[] },
): Promise<ServerClaim> {
  const dir = runningDir(home.root);
  await ensureDir(dir);
  const file = join(dir, `${init.name}.json`);
  // The beacon: other processes connect to learn that this one lives (it does not keep it alive).
  const nonce = crypto.randomUUID();
  const beacon = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  beacon.unref();
  const line = new TextEncoder().encode(`${nonce}\n`);
  (async () => {
    for await (const conn of beacon) {
      conn.write(line).catch(() => {}).finally(() => conn.close());
    }
  })().catch(() => {/* closed */});
  const record: RunningServer = {
    name: init.name,
    command: init.command,
    pid: Deno.pid,
    started: new Date().toISOString(),
    version: VERSION,
    holds: init.holds,
    services: [],
    beacon: { port: beacon.addr.port, nonce },
  };
  const busy = (other: RunningServerStatus, what: string): WorkspaceBusyError =>
    new WorkspaceBusyError(
      `${describe(other)} already ${what} in ${home.root}; stop it first, or use another ` +
        "workspace (set SYFT_HOME to another directory)" +
        (other.alive === undefined ? ` (if it is not running any more, delete ${other.file})` : ""),
      other,
    );
  try {
    await take(home, init, file, record, busy);
  } catch (err) {
    beacon.close();
    throw err;
  }
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    beacon.close();
    await Deno.remove(file).catch(() => {});
  };
  return {
    file,
    async update(services) {
      if (released) return;
      record.services = services;
      await writeFileAtomic(file, JSON.stringify(record));
    },
    release,
    [Symbol.asyncDispose]: release,
  };
}

async function take(
  home: { root: string },
  init: { name: string; holds: string[] },
  file: string,
  record: RunningServer,
  busy: (other: RunningServerStatus, what: string) => WorkspaceBusyError,
): Promise<void> {
  for (const other of await listRunningServers(home)) {
    if (other.name === init.name || other.alive === false || other.pid === Deno.pid) continue;
    const shared = other.holds.filter((h) => init.holds.includes(h));
    if (shared.length > 0) throw busy(other, `holds ${shared.join(", ")}`);
  }
  for (let attempt = 0;; attempt++) {
    try {
      const f = await Deno.open(file, { createNew: true, write: true });
      try {
        await f.write(new TextEncoder().encode(JSON.stringify(record)));
      } finally {
        f.close();
      }
      break;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists) || attempt > 0) throw err;
      const other = await readRecord(file);
      if (other !== undefined && other.alive !== false && other.pid !== Deno.pid) {
        throw busy(other, "runs");
      }
      // Left by a process that died (or unreadable): take it over.
      await Deno.remove(file).catch(() => {});
    }
  }
}
