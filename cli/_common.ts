/**
 * Shared bits of the command groups: global options, usage errors, shutdown signals.
 *
 * @module
 */
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { SyftError } from "../lib/errors.ts";

/** The levels `--log-level` accepts (LogTape's; `warn` is read as `warning`). */
export const LOG_LEVELS: readonly string[] = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
];

/** The options every command accepts (read them with `cmd.optsWithGlobals()`). */
export interface GlobalOptions {
  /** SyftBox client config path (`--config`). */
  config?: string;
  /** The log level (`--log-level`). */
  logLevel?: string;
  /** Print machine-readable JSON (`--json`). */
  json?: boolean;
}

/** A wrong command line: the command prints the message and exits with status 2. */
export class UsageError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message What was wrong with the command line.
   * @param options The underlying error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "USAGE" });
    this.name = "UsageError";
  }
}

/** The command's full name for messages, such as `syft rpc call`. */
export function commandPath(cmd: { name(): string; parent: unknown }): string {
  const names: string[] = [];
  for (let c: { name(): string; parent: unknown } | null = cmd; c; c = c.parent as typeof c) {
    names.unshift(c.name());
  }
  return names.join(" ");
}

/** Signals closer together than this are one Ctrl-C (see {@linkcode waitForShutdownSignal}). */
export const SIGNAL_ECHO_MS = 1_000;

/**
 * Resolves with the signal's name on the first SIGINT (Ctrl-C) or SIGTERM. A second signal while
 * stopping exits at once with status 130, unless it comes within {@linkcode SIGNAL_ECHO_MS} of the
 * first: a Ctrl-C under `deno task` (or npx) reaches the command twice, once from the terminal and
 * once forwarded by the task runner, and that must not cut the graceful stop short.
 *
 * @param options The clock (default `Date.now`), for tests.
 */
export function waitForShutdownSignal(options: { now?: () => number } = {}): Promise<string> {
  const now = options.now ?? Date.now;
  const { promise, resolve } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  let first: number | undefined;
  const handlers = signals.map((sig) => {
    const handler = (): void => {
      if (first !== undefined) {
        if (now() - first >= SIGNAL_ECHO_MS) Deno.exit(130);
        return; // the same Ctrl-C, delivered again
      }
      first = now();
      resolve(sig);
    };
    Deno.addSignalListener(sig, handler);
    return [sig, handler] as const;
  });
  return promise.finally(() => {
    // Keep a listener on SIGINT so a second Ctrl-C forces the exit instead of being ignored.
    for (const [sig, handler] of handlers) {
      if (sig !== "SIGINT") Deno.removeSignalListener(sig, handler);
    }
  });
}

/** Parses `K:V` header options into an object; throws a `UsageError` naming a bad one. */
export function parseHeaderOptions(values: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf(":");
    if (at <= 0) throw new UsageError(`Cannot parse header "${value}": expected NAME:VALUE`);
    headers[value.slice(0, at).trim()] = value.slice(at + 1).trim();
  }
  return headers;
}

/** Commander option parser for repeatable options: collects the values in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Commander option parser: a port (0-65535; 0 picks a free one). */
export function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`"${v}" is not a port (0-65535; 0 picks a free one)`);
  }
  return n;
}

/** Commander option parser: a whole number above 0. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`"${v}" is not a positive whole number`);
  }
  return n;
}

/** Commander option parser: a whole number, 0 or more. */
export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError(`"${v}" is not a whole number >= 0`);
  }
  return n;
}

/** Commander option parser: a number above 0. */
export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`"${v}" is not a positive number`);
  }
  return n;
}
