/**
 * Error bodies in FastAPI's shape, so clients written for the real syft-proxy (a FastAPI app) read
 * the proxy's errors unchanged (private): `detail` is a string for HTTP errors and, for 422
 * validation errors, a list of pydantic-style items `{type, loc, msg, input[, ctx]}` with `loc`
 * starting at `body`, `query` or `path`; a body that is not JSON is a `json_invalid` item whose
 * position and text are those of Python's `json` module.
 *
 * @module
 */

/** One item of a 422 `detail` list, as FastAPI (pydantic 2, `include_url=False`) writes it. */
export interface DetailItem {
  /** The pydantic error type, such as `missing` or `string_too_short`. */
  type: string;
  /** Where: `["body", "app_name"]`, `["query", "blocking"]`, `["body", 17]` for JSON errors. */
  loc: (string | number)[];
  /** The pydantic message, such as `Field required`. */
  msg: string;
  /** The value that failed (for `missing`: the object the field is missing from). */
  input: unknown;
  /** Extra facts of some types (`{min_length: 3}`). */
  ctx?: Record<string, unknown>;
}

/** A zod issue as far as the mapping needs it. */
export interface IssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly expected?: unknown;
  readonly origin?: unknown;
  readonly minimum?: unknown;
  readonly maximum?: unknown;
  readonly values?: readonly unknown[] | undefined;
  readonly params?: Record<string, unknown> | undefined;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function pyRepr(value: unknown): string {
  return typeof value === "string" ? `'${value}'` : String(value);
}

/** pydantic's "a, b or c" list of expected values. */
function expectedList(values: readonly unknown[]): string {
  const shown = values.map(pyRepr);
  return shown.length <= 1
    ? shown.join("")
    : `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`;
}

/** The item of a value of the wrong type, or of a missing one. */
function typeItem(
  issue: IssueLike,
  where: "body" | "query" | "path",
  data: unknown,
  item: (type: string, msg: string, ctx?: Record<string, unknown>) => DetailItem,
): DetailItem {
  const input = valueAt(data, issue.path);
  if (input === undefined) {
    // pydantic's `input` of a missing field is the object it is missing from.
    const missing = item("missing", "Field required");
    return {
      ...missing,
      input: issue.path.length > 0 ? valueAt(data, issue.path.slice(0, -1)) : null,
    };
  }
  switch (issue.expected) {
    case "string":
      return item("string_type", "Input should be a valid string");
    case "boolean":
      return item("bool_type", "Input should be a valid boolean");
    case "number":
    case "int":
      return item("float_type", "Input should be a valid number");
    case "array":
      return item("list_type", "Input should be a valid list");
    case "object":
    case "record":
      return issue.path.length === 0 && where === "body"
        ? item(
          "model_attributes_type",
          "Input should be a valid dictionary or object to extract fields from",
        )
        : item("dict_type", "Input should be a valid dictionary");
    default:
      return item("value_error", `Value error, ${issue.message}`);
  }
}

/**
 * Maps zod issues to FastAPI's 422 items. Types pydantic shares with zod keep pydantic's type and
 * message (`missing`, `string_type`, `string_too_short`, `dict_type`, `bool_type`, `enum`, ...);
 * a custom check may name its pydantic type in `params.type` (and message in `params.msg`); the
 * proxy's own checks, which pydantic does not make, are `value_error` items.
 *
 * @param issues The zod issues.
 * @param where `body`, `query` or `path`.
 * @param data The value that was validated (for `input`).
 */
export function detailItems(
  issues: readonly IssueLike[],
  where: "body" | "query" | "path",
  data: unknown,
): DetailItem[] {
  return issues.map((issue) => {
    const path = issue.path.map((k) => typeof k === "number" ? k : String(k));
    const loc = [where, ...path];
    const input = valueAt(data, issue.path);
    const item = (type: string, msg: string, ctx?: Record<string, unknown>): DetailItem =>
      ctx === undefined ? { type, loc, msg, input } : { type, loc, msg, input, ctx };
    if (issue.params?.type !== undefined) {
      return item(String(issue.params.type), String(issue.params.msg ?? issue.message));
    }
    switch (issue.code) {
      case "invalid_type":
        return typeItem(issue, where, data, item);
      case "too_small":
        if (issue.origin === "string") {
          const n = Number(issue.minimum);
          return item(
            "string_too_short",
            `String should have at least ${n} character${n === 1 ? "" : "s"}`,
            { "min_length": n },
          );
        }
        if (issue.origin === "array") {
          const n = Number(issue.minimum);
          return item("too_short", `List should have at least ${n} item${n === 1 ? "" : "s"}`, {
            "field_type": "List",
            "min_length": n,
            "actual_length": Array.isArray(input) ? input.length : 0,
          });
        }
        return item("value_error", `Value error, ${issue.message}`);
      case "too_big":
        if (issue.origin === "string") {
          const n = Number(issue.maximum);
          return item(
            "string_too_long",
            `String should have at most ${n} character${n === 1 ? "" : "s"}`,
            { "max_length": n },
          );
        }
        return item("value_error", `Value error, ${issue.message}`);
      case "invalid_value": {
        const expected = expectedList(issue.values ?? []);
        return item("enum", `Input should be ${expected}`, { expected });
      }
      default:
        return item("value_error", `Value error, ${issue.message}`);
    }
  });
}

