/**
 * The file watcher behind servers, clients and glob watchers, built on `Deno.watchFs` with the
 * design `Deno.watchFs`'s loss modes require: the watcher is created before anything scans; a
 * directory that appears is scanned (files written into it before its watch existed are found);
 * the `rescan` overflow flag, a watcher error and a periodic timer all ask subscribers to rescan;
 * and when `Deno.watchFs` cannot be used at all it falls back to polling.
 *
 * Completion: a close-after-write (`access`, inotify's IN_CLOSE_WRITE) or a rename into place
 * means a file is complete and is delivered at once. `create` / `modify` without a close are
 * coalesced per path and delivered after a quiet period (`quietMs`, or `maxWaitMs` for a file that
 * keeps changing), which is how platforms without close events (macOS) work.
 *
 * One watcher is shared per directory tree: {@linkcode acquireWatcher} returns a lease on an
 * existing watcher whose root contains the directory, so a server and the clients in the same
 * process use one `Deno.watchFs`.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { join, resolve, sep } from "node:path";
import { ensureDir, isTempName } from "../_fs.ts";
import { type Clock, systemClock, type TimerHandle } from "../_clock.ts";
import { getLogger } from "../_log.ts";

const log = getLogger(["rpc", "watcher"]);
/** What `isTempName` looks for (atomic-write temp files: never delivered). */
const TEMP_MARK = ".syft.tmp.";
/** A directory that appears is scanned at once and again after these delays (ms). */
const RESCAN_NEW_DIR_MS = [50, 500];

/** A stream of raw file-system events (`Deno.watchFs` or a synthetic source in tests). */
export interface FsEventSource extends AsyncIterable<Deno.FsEvent> {
  /** Stops the stream. */
  close(): void;
}

/** Creates an event source watching `paths` recursively (default: `Deno.watchFs`). */
export type FsEventSourceFactory = (paths: string[]) => FsEventSource;

/** What a subscriber is told about a file. */
export interface FileChange {
  /** `create` and `modify` are delivered once the file looks complete; `remove` at once. */
  kind: "create" | "modify" | "remove";
  /** The absolute path. */
  path: string;
  /** `event` when a watcher event said so, `scan` when found by scanning a new directory. */
  origin: "event" | "scan";
}

/**
 * Why subscribers are asked to rescan: `overflow` (events were dropped), `error` (the watcher
 * failed and was restarted), `reconcile` (the periodic safety net), `poll` (no watcher available:
 * polling mode).
 */
export type RescanReason = "overflow" | "error" | "reconcile" | "poll";

/** A subscriber of a {@linkcode FileWatcher}. */
export interface WatchSubscriber {
  /** Only changes of paths inside this directory are delivered. */
  dir: string;
  /** Called synchronously for each change; keep it cheap (queue work, do not await). */
  onChange(change: FileChange): void;
  /** Called when the subscriber should compare its state with the disk. */
  onRescan?(reason: RescanReason): void;
}

/** Options of a {@linkcode FileWatcher}. */
export interface FileWatcherOptions {
  /** The event source (default `Deno.watchFs`); inject one to feed synthetic events in tests. */
  source?: FsEventSourceFactory;
  /** Quiet period before a create/modify without a close is delivered, in ms (default 50). */
  quietMs?: number;
  /** Longest delay for a file that keeps changing, in ms (default 1000). */
  maxWaitMs?: number;
  /** How often subscribers are asked to reconcile, in ms (default 30000; 0 disables). */
  reconcileMs?: number;
  /**
   * The clock the quiet period and `maxWaitMs` run on (default the system clock; tests fake it).
   * Watchers are shared per directory: the first lease's clock is the one used.
   */
  clock?: Clock;
  /** How often subscribers rescan when no watcher can be created, in ms (default 1000). */
  pollMs?: number;
  /**
   * Names ending with one of these are taken to be files without a `stat` (default
   * `[".request", ".response"]`); other created or renamed names are checked for being
   * directories, which are then scanned.
   */
  fileSuffixes?: readonly string[];
}

