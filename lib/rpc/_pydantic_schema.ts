/**
 * JSON Schema in pydantic's shape, from zod schemas: what `Model.model_json_schema()` writes for the
 * equivalent pydantic model, so a syft app's `rpc.schema.json` reads like a Python app's.
 *
 * A converter of its own for the subset of zod that request and response models use, rather
 * than a post-processing of `z.toJSONSchema()`: the two differ in almost every node (titles from
 * property names, nested models in `$defs` behind `$ref`s without titles, nullable as `anyOf`,
 * `"default": null` for optional fields, no ±2^53 bounds on integers, no `additionalProperties:
 * false` on plain objects, key order), so rewriting zod's output would be a converter anyway.
 *
 * Mapping (zod → pydantic): `z.object` → a `BaseModel` (named by `.meta({ title })` or `id`,
 * else after its property; `z.strictObject` → `extra="forbid"`, `z.looseObject` → `extra="allow"`);
 * `.optional()` → `= None`; `.nullable()` → `Optional[...]`; `.default(v)` → `= v`;
 * `z.enum` → `Literal[...]`, or an `Enum` class when named with `.meta({ title })`; `z.literal`
 * → `Literal`; `z.int()`/`.int()` → `int`, `z.number()` → `float`, with `ge`/`gt`/`le`/`lt`/
 * `multiple_of`; `z.string()` with `min_length`/`max_length`/`pattern` and formats (email, url,
 * uuid, ISO date-times); arrays, tuples, sets, records (`dict[str, ...]`), unions (discriminated
 * ones as pydantic's `discriminator`), `z.any()`/`z.unknown()` → `Any`; `.describe()` and other
 * `.meta()` keys → `Field(description=..., ...)`. Anything else is described as `Any` (`{}`).
 *
 * @module
 */
import { z } from "zod";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type ZodAny = z.core.$ZodType;
interface Def {
  type: string;
  [key: string]: unknown;
}

function def(schema: ZodAny): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

function parentOf(schema: ZodAny): ZodAny | undefined {
  return (schema as unknown as { _zod: { parent?: ZodAny } })._zod.parent;
}

function metaOf(schema: ZodAny): Record<string, unknown> {
  return (z.globalRegistry.get(schema as z.ZodType) ?? {}) as Record<string, unknown>;
}

/** Metadata registered on `schema` itself (not inherited from the schema it was cloned from). */
function ownMeta(schema: ZodAny): Record<string, unknown> {
  const all = metaOf(schema);
  const parent = parentOf(schema);
  if (parent === undefined) return all;
  const inherited = metaOf(parent);
  const own: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(all)) if (inherited[k] !== v) own[k] = v;
  return own;
}

/** Python's `str.title()`, then `_` → space, stripped: pydantic's title of a field name. */
export function pythonTitle(name: string): string {
  let out = "";
  let previousCased = false;
  for (const ch of name) {
    const cased = /[\p{Lu}\p{Ll}\p{Lt}]/u.test(ch);
    // Title case is the upper case's first letter (ß → Ss, as Python; JavaScript has no title case).
    const [first = "", ...rest] = ch.toUpperCase();
    out += cased ? (previousCased ? ch.toLowerCase() : first + rest.join("").toLowerCase()) : ch;
    previousCased = cased;
  }
  return out.replaceAll("_", " ").trim();
}

function pascal(name: string): string {
  return name.split(/[^\p{L}\p{N}]+/u).filter(Boolean).map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join("") || "Model";
}

/** Compares strings by code point, as Python's `sorted()`. */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * pydantic's key order (`GenerateJsonSchema.sort`): keys sorted at every level except directly
 * inside `properties` and `default`, which keep their order.
 */
export function sortLikePydantic(value: Json, parentKey?: string): Json {
  if (Array.isArray(value)) return value.map((v) => sortLikePydantic(v, parentKey));
  if (value === null || typeof value !== "object") return value;
  let keys = Object.keys(value);
  if (parentKey !== "properties" && parentKey !== "default") keys = keys.sort(byCodePoint);
  const out: JsonObject = {};
  for (const k of keys) out[k] = sortLikePydantic(value[k]!, k);
  return out;
}

