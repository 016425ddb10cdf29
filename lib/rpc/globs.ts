/**
 * Glob watchers over the datasites directory (`SyftEvents.watch`, `syft watch`), on the shared
 * watcher. Patterns are matched like syft-event's: against absolute paths, with `**\/` prepended
 * unless they start with it (or with `/`); `{datasite}` / `{email}` / `{app_data}` are filled in.
 *
 * @module
 */
import { sep } from "node:path";
import picomatch from "picomatch";
import { type Clock, systemClock } from "../_clock.ts";
import { getLogger } from "../_log.ts";
import type { SyftBoxWorkspace } from "./config.ts";
import {
  acquireWatcher,
  type FileChange,
  type FileWatcherOptions,
  walkFiles,
  type WatcherLease,
} from "./watcher.ts";

const log = getLogger(["rpc", "watch"]);

/** A change delivered to a glob watcher. */
export type WatchEvent = FileChange;

/** The kinds of change a glob watcher can deliver. */
export type WatchEventKind = "create" | "modify" | "remove";

/** Options of {@linkcode GlobWatcher}. */
export interface GlobWatcherOptions {
  /** The kinds to deliver (default `["create", "modify"]`, as syft-event). */
  events?: readonly WatchEventKind[];
  /** What `{app_data}` stands for (default `<datasites>/<email>/app_data`). */
  appDataDir?: string;
  /** Watcher options. */
  watcher?: FileWatcherOptions;
  /** The clock of the duplicate window (default the system clock; tests fake it). */
  clock?: Clock;
}

/** Changes of the same kind to the same path within this window are delivered once. */
export const DEDUPE_MS = 250;

function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}

function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]{}()!+@|]/g, "\\$&");
}

/**
 * Expands the placeholders of a glob and anchors it as syft-event does.
 *
 * @param pattern The glob, such as `"{datasite}/**\/*.json"`.
 * @param values The e-mail and the `{app_data}` directory.
 * @returns The pattern to match against absolute POSIX paths.
 *
 * @example
 * ```ts
 * import { expandGlob } from "./globs.ts";
 * console.log(expandGlob("{datasite}/**\/*.json", { email: "me@x.io", appDataDir: "/d/me@x.io/app_data" }));
 * // **\/me\@x.io/**\/*.json
 * ```
 */
export function expandGlob(pattern: string, values: { email: string; appDataDir: string }): string {
  const filled = pattern.replaceAll("{datasite}", escapeGlob(values.email))
    .replaceAll("{email}", escapeGlob(values.email))
    .replaceAll("{app_data}", escapeGlob(toPosix(values.appDataDir)));
  return filled.startsWith("**/") || filled.startsWith("/") ? filled : `**/${filled}`;
}

/**
 * Calls a handler for files under the datasites directory that match glob patterns. After a
 * watcher overflow or restart it compares the matching files with what it knew and reports the
 * differences, so changes made while events were lost are not missed. A file found both by a
 * directory scan and by an event is delivered once.
 *
 * @example Print JSON files as they change
 * ```ts
 * import { SyftBoxWorkspace } from "@syft/syft/rpc";
 * import { GlobWatcher } from "./globs.ts";
 * const workspace = new SyftBoxWorkspace({ dataDir: await Deno.makeTempDir(), email: "me@example.com" });
 * await workspace.ensure();
 * const watcher = new GlobWatcher(workspace, ["{datasite}/**\/*.json"], (e) => console.log(e.kind, e.path));
 * await watcher.start();
 * watcher.stop();
 * ```
 */
export class GlobWatcher {
  /** The expanded patterns. */
  readonly patterns: readonly string[];
  #workspace: SyftBoxWorkspace;
  #handler: (event: WatchEvent) => unknown;
  #events: Set<string>;
  #match: (path: string) => boolean;
  #options: GlobWatcherOptions;
  #lease: WatcherLease | undefined;
  #known = new Map<string, number>();
  #recent = new Map<string, number>();
  #stopped = false;