/** Counters of a {@linkcode FileWatcher}. */
export interface FileWatcherStats {
  /** Raw events received. */
  events: number;
  /** Overflows (`rescan` flags) received. */
  overflows: number;
  /** Times the event source failed and was restarted. */
  restarts: number;
  /** Directories scanned because they appeared. */
  dirScans: number;
}

interface Sub {
  prefix: string;
  onChange: (change: FileChange) => void;
  onRescan: ((reason: RescanReason) => void) | undefined;
}

interface Pending {
  kind: "create" | "modify";
  first: number;
  last: number;
}

function defaultSource(paths: string[]): FsEventSource {
  return Deno.watchFs(paths, { recursive: true });
}

/**
 * Watches one directory tree and delivers complete-file changes to subscribers.
 *
 * @example Watch a directory
 * ```ts
 * import { FileWatcher } from "./watcher.ts";
 * const dir = await Deno.makeTempDir();
 * const watcher = new FileWatcher(dir);
 * await watcher.start();
 * const seen = Promise.withResolvers<string>();
 * const unsubscribe = watcher.subscribe({ dir, onChange: (c) => seen.resolve(c.path) });
 * await Deno.writeTextFile(`${dir}/hello.txt`, "hi");
 * console.log(await seen.promise);
 * unsubscribe();
 * watcher.close();
 * ```
 */
export class FileWatcher {
  /** The watched directory (absolute). */
  readonly root: string;
  /** Counters. */
  readonly stats: FileWatcherStats = { events: 0, overflows: 0, restarts: 0, dirScans: 0 };
  #options: Required<Omit<FileWatcherOptions, "source">> & { source: FsEventSourceFactory };
  #subs = new Set<Sub>();
  #pending = new Map<string, Pending>();
  #gone = new LRUCache<string, true>({ max: 10_000 });
  #flushTimer: TimerHandle | undefined;
  #reconcileTimer: ReturnType<typeof setInterval> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Timers of the follow-up scans of new directories. */
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #source: FsEventSource | undefined;
  #closed = false;
  #started: Promise<void> | undefined;
  #mode: "idle" | "watch" | "poll" = "idle";

