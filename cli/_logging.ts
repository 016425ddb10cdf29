/**
 * The one place logging is configured: LogTape, text lines on stderr, so stdout stays for results.
 *
 * @module
 */
import {
  configureSync,
  getTextFormatter,
  isLogLevel,
  type LogLevel,
  type LogRecord,
} from "@logtape/logtape";

import { LOG_LEVELS } from "./_common.ts";

const encoder = new TextEncoder();
const format = getTextFormatter({ timestamp: "date-time-tz", category: "." });

function stderrSink(record: LogRecord): void {
  // Synchronous so that nothing is lost on exit; log lines are small.
  Deno.stderr.writeSync(encoder.encode(format(record)));
}

/** Parses a `--log-level` value; throws a `TypeError` naming the accepted levels. */
export function parseLogLevel(value: string): LogLevel {
  const level = value.toLowerCase() === "warn" ? "warning" : value.toLowerCase();
  if (!isLogLevel(level)) {
    throw new TypeError(
      `Cannot use log level "${value}": expected one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  return level;
}

/** Configures LogTape once for the process; later calls replace the configuration. */
export function configureLogging(level: LogLevel): void {
  configureSync({
    reset: true,
    sinks: { stderr: stderrSink },
    loggers: [
      { category: ["syft"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}