/** A JSON value of a default (a `Date` as its ISO string, `undefined` dropped). */
function jsonValue(value: unknown): Json | undefined {
  if (value === undefined) return undefined;
  try {
    const text = JSON.stringify(value, (_k, v) => typeof v === "bigint" ? Number(v) : v);
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface CheckDef {
  check?: string;
  [key: string]: unknown;
}

/** The checks of a schema: its own (`z.int()`, `z.email()` are checks) and those added to it. */
function checksOf(d: Def): CheckDef[] {
  const list: CheckDef[] = [];
  if (typeof d.check === "string") list.push(d as CheckDef);
  for (const c of (d.checks ?? []) as { _zod: { def: CheckDef } }[]) list.push(c._zod.def);
  return list;
}

const STRING_FORMATS: Record<string, string> = {
  email: "email",
  url: "uri",
  uuid: "uuid",
  guid: "uuid",
  datetime: "date-time",
  date: "date",
  time: "time",
  duration: "duration",
  ipv4: "ipv4",
  ipv6: "ipv6",
  base64: "base64",
};

const NUMBER_BOUNDS: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  float32: [-3.4028234663852886e38, 3.4028234663852886e38],
};

function literalType(values: readonly unknown[]): string | undefined {
  const kinds = new Set(values.map((v) => {
    if (v === null) return "null";
    if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
    if (typeof v === "string") return "string";
    if (typeof v === "boolean") return "boolean";
    if (typeof v === "bigint") return "integer";
    return "other";
  }));
  return kinds.size === 1 && !kinds.has("other") ? [...kinds][0] : undefined;
}

/** What wraps a field's type: whether it may be missing, may be null, its default, its meta. */
interface Unwrapped {
  inner: ZodAny;
  optional: boolean;
  nullable: boolean;
  defaultValue?: Json;
  /** Field-level metadata (from the wrappers, outermost first wins). */
  meta: Record<string, unknown>;
}

function unwrap(schema: ZodAny): Unwrapped {
  let s = schema;
  const out: Unwrapped = { inner: s, optional: false, nullable: false, meta: {} };
  const addMeta = (m: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(m)) if (!(k in out.meta)) out.meta[k] = v;
  };
  for (let i = 0; i < 64; i++) {
    const d = def(s);
    if (d.type === "optional" || d.type === "default" || d.type === "prefault") {
      addMeta(ownMeta(s));
      out.optional = true;
      if (d.type !== "optional" && !("defaultValue" in out)) {
        const v = jsonValue(d.defaultValue);
        if (v !== undefined) out.defaultValue = v;
      }
      s = d.innerType as ZodAny;
    } else if (d.type === "nullable") {
      addMeta(ownMeta(s));
      out.nullable = true;
      s = d.innerType as ZodAny;
    } else if (d.type === "readonly" || d.type === "catch" || d.type === "nonoptional") {
      addMeta(ownMeta(s));
      s = d.innerType as ZodAny;
    } else if (d.type === "pipe") {
      addMeta(ownMeta(s));
      const from = d.in as ZodAny;
      s = def(from).type === "transform" ? d.out as ZodAny : from;
    } else if (d.type === "lazy") {
      addMeta(ownMeta(s));
      s = (d.getter as () => ZodAny)();
    } else break;
  }
  out.inner = s;
  return out;
}

/** Builds one pydantic-shaped model schema, collecting nested models into `$defs`. */
class Converter {
  readonly defs = new Map<string, JsonObject>();
  /** Named schemas already converted (or being converted): schema → `$defs` key. */
  #named = new Map<ZodAny, string>();
  #root: ZodAny | undefined;
  rootReferenced = false;

  /** The root model's schema (`title` overrides the schema's own title meta). */
  root(schema: ZodAny, name: string, title?: string): JsonObject {
    const { inner } = unwrap(schema);
    this.#root = this.#modelBase(inner);
    this.#named.set(this.#root, name);
    const body = this.#modelBody(this.#root, name);
    if (title !== undefined) body.title = title;
    if (!this.rootReferenced) {
      const out: JsonObject = {};
      if (this.defs.size > 0) out.$defs = Object.fromEntries(this.defs);
      Object.assign(out, body);
      return sortLikePydantic(out) as JsonObject;
    }
    // A recursive root: pydantic writes it into $defs and refers to it.
    this.defs.set(name, body);
    return sortLikePydantic({
      $defs: Object.fromEntries(this.defs),
      $ref: `#/$defs/${name}`,
    }) as JsonObject;
  }