  /**
   * Creates the watcher (call {@linkcode GlobWatcher.start}).
   *
   * @param workspace The workspace whose datasites are watched.
   * @param patterns One or more globs (any may match).
   * @param handler Called for each change; may be async (errors are logged).
   * @param options Kinds, `{app_data}` and watcher options.
   */
  constructor(
    workspace: SyftBoxWorkspace,
    patterns: string | readonly string[],
    handler: (event: WatchEvent) => unknown,
    options: GlobWatcherOptions = {},
  ) {
    const list = typeof patterns === "string" ? [patterns] : [...patterns];
    if (list.length === 0) throw new TypeError("Cannot watch: no glob pattern given");
    this.#workspace = workspace;
    this.#handler = handler;
    this.#options = options;
    this.#events = new Set(options.events ?? ["create", "modify"]);
    for (const kind of this.#events) {
      if (kind !== "create" && kind !== "modify" && kind !== "remove") {
        throw new TypeError(`Cannot watch for "${kind}" events: use create, modify or remove`);
      }
    }
    const values = {
      email: workspace.email,
      appDataDir: options.appDataDir ?? `${workspace.myDatasite}${sep}app_data`,
    };
    this.patterns = list.map((p) => expandGlob(p, values));
    this.#match = picomatch([...this.patterns], { dot: true });
  }

  /**
   * Starts watching (creates the datasites directory when missing); resolves once the initial
   * inventory of matching files is taken, so a later change to one of them is a `modify`.
   */
  async start(): Promise<void> {
    if (this.#lease !== undefined || this.#stopped) return;
    this.#lease = await acquireWatcher(this.#workspace.datasitesDir, this.#options.watcher ?? {});
    this.#lease.subscribe({
      dir: this.#workspace.datasitesDir,
      onChange: (c) => this.#deliver(c),
      onRescan: (reason) => {
        if (reason !== "reconcile") void this.#rescan(true);
      },
    });
    await this.#rescan(false);
  }

  /** Stops watching. */
  stop(): void {
    this.#stopped = true;
    this.#lease?.release();
    this.#lease = undefined;
  }

  /** Whether `path` matches one of the patterns. */
  matches(path: string): boolean {
    return this.#match(toPosix(path));
  }

  #deliver(change: FileChange): void {
    if (this.#stopped || !this.#match(toPosix(change.path))) return;
    const key = `${change.kind}:${change.path}`;
    const now = (this.#options.clock ?? systemClock).now();
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < DEDUPE_MS) return;
    if (this.#recent.size > 1000) {
      for (const [k, t] of this.#recent) if (now - t >= DEDUPE_MS) this.#recent.delete(k);
    }
    this.#recent.set(key, now);
    // The file's mtime is at most now: a later rescan reports it again only if it changed since.
    if (change.kind === "remove") this.#known.delete(change.path);
    else this.#known.set(change.path, Date.now());
    // What is known follows every change; only the handler sees just the kinds asked for.
    if (!this.#events.has(change.kind)) return;
    try {
      const r = this.#handler(change);
      if (r instanceof Promise) {
        r.catch((err) => log.warn("Watch handler failed: {error}", { error: String(err) }));
      }
    } catch (err) {
      log.warn("Watch handler failed: {error}", { error: String(err) });
    }
  }

  /** Compares matching files with what was known; with `report`, delivers the differences. */
  async #rescan(report: boolean): Promise<void> {
    const seen = new Set<string>();
    try {
      for await (const file of walkFiles(this.#workspace.datasitesDir)) {
        if (this.#stopped) return;
        if (!this.#match(toPosix(file))) continue;
        seen.add(file);
        const mtime = (await Deno.stat(file).catch(() => undefined))?.mtime?.getTime() ?? 0;
        const before = this.#known.get(file);
        this.#known.set(file, mtime);
        if (!report) continue;
        if (before === undefined) this.#deliver({ kind: "create", path: file, origin: "scan" });
        else if (mtime > before) this.#deliver({ kind: "modify", path: file, origin: "scan" });
      }
      if (!report) return;
      for (const file of [...this.#known.keys()]) {
        if (!seen.has(file)) this.#deliver({ kind: "remove", path: file, origin: "scan" });
      }
    } catch (err) {
      log.warn("Cannot rescan for glob watchers: {error}", { error: String(err) });
    }
  }
}
