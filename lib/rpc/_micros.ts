/**
 * Timestamps as epoch microseconds (plain numbers: exact until the year 2255). The codec works on
 * these and only builds `Temporal.Instant`s when asked, because Temporal and BigInt arithmetic on
 * every message were a measurable share of the hot path.
 *
 * @module
 */
import { RpcProtocolError } from "./errors.ts";

const CANONICAL_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?\+00:00$/;
const TS_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * The `YYYY-MM-DDTHH:MM:SS` texts of the two seconds formatted last (a message's creation and
 * expiry): consecutive messages share their seconds, so most formats are only the fraction.
 */
const SECONDS: [number, string, number, string] = [NaN, "", NaN, ""];

/** The current time in epoch microseconds. */
export function nowMicros(): number {
  return Number(Temporal.Now.instant().epochNanoseconds / 1000n);
}

/** Epoch microseconds of an instant (truncated). */
export function microsOfInstant(instant: Temporal.Instant): number {
  return Number(instant.epochNanoseconds / 1000n);
}

/** The instant of epoch microseconds. */
export function instantOfMicros(us: number): Temporal.Instant {
  return Temporal.Instant.fromEpochNanoseconds(BigInt(us) * 1000n);
}

/** Epoch microseconds of a `Date`, an instant, epoch milliseconds or a timestamp string. */
export function microsOf(value: Date | Temporal.Instant | number | string, field: string): number {
  if (typeof value === "string") return parseMicros(value, field);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new RpcProtocolError(field, `Invalid ${field}: ${value} is not a finite time`);
    }
    // Epoch milliseconds, possibly with a microsecond fraction.
    return Math.round(value * 1000);
  }
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new RpcProtocolError(field, `Invalid ${field}: invalid Date`);
    return ms * 1000;
  }
  return microsOfInstant(value);
}

/** Parses a SyftBox timestamp to epoch microseconds (see `parseTimestamp`). */
export function parseMicros(text: string, field: string): number {
  // Fast path: what Python and syft write (`YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`).
  if (CANONICAL_RE.test(text)) {
    const ms = Date.parse(text.slice(0, 19) + "Z");
    const day = Number(text.slice(8, 10));
    if (!Number.isNaN(ms) && new Date(ms).getUTCDate() === day) {
      return ms * 1000 + (text.length > 25 ? Number(text.slice(20, 26)) : 0);
    }
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
  return (ms - offsetMin * 60_000) * 1000 + micros;
}

/** Formats epoch microseconds as Python's `isoformat()` of an aware UTC time. */
export function formatMicros(us: number, sep = "T"): string {
  const second = Math.floor(us / 1_000_000);
  const frac = us - second * 1_000_000;
  let head: string;
  if (sep === "T" && second === SECONDS[0]) head = SECONDS[1];
  else if (sep === "T" && second === SECONDS[2]) head = SECONDS[3];
  else {
    const iso = new Date(second * 1000).toISOString();
    const t = iso.indexOf("T");
    head = `${iso.slice(0, t)}${sep}${iso.slice(t + 1, t + 9)}`;
    if (sep === "T") {
      // The older of the two goes.
      SECONDS[2] = SECONDS[0];
      SECONDS[3] = SECONDS[1];
      SECONDS[0] = second;
      SECONDS[1] = head;
    }
  }
  return frac === 0 ? `${head}+00:00` : `${head}.${String(frac).padStart(6, "0")}+00:00`;
}

/** 9999-12-31T23:59:59.999Z: a date beyond it does not fit Python's `datetime`. */
export const LATEST_PYTHON_DATE_MS: number = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
