/**
 * The page's copy of the dashboard state: the snapshot from `/api/events`, then its updates
 * (history points appended, feed events prepended), and the POST helper with the CSRF token.
 *
 * @module
 */
import type { DashboardSnapshot, DashboardUpdate } from "../core.ts";
import type { LiveEventBase } from "../../../lib/live/mod.ts";

const HISTORY_POINTS = 300;
const RECENT_EVENTS = 200;
const RENDER_EVERY_MS = 400;

type Listener = () => void;

/** The state the panels render, and how it changes. */
export class Store {
  snapshot: DashboardSnapshot | undefined;
  connected = false;
  /** Bumped on every change (for `useSyncExternalStore`). */
  version = 0;
  readonly #listeners = new Set<Listener>();
  #source: EventSource | undefined;
  #scheduled = false;
  #renderedAt = 0;

  subscribe = (listener: Listener): () => void => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  #changed(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // At most one render per 400 ms, however many messages arrive (a busy stack sends several a
    // second per panel), each in an animation frame.
    const wait = Math.max(0, RENDER_EVERY_MS - (performance.now() - this.#renderedAt));
    setTimeout(() =>
      requestAnimationFrame(() => {
        this.#scheduled = false;
        this.#renderedAt = performance.now();
        this.version++;
        for (const l of this.#listeners) l();
      }), wait);
  }

  /** Opens the event stream (the browser reconnects by itself). */
  connect(): void {
    const source = this.#source = new EventSource("/api/events");
    source.addEventListener("open", () => {
      this.connected = true;
      this.#changed();
    });
    source.addEventListener("error", () => {
      this.connected = false;
      this.#changed();
    });
    source.addEventListener("snapshot", (e) => {
      this.snapshot = JSON.parse((e as MessageEvent).data);
      this.connected = true;
      this.#changed();
    });
    source.addEventListener("tick", (e) => this.#apply(JSON.parse((e as MessageEvent).data)));
    source.addEventListener("events", (e) => this.#apply(JSON.parse((e as MessageEvent).data)));
    source.addEventListener("part", (e) => this.#apply(JSON.parse((e as MessageEvent).data)));
  }

  #apply(update: DashboardUpdate): void {
    const snap = this.snapshot;
    if (snap === undefined) return;
    if (update.type === "tick") {
      snap.now = update.now;
      snap.services = update.services;
      snap.parts = update.parts;
      if (update.rpcApps !== undefined) snap.rpcApps = update.rpcApps;
      for (const [name, p] of Object.entries(update.points)) {
        const h = snap.history[name] ??= { t: [], rates: {}, gauges: {}, latency: {} };
        const n = h.t.length;
        h.t.push(p.t / 1000);
        const put = (table: Record<string, (number | null)[]>, key: string, v: number | null) => {
          const col = table[key] ??= new Array(n).fill(null);
          col.push(v);
        };
        for (const [k, v] of Object.entries(p.rates)) put(h.rates, k, v);
        for (const [k, v] of Object.entries(p.gauges)) put(h.gauges, k, v);
        for (const [k, v] of Object.entries(p.latency)) {
          const l = h.latency[k] ??= {
            rate: new Array(n).fill(null),
            p50: new Array(n).fill(null),
            p99: new Array(n).fill(null),
          };
          l.rate.push(v.rate);
          l.p50.push(v.p50);
          l.p99.push(v.p99);
        }
        // Columns a point lacked get a gap, so every column keeps the length of `t`.
        const pad = (table: Record<string, (number | null)[]>) => {
          for (const col of Object.values(table)) if (col.length < h.t.length) col.push(null);
        };
        pad(h.rates);
        pad(h.gauges);
        for (const l of Object.values(h.latency)) {
          if (l.rate.length < h.t.length) {
            l.rate.push(null);
            l.p50.push(null);
            l.p99.push(null);
          }
        }
        if (h.t.length > HISTORY_POINTS) {
          const cut = h.t.length - HISTORY_POINTS;
          h.t.splice(0, cut);
          for (const col of [...Object.values(h.rates), ...Object.values(h.gauges)]) {
            col.splice(0, cut);
          }
          for (const l of Object.values(h.latency)) {
            l.rate.splice(0, cut);
            l.p50.splice(0, cut);
            l.p99.splice(0, cut);
          }
        }
      }
    } else if (update.type === "part") {
      snap.parts[update.service] = update.part;
    } else {
      const list: LiveEventBase[] = snap.recent[update.service] ??= [];
      for (const e of update.events) list.unshift(e);
      if (list.length > RECENT_EVENTS) list.length = RECENT_EVENTS;
    }
    this.#changed();
  }
}

/** The page's store. */
export const store: Store = new Store();

function csrf(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

/** POSTs JSON with the CSRF token; resolves with the answer's JSON or rejects with its error. */
export async function post<T = unknown>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf() },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(json.error ?? `HTTP ${res.status}`);
  return json as T;
}

/** Runs an action of a service; resolves with its result. */
export async function act<T = unknown>(
  service: string,
  action: string,
  args: Record<string, unknown>,
): Promise<T> {
  const res = await post<{ result: T }>(
    `/api/actions/${encodeURIComponent(service)}/${encodeURIComponent(action)}`,
    args,
  );
  return res.result;
}

/** GETs JSON; rejects with the answer's error. */
export async function get<T = unknown>(path: string): Promise<T> {
  const res = await fetch(path);
  const json = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(json.error ?? `HTTP ${res.status}`);
  return json as T;
}
