/**
 * The dashboard's model: the services it shows, the live source of each, one sample a second of
 * every source (history), the feeds while anyone watches (recent events), and the listeners (SSE
 * clients) it pushes coalesced updates to.
 *
 * @module
 */
import {
  createRing,
  type LiveEventBase,
  type LivePart,
  type LiveSource,
  type LiveStateBase,
  type Ring,
} from "../../lib/live/mod.ts";
import { deadline } from "../../lib/_async.ts";
import { getLogger } from "../../lib/_log.ts";
import { History, type HistoryColumns, type HistoryPoint } from "./history.ts";
import { type RpcAppInfo, scanRpcApps } from "./rpc_apps.ts";

const log = getLogger(["dashboard", "core"]);

/** A service the dashboard lists (a `syft up` service, or a server given by URL). */
export interface DashboardService {
  /** Its name (`proxy`, `hub`, ...). */
  name: string;
  /** One line on what it is. */
  description?: string;
  /** Where it runs. */
  where: string;
  /** Extra detail. */
  detail?: string;
  /** When it started (ms). */
  startedAt?: number;
  /** Its live state, when it has one. */
  live?: LiveSource;
}

/** The workspace shown on the overview. */
export interface DashboardWorkspace {
  /** The workspace root. */
  root?: string;
  /** The SyftBox config file. */
  config: string;
  /** The datasite owner. */
  email: string;
  /** The SyftBox data dir. */
  dataDir: string;
}

/** How a service stands. */
export type ServiceState = "running" | "unreachable" | "stopped";

/** A service as `/api/state` lists it. */
export interface ServiceStatus {
  /** Its name. */
  name: string;
  /** One line on what it is. */
  description: string | null;
  /** Where it runs. */
  where: string;
  /** Extra detail. */
  detail: string | null;
  /** The part its live state belongs to, or `null`. */
  part: LivePart | null;
  /** `running`, or `unreachable` when its live state could not be read. */
  state: ServiceState;
  /** When it started (ms), when known. */
  startedAt: number | null;
  /** Seconds since it started, when known. */
  uptimeS: number | null;
  /** The counter the overview's sparkline follows, when any. */
  rateKey: string | null;
  /** Why its live state could not be read. */
  error: string | null;
}

/** One part's state as `/api/state` shows it. */
export interface PartView {
  /** The service it belongs to. */
  service: string;
  /** Which part. */
  part: LivePart;
  /** The actions it accepts. */
  actions: readonly string[];
  /** Its state (`null` until the first sample). */
  state: LiveStateBase | null;
}

/** What `GET /api/state` answers. */
export interface DashboardSnapshot {
  /** syft's version. */
  version: string;
  /** When the snapshot was taken (ms). */
  now: number;
  /** The workspace, when known. */
  workspace: DashboardWorkspace | null;
  /** Every service. */
  services: ServiceStatus[];
  /** Live state by service name. */
  parts: Record<string, PartView>;
  /** History by service name (columns, times in seconds). */
  history: Record<string, HistoryColumns>;
  /** Recent feed events by service name, newest first. */
  recent: Record<string, LiveEventBase[]>;
  /** File-RPC apps found in the datasites (`rpc.schema.json`). */
  rpcApps: RpcAppInfo[];
}

/** What the SSE stream sends after the snapshot. */
export type DashboardUpdate =
  | {
    type: "tick";
    now: number;
    services: ServiceStatus[];
    parts: Record<string, PartView>;
    points: Record<string, HistoryPoint>;
    rpcApps?: RpcAppInfo[];
  }
  | { type: "events"; service: string; events: readonly LiveEventBase[]; dropped: number }
  | { type: "part"; service: string; part: PartView };