  /**
   * Creates the watcher (call {@linkcode FileWatcher.start} to begin).
   *
   * @param root The directory tree to watch; created when missing.
   * @param options Event source, timings and file suffixes.
   */
  constructor(root: string, options: FileWatcherOptions = {}) {
    this.root = resolve(root);
    this.#options = {
      source: options.source ?? defaultSource,
      quietMs: options.quietMs ?? 50,
      maxWaitMs: options.maxWaitMs ?? 1000,
      reconcileMs: options.reconcileMs ?? 30_000,
      pollMs: options.pollMs ?? 1000,
      clock: options.clock ?? systemClock,
      fileSuffixes: options.fileSuffixes ?? [".request", ".response"],
    };
  }

  /** `watch` while events flow, `poll` when no watcher could be created, `idle` before start. */
  get mode(): "idle" | "watch" | "poll" {
    return this.#mode;
  }

  /**
   * Creates the root (when missing) and the event source. Idempotent. When the source cannot be
   * created (inotify limits, unsupported file systems) the watcher polls instead: subscribers get
   * `onRescan("poll")` every `pollMs`, and creating the source is retried every 30 s.
   */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await ensureDir(this.root);
      this.#open();
      if (this.#options.reconcileMs > 0) {
        this.#reconcileTimer = setInterval(
          () => this.#rescanAll("reconcile"),
          this.#options.reconcileMs,
        );
        Deno.unrefTimer(this.#reconcileTimer);
      }
    })();
    return this.#started;
  }

  /**
   * Adds a subscriber. Changes are delivered from now on; scanning what already exists is the
   * subscriber's job (do it after subscribing, so nothing falls in between).
   *
   * @param sub The directory of interest and the callbacks.
   * @returns A function that removes the subscriber.
   */
  subscribe(sub: WatchSubscriber): () => void {
    const dir = resolve(sub.dir);
    const entry: Sub = {
      prefix: dir === this.root ? this.root + sep : dir + sep,
      onChange: sub.onChange.bind(sub),
      onRescan: sub.onRescan?.bind(sub),
    };
    this.#subs.add(entry);
    return () => this.#subs.delete(entry);
  }

  /** The number of subscribers. */
  get subscribers(): number {
    return this.#subs.size;
  }

  /** Stops watching and clears every timer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mode = "idle";
    this.#options.clock.clearTimeout(this.#flushTimer);
    clearInterval(this.#reconcileTimer);
    clearInterval(this.#pollTimer);
    clearTimeout(this.#retryTimer);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#pending.clear();
    this.#gone.clear();
    this.#subs.clear();
    try {
      this.#source?.close();
    } catch { /* already closed */ }
    this.#source = undefined;
  }

  /** Asks every subscriber to rescan (as after an overflow). */
  rescan(reason: RescanReason = "reconcile"): void {
    this.#rescanAll(reason);
  }

  #open(): void {
    if (this.#closed) return;
    let source: FsEventSource;
    try {
      source = this.#options.source([this.root]);
    } catch (err) {
      this.#enterPollMode(err);
      return;
    }
    const wasPolling = this.#mode === "poll";
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#source = source;
    this.#mode = "watch";
    if (wasPolling) this.#rescanAll("error");
    this.#consume(source);
  }

  #enterPollMode(err: unknown): void {
    if (this.#mode !== "poll") {
      log.warn("Cannot watch {root} ({error}); polling every {ms} ms instead", {
        root: this.root,
        error: String(err),
        ms: this.#options.pollMs,
      });
    }
    this.#mode = "poll";
    if (this.#pollTimer === undefined) {
      this.#pollTimer = setInterval(() => this.#rescanAll("poll"), this.#options.pollMs);
    }
    this.#retryTimer = setTimeout(() => this.#open(), 30_000);
    Deno.unrefTimer(this.#retryTimer);
  }

  async #consume(source: FsEventSource): Promise<void> {
    try {
      for await (const event of source) {
        if (this.#closed) break;
        this.#onEvent(event);
      }
      if (this.#closed) return;
      log.warn("The watcher of {root} ended; restarting it", { root: this.root });
    } catch (err) {
      if (this.#closed) return;
      log.warn("The watcher of {root} failed ({error}); restarting it", {
        root: this.root,
        error: String(err),
      });
    }
    this.stats.restarts++;
    try {
      source.close();
    } catch { /* already closed */ }
    this.#retryTimer = setTimeout(() => {
      this.#open();
      if (this.#mode === "watch") this.#rescanAll("error");
    }, 100);
  }

  #onEvent(event: Deno.FsEvent): void {
    this.stats.events++;
    if (event.flag === "rescan") {
      this.stats.overflows++;
      log.debug("Event queue overflow under {root}: rescanning", { root: this.root });
      this.#rescanAll("overflow");
      return;
    }
    const paths = event.paths;
    switch (event.kind) {
      case "access":
        for (const p of paths) this.#completed(p, undefined);
        break;
      case "rename":
        if (paths.length >= 2) {
          this.#removed(paths[0]!);
          this.#arrived(paths[paths.length - 1]!, true);
        } else if (paths.length === 1) this.#arrived(paths[0]!, true);
        break;
      case "create":
        for (const p of paths) this.#arrived(p, false);
        break;
      case "remove":
        for (const p of paths) this.#removed(p);
        break;
      case "modify":
      case "any":
      case "other":
        for (const p of paths) this.#touched(p, "modify");
        break;
    }
  }

  #ignored(path: string): boolean {
    return !path.startsWith(this.root) || path.includes(TEMP_MARK, path.lastIndexOf(sep));
  }

  #looksLikeFile(path: string): boolean {
    for (const s of this.#options.fileSuffixes) if (path.endsWith(s)) return true;
    return false;
  }

  /** A create (complete = false) or a rename into place (complete = true). */
  #arrived(path: string, complete: boolean): void {
    if (this.#ignored(path)) return;
    if (this.#looksLikeFile(path)) {
      if (complete) this.#completed(path, "create");
      else this.#touched(path, "create");
      return;
    }
    // Might be a directory. Hold it as pending (so a close event that overtakes the stat still
    // sees a create), then check, and scan it when it is one.
    this.#touched(path, "create");
    Deno.lstat(path).then((info) => {
      if (this.#closed) return;
      if (info.isDirectory) {
        this.#pending.delete(path);
        this.#scanNewDir(path);
      } else if (complete && this.#pending.has(path)) this.#completed(path, "create");
    }, () => {/* gone already: its remove event follows */});
  }

  #touched(path: string, kind: "create" | "modify"): void {
    if (this.#ignored(path)) return;
    const now = this.#options.clock.now();
    const entry = this.#pending.get(path);
    if (entry === undefined) {
      this.#pending.set(path, { kind, first: now, last: now });
      this.#scheduleFlush();
    } else entry.last = now;
  }

  #completed(path: string, kind: "create" | "modify" | undefined): void {
    if (this.#ignored(path)) return;
    const entry = this.#pending.get(path);
    if (entry !== undefined) this.#pending.delete(path);
    this.#emit({ kind: kind ?? entry?.kind ?? "modify", path, origin: "event" });
  }

  #removed(path: string): void {
    if (this.#ignored(path)) return;
    this.#pending.delete(path);
    // Deno reports every event of a path that is already gone as `remove` (create, modify and
    // close of a short-lived file arrive as several removes): deliver the first one only.
    if (this.#gone.has(path)) return;
    this.#gone.set(path, true);
    this.#emit({ kind: "remove", path, origin: "event" });
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined || this.#closed) return;
    this.#flushTimer = this.#options.clock.setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush();
    }, Math.max(5, Math.floor(this.#options.quietMs / 2)));
  }

  #flush(): void {
    const now = this.#options.clock.now();
    const { quietMs, maxWaitMs } = this.#options;
    for (const [path, entry] of this.#pending) {
      if (now - entry.last >= quietMs || now - entry.first >= maxWaitMs) {
        this.#pending.delete(path);
        // A name without a known suffix may be a directory that was created by a plain create.
        if (!this.#looksLikeFile(path)) {
          this.#emitMaybeFile(path, entry.kind);
        } else this.#emit({ kind: entry.kind, path, origin: "event" });
      }
    }
    if (this.#pending.size > 0) this.#scheduleFlush();
  }

  #emitMaybeFile(path: string, kind: "create" | "modify"): void {
    Deno.lstat(path).then((info) => {
      if (!this.#closed && info.isFile) this.#emit({ kind, path, origin: "event" });
    }, () => {});
  }

  async #scanNewDir(dir: string): Promise<void> {
    this.stats.dirScans++;
    const seen = new Set<string>();
    const scan = async (): Promise<void> => {
      try {
        for await (const file of walkFiles(dir)) {
          if (this.#closed) return;
          if (seen.has(file)) continue;
          seen.add(file);
          this.#emit({ kind: "create", path: file, origin: "scan" });
        }
      } catch (err) {
        log.debug("Cannot scan new directory {dir}: {error}", { dir, error: String(err) });
      }
    };
    await scan();
    // notify-rs watches a new directory only after it has delivered the events of the batch that
    // created it, so a file moved in between (after the scan above, before the watch) raises no
    // event: look again a little later (measured: 1 in 500 requests written into new sender
    // folders by another process were otherwise found only by the 30 s reconcile).
    for (const delay of RESCAN_NEW_DIR_MS) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          resolve();
        }, delay);
        this.#timers.add(timer);
      });
      if (this.#closed) return;
      await scan();
    }
  }

  #emit(change: FileChange): void {
    if (change.kind !== "remove" && this.#gone.size > 0) this.#gone.delete(change.path);
    for (const sub of this.#subs) {
      if (!change.path.startsWith(sub.prefix)) continue;
      try {
        sub.onChange(change);
      } catch (err) {
        log.error("A watch subscriber failed on {path}: {error}", {
          path: change.path,
          error: String(err),
        });
      }
    }
  }

  #rescanAll(reason: RescanReason): void {
    if (this.#closed) return;
    for (const sub of this.#subs) {
      try {
        sub.onRescan?.(reason);
      } catch (err) {
        log.error("A watch subscriber failed to rescan: {error}", { error: String(err) });
      }
    }
  }
}

