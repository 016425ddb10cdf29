/**
 * The connection-limit and timeout flags every `serve` command (and `syft up`) shares:
 * `--max-connections`, `--headers-timeout`, `--body-timeout`, `--keep-alive-timeout`. The tree
 * adds them with {@linkcode withServeLimits}; the action turns what was parsed into the servers'
 * `limits` option with {@linkcode serveLimitsOf}. No dependencies beyond commander, so that
 * `syft --help` stays light.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import type { ServeLimits } from "../servers/_limits.ts";

/** The defaults shown in `--help` (the servers' own, `SERVE_DEFAULTS`; a test checks they agree). */
export const SERVE_LIMIT_DEFAULTS = {
  maxConnections: 10_000,
  headersTimeoutS: 10,
  bodyTimeoutS: 30,
  keepAliveTimeoutS: 60,
} as const;

/** What the four flags parse to (undefined: the default). */
export interface ServeLimitOptions {
  maxConnections?: number | undefined;
  headersTimeout?: number | undefined;
  bodyTimeout?: number | undefined;
  keepAliveTimeout?: number | undefined;
}

function positiveCount(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a whole number of connections ≥ 1, got "${value}"`);
  }
  return n;
}

function seconds(value: string): number {
  const n = Number(value.replace(/s$/, ""));
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected seconds > 0 (e.g. 10 or 0.5), got "${value}"`);
  }
  return n;
}

/** The help text after the options of a command with the flags. */
export const SERVE_LIMITS_HELP = `
Connection limits and timeouts (docs/reliability.md): beyond --max-connections a new connection
gets 503 {"error":"too_many_connections"} and is closed; all servers of one process also keep
to 75% of the open-file limit (ulimit -n) together. A client that has not sent its request
headers within --headers-timeout, or its body within --body-timeout, is disconnected, and so is
a keep-alive connection idle for --keep-alive-timeout. WebSockets are exempt once upgraded.`;

/**
 * Adds the four flags to a command.
 *
 * @param cmd The `serve` command (or `syft up`).
 * @returns The same command, typed with the flags.
 */
export function withServeLimits<
  Args extends unknown[],
  Opts extends Record<string, unknown>,
  Globals extends Record<string, unknown>,
>(cmd: Command<Args, Opts, Globals>): Command<Args, Opts & ServeLimitOptions, Globals> {
  const d = SERVE_LIMIT_DEFAULTS;
  return cmd
    .addOption(
      new Option(
        "--max-connections <n>",
        `connections kept open at once; more are refused with 503 (default ${d.maxConnections})`,
      ).argParser(positiveCount),
    )
    .addOption(
      new Option(
        "--headers-timeout <seconds>",
        `disconnect a client that has not sent its request headers by then (default ${d.headersTimeoutS})`,
      ).argParser(seconds),
    )
    .addOption(
      new Option(
        "--body-timeout <seconds>",
        `disconnect a client whose request body has not arrived by then (default ${d.bodyTimeoutS})`,
      ).argParser(seconds),
    )
    .addOption(
      new Option(
        "--keep-alive-timeout <seconds>",
        `close a keep-alive connection idle this long (default ${d.keepAliveTimeoutS}; not WebSockets)`,
      ).argParser(seconds),
    )
    .addHelpText("after", SERVE_LIMITS_HELP) as unknown as Command<
      Args,
      Opts & ServeLimitOptions,
      Globals
    >;
}

/**
 * The servers' `limits` option from the parsed flags.
 *
 * @param opts What commander parsed.
 * @returns The limits given (others stay at the servers' defaults).
 */
export function serveLimitsOf(opts: ServeLimitOptions): ServeLimits {
  const out: ServeLimits = {};
  if (opts.maxConnections !== undefined) out.maxConnections = opts.maxConnections;
  if (opts.headersTimeout !== undefined) out.headersTimeoutMs = opts.headersTimeout * 1000;
  if (opts.bodyTimeout !== undefined) out.bodyTimeoutMs = opts.bodyTimeout * 1000;
  if (opts.keepAliveTimeout !== undefined) out.idleTimeoutMs = opts.keepAliveTimeout * 1000;
  return out;
}
