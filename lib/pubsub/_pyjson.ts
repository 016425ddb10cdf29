/**
 * JSON as CPython 3.11's `json` module writes and reads it, which eventhive's wire format and its
 * signatures depend on:
 *
 * - {@linkcode pyDumps}: `json.dumps(x)` with the default separators `", "` / `": "`,
 *   `ensure_ascii=True` and `allow_nan=True` (the wire form of every message);
 * - {@linkcode pyCanon}: `json.dumps(x, indent=0, sort_keys=True, separators=(",", ":"))`, the
 *   text eventhive signs (keys sorted by code point, one member per line, no indentation);
 * - {@linkcode pyParse}: `json.loads`, which also accepts the bare `NaN` / `Infinity` /
 *   `-Infinity` tokens Python writes and keeps integers beyond 2^53 exact (as `bigint`).
 *
 * Numbers: a JS number that is an integer is written as Python writes an `int` (digits only); any
 * other finite number as Python's `float.__repr__` (shortest round-trip digits, positional for
 * 1e-4 <= |x| < 1e16 with `.0` when integral, else `d.ddde±XX`). A {@linkcode PyNumber} keeps the
 * exact source text of a number read losslessly, so a parsed message can be signed again exactly
 * as the Python sender signed it.
 *
 * @module
 */

/** A number kept as its JSON source text (from {@linkcode pyParse} with `lossless`). */
export class PyNumber {
  /** The number as written on the wire, e.g. `2.0`, `1e-05`, `123456789012345678901`, `NaN`. */
  readonly text: string;
  /** @param text The number's JSON text. */
  constructor(text: string) {
    this.text = text;
  }
  /** Whether Python reads this as an `int` (no fraction, exponent, NaN or Infinity). */
  get isInt(): boolean {
    return /^-?\d+$/.test(this.text);
  }
  /** The value as a JS number (may lose precision for big integers). */
  valueOf(): number {
    return Number(this.text);
  }
  /** What `JSON.stringify` writes. */
  toJSON(): number {
    return Number(this.text);
  }
}

/** Python's `float.__repr__` of a JS number. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // toExponential() without digits gives the shortest round-trip digits, as Python's repr does.
  const e = x.toExponential();
  const at = e.indexOf("e");
  let mant = e.slice(0, at);
  const exp = Number(e.slice(at + 1));
  const neg = mant.charCodeAt(0) === 45;
  if (neg) mant = mant.slice(1);
  const digits = mant.length > 1 ? mant[0]! + mant.slice(2) : mant;
  const decpt = exp + 1;
  let out: string;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) out = "0." + "0".repeat(-decpt) + digits;
    else if (decpt >= digits.length) out = digits + "0".repeat(decpt - digits.length) + ".0";
    else out = digits.slice(0, decpt) + "." + digits.slice(decpt);
  } else {
    const abs = Math.abs(exp);
    out = digits[0]! + (digits.length > 1 ? "." + digits.slice(1) : "") + "e" +
      (exp < 0 ? "-" : "+") + (abs < 10 ? "0" + abs : String(abs));
  }
  return neg ? "-" + out : out;
}

function pyNumber(x: number): string {
  if (Number.isInteger(x)) {
    return Math.abs(x) < 1e21 ? String(x === 0 ? 0 : x) : BigInt(x).toString();
  }
  // A non-integral double is below 2^53 in magnitude; from 1e-4 up, JS writes the same shortest
  // digits positionally, as Python's repr does (the hot case: `time`, most payload floats).
  const abs = x < 0 ? -x : x;
  if (abs >= 1e-4 && abs < 1e16) return String(x);
  return pyFloatRepr(x);
}

function pyNumberText(n: PyNumber): string {
  const t = n.text;
  if (t === "NaN" || t === "Infinity" || t === "-Infinity") return t;
  return n.isInt ? BigInt(t).toString() : pyFloatRepr(Number(t));
}

// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

/** A string as Python's `json` writes it with `ensure_ascii=True` (lower-case `\u` escapes). */
export function pyString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    if (i > from) out += s.slice(from, i);
    from = i + 1;
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += "\\\\";
        break;
      case 0x0a:
        out += "\\n";
        break;
      case 0x0d:
        out += "\\r";
        break;
      case 0x09:
        out += "\\t";
        break;
      case 0x08:
        out += "\\b";
        break;
      case 0x0c:
        out += "\\f";
        break;
      default:
        out += "\\u" + c.toString(16).padStart(4, "0");
    }
  }
  return out + s.slice(from) + '"';
}

