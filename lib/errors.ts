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
}

/**
 * Base class for syft's domain errors. It carries `cause` and a stable `code` (each part lists its
 * codes in one union type). The `syft` command maps codes to exit statuses; the library has none.
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

  /**
   * Creates an error.
   *
   * @param message What went wrong, in one sentence.
   * @param options Cause and code.
   */
  constructor(message: string, options: SyftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SyftError";
    this.code = options.code ?? "SYFT_ERROR";
  }
}
