/**
 * The contract between `syft up` and the servers it starts. Each part's command file exports one
 * {@linkcode UpService} whose `start` is lazy (`lazy(() => import("./_actions/x.ts"), "start…")`);
 * `cli/up.ts` lists them.
 *
 * @module
 */
import type { ServeLimits } from "../servers/_limits.ts";
import type { SyftHome } from "../lib/home.ts";
import type { LiveSource } from "../lib/live/mod.ts";

/** What `syft up` hands every service it starts. */
export interface UpContext {
  /** The workspace (data dir, datasite e-mail, config, KV path). */
  home: SyftHome;
  /** The shared Deno KV database of the workspace. */
  kv: Deno.Kv;
  /** The bind address (default 127.0.0.1; anything else is the user's explicit choice). */
  host: string;
  /** Bind every server to port 0 (a free port) instead of its default port. */
  anyPort: boolean;
  /** `--max-connections` and the timeouts, for every server (default: the servers' defaults). */
  limits?: ServeLimits;
  /** Aborted when `syft up` is stopping. */
  signal: AbortSignal;
  /** The services started so far, in start order (the dashboard, started last, shows them). */
  started?: readonly StartedService[];
  /** `--dashboard-token`: required by the dashboard when `host` is not loopback. */
  dashboardToken?: string;
  /**
   * `--config <path> ` when a command typed in another shell would not find this workspace's
   * config on its own, else `""`: put it after `syft ` in hints that need the workspace.
   */
  configArg: string;
}

/** A service `syft up` started. */
export interface StartedService {
  /** Its name. */
  name: string;
  /** One line on what it is. */
  description: string;
  /** When it started (ms since the epoch). */
  startedAt: number;
  /** What its `start()` returned. */
  running: RunningService;
}

/** A started service: where it runs and how to stop it. */
export interface RunningService {
  /** Where it runs: a URL or a path. */
  where: string;
  /** Extra human-readable detail, such as the app name. */
  detail?: string;
  /**
   * Commands a user can paste to try the service (printed under "Try:"). Write syft commands as
   * `syft …`: `syft up` prints them the way syft was started (`deno task syft …`, ...).
   */
  hints?: string[];
  /** The ports it listens on, by the names of {@linkcode UpService.ports}. */
  ports?: Record<string, number>;
  /** Stops the service and releases its resources. */
  stop(): Promise<void>;
  /** Its live state, for the dashboard (`@syft/syft/live`). */
  live?: LiveSource;
}

/** A service `syft up` can start. */
export interface UpService {
  /** Short name, also used by `syft up --skip`. */
  name: string;
  /** One line on what it is. */
  description: string;
  /** Its default ports by name (what `--any-port` replaces), such as `{ http: 8000 }`. */
  ports?: Record<string, number>;
  /** Starts it; throws when it cannot start. */
  start(ctx: UpContext): Promise<RunningService>;
}