/** Thrown for values JSON cannot hold (functions, symbols, cycles) when writing. */
export class PyJsonError extends TypeError {
  /** @param message What could not be written. */
  constructor(message: string) {
    super(message);
    this.name = "PyJsonError";
  }
}

const MAX_DEPTH = 200;

function prepare(value: unknown): unknown {
  if (value !== null && typeof value === "object" && !(value instanceof PyNumber)) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return toJSON.call(value);
  }
  return value;
}

function scalar(value: unknown, where: string): string | undefined {
  switch (typeof value) {
    case "string":
      return pyString(value);
    case "number":
      return pyNumber(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    default:
      if (value === null) return "null";
      if (value instanceof PyNumber) return pyNumberText(value);
      if (typeof value !== "object") throw new PyJsonError(`Cannot write ${where} as JSON`);
      return undefined;
  }
}

/**
 * `json.dumps(value)` as CPython writes it: `", "` and `": "` separators, ASCII only, keys in
 * insertion order (JS puts integer-like keys first), `NaN` / `Infinity` as bare tokens.
 *
 * @param value A JSON value (`undefined`, functions and symbols are skipped in objects and
 *   written as `null` in arrays, as `JSON.stringify` does).
 * @returns The JSON text.
 * @throws {PyJsonError} On a cycle (more than 200 levels) or a value JSON cannot hold.
 */
export function pyDumps(value: unknown): string {
  return dumps(prepare(value), 0, "value") ?? "null";
}

function dumps(value: unknown, depth: number, where: string): string | undefined {
  const s = scalar(value, where);
  if (s !== undefined || value === undefined || typeof value !== "object" || value === null) {
    return s;
  }
  if (value instanceof PyNumber) return pyNumberText(value);
  if (depth > MAX_DEPTH) throw new PyJsonError(`Cannot write ${where}: nested too deeply (cycle?)`);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ", ";
      out += dumps(prepare(value[i]), depth + 1, where) ?? "null";
    }
    return out + "]";
  }
  let out = "{";
  let first = true;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const v = dumps(prepare((value as Record<string, unknown>)[key]), depth + 1, where);
    if (v === undefined) continue;
    out += (first ? "" : ", ") + pyString(key) + ": " + v;
    first = false;
  }
  return out + "}";
}

const HIGH_UNIT = /[\ud800-\uffff]/;

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n;) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

/** Sorts keys by Unicode code point, as Python's `sort_keys=True` does. */
export function sortKeysPython(keys: string[]): string[] {
  if (keys.some((k) => HIGH_UNIT.test(k))) return keys.sort(compareCodePoints);
  return keys.sort();
}

/**
 * The top-level members of `value` in canonical form (`"key":value`), sorted as Python sorts
 * them; {@linkcode pyCanon} joins them. Exposed so a signature member can be inserted without
 * writing the message twice.
 *
 * @param value A plain object.
 * @returns Pairs of key and canonical member text, in sorted order.
 */
export function canonMembers(value: Record<string, unknown>): [string, string][] {
  const keys: string[] = [];
  for (const key in value) {
    if (Object.hasOwn(value, key)) keys.push(key);
  }
  sortKeysPython(keys);
  const out: [string, string][] = [];
  for (const key of keys) {
    const v = canon(prepare(value[key]), 1, "value");
    if (v !== undefined) out.push([key, pyString(key) + ":" + v]);
  }
  return out;
}

/** Joins canonical members into an object's canonical text. */
export function joinCanonMembers(members: readonly string[]): string {
  return members.length === 0 ? "{}" : "{\n" + members.join(",\n") + "\n}";
}

/**
 * `json.dumps(value, indent=0, sort_keys=True, separators=(",", ":"))`: the canonical text
 * eventhive signs with HMAC-SHA1.
 *
 * @param value A JSON value.
 * @returns The canonical text (UTF-8 encode it to sign).
 * @throws {PyJsonError} On a cycle or a value JSON cannot hold.
 */
export function pyCanon(value: unknown): string {
  return canon(prepare(value), 0, "value") ?? "null";
}

