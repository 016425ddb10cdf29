/**
 * Timestamps and durations as SyftBox writes them: Python `datetime.isoformat()` of an aware UTC
 * time (`2025-11-05T10:00:02.500000+00:00`, microsecond precision), and durations such as `"15m"`
 * or `"1d2h30m"`.
 *
 * @module
 */
import {
  formatMicros,
  instantOfMicros,
  microsOf,
  microsOfInstant,
  nowMicros,
  parseMicros,
} from "./_micros.ts";

/**
 * Returns the current time truncated to microseconds (the precision SyftBox files carry).
 *
 * @returns The current instant.
 *
 * @example
 * ```ts
 * import { nowInstant } from "./time.ts";
 * console.log(nowInstant().toString());
 * ```
 */
export function nowInstant(): Temporal.Instant {
  return instantOfMicros(nowMicros());
}

/**
 * Converts a `Date`, an instant, epoch milliseconds or a timestamp string to a
 * `Temporal.Instant` truncated to microseconds.
 *
 * @param value The time.
 * @param field The field name used in the error.
 * @returns The instant.
 * @throws {RpcProtocolError} When a string is not a timezone-aware timestamp.
 *
 * @example
 * ```ts
 * import { toInstant } from "./time.ts";
 * console.log(toInstant(new Date(0)).toString()); // 1970-01-01T00:00:00Z
 * ```
 */
export function toInstant(
  value: Date | Temporal.Instant | number | string,
  field = "timestamp",
): Temporal.Instant {
  if (value instanceof Temporal.Instant && value.epochNanoseconds % 1000n === 0n) return value;
  return instantOfMicros(microsOf(value, field));
}

/**
 * Parses a SyftBox timestamp: ISO 8601 / RFC 3339 with a `Z` or `±hh:mm` offset and up to 9
 * fractional digits (Go writes nanoseconds). Like pydantic, the result is truncated to
 * microseconds. Naive timestamps (no offset) are refused: Python's `is_expired` fails on them.
 *
 * @param text The timestamp.
 * @param field The field name used in the error.
 * @returns The instant.
 * @throws {RpcProtocolError} When the text is not a timezone-aware timestamp.
 *
 * @example
 * ```ts
 * import { parseTimestamp } from "@syft/syft/rpc";
 * const a = parseTimestamp("2025-11-05T10:00:02.500000+00:00");
 * const b = parseTimestamp("2025-11-05T10:00:02.500000000Z");
 * console.log(a.equals(b)); // true
 * ```
 */
export function parseTimestamp(text: string, field = "timestamp"): Temporal.Instant {
  return instantOfMicros(parseMicros(text, field));
}

/**
 * Formats an instant the way Python's `datetime.isoformat()` renders an aware UTC time:
 * `2025-11-05T10:00:02.500000+00:00`, with the fraction omitted when it is zero.
 *
 * @param instant The time.
 * @param sep The separator between date and time (`"T"`; Python's `str()` uses `" "`).
 * @returns The timestamp text.
 *
 * @example
 * ```ts
 * import { formatTimestamp, parseTimestamp } from "@syft/syft/rpc";
 * console.log(formatTimestamp(parseTimestamp("2025-11-05T10:00:02.5Z")));
 * // 2025-11-05T10:00:02.500000+00:00
 * ```
 */
export function formatTimestamp(instant: Temporal.Instant, sep = "T"): string {
  return formatMicros(microsOfInstant(instant), sep);
}

const DURATION_RE = /(\d+(?:\.\d+)?)\s*(ms|[dhms])/gy;
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration into milliseconds: a number is taken as milliseconds; a string is one or more
 * `<number><unit>` parts with units `d`, `h`, `m`, `s`, `ms` (`"15m"`, `"1d2h30m"`, `"1.5s"`),
 * case-insensitive, summed. This accepts everything syft-rpc's `parse_duration` (one unit) and
 * syft-event's cleanup durations (several units) accept.
 *
 * @param value The duration.
 * @param what What the duration is for, used in the error.
 * @returns Milliseconds (0 or more).
 * @throws {RangeError} When the value is negative, not finite or not a duration.
 *
 * @example
 * ```ts
 * import { parseDuration } from "@syft/syft/rpc";
 * console.log(parseDuration("15m"), parseDuration("1d2h"), parseDuration(250));
 * // 900000 93600000 250
 * ```
 */
export function parseDuration(value: string | number, what = "duration"): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`Invalid ${what}: ${value} is not a non-negative number of ms`);
    }
    return value;
  }
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) {
    throw new RangeError(
      `Invalid ${what}: ${JSON.stringify(value)} has no unit (use d, h, m, s or ms, e.g. "15m")`,
    );
  }
  DURATION_RE.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = DURATION_RE.exec(text); m !== null; m = DURATION_RE.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    end = DURATION_RE.lastIndex;
  }
  if (text === "" || end !== text.length) {
    throw new RangeError(
      `Invalid ${what}: ${JSON.stringify(value)} is not a duration such as "15m" or "1d2h"`,
    );
  }
  return total;
}