/**
 * Walks a directory tree and yields the paths of regular files, skipping atomic-write temp files.
 * Directories that vanish while walking are skipped.
 *
 * @param dir The directory.
 * @returns An async iterator of absolute file paths.
 *
 * @example
 * ```ts
 * import { walkFiles } from "./watcher.ts";
 * for await (const file of walkFiles(await Deno.makeTempDir())) console.log(file);
 * ```
 */
export async function* walkFiles(dir: string): AsyncGenerator<string> {
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(current));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) continue;
      throw err;
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory) stack.push(path);
      else if (entry.isFile && !isTempName(entry.name)) yield path;
    }
  }
}

/** A shared use of a {@linkcode FileWatcher}; release it when done. */
export interface WatcherLease extends Disposable {
  /** The shared watcher (its root contains the requested directory). */
  readonly watcher: FileWatcher;
  /**
   * Subscribes to the shared watcher.
   *
   * @param sub The directory of interest and the callbacks.
   * @returns A function that removes the subscriber.
   */
  subscribe(sub: WatchSubscriber): () => void;
  /** Releases the lease (and its subscriptions); the last release closes the watcher. */
  release(): void;
}

interface Shared {
  watcher: FileWatcher;
  refs: number;
}

const SHARED = new Map<string, Shared>();

