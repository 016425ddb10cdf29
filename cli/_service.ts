/**
 * The contract between `syft up` and the servers it starts. Each part's command file exports one
 * {@linkcode UpService}; `cli/up.ts` lists them.
 *
 * @module
 */
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
  /** Aborted when `syft up` is stopping. */
  signal: AbortSignal;
  /** The services started so far, in start order (the dashboard, started last, shows them). */
  started?: readonly StartedService[];
  /** `--dashboard-token`: required by the dashboard when `host` is not loopback. */
  dashboardToken?: string;
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
  /** Commands a user can paste to try the service (printed under "Try:"). */
  hints?: string[];
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
  /** Starts it; throws when it cannot start. */
  start(ctx: UpContext): Promise<RunningService>;
}