/**
 * FastAPI's item for a body that is not JSON: `{type: "json_invalid", loc: ["body", pos],
 * msg: "JSON decode error", input: {}, ctx: {error}}` with Python's position and message.
 *
 * @param text The body text.
 */
export function jsonInvalidItem(text: string): DetailItem {
  const { pos, msg } = pythonJsonError(text);
  return {
    type: "json_invalid",
    loc: ["body", pos],
    msg: "JSON decode error",
    input: {},
    ctx: { error: msg },
  };
}

const WS = new Set([" ", "\t", "\n", "\r"]);
const NUMBER_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/;

class JsonFault {
  constructor(readonly pos: number, readonly msg: string) {}
}

/**
 * Where and why Python's `json.loads` fails on `text` (its first error): the position in code
 * points and the message (`Expecting value`, `Expecting ',' delimiter`, `Extra data`, ...).
 * Strict JSON: `NaN` and `Infinity`, which Python reads, count as `Expecting value` here (the proxy
 * cannot carry them). Returns position 0 and `Expecting value` for text that parses.
 *
 * @param text The text.
 */
export function pythonJsonError(text: string): { pos: number; msg: string } {
  const s = Array.from(text); // code points, as Python indexes strings
  let i = 0;
  const skip = (): void => {
    while (i < s.length && WS.has(s[i]!)) i++;
  };
  const string = (): void => {
    const start = i;
    i++; // the opening quote
    while (true) {
      if (i >= s.length) throw new JsonFault(start, "Unterminated string starting at");
      const ch = s[i]!;
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === "\\") {
        const esc = s[i + 1];
        if (esc === undefined) throw new JsonFault(start, "Unterminated string starting at");
        if (esc === "u") {
          const hex = s.slice(i + 2, i + 6).join("");
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonFault(i + 1, "Invalid \\uXXXX escape");
          i += 6;
        } else if ('"\\/bfnrt'.includes(esc)) i += 2;
        else throw new JsonFault(i, "Invalid \\escape");
        continue;
      }
      if (ch.codePointAt(0)! < 0x20) throw new JsonFault(i, "Invalid control character at");
      i++;
    }
  };
  const value = (): void => {
    const ch = s[i];
    if (ch === '"') return string();
    if (ch === "{") {
      i++;
      skip();
      if (s[i] === "}") {
        i++;
        return;
      }
      while (true) {
        if (s[i] !== '"') {
          throw new JsonFault(i, "Expecting property name enclosed in double quotes");
        }
        string();
        skip();
        if (s[i] !== ":") throw new JsonFault(i, "Expecting ':' delimiter");
        i++;
        skip();
        value();
        skip();
        if (s[i] === "}") {
          i++;
          return;
        }
        if (s[i] !== ",") throw new JsonFault(i, "Expecting ',' delimiter");
        i++;
        skip();
      }
    }
    if (ch === "[") {
      i++;
      skip();
      if (s[i] === "]") {
        i++;
        return;
      }
      while (true) {
        value();
        skip();
        if (s[i] === "]") {
          i++;
          return;
        }
        if (s[i] !== ",") throw new JsonFault(i, "Expecting ',' delimiter");
        i++;
        skip();
      }
    }
    for (const word of ["null", "true", "false"]) {
      if (s.slice(i, i + word.length).join("") === word) {
        i += word.length;
        return;
      }
    }
    const m = NUMBER_RE.exec(s.slice(i, i + 400).join(""));
    if (m) {
      i += m[0].length;
      return;
    }
    throw new JsonFault(i, "Expecting value");
  };
  try {
    skip();
    value();
    skip();
    if (i < s.length) throw new JsonFault(i, "Extra data");
  } catch (err) {
    if (err instanceof JsonFault) return { pos: err.pos, msg: err.msg };
    // Nesting deeper than the stack (Python gives up there too): no position to report.
    return { pos: 0, msg: "Expecting value" };
  }
  return { pos: 0, msg: "Expecting value" };
}