/** Options of {@linkcode DashboardCore}. */
export interface DashboardCoreOptions {
  /** The services (read on every sample, so services may come and go). */
  services: () => readonly DashboardService[];
  /** The workspace, when known. */
  workspace?: DashboardWorkspace;
  /** syft's version. */
  version: string;
  /** Sample interval in ms (default 1000). */
  sampleMs?: number;
  /** Recent events kept per service (default 200). */
  recentEvents?: number;
  /** How long one state() may take before the service shows as unreachable (default 3000 ms). */
  stateTimeoutMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

const MAIN_COUNTER: Record<LivePart, string> = {
  rpc: "requests",
  proxy: "requests",
  hub: "eventsReceived",
  ensync: "published",
  pubsub: "published",
};

interface Tracked {
  service: DashboardService;
  history: History;
  recent: Ring<LiveEventBase>;
  state: LiveStateBase | null;
  error: string | null;
  unsubscribe: (() => void) | undefined;
  source: LiveSource | undefined;
  /** When its state was last read, and whether an early read is scheduled. */
  readAt: number;
  refreshing: boolean;
}

/** After feed events, a part's state is read again this soon (at most this often). */
const REFRESH_MS = 250;
/** Feed events kept and forwarded per batch (at most four batches a second per part). */
const FORWARD_PER_BATCH = 100;

function withTimeout<T>(p: T | Promise<T>, ms: number, what: string): Promise<T> {
  return deadline(Promise.resolve(p), ms, {
    onTimeout: () => new Error(`${what} did not answer within ${ms} ms`),
  });
}

/** The dashboard's model; see the module doc. */
export class DashboardCore {
  readonly #options: DashboardCoreOptions;
  readonly #tracked = new Map<string, Tracked>();
  readonly #listeners = new Set<(update: DashboardUpdate) => void>();
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sampling: Promise<void> | undefined;
  #rpcApps: RpcAppInfo[] = [];
  #rpcScanAt = 0;
  #closed = false;

  constructor(options: DashboardCoreOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Starts sampling (one sample at once, then one per interval). */
  async start(): Promise<void> {
    await this.sample();
    this.#timer = setInterval(() => void this.sample(), this.#options.sampleMs ?? 1000);
  }

  /** Stops sampling and drops the listeners and feed subscriptions. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#sampling;
    for (const t of this.#tracked.values()) t.unsubscribe?.();
    this.#listeners.clear();
  }

  /** Listeners now (SSE clients). */
  get watchers(): number {
    return this.#listeners.size;
  }

  /**
   * Adds a listener of updates; feeds are followed only while there is one.
   *
   * @returns Removes the listener.
   */
  watch(listener: (update: DashboardUpdate) => void): () => void {
    this.#listeners.add(listener);
    this.#syncFeeds();
    return () => {
      this.#listeners.delete(listener);
      this.#syncFeeds();
    };
  }

  /** The live source of a service, if it has one. */
  source(service: string): LiveSource | undefined {
    return this.#tracked.get(service)?.service.live;
  }

  /** The workspace, when known. */
  get workspace(): DashboardWorkspace | undefined {
    return this.#options.workspace;
  }

  /** Takes one sample of every source now and pushes it to the listeners. */
  sample(): Promise<void> {
    return this.#sampling ??= this.#sample().finally(() => this.#sampling = undefined);
  }

  async #sample(): Promise<void> {
    if (this.#closed) return;
    const services = this.#options.services();
    const seen = new Set<string>();
    for (const service of services) {
      seen.add(service.name);
      let t = this.#tracked.get(service.name);
      if (t === undefined || t.service.live !== service.live) {
        t?.unsubscribe?.();
        t = {
          service,
          history: new History(),
          recent: createRing(this.#options.recentEvents ?? 200),
          state: null,
          error: null,
          unsubscribe: undefined,
          source: service.live,
          readAt: 0,
          refreshing: false,
        };
        this.#tracked.set(service.name, t);
      } else t.service = service;
    }
    for (const [name, t] of this.#tracked) {
      if (!seen.has(name)) {
        t.unsubscribe?.();
        this.#tracked.delete(name);
      }
    }
    this.#syncFeeds();
    const points: Record<string, HistoryPoint> = {};
    const timeout = this.#options.stateTimeoutMs ?? 3000;
    await Promise.all([...this.#tracked.values()].map(async (t) => {
      const live = t.service.live;
      if (live === undefined) return;
      try {
        const state = await withTimeout(live.state(), timeout, `${t.service.name}'s live state`);
        t.state = state;
        t.error = null;
        t.readAt = this.#now();
        points[t.service.name] = t.history.add(this.#now(), state);
      } catch (err) {
        t.error = err instanceof Error ? err.message : String(err);
        log.debug("Cannot read the live state of {name}: {error}", {
          name: t.service.name,
          error: t.error,
        });
      }
    }));
    let rpcApps: RpcAppInfo[] | undefined;
    const ws = this.#options.workspace;
    if (ws !== undefined && this.#now() - this.#rpcScanAt >= 5_000) {
      this.#rpcScanAt = this.#now();
      try {
        const found = await scanRpcApps(ws.dataDir);
        if (JSON.stringify(found) !== JSON.stringify(this.#rpcApps)) rpcApps = found;
        this.#rpcApps = found;
      } catch (err) {
        log.debug("Cannot scan the datasites: {error}", { error: String(err) });
      }
    }
    if (this.#listeners.size > 0) {
      this.#emit({
        type: "tick",
        now: this.#now(),
        services: this.#statuses(),
        parts: this.#parts(),
        points,
        ...(rpcApps === undefined ? {} : { rpcApps }),
      });
    }
  }

  #emit(update: DashboardUpdate): void {
    for (const l of [...this.#listeners]) {
      try {
        l(update);
      } catch (err) {
        log.debug("A dashboard listener failed: {error}", { error: String(err) });
      }
    }
  }

  /** Follows every feed while anyone watches; stops following when nobody does. */
  #syncFeeds(): void {
    const want = this.#listeners.size > 0 && !this.#closed;
    for (const t of this.#tracked.values()) {
      const live = t.service.live;
      if (want && t.unsubscribe === undefined && live !== undefined) {
        const name = t.service.name;
        t.unsubscribe = live.feed.subscribe((batch, dropped) => {
          // Only the newest go on: the page shows the last few dozen, and a busy part must not
          // cost the stream (or the page) in proportion to its rate.
          const events = batch.length > FORWARD_PER_BATCH ? batch.slice(-FORWARD_PER_BATCH) : batch;
          for (const e of events) t.recent.push(e);
          this.#emit({
            type: "events",
            service: name,
            events,
            dropped: dropped + batch.length - events.length,
          });
          this.#refresh(t);
        });
      } else if (!want && t.unsubscribe !== undefined) {
        t.unsubscribe();
        t.unsubscribe = undefined;
      }
    }
  }

