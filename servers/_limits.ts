/**
 * Connection limits and timeouts of every syft server: the options, their defaults, and the
 * process-wide connection budget derived from the open-file limit (`ulimit -n`).
 *
 * @module
 */

/** Limits and timeouts a hardened server applies to its clients (all optional). */
export interface ServeLimits {
  /** Connections this server keeps open at once; more are refused at once (default 10,000). */
  maxConnections?: number;
  /** A new connection must deliver its first request's headers within this (default 10 s). */
  headersTimeoutMs?: number;
  /** A request body must arrive within this, counted from its headers (default 30 s). */
  bodyTimeoutMs?: number;
  /** A keep-alive connection with no request in flight is closed after this (default 60 s). */
  idleTimeoutMs?: number;
}

/** The defaults of {@linkcode ServeLimits} (the CLI shows the same in `--help`). */
export const SERVE_DEFAULTS: Readonly<Required<ServeLimits>> = Object.freeze({
  maxConnections: 10_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
});

/** The share of the open-file limit that all servers of one process may hold as connections. */
export const FD_BUDGET_SHARE = 0.75;

/**
 * Reads the soft open-file limit of this process (Linux: `/proc/self/limits`).
 *
 * @returns The limit, or `undefined` where it cannot be read (other systems, no read permission).
 */
export function openFileLimit(): number | undefined {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const line = text.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    if (soft === undefined || soft === "unlimited") return undefined;
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many connections all hardened servers of this process may hold together: 75 % of the
 * open-file limit, so that files, stores and outgoing connections keep the rest.
 *
 * @param fdLimit The open-file limit (default: read from the system).
 * @returns The budget, or `Infinity` when the limit is unknown.
 */
export function processConnectionBudget(fdLimit: number | undefined = openFileLimit()): number {
  if (fdLimit === undefined) return Infinity;
  return Math.max(16, Math.floor(fdLimit * FD_BUDGET_SHARE));
}

/**
 * Connections held by all hardened servers (HTTP and gRPC) of this process, against its budget:
 * 75 % of the open-file limit when it can be read, and in any case 90 % of the connections held
 * when an accept first failed for want of file descriptors (Deno reads `/proc/self/limits` only
 * with `--allow-all`, so the limit is usually learned that way).
 */
export const processConnections: {
  open: number;
  budget(): number;
  learn(open: number): number;
  knowLimit(fdLimit: number): void;
} = {
  open: 0,
  budget(): number {
    cachedBudget ??= processConnectionBudget();
    return Math.min(cachedBudget, learnedBudget);
  },
  knowLimit(fdLimit: number): void {
    cachedBudget = Math.min(this.budget(), processConnectionBudget(fdLimit));
  },
  learn(open: number): number {
    learnedBudget = Math.min(learnedBudget, Math.max(16, Math.floor(open * 0.9)));
    return learnedBudget;
  },
};
let cachedBudget: number | undefined;
let learnedBudget = Infinity;

/**
 * Finds how many more files this process can open, by opening `/dev/null` until it cannot (about
 * 10 µs each): for a listener that cannot survive the limit (Deno's `node:net` stops accepting
 * for good at EMFILE), where `/proc/self/limits` cannot be read. The gRPC listener checks a
 * little at a time (`_grpc_listen.ts`), never the whole limit at once.
 *
 * @param cap Stop after this many (at least that many are free; the limit is not known).
 * @returns The count, or `undefined` when the cap was reached or `/dev/null` cannot be opened.
 */
export function probeOpenFileLimit(cap: number): number | undefined {
  const files: Deno.FsFile[] = [];
  let result: number | undefined;
  try {
    while (files.length < cap) files.push(Deno.openSync("/dev/null"));
  } catch (err) {
    if (isFdExhaustion(err)) result = files.length;
  } finally {
    for (const f of files) f.close();
  }
  return result;
}

/** Whether an accept error means the process (or system) is out of file descriptors. */
export function isFdExhaustion(err: unknown): boolean {
  const text = err instanceof Error
    ? `${err.message} ${(err as { code?: string }).code ?? ""}`
    : "";
  return /too many open files|os error 2[34]|EMFILE|ENFILE/i.test(text);
}

/**
 * Fills in the defaults and checks the values.
 *
 * @param limits What the caller gave.
 * @returns Every limit, validated.
 * @throws {RangeError} A limit that is not a positive number (the message names it).
 */
export function resolveLimits(limits: ServeLimits = {}): Required<ServeLimits> {
  const out = { ...SERVE_DEFAULTS };
  for (const key of Object.keys(SERVE_DEFAULTS) as (keyof ServeLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !(value > 0) || Number.isNaN(value)) {
      throw new RangeError(`${key} must be a positive number (got ${String(value)})`);
    }
    out[key] = key === "maxConnections" ? Math.floor(value) : value;
  }
  return out;
}
