/**
 * Timestamps and durations as SyftBox writes them: Python `datetime.isoformat()` of an aware UTC
 * time (`2025-11-05T10:00:02.500000+00:00`, microsecond precision), and durations such as `"15m"`
 * or `"1d2h30m"`.
 *
 * @module
 */
import { RpcProtocolError } from "./errors.ts";

const CANONICAL_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?\+00:00$/;
/** Instants parsed from, or formatted to, canonical text: formatting them again is a lookup. */
const FORMATTED = new WeakMap<Temporal.Instant, string>();
const TS_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Returns the current time truncated to microseconds (the precision SyftBox files carry).
 *
 * @returns The current instant.
 *
 * @example
 * ```ts
 * import { nowInstant } from "@syft/syft/rpc";
 * console.log(nowInstant().toString());
 * ```
 */
export function nowInstant(): Temporal.Instant {
  return Temporal.Now.instant().round({ smallestUnit: "microsecond", roundingMode: "floor" });
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
 * import { toInstant } from "@syft/syft/rpc";
 * console.log(toInstant(new Date(0)).toString()); // 1970-01-01T00:00:00Z
 * ```
 */
export function toInstant(
  value: Date | Temporal.Instant | number | string,
  field = "timestamp",
): Temporal.Instant {
  if (typeof value === "string") return parseTimestamp(value, field);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new RpcProtocolError(field, `Invalid ${field}: ${value} is not a finite time`);
    }
    return Temporal.Instant.fromEpochNanoseconds(BigInt(Math.trunc(value * 1000)) * 1000n);
  }
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new RpcProtocolError(field, `Invalid ${field}: invalid Date`);
    return Temporal.Instant.fromEpochNanoseconds(BigInt(ms) * 1_000_000n);
  }
  const ns = value.epochNanoseconds;
  return ns % 1000n === 0n ? value : Temporal.Instant.fromEpochNanoseconds(ns - (ns % 1000n));
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
  // Fast path: what Python and syft write (`YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`).
  if (CANONICAL_RE.test(text)) {
    try {
      const instant = Temporal.Instant.from(text);
      if (!text.endsWith(".000000+00:00")) FORMATTED.set(instant, text);
      return instant;
    } catch { /* not a real date: the slow path names the problem */ }
  }
  const m = TS_RE.exec(text);
  if (m === null) {
    throw new RpcProtocolError(
      field,
      `Invalid ${field}: ${JSON.stringify(text)} is not an ISO 8601 timestamp`,
    );
  }
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (tz === undefined) {
    throw new RpcProtocolError(
      field,
      `Invalid ${field}: ${JSON.stringify(text)} has no timezone offset (naive timestamps break ` +
        "expiry checks)",
    );
  }
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s ?? "0");
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(ms);
  if (
    Number.isNaN(ms) || check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59
  ) {
    throw new RpcProtocolError(field, `Invalid ${field}: ${JSON.stringify(text)} is not a date`);
  }
  const micros = frac === undefined ? 0 : Number(frac.padEnd(6, "0").slice(0, 6));
  let offsetMin = 0;
  if (tz !== "Z" && tz !== "z") {
    const sign = tz[0] === "-" ? -1 : 1;
    const digits = tz.slice(1).replace(":", "");
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0"));
  }
  const epochMicros = BigInt(ms - offsetMin * 60_000) * 1000n + BigInt(micros);
  return Temporal.Instant.fromEpochNanoseconds(epochMicros * 1000n);
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
  if (sep === "T") {
    const known = FORMATTED.get(instant);
    if (known !== undefined) return known;
  }
  // Microseconds since the epoch fit a double exactly until the year 2255.
  const micros = Number(instant.epochNanoseconds / 1000n);
  const ms = Math.floor(micros / 1000);
  const frac = micros - Math.floor(micros / 1_000_000) * 1_000_000;
  const iso = new Date(ms).toISOString();
  const t = iso.indexOf("T");
  const date = iso.slice(0, t);
  const time = iso.slice(t + 1, t + 9);
  const fraction = frac === 0 ? "" : "." + String(frac).padStart(6, "0");
  const text = `${date}${sep}${time}${fraction}+00:00`;
  if (sep === "T") FORMATTED.set(instant, text);
  return text;
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
