/**
 * Parsing the proxy's option values: rate limits (`600/min`), sizes (`1MiB`), CORS origins.
 *
 * @module
 */
import type { RateLimit } from "./app.ts";

const WINDOWS: Record<string, number> = {
  s: 1000,
  sec: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
};

/**
 * Parses a rate limit such as `600/min`, `10/s` or `1000/hour`; `off` or `0` mean none.
 *
 * @throws {RangeError} Naming the accepted forms.
 */
export function parseRateLimit(value: string): RateLimit | undefined {
  const v = value.trim().toLowerCase();
  if (v === "off" || v === "none" || v === "0") return undefined;
  const m = /^(\d+)\s*\/\s*(\d*)\s*([a-z]+)$/.exec(v);
  const unit = m ? WINDOWS[m[3]!] : undefined;
  const limit = m ? Number(m[1]) : NaN;
  if (!m || unit === undefined || !(limit > 0)) {
    throw new RangeError(
      `Cannot parse rate limit "${value}": expected N/UNIT such as 600/min, 10/s or 1000/hour (or off)`,
    );
  }
  const count = m[2] ? Number(m[2]) : 1;
  return { limit, windowMs: unit * Math.max(1, count) };
}

const SIZES: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1_000_000,
  mb: 1_000_000,
  mib: 1024 * 1024,
  g: 1_000_000_000,
  gb: 1_000_000_000,
  gib: 1024 ** 3,
};

/**
 * Parses a size such as `1MiB`, `512KiB`, `2MB` or `1048576`.
 *
 * @throws {RangeError} Naming the accepted forms.
 */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? SIZES[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) {
    throw new RangeError(
      `Cannot parse size "${value}": expected a positive number of bytes, optionally with KiB, MiB, KB or MB`,
    );
  }
  return Math.floor(Number(m[1]) * unit);
}

/** Splits a comma-separated origin list (`*` allows any origin). */
export function parseOrigins(value: string): string[] {
  const origins = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const o of origins) {
    if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) {
      throw new RangeError(
        `Cannot use CORS origin "${o}": expected * or scheme://host[:port] such as http://localhost:5173`,
      );
    }
  }
  return origins;
}