  /**
   * The schema a model is: a `.describe()` clone of a model is that model (its description is the
   * field's, not the model's), as is a clone with other field-level meta.
   */
  #modelBase(schema: ZodAny): ZodAny {
    let s = schema;
    for (let i = 0; i < 64; i++) {
      const p = parentOf(s);
      if (p === undefined || def(p) !== def(s)) break;
      const own = ownMeta(s);
      if ("title" in own || "id" in own) break;
      s = p;
    }
    return s;
  }

  #modelBody(schema: ZodAny, name: string): JsonObject {
    const d = def(schema);
    const meta = metaOf(schema);
    const properties: JsonObject = {};
    const required: string[] = [];
    const shape = (d.shape ?? {}) as Record<string, ZodAny>;
    for (const key of Object.keys(shape)) {
      const field = shape[key]!;
      const { json, optional } = this.#field(field, key);
      properties[key] = json;
      if (!optional) required.push(key);
    }
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(meta)) {
      if (k === "id" || k === "title") continue;
      const j = jsonValue(v);
      if (j !== undefined) out[k] = j;
    }
    out.properties = properties;
    if (required.length > 0) out.required = required;
    out.title = typeof meta.title === "string" ? meta.title : name;
    out.type = "object";
    const catchall = d.catchall as ZodAny | undefined;
    if (catchall !== undefined) {
      const t = def(catchall).type;
      out.additionalProperties = t === "never"
        ? false
        : t === "unknown" || t === "any"
        ? true
        : this.#type(catchall, `${name}Value`).json;
    }
    return out;
  }

  /** A named model or enum: its `$defs` key (converted on first use). */
  #ref(schema: ZodAny, fallback: string, build: (name: string) => JsonObject): JsonObject {
    let name = this.#named.get(schema);
    if (name === undefined) {
      const meta = metaOf(schema);
      const base = typeof meta.id === "string"
        ? meta.id
        : typeof meta.title === "string"
        ? meta.title
        : fallback;
      name = base;
      for (let n = 2; this.defs.has(name) || [...this.#named.values()].includes(name); n++) {
        name = `${base}${n}`;
      }
      this.#named.set(schema, name);
      this.defs.set(name, {}); // reserved (recursion)
      const built = build(name);
      // The same model written twice (two zod objects alike): one definition, as pydantic.
      const same = [...this.defs].find(([k, v]) =>
        k !== name && (k === base || (k.startsWith(base) && /^\d+$/.test(k.slice(base.length)))) &&
        JSON.stringify(v) === JSON.stringify(built)
      );
      if (same !== undefined) {
        this.defs.delete(name);
        this.#named.set(schema, same[0]);
        name = same[0];
      } else this.defs.set(name, built);
    } else if (schema === this.#root) this.rootReferenced = true;
    return { $ref: `#/$defs/${name}` };
  }

  /** A property of a model: its schema and whether it may be left out. */
  #field(schema: ZodAny, key: string): { json: JsonObject; optional: boolean } {
    const u = unwrap(schema);
    const { json: core, titled, meta: innerMeta } = this.#type(u.inner, pascal(key));
    const json = u.nullable ? orNull(core) : core;
    const meta = { ...innerMeta, ...u.meta };
    const out: JsonObject = { ...json };
    for (const [k, v] of Object.entries(meta)) {
      if (k === "id" || k === "title") continue;
      const j = jsonValue(v);
      if (j !== undefined) out[k] = j;
    }
    if (u.optional) out.default = u.defaultValue ?? null;
    if (typeof meta.title === "string") out.title = meta.title;
    else if (titled) out.title = pythonTitle(key);
    return { json: out, optional: u.optional };
  }

  /**
   * The schema of a type (not a property): `titled` says whether pydantic would give a property
   * of this type a title (not for models and enums, which have their own); `meta` is the type's
   * own metadata that belongs to the field (a description of a string, say).
   */
  #type(
    schema: ZodAny,
    fallback: string,
  ): { json: JsonObject; titled: boolean; meta: Record<string, unknown> } {
    const u = unwrap(schema);
    const s = u.inner;
    const d = def(s);
    const wrapped = (json: JsonObject): JsonObject => u.nullable ? orNull(json) : json;
    if (d.type === "object") {
      const base = this.#modelBase(s);
      const own = s === base ? {} : ownMeta(s);
      return {
        json: wrapped(this.#ref(base, fallback, (name) => this.#modelBody(base, name))),
        titled: false,
        meta: { ...own, ...u.meta },
      };
    }
    const meta = { ...metaOf(s), ...u.meta };
    const named = typeof metaOf(s).title === "string" || typeof metaOf(s).id === "string";
    if (d.type === "enum" && named) {
      const values = enumValues(s);
      return {
        json: wrapped(this.#ref(s, fallback, (name) => {
          const m = metaOf(s);
          const body: JsonObject = {};
          if (typeof m.description === "string") body.description = m.description;
          body.enum = values as Json[];
          body.title = typeof m.title === "string" ? m.title : name;
          const t = literalType(values);
          if (t !== undefined) body.type = t;
          return body;
        })),
        titled: false,
        meta: u.meta,
      };
    }
    return { json: wrapped(this.#plain(s, d, fallback)), titled: true, meta };
  }

  #plain(schema: ZodAny, d: Def, fallback: string): JsonObject {
    switch (d.type) {
      case "string": {
        const out: JsonObject = {};
        for (const c of checksOf(d)) {
          if (c.check === "min_length") out.minLength = c.minimum as number;
          else if (c.check === "max_length") out.maxLength = c.maximum as number;
          else if (c.check === "length_equals") out.minLength = out.maxLength = c.length as number;
          else if (c.check === "string_format") {
            const format = c.format as string;
            if (format === "regex" || format === "starts_with" || format === "ends_with") {
              if (out.pattern === undefined) out.pattern = (c.pattern as RegExp).source;
            } else if (format === "uuid" && c.version === "v4") out.format = "uuid4";
            else if (STRING_FORMATS[format] !== undefined) out.format = STRING_FORMATS[format]!;
          }
        }
        out.type = "string";
        return out;
      }
      case "template_literal": {
        const pattern = (schema as unknown as { _zod: { pattern?: RegExp } })._zod.pattern;
        return pattern === undefined
          ? { type: "string" }
          : { pattern: pattern.source, type: "string" };
      }
      case "number":
      case "bigint": {
        const out: JsonObject = {};
        let integer = d.type === "bigint";
        for (const c of checksOf(d)) {
          if (c.check === "number_format") {
            const format = c.format as string;
            if (/int/.test(format)) integer = true;
            const bounds = NUMBER_BOUNDS[format];
            if (bounds !== undefined) [out.minimum, out.maximum] = bounds;
          } else if (c.check === "greater_than") {
            delete out.minimum;
            out[c.inclusive ? "minimum" : "exclusiveMinimum"] = Number(c.value);
          } else if (c.check === "less_than") {
            delete out.maximum;
            out[c.inclusive ? "maximum" : "exclusiveMaximum"] = Number(c.value);
          } else if (c.check === "multiple_of") out.multipleOf = Number(c.value);
        }
        out.type = integer ? "integer" : "number";
        return out;
      }
      case "int":
        return { type: "integer" };
      case "boolean":
        return { type: "boolean" };
      case "null":
        return { type: "null" };
      case "date":
        return { format: "date-time", type: "string" };
      case "enum": {
        const values = enumValues(schema);
        const out: JsonObject = values.length === 1
          ? { const: values[0] as Json }
          : { enum: values as Json[] };
        const t = literalType(values);
        if (t !== undefined) out.type = t;
        return out;
      }
      case "literal": {
        const values = (d.values as unknown[]).map((v) => typeof v === "bigint" ? Number(v) : v);
        const out: JsonObject = values.length === 1
          ? { const: values[0] as Json }
          : { enum: values as Json[] };
        const t = literalType(values);
        if (t !== undefined) out.type = t;
        return out;
      }
      case "array":
      case "set": {
        const item = d.type === "array" ? d.element : d.valueType;
        const out: JsonObject = { items: this.#type(item as ZodAny, `${fallback}Item`).json };
        for (const c of checksOf(d)) {
          if (c.check === "min_length" || c.check === "min_size") {
            out.minItems = c.minimum as number;
          } else if (c.check === "max_length" || c.check === "max_size") {
            out.maxItems = c.maximum as number;
          } else if (c.check === "length_equals" || c.check === "size_equals") {
            out.minItems = out.maxItems = (c.length ?? c.size) as number;
          }
        }
        out.type = "array";
        if (d.type === "set") out.uniqueItems = true;
        return out;
      }
      case "tuple": {
        const items = (d.items as ZodAny[]).map((t, i) =>
          this.#type(t, `${fallback}${i + 1}`).json
        );
        const rest = d.rest as ZodAny | null | undefined;
        if (items.length === 0 && rest) {
          return { items: this.#type(rest, `${fallback}Item`).json, type: "array" };
        }
        const out: JsonObject = {};
        if (rest) out.items = this.#type(rest, `${fallback}Item`).json;
        else out.maxItems = items.length;
        out.minItems = items.length;
        out.prefixItems = items;
        out.type = "array";
        return out;
      }
      case "record":
      case "map": {
        const value = d.valueType as ZodAny;
        const t = def(unwrap(value).inner).type;
        return {
          additionalProperties: t === "any" || t === "unknown"
            ? true
            : this.#type(value, `${fallback}Value`).json,
          type: "object",
        };
      }
      case "union": {
        const options = d.options as ZodAny[];
        const discriminator = d.discriminator as string | undefined;
        const parts = options.map((o, i) => this.#type(o, `${fallback}${i + 1}`).json);
        if (discriminator !== undefined) {
          const mapping: JsonObject = {};
          let ok = true;
          options.forEach((o, i) => {
            const ref = parts[i]!.$ref;
            const field = (def(unwrap(o).inner).shape as Record<string, ZodAny> | undefined)
              ?.[discriminator];
            const fd = field === undefined ? undefined : def(unwrap(field).inner);
            const values = fd?.type === "literal"
              ? fd.values as unknown[]
              : fd?.type === "enum"
              ? enumValues(unwrap(field!).inner)
              : undefined;
            if (typeof ref !== "string" || values === undefined) ok = false;
            else for (const v of values) mapping[String(v)] = ref;
          });
          if (ok) return { discriminator: { mapping, propertyName: discriminator }, oneOf: parts };
        }
        return { anyOf: parts };
      }
      case "intersection":
        return {
          allOf: [
            this.#type(d.left as ZodAny, `${fallback}1`).json,
            this.#type(d.right as ZodAny, `${fallback}2`).json,
          ],
        };
      default:
        return {}; // any, unknown and what JSON cannot carry: pydantic's Any
    }
  }
}

/** `Optional[X]`: `anyOf` with null last (a union's options stay flat, as typing flattens them). */
function orNull(json: JsonObject): JsonObject {
  return Object.keys(json).length === 1 && Array.isArray(json.anyOf)
    ? { anyOf: [...json.anyOf, { type: "null" }] }
    : { anyOf: [json, { type: "null" }] };
}

function enumValues(schema: ZodAny): unknown[] {
  const options = (schema as unknown as { options?: unknown[] }).options;
  if (Array.isArray(options)) return options;
  return Object.values((def(schema).entries ?? {}) as Record<string, unknown>);
}

/**
 * The JSON Schema pydantic's `model_json_schema()` writes for the model equivalent to a zod object
 * schema (see the module doc for the mapping).
 *
 * @param schema The zod object schema (wrappers such as `.optional()` are looked through).
 * @param name The model's name (its `title` unless the schema has a `title` meta).
 * @param options `title`: the title, whatever the meta says.
 */
export function pydanticModelSchema(
  schema: ZodAny,
  name: string,
  options: { title?: string | undefined } = {},
): Record<string, unknown> {
  return new Converter().root(schema, name, options.title);
}

/** Python's `repr()` of a float, for a JSON number that is not an integer. */
function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (Number.isInteger(x)) {
    return Math.abs(x) < 1e21 ? String(x) : BigInt(x).toString();
  }
  const [mantissa, exp] = x.toExponential().split("e") as [string, string];
  const e = Number(exp);
  // repr() switches to exponent notation below 1e-4 (JavaScript: below 1e-6).
  if (e < -4) return `${mantissa}e-${String(-e).padStart(2, "0")}`;
  return String(x);
}

/** A JSON string as Python's `json.dumps` writes it (`ensure_ascii`: `\u00e9`, surrogate pairs). */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/**
 * `json.dumps(value, indent=2)` as Python writes it: `ensure_ascii` escapes, Python's float
 * `repr()` (`1e-05`), `", "`/`": "` separators, no trailing newline.
 *
 * @param value A JSON value.
 * @param indent Spaces per level.
 */
export function pythonJson(value: unknown, indent = 2): string {
  const write = (v: unknown, level: number): string => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "number") return pythonFloat(v);
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "string") return pythonString(v);
    const pad = " ".repeat(indent * (level + 1));
    const end = " ".repeat(indent * level);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return `[\n${v.map((x) => pad + write(x, level + 1)).join(",\n")}\n${end}]`;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return "{}";
    return `{\n${
      entries.map(([k, x]) => `${pad}${pythonString(k)}: ${write(x, level + 1)}`).join(",\n")
    }\n${end}}`;
  };
  return write(value, 0);
}
