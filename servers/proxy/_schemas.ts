/**
 * Request validation for the proxy's routes (zod), with limits from the server options (private).
 *
 * @module
 */
import { z } from "zod";
import { parseDuration } from "../../lib/rpc/mod.ts";
import { rpcUrlParts } from "./_gateway.ts";
import { jsonBytes } from "./_body.ts";

/** The latest time Python's `datetime` can hold (9999-12-31T23:59:59.999999), in ms. */
const LATEST_PYTHON_DATE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** E-mail as SyftBox accepts it for a datasite (the domain must contain a dot). */
export const EMAIL_RE = /^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$/;
const SEGMENT_RE = /^[A-Za-z0-9_.+-]+$/;
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

/** The limits the schemas enforce. */
export interface SchemaLimits {
  /** The longest blocking wait, in seconds. */
  maxTimeoutS: number;
  /** The largest encoded params/body, in bytes. */
  maxParamsBytes: number;
}

const email = z.string({ error: "must be a string" }).regex(
  EMAIL_RE,
  "must be an e-mail address whose domain contains a dot, such as bob@example.org",
);

/** An app name: one path segment, at least 3 characters (as the real package). */
export const appName = z.string({ error: "must be a string" })
  .min(3, "must have at least 3 characters")
  .max(128, "must have at most 128 characters")
  .regex(SEGMENT_RE, "may only contain letters, digits and _ . + -")
  .refine((s) => s !== "..", "must not be ..");

const funcName = z.string({ error: "must be a string" })
  .transform((s) => s.replace(/^\/+/, "").replace(/\/+$/, ""))
  .pipe(
    z.string().min(1, "must not be empty").max(512, "must have at most 512 characters").refine(
      (s) => s.split("/").every((seg) => SEGMENT_RE.test(seg) && seg !== "." && seg !== ".."),
      "must be path segments of letters, digits and _ . + - (no . or .. segments)",
    ),
  );

const headers = z.record(z.string(), z.string({ error: "header values must be strings" }))
  .default({});

const method = z.string().transform((s) => s.toUpperCase()).pipe(
  z.enum(METHODS, { error: `must be one of ${METHODS.join(", ")}` }),
);

function encodedSize(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value === "string") return new TextEncoder().encode(value).length;
  return jsonBytes(value).length;
}

const SYFT_URL_MESSAGE =
  "must be a syft:// URL whose host is an e-mail and whose path has no .. segments";

function isSafeSyftUrl(s: string): boolean {
  const m = /^syft:\/\/([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/.exec(s);
  if (!m || !EMAIL_RE.test(m[1]!)) return false;
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f\\]|%(?:2e|2f|5c|00)/i.test(m[2] ?? "")) return false;
  return !(m[2] ?? "").split("/").includes("..");
}

const TRUE_WORDS = new Set(["1", "on", "t", "true", "y", "yes"]);
const FALSE_WORDS = new Set(["0", "off", "f", "false", "n", "no"]);

/**
 * A boolean as pydantic reads one in FastAPI (lax mode): `true`/`false`, 0 and 1, and the words
 * `true false yes no on off t f y n 1 0` in any case; other values fail with pydantic's types.
 */
const laxBool = z.unknown().transform((v, ctx) => {
  if (typeof v === "boolean") return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === "string") {
    const word = v.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  const parsing = typeof v === "string" || (typeof v === "number" && Number.isInteger(v));
  ctx.addIssue({
    code: "custom",
    message: "must be true or false",
    params: parsing
      ? { type: "bool_parsing", msg: "Input should be a valid boolean, unable to interpret input" }
      : { type: "bool_type", msg: "Input should be a valid boolean" },
  });
  return z.NEVER;
});

/** The default request expiry (the real package's default, 15 minutes). */
export const DEFAULT_EXPIRY_MS = 15 * 60_000;

/** A `syft://` URL with a datasite e-mail host and a safe path. */
export const syftUrl = z.string({ error: "must be a string" }).refine(
  isSafeSyftUrl,
  SYFT_URL_MESSAGE,
);