  /**
   * Reads a part's state again soon after its feed reported something (connections, queues and
   * tables follow events within a quarter second), at most once per {@linkcode REFRESH_MS}.
   */
  #refresh(t: Tracked): void {
    if (t.refreshing || this.#closed) return;
    t.refreshing = true;
    const wait = Math.max(0, REFRESH_MS - (this.#now() - t.readAt));
    const timer = setTimeout(async () => {
      const live = t.service.live;
      try {
        if (live === undefined || this.#closed || this.#listeners.size === 0) return;
        t.state = await withTimeout(
          live.state(),
          this.#options.stateTimeoutMs ?? 3000,
          t.service.name,
        );
        t.error = null;
        t.readAt = this.#now();
        this.#emit({
          type: "part",
          service: t.service.name,
          part: { service: t.service.name, part: live.part, actions: live.actions, state: t.state },
        });
      } catch (err) {
        t.error = err instanceof Error ? err.message : String(err);
      } finally {
        t.refreshing = false;
      }
    }, wait);
    Deno.unrefTimer(timer);
  }

  #statuses(): ServiceStatus[] {
    const now = this.#now();
    return [...this.#tracked.values()].map(({ service, state, error }) => {
      const startedAt = state?.startedAt ?? service.startedAt ?? null;
      const part = service.live?.part ?? null;
      return {
        name: service.name,
        description: service.description ?? null,
        where: service.where,
        detail: service.detail ?? null,
        part,
        state: service.live !== undefined && error !== null ? "unreachable" : "running",
        startedAt,
        uptimeS: startedAt === null ? null : Math.max(0, Math.round((now - startedAt) / 1000)),
        rateKey: part === null ? null : MAIN_COUNTER[part],
        error,
      };
    });
  }

  #parts(): Record<string, PartView> {
    const out: Record<string, PartView> = {};
    for (const { service, state } of this.#tracked.values()) {
      if (service.live === undefined) continue;
      out[service.name] = {
        service: service.name,
        part: service.live.part,
        actions: service.live.actions,
        state,
      };
    }
    return out;
  }

  /** The whole state (`GET /api/state`, and the first message of the stream). */
  snapshot(): DashboardSnapshot {
    const history: Record<string, HistoryColumns> = {};
    const recent: Record<string, LiveEventBase[]> = {};
    for (const t of this.#tracked.values()) {
      if (t.service.live === undefined) continue;
      history[t.service.name] = t.history.columns();
      recent[t.service.name] = t.recent.newest();
    }
    return {
      version: this.#options.version,
      now: this.#now(),
      workspace: this.#options.workspace ?? null,
      services: this.#statuses(),
      parts: this.#parts(),
      history,
      recent,
      rpcApps: this.#rpcApps,
    };
  }
}
