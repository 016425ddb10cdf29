/**
 * The error base class every syft part derives its typed errors from.
 *
 * @module
 */

/** Options for {@linkcode SyftError}. */
export interface SyftErrorOptions {
  /** The underlying error, kept as `cause`. */
  cause?: unknown;
  /** A stable, machine-readable code such as `"KV_UNAVAILABLE"`. */
  code?: string;
  /** The process exit code the `syft` command uses when this error ends it (default 1). */
  exitCode?: number;
}

/**
 * Base class for syft's domain errors. It carries `cause`, a stable `code` and the exit code the
 * `syft` command uses when the error ends a command.
 *
 * @example Catch any syft error
 * ```ts
 * import { SyftError } from "@syft/syft";
 * try {
 *   throw new SyftError("Cannot open store: disk full", { code: "STORE" });
 * } catch (err) {
 *   if (err instanceof SyftError) console.error(err.code, err.message);
 * }
 * ```
 */
export class SyftError extends Error {
  /** A stable, machine-readable code. */
  readonly code: string;
  /** The exit code the `syft` command uses for this error. */
  readonly exitCode: number;

  /**
   * Creates an error.
   *
   * @param message What went wrong, in one sentence.
   * @param options Cause, code and exit code.
   */
  constructor(message: string, options: SyftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SyftError";
    this.code = options.code ?? "SYFT_ERROR";
    this.exitCode = options.exitCode ?? 1;
  }
}