/** A syft:// URL naming an app endpoint: a request anywhere else would never be answered. */
const endpointUrl = z.string({ error: "must be a string" }).superRefine((s, ctx) => {
  if (!isSafeSyftUrl(s)) ctx.addIssue({ code: "custom", message: SYFT_URL_MESSAGE });
  else if (!rpcUrlParts(s).func) {
    ctx.addIssue({
      code: "custom",
      message: "must name an app endpoint: syft://EMAIL/app_data/APP/rpc/ENDPOINT",
    });
  }
});

/** Builds the schemas for the given limits. */
// deno-lint-ignore explicit-module-boundary-types -- the zod-inferred type is the point
export function buildSchemas(limits: SchemaLimits) {
  const params = z.unknown().optional().refine(
    (v) => encodedSize(v) <= limits.maxParamsBytes,
    `must encode to at most ${limits.maxParamsBytes} bytes`,
  );
  const timeout = z.number({ error: "must be a number of seconds" })
    .positive("must be positive")
    .max(limits.maxTimeoutS, `must be at most ${limits.maxTimeoutS} seconds`);

  const send = z.object({
    app_name: appName,
    func_name: funcName,
    destination: email,
    params,
    blocking: z.boolean({ error: "must be true or false" }).default(true),
    timeout: timeout.default(Math.min(30, limits.maxTimeoutS)),
    headers,
    method: method.default("POST"),
  });

  const broadcast = z.object({
    app_name: appName.optional(),
    func_name: funcName,
    params,
    destinations: z.array(z.string({ error: "must be a string" }), {
      error: "must be a list of e-mails or syft:// URLs",
    }).min(1, "must name at least one destination").max(1000, "must name at most 1000"),
    headers,
    method: method.default("POST"),
  }).superRefine((v, ctx) => {
    let needsApp = false;
    v.destinations.forEach((d, i) => {
      if (d.startsWith("syft://")) {
        if (!syftUrl.safeParse(d).success) {
          ctx.addIssue({
            code: "custom",
            path: ["destinations", i],
            message: "must be a syft:// URL whose host is an e-mail and whose path has no ..",
          });
        }
      } else if (!EMAIL_RE.test(d)) {
        ctx.addIssue({
          code: "custom",
          path: ["destinations", i],
          message: "must be an e-mail address or a syft:// URL",
        });
      } else needsApp = true;
    });
    if (needsApp && v.app_name === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["app_name"],
        message: "is required when a destination is an e-mail",
      });
    }
  });

  const rpcSend = z.object({
    app_name: appName,
    url: endpointUrl,
    body: z.unknown().optional().refine(
      (v) => encodedSize(v) <= limits.maxParamsBytes,
      `must encode to at most ${limits.maxParamsBytes} bytes`,
    ),
    headers,
    // Milliseconds once parsed (the handler needs no second parse).
    expiry: z.string().regex(
      /^\d+[dhms]$/i,
      'must be a number and one unit (d, h, m, s), such as "15m"',
    ).transform((v) => parseDuration(v)).refine(
      (ms) => Date.now() + ms <= LATEST_PYTHON_DATE_MS,
      "puts the expiry after 9999-12-31, the latest date Python's datetime reads",
    ).default(DEFAULT_EXPIRY_MS),
    cache: laxBool.default(false),
    // Not in the real package (which always sends GET and ignores the key): an extension.
    method: method.default("GET"),
  });
  const seconds = z.string().regex(/^\d+(\.\d+)?$/, "must be a number of seconds").transform(Number)
    .pipe(z.number().max(limits.maxTimeoutS, `must be at most ${limits.maxTimeoutS} seconds`));

  const rpcQuery = z.object({ blocking: laxBool.default(false), timeout: seconds.optional() });
  const statusQuery = z.object({ wait: seconds.optional() });
  const schemaQuery = z.object({ datasite: email.optional() });
  const appParam = z.object({ app: appName });

  return { send, broadcast, rpcSend, rpcQuery, statusQuery, schemaQuery, appParam };
}

/** The schemas of one server. */
export type ProxySchemas = ReturnType<typeof buildSchemas>;

/** One failing field of a 422 answer. */
export interface FieldError {
  /** The field path, such as `destinations.2`. */
  field: string;
  /** What is wrong with it. */
  message: string;
}

/** Turns a zod error into field errors (every failing field named). */
export function fieldErrors(
  error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] },
): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.map(String).join(".") : "(body)",
    message: issue.message,
  }));
}