function canon(value: unknown, depth: number, where: string): string | undefined {
  const s = scalar(value, where);
  if (s !== undefined || value === undefined || typeof value !== "object" || value === null) {
    return s;
  }
  if (value instanceof PyNumber) return pyNumberText(value);
  if (depth > MAX_DEPTH) throw new PyJsonError(`Cannot write ${where}: nested too deeply (cycle?)`);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const items: string[] = [];
    for (const item of value) items.push(canon(prepare(item), depth + 1, where) ?? "null");
    return "[\n" + items.join(",\n") + "\n]";
  }
  const keys: string[] = [];
  for (const key in value) {
    if (Object.hasOwn(value, key)) keys.push(key);
  }
  sortKeysPython(keys);
  const members: string[] = [];
  for (const key of keys) {
    const v = canon(prepare((value as Record<string, unknown>)[key]), depth + 1, where);
    if (v !== undefined) members.push(pyString(key) + ":" + v);
  }
  return joinCanonMembers(members);
}

/** Thrown by {@linkcode pyParse} for text that is not JSON as Python reads it. */
export class PyJsonSyntaxError extends SyntaxError {
  /** @param message Where and why parsing failed. */
  constructor(message: string) {
    super(message);
    this.name = "PyJsonSyntaxError";
  }
}

/** Options of {@linkcode pyParse}. */
export interface PyParseOptions {
  /** Keep every number as a {@linkcode PyNumber} with its exact source text. */
  lossless?: boolean;
}

/**
 * Whether a parsed value holds an integral number beyond 2^53 (JSON.parse may have rounded an
 * integer literal; the slow path reads such literals as `bigint`). Walking the parsed value is
 * cheaper than scanning the text first (the hot path: every received message).
 */
