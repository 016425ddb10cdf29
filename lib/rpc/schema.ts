/**
 * `rpc.schema.json` in syft-event's format, derived from zod schemas, and `syft.pub.yaml`.
 *
 * @module
 */
import { z } from "zod";
import { pydanticModelSchema } from "./_pydantic_schema.ts";

/**
 * A type descriptor as syft-event writes it: a lower-case Python type name (`"str"`, `"int"`,
 * `"float"`, `"bool"`, `"dict"`, `"null"`, `"any"`, `"union"`), `{type: "array", items}`, or
 * `{type: "model", name, schema}` with a JSON Schema.
 */
export type TypeDescriptor =
  | string
  | { type: "array"; items: TypeDescriptor }
  | { type: "model"; name: string; schema: Record<string, unknown> };

/** One endpoint of `rpc.schema.json`. */
export interface EndpointSchema {
  /** The endpoint's description, or `null`. */
  description: string | null;
  /** The arguments: name → type and whether it is required. */
  args: Record<string, { type: TypeDescriptor; required: boolean }>;
  /** The return type. */
  returns: TypeDescriptor;
}

/**
 * The `syft.pub.yaml` syft-event writes into `app_data/<app>/rpc/` (current format, verbatim: it
 * starts with a blank line, as Python's copy does).
 */
export const RPC_PERMISSIONS_YAML: string = `
rules:
- pattern: rpc.schema.json
  access:
    read:
    - '*'
- pattern: '**/{{.UserEmail}}/*.request'
  access:
    read:
    - 'USER'
    write:
    - 'USER'
- pattern: '**/{{.UserEmail}}/*.response'
  access:
    read:
    - 'USER'
    write:
    - 'USER'
`;

/**
 * A validator following the Standard Schema spec (v1): zod 4 schemas implement it, as do valibot
 * and arktype. {@linkcode SyftEvents.onRequest} validates bodies with it; `rpc.schema.json`
 * descriptions are derived from zod schemas (other validators are described as `"any"`).
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly "~standard": {
    /** The spec version. */
    readonly version: 1;
    /** The library (`"zod"`, ...). */
    readonly vendor: string;
    /** Validates a value. */
    readonly validate: (
      value: unknown,
    ) => StandardResult<Output> | Promise<StandardResult<Output>>;
    /** Type-level carrier of the input and output types. */
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** The result of a Standard Schema validation. */
export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardIssue[] };