/**
 * Returns a lease on a watcher covering `dir`: an existing shared watcher whose root contains it,
 * else a new one rooted at `dir` (created when missing). Watchers are reference-counted and closed
 * when the last lease is released. Passing `options.source` always creates a private watcher (for
 * tests with synthetic events).
 *
 * @param dir The directory to watch.
 * @param options Options for a new watcher.
 * @returns The lease.
 *
 * @example Two users of one tree share one watcher
 * ```ts
 * import { acquireWatcher } from "./watcher.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/a/b`, { recursive: true });
 * const outer = await acquireWatcher(root);
 * const inner = await acquireWatcher(`${root}/a/b`);
 * console.log(outer.watcher === inner.watcher); // true
 * inner.release();
 * outer.release();
 * ```
 */
export async function acquireWatcher(
  dir: string,
  options: FileWatcherOptions = {},
): Promise<WatcherLease> {
  const target = resolve(dir);
  let shared: Shared | undefined;
  let key = target;
  if (options.source === undefined) {
    for (const [root, s] of SHARED) {
      if (target === root || target.startsWith(root + sep)) {
        shared = s;
        key = root;
        break;
      }
    }
  }
  if (shared === undefined) {
    const watcher = new FileWatcher(target, options);
    shared = { watcher, refs: 0 };
    if (options.source === undefined) SHARED.set(key, shared);
    try {
      await watcher.start();
    } catch (err) {
      if (SHARED.get(key) === shared) SHARED.delete(key);
      watcher.close();
      throw err;
    }
  } else await shared.watcher.start();
  const s = shared;
  s.refs++;
  const unsubs = new Set<() => void>();
  let released = false;
  const lease: WatcherLease = {
    watcher: s.watcher,
    subscribe(sub) {
      const off = s.watcher.subscribe(sub);
      unsubs.add(off);
      return () => {
        off();
        unsubs.delete(off);
      };
    },
    release() {
      if (released) return;
      released = true;
      for (const off of unsubs) off();
      unsubs.clear();
      if (--s.refs === 0) {
        if (SHARED.get(key) === s) SHARED.delete(key);
        s.watcher.close();
      }
    },
    [Symbol.dispose]() {
      lease.release();
    },
  };
  return lease;
}