function hasUnsafeInteger(v: unknown, depth = 0): boolean {
  if (typeof v === "number") return (v > MAX_SAFE || v < -MAX_SAFE) && Number.isFinite(v);
  if (typeof v !== "object" || v === null || depth > MAX_DEPTH) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasUnsafeInteger(v[i], depth + 1)) return true;
    return false;
  }
  for (const key in v) {
    if (hasUnsafeInteger((v as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * `json.loads(text)`: JSON plus the `NaN`, `Infinity` and `-Infinity` tokens Python writes;
 * integers beyond `Number.MAX_SAFE_INTEGER` become `bigint` (or, with `lossless`, every number is
 * a {@linkcode PyNumber}).
 *
 * @param text The JSON text.
 * @param options `lossless` keeps numbers as written.
 * @returns The value.
 * @throws {SyntaxError} When the text is not JSON.
 */
export function pyParse(text: string, options: PyParseOptions = {}): unknown {
  if (!options.lossless) {
    try {
      const value = JSON.parse(text);
      if (!hasUnsafeInteger(value)) return value;
    } catch (err) {
      // Python's extra tokens are the only reason to look further.
      if (!/NaN|Infinity/.test(text)) throw err;
    }
  }
  return new Parser(text, options.lossless === true).parseDocument();
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class Parser {
  #text: string;
  #at = 0;
  #lossless: boolean;

  constructor(text: string, lossless: boolean) {
    this.#text = text;
    this.#lossless = lossless;
  }

  parseDocument(): unknown {
    this.#ws();
    const value = this.#value(0);
    this.#ws();
    if (this.#at < this.#text.length) this.#fail("unexpected text after the value");
    return value;
  }

  #fail(what: string): never {
    throw new PyJsonSyntaxError(`Invalid JSON at position ${this.#at}: ${what}`);
  }

  #ws(): void {
    const t = this.#text;
    while (this.#at < t.length) {
      const c = t.charCodeAt(this.#at);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.#at++;
      else break;
    }
  }

  #value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.#fail("nested too deeply");
    const t = this.#text;
    const c = t[this.#at];
    switch (c) {
      case "{":
        return this.#object(depth);
      case "[":
        return this.#array(depth);
      case '"':
        return this.#string();
      case "t":
        return this.#word("true", true);
      case "f":
        return this.#word("false", false);
      case "n":
        return this.#word("null", null);
      case "N":
        return this.#word("NaN", this.#lossless ? new PyNumber("NaN") : NaN);
      case "I":
        return this.#word("Infinity", this.#lossless ? new PyNumber("Infinity") : Infinity);
      default:
        if (t.startsWith("-Infinity", this.#at)) {
          return this.#word("-Infinity", this.#lossless ? new PyNumber("-Infinity") : -Infinity);
        }
        return this.#number();
    }
  }

  #word<T>(word: string, value: T): T {
    if (!this.#text.startsWith(word, this.#at)) this.#fail(`expected ${word}`);
    this.#at += word.length;
    return value;
  }

  #number(): unknown {
    NUMBER.lastIndex = this.#at;
    const m = NUMBER.exec(this.#text);
    if (m === null) this.#fail("expected a value");
    const text = m[0];
    this.#at += text.length;
    if (this.#lossless) return new PyNumber(text);
    const isInt = !/[.eE]/.test(text);
    const n = Number(text);
    if (isInt && !Number.isSafeInteger(n)) return BigInt(text);
    return n;
  }

  #string(): string {
    const t = this.#text;
    const start = this.#at;
    let i = start + 1;
    let escaped = false;
    for (; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c === 0x5c) {
        escaped = true;
        i++;
      } else if (c === 0x22) break;
    }
    if (i >= t.length) this.#fail("unterminated string");
    this.#at = i + 1;
    const raw = t.slice(start, i + 1);
    if (!escaped) {
      // deno-lint-ignore no-control-regex
      if (/[\u0000-\u001f]/.test(raw)) this.#fail("control character in a string");
      return raw.slice(1, -1);
    }
    try {
      return JSON.parse(raw);
    } catch {
      this.#fail("bad escape in a string");
    }
  }

  #array(depth: number): unknown[] {
    this.#at++;
    const out: unknown[] = [];
    this.#ws();
    if (this.#text[this.#at] === "]") {
      this.#at++;
      return out;
    }
    for (;;) {
      this.#ws();
      out.push(this.#value(depth + 1));
      this.#ws();
      const c = this.#text[this.#at++];
      if (c === "]") return out;
      if (c !== ",") this.#fail("expected , or ]");
    }
  }

  #object(depth: number): Record<string, unknown> {
    this.#at++;
    const out: Record<string, unknown> = {};
    this.#ws();
    if (this.#text[this.#at] === "}") {
      this.#at++;
      return out;
    }
    for (;;) {
      this.#ws();
      if (this.#text[this.#at] !== '"') this.#fail("expected a key");
      const key = this.#string();
      this.#ws();
      if (this.#text[this.#at++] !== ":") this.#fail("expected :");
      this.#ws();
      const value = this.#value(depth + 1);
      if (key === "__proto__") {
        Object.defineProperty(out, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else out[key] = value;
      this.#ws();
      const c = this.#text[this.#at++];
      if (c === "}") return out;
      if (c !== ",") this.#fail("expected , or }");
    }
  }
}

/**
 * Removes the top-level member `"<key>":"<string>"` from canonical text (see
 * {@linkcode pyCanon}) together with its adjoining `,\n`, tracking depth so that the same key
 * nested in user data is left alone. The result is exactly the text the sender signed.
 *
 * @param text Canonical JSON of an object.
 * @param key The member to remove (eventhive: `__sign__`).
 * @returns The text without the member and the member's string value, or `undefined` when the
 *   member is absent, not a string, or the text is not in canonical layout around it.
 */
export function exciseCanonMember(
  text: string,
  key: string,
): { rest: string; value: string } | undefined {
  if (text.charCodeAt(0) !== 0x7b) return undefined;
  const quoted = pyString(key);
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      if (depth === 1 && expectKey) {
        expectKey = false;
        if (i + 1 - start === quoted.length && text.startsWith(quoted, start)) {
          return excise(text, start, i + 1);
        }
      }
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c && depth === 1) expectKey = true;
  }
  return undefined;
}

function excise(
  text: string,
  start: number,
  keyEnd: number,
): { rest: string; value: string } | undefined {
  if (text.charCodeAt(keyEnd) !== 0x3a || text.charCodeAt(keyEnd + 1) !== 0x22) return undefined;
  let i = keyEnd + 2;
  for (; i < text.length; i++) {
    const d = text.charCodeAt(i);
    if (d === 0x5c) i++;
    else if (d === 0x22) break;
  }
  const end = i + 1;
  let value: string;
  try {
    value = JSON.parse(text.slice(keyEnd + 1, end));
  } catch {
    return undefined;
  }
  const before = text.slice(start - 2, start);
  const after = text.slice(end, end + 2);
  if (before === ",\n") return { rest: text.slice(0, start - 2) + text.slice(end), value };
  if (before === "{\n" && after === ",\n") {
    return { rest: text.slice(0, start) + text.slice(end + 2), value };
  }
  if (before === "{\n" && after === "\n}" && end + 2 === text.length && start === 2) {
    return { rest: "{}", value };
  }
  return undefined;
}
