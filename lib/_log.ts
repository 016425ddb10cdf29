/**
 * Loggers for the library. The library only obtains loggers; the `syft` command (or the embedding
 * program) configures sinks and levels once, through `@logtape/logtape`'s `configure()`.
 *
 * @module
 */
import { getLogger as getLogtapeLogger, type Logger } from "@logtape/logtape";

/**
 * Returns the logger for a part of syft. Categories live under `["syft", ...]`, so configuring the
 * `syft` category controls them all.
 *
 * @param category The sub-category, such as `"rpc"` or `["rpc", "watcher"]`.
 * @returns A LogTape logger; it prints nothing until LogTape is configured.
 *
 * @example Log from a library module
 * ```ts
 * import { getLogger } from "../lib/_log.ts";
 * const log = getLogger(["rpc", "server"]);
 * log.info("Serving {app}", { app: "echo" });
 * ```
 */
export function getLogger(category: string | readonly string[]): Logger {
  const parts = typeof category === "string" ? [category] : [...category];
  return getLogtapeLogger(["syft", ...parts]);
}
