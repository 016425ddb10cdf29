/**
 * Ids for events and clients: random and base62 strings (no `,`, `=`, `;` or `.`).
 *
 * @module
 */

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const POOL = new Uint8Array(4096);
let poolAt = POOL.length;

/** Returns `n` random base62 characters (used in ids); draws from a pooled CSPRNG buffer. */
export function randomBase62(n: number): string {
  let out = "";
  // 248 = 4 * 62: rejecting bytes >= 248 keeps the digits uniform.
  for (let i = 0; i < n;) {
    if (poolAt >= POOL.length) {
      crypto.getRandomValues(POOL);
      poolAt = 0;
    }
    const b = POOL[poolAt++]!;
    if (b < 248) {
      out += BASE62[b % 62];
      i++;
    }
  }
  return out;
}

/** Encodes a non-negative integer in base62. */
export function toBase62(value: number): string {
  if (value === 0) return "0";
  let out = "";
  let v = value;
  while (v > 0) {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

/** Decodes a base62 integer; returns NaN for a bad digit. */
export function fromBase62(text: string): number {
  let v = 0;
  for (const ch of text) {
    const d = BASE62.indexOf(ch);
    if (d < 0) return NaN;
    v = v * 62 + d;
  }
  return v;
}