/** One validation problem. */
export interface StandardIssue {
  /** What was wrong. */
  readonly message: string;
  /** Where: property keys (or `{key}` segments) from the root. */
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** The input type of a Standard Schema (what the sender writes). */
export type InferInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : unknown;

/** The output type of a Standard Schema (what the handler receives). */
export type InferOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : unknown;

/**
 * Formats validation issues as zod's `prettifyError` does: one `✖ message` line per issue, followed
 * by `→ at <path>` when the issue has a path.
 *
 * @param issues The issues.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatIssues } from "./schema.ts";
 * console.log(formatIssues([{ message: "Invalid input: expected number", path: ["a"] }]));
 * // ✖ Invalid input: expected number
 * //   → at a
 * ```
 */
export function formatIssues(issues: readonly StandardIssue[]): string {
  return issues.map((issue) => {
    const path = (issue.path ?? []).map((p) => typeof p === "object" ? p.key : p);
    if (path.length === 0) return `✖ ${issue.message}`;
    const where = path.map((p, i) =>
      typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`
    ).join("");
    return `✖ ${issue.message}\n  → at ${where}`;
  }).join("\n");
}

type AnySchema = z.core.$ZodType;

function isZod(schema: unknown): schema is AnySchema {
  return typeof schema === "object" && schema !== null && "_zod" in schema;
}

function def(schema: AnySchema): { type: string } & Record<string, unknown> {
  return (schema as unknown as { _zod: { def: { type: string } & Record<string, unknown> } })._zod
    .def;
}

/** A model's name from its metadata: `id`, else `title` (pydantic's class name). */
function modelName(schema: AnySchema): string | undefined {
  const meta = z.globalRegistry.get(schema as z.ZodType) as
    | { title?: unknown; id?: unknown }
    | undefined;
  if (typeof meta?.id === "string") return meta.id;
  if (typeof meta?.title === "string") return meta.title;
  return undefined;
}

function unwrap(schema: AnySchema): { inner: AnySchema; optional: boolean } {
  let s = schema;
  let optional = false;
  for (let i = 0; i < 20; i++) {
    const d = def(s);
    if (d.type === "optional" || d.type === "default" || d.type === "prefault") {
      optional = true;
      s = d.innerType as AnySchema;
    } else if (
      d.type === "nullable" || d.type === "readonly" || d.type === "catch" ||
      d.type === "nonoptional"
    ) {
      s = d.innerType as AnySchema;
    } else if (d.type === "pipe") {
      s = d.in as AnySchema;
    } else if (d.type === "lazy") {
      s = (d.getter as () => AnySchema)();
    } else break;
  }
  return { inner: s, optional };
}

/**
 * Describes a zod schema as a syft-event type descriptor: strings → `"str"`, integers → `"int"`,
 * other numbers → `"float"`, booleans → `"bool"`, records → `"dict"`, arrays →
 * `{type: "array", items}`, objects → `{type: "model", name, schema}` where `schema` is the JSON
 * Schema pydantic's `model_json_schema()` writes for the equivalent model (titles, `$defs`,
 * `anyOf` for nullable, `"default": null` for optional fields, pydantic's key order) and the name is
 * the schema's `id` or `title` meta, else `fallbackName`; optional/nullable → the inner type,
 * unions → `"union"`, anything else → `"any"`.
 *
 * @param schema The zod schema.
 * @param fallbackName The model name when the schema has no `id` or `title`.
 * @returns The descriptor.
 *
 * @example
 * ```ts
 * import { describeType } from "./schema.ts";
 * import { z } from "zod";
 * console.log(describeType(z.array(z.number().int()))); // { type: "array", items: "int" }
 * const user = describeType(z.object({ user_id: z.int() }).meta({ title: "User" }));
 * // { type: "model", name: "User", schema: { properties: { user_id: { title: "User Id",
 * //   type: "integer" } }, required: ["user_id"], title: "User", type: "object" } }
 * ```
 */
export function describeType(
  schema: StandardSchemaV1 | object,
  fallbackName = "Model",
): TypeDescriptor {
  return describe(schema, fallbackName);
}

function describe(
  schema: StandardSchemaV1 | object,
  fallbackName: string,
  forcedName?: string,
): TypeDescriptor {
  if (!isZod(schema)) return "any";
  const { inner } = unwrap(schema);
  const d = def(inner);
  switch (d.type) {
    case "string":
    case "enum":
    case "template_literal":
      return "str";
    case "number": {
      const checks = (d.checks ?? []) as { _zod?: { def?: { format?: string } } }[];
      const formats = [d.format, ...checks.map((c) => c._zod?.def?.format)];
      return formats.some((f) => typeof f === "string" && /int/.test(f)) ? "int" : "float";
    }
    case "int":
    case "bigint":
      return "int";
    case "boolean":
      return "bool";
    case "null":
    case "undefined":
    case "void":
      return "null";
    case "date":
      return "datetime";
    case "record":
    case "map":
      return "dict";
    case "set":
    case "array":
      return {
        type: "array",
        items: describe((d.element ?? d.valueType) as AnySchema, `${fallbackName}Item`),
      };
    case "tuple":
      return "tuple";
    case "literal": {
      const values = d.values as unknown[];
      const types = new Set(values.map((v) => v === null ? "null" : typeof v));
      if (types.size !== 1) return "union";
      const t = [...types][0];
      return t === "string" ? "str" : t === "number" ? "float" : t === "boolean" ? "bool" : "any";
    }
    case "union": {
      const options = (d.options as AnySchema[]).map((o) => describe(o, fallbackName));
      const distinct = new Set(options.map((o) => JSON.stringify(o)));
      return distinct.size === 1 ? options[0]! : "union";
    }
    case "object": {
      const name = forcedName ?? modelName(inner) ?? fallbackName;
      return {
        type: "model",
        name,
        schema: pydanticModelSchema(inner, name, { title: forcedName }),
      };
    }
    default:
      return "any";
  }
}

function pascal(endpoint: string): string {
  return endpoint.split(/[^a-zA-Z0-9]+/).filter(Boolean).map((p) =>
    p[0]!.toUpperCase() + p.slice(1)
  )
    .join("");
}

/** What {@linkcode endpointSchema} describes: the endpoint options that reach `rpc.schema.json`. */
export interface EndpointSchemaOptions {
  /** The input (request body) schema. */
  input?: StandardSchemaV1 | object;
  /** The output schema. */
  output?: StandardSchemaV1 | object;
  /** The endpoint's description. */
  description?: string;
  /**
   * The argument's name (syft-event names it after the handler's parameter, as in
   * `def add(request: AddRequest)`); default `"body"`.
   */
  arg?: string;
  /**
   * The input model's name (a pydantic class name): default the input schema's `id` or `title`
   * meta, else `<Endpoint>Request`.
   */
  model?: string;
  /** The output model's name: default the output schema's `id` or `title`, else `<Endpoint>Response`. */
  outputModel?: string;
}

/**
 * Builds one endpoint's entry of `rpc.schema.json` in syft-event's shape: the input is one
 * argument (named by `arg`, default `"body"`; an object input is a model named by `model`, with
 * pydantic's JSON Schema), no input is no argument (`{}`), and the output is the `returns` type.
 *
 * @param endpoint The endpoint path (for default model names).
 * @param options The input and output schemas, the description, the argument and model names.
 * @returns The entry.
 *
 * @example
 * ```ts
 * import { endpointSchema } from "./schema.ts";
 * import { z } from "zod";
 * const entry = endpointSchema("/add", {
 *   input: z.object({ a: z.number(), b: z.number() }),
 *   output: z.number(),
 *   arg: "request",
 *   model: "AddRequest",
 * });
 * console.log(entry.args.request?.type); // { type: "model", name: "AddRequest", schema: { ... } }
 * console.log(entry.returns); // float
 * ```
 */
export function endpointSchema(endpoint: string, options: EndpointSchemaOptions): EndpointSchema {
  const base = pascal(endpoint) || "Root";
  const args: EndpointSchema["args"] = {};
  const arg = options.arg ?? "body";
  if (options.input !== undefined) {
    const optional = isZod(options.input) && unwrap(options.input).optional;
    args[arg] = {
      type: describe(options.input, `${base}Request`, options.model),
      required: !optional,
    };
  }
  return {
    description: options.description ?? null,
    args,
    returns: options.output === undefined
      ? "any"
      : describe(options.output, `${base}Response`, options.outputModel),
  };
}
