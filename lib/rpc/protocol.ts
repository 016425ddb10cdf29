/**
 * The wire format of `.request` and `.response` files, byte-compatible with syft-rpc's pydantic
 * models: compact JSON, keys in the order `id, sender, url, body, headers, created, expires,
 * method | status_code`, bodies as URL-safe base64 with padding, timestamps in Python's
 * `isoformat()` style.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { TRUSTED } from "./_trusted.ts";
import { RpcProtocolError, RpcStatusError } from "./errors.ts";
import {
  formatMicros,
  instantOfMicros,
  microsOf,
  microsOfInstant,
  nowMicros,
  parseMicros,
} from "./_micros.ts";
import { SyftBoxURL } from "./url.ts";

/** The methods a request may carry (upper case, as `SyftMethod` in syft-rpc). */
export type SyftMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * The methods a request may carry.
 *
 * @example
 * ```ts
 * import { SYFT_METHODS } from "@syft/syft/rpc";
 * console.log(SYFT_METHODS.includes("POST")); // true
 * ```
 */
export const SYFT_METHODS: readonly SyftMethod[] = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
];

/**
 * The status codes a response may carry: Python's `http.HTTPStatus` (3.11) plus 419 and 499.
 * A response with any other code does not load in Python.
 *
 * @example
 * ```ts
 * import { SYFT_STATUS_CODES } from "@syft/syft/rpc";
 * console.log(SYFT_STATUS_CODES.has(419), SYFT_STATUS_CODES.has(299)); // true false
 * ```
 */
export const SYFT_STATUS_CODES: ReadonlySet<number> = new Set([
  100,
  101,
  102,
  103,
  200,
  201,
  202,
  203,
  204,
  205,
  206,
  207,
  208,
  226,
  300,
  301,
  302,
  303,
  304,
  305,
  307,
  308,
  400,
  401,
  402,
  403,
  404,
  405,
  406,
  407,
  408,
  409,
  410,
  411,
  412,
  413,
  414,
  415,
  416,
  417,
  418,
  419,
  421,
  422,
  423,
  424,
  425,
  426,
  428,
  429,
  431,
  451,
  499,
  500,
  501,
  502,
  503,
  504,
  505,
  506,
  507,
  508,
  510,
  511,
]);

/** The sender of synthetic responses the client makes up (rejected, vanished, expired). */
export const SYSTEM_SENDER = "system@syftbox.localhost";

/** How long a message lives when no expiry is given (syft-rpc's model default: one day). */
export const DEFAULT_MESSAGE_EXPIRY_MS = 86_400_000;

const CANONICAL_UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Normalises a UUID to its canonical lower-case hyphenated form, or returns `undefined` when the
 * text is not a UUID (braces and `urn:uuid:` are not accepted).
 *
 * @param text The candidate.
 * @returns The canonical UUID or `undefined`.
 *
 * @example
 * ```ts
 * import { canonicalUuid } from "./protocol.ts";
 * console.log(canonicalUuid("3F2C8F6E0D6A4F0E9A551C2B7D9E4A10"));
 * // 3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10
 * ```
 */
export function canonicalUuid(text: string): string | undefined {
  if (CANONICAL_UUID_RE.test(text)) return text;
  if (!UUID_RE.test(text)) return undefined;
  const hex = text.replaceAll("-", "").toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/**
 * Encodes body bytes as SyftBox writes them: URL-safe base64 with `=` padding.
 *
 * @param bytes The body.
 * @returns The base64 text.
 *
 * @example
 * ```ts
 * import { encodeBody } from "./protocol.ts";
 * console.log(encodeBody(new Uint8Array([0xfb, 0xff, 0xfe]))); // -__-
 * ```
 */
export function encodeBody(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url" });
}

/**
 * Decodes a body: URL-safe or standard base64, padded or not (as pydantic accepts).
 *
 * @param text The base64 text.
 * @returns The bytes.
 * @throws {RpcProtocolError} When the text is not base64 (field `body`).
 *
 * @example
 * ```ts
 * import { decodeBody } from "./protocol.ts";
 * console.log(new TextDecoder().decode(decodeBody("ZXhwaXJlZA"))); // expired
 * ```
 */
export function decodeBody(text: string): Uint8Array {
  try {
    const normal = text.includes("+") || text.includes("/")
      ? text.replaceAll("+", "-").replaceAll("/", "_")
      : text;
    return Uint8Array.fromBase64(normal, { alphabet: "base64url", lastChunkHandling: "loose" });
  } catch (err) {
    throw new RpcProtocolError("body", `Invalid body: not base64 (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/** A body value: bytes as is, a string as UTF-8, `null`/`undefined` for no body, else JSON. */
export type BodyValue = unknown;

/**
 * Turns a value into body bytes: `null`/`undefined` → no body, bytes (`Uint8Array`, `ArrayBuffer`,
 * typed arrays) as is, a string as its UTF-8 bytes (not JSON-quoted, as syft-rpc), anything else
 * as compact JSON.
 *
 * @param value The value.
 * @returns The bytes, or `null` for no body.
 *
 * @example
 * ```ts
 * import { toBodyBytes } from "./protocol.ts";
 * console.log(new TextDecoder().decode(toBodyBytes({ a: 1 })!)); // {"a":1}
 * ```
 */
export function toBodyBytes(value: BodyValue): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new RpcProtocolError("body", `Invalid body: ${typeof value} values cannot be sent`);
  }
  return encoder.encode(json);
}

/** Trusted construction (internal): times as epoch microseconds. */
interface TrustedInit {
  [TRUSTED]?: true;
  createdUs: number;
  expiresUs: number;
}

/** What every message carries (the fields shared by requests and responses). */
export interface SyftMessageInit {
  /** Lower-case UUID; a random uuid4 when omitted. */
  id?: string;
  /** The writer's e-mail. */
  sender: string;
  /** The endpoint URL. */
  url: string | SyftBoxURL;
  /** The body: bytes as is, a string as UTF-8, `null` for none, anything else as JSON. */
  body?: BodyValue;
  /** String headers. */
  headers?: Record<string, string>;
  /** Creation time (or epoch milliseconds, fractions kept to the microsecond); now when omitted. */
  created?: Date | Temporal.Instant | string | number;
  /** Expiry time (same forms); `created` + 1 day when omitted. */
  expires?: Date | Temporal.Instant | string | number;
}

/** The fields of a request. */
export interface SyftRequestInit extends SyftMessageInit {
  /** The method; `"GET"` when omitted. */
  method?: SyftMethod;
}

/** The fields of a response. */
export interface SyftResponseInit extends SyftMessageInit {
  /** The status code; 200 when omitted. */
  statusCode?: number;
}

/** Options for decoding a message file. */
export interface DecodeOptions {
  /**
   * The file-name stem. When the file has no `id` it is taken from here; when both exist they must
   * be the same UUID.
   */
  fileId?: string;
}

function checkHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new RpcProtocolError("headers", "Invalid headers: expected an object of strings");
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new RpcProtocolError(
        "headers",
        `Invalid headers: the value of ${JSON.stringify(k)} is ${
          v === null ? "null" : typeof v
        }, expected a string`,
      );
    }
  }
  return value as Record<string, string>;
}

function checkId(value: unknown, fileId: string | undefined): string {
  let fromFile: string | undefined;
  if (fileId !== undefined) {
    fromFile = canonicalUuid(fileId);
    if (fromFile === undefined) {
      throw new RpcProtocolError(
        "id",
        `Invalid id: the file name ${JSON.stringify(fileId)} is not a UUID`,
      );
    }
  }
  if (value === undefined || value === null) {
    return fromFile ?? crypto.randomUUID();
  }
  const id = typeof value === "string" ? canonicalUuid(value) : undefined;
  if (id === undefined) {
    throw new RpcProtocolError("id", `Invalid id: ${JSON.stringify(value)} is not a UUID`);
  }
  if (fromFile !== undefined && fromFile !== id) {
    throw new RpcProtocolError(
      "id",
      `Invalid id: ${id} does not match the file name ${JSON.stringify(fileId)}`,
    );
  }
  return id;
}

function parseJsonObject(input: string | Uint8Array, kind: string): Record<string, unknown> {
  let text: string;
  try {
    text = typeof input === "string" ? input : decoder.decode(input);
  } catch (err) {
    throw new RpcProtocolError("json", `Invalid ${kind}: the file is not UTF-8`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RpcProtocolError(
      "json",
      `Invalid ${kind}: ${text.trim() === "" ? "the file is empty" : (err as Error).message}`,
      { cause: err },
    );
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new RpcProtocolError("json", `Invalid ${kind}: expected a JSON object`);
  }
  return raw as Record<string, unknown>;
}

function fieldTime(obj: Record<string, unknown>, key: string, fallback: () => number): number {
  const v = obj[key];
  if (v === undefined || v === null) return fallback();
  if (typeof v !== "string") {
    throw new RpcProtocolError(key, `Invalid ${key}: expected a timestamp string`);
  }
  return parseMicros(v, key);
}

function fieldBody(obj: Record<string, unknown>): Uint8Array | null {
  const v = obj.body;
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") {
    throw new RpcProtocolError("body", "Invalid body: expected a base64 string or null");
  }
  return decodeBody(v);
}

function fieldSender(obj: Record<string, unknown>): string {
  const v = obj.sender;
  if (typeof v !== "string") {
    throw new RpcProtocolError(
      "sender",
      `Invalid sender: ${v === undefined ? "missing" : "expected a string"}`,
    );
  }
  return v;
}

function fieldUrl(obj: Record<string, unknown>): SyftBoxURL {
  const v = obj.url;
  if (typeof v !== "string") {
    throw new RpcProtocolError(
      "url",
      `Invalid url: ${v === undefined ? "missing" : "expected a string"}`,
    );
  }
  try {
    return SyftBoxURL.parse(v);
  } catch (err) {
    throw new RpcProtocolError("url", `Invalid url: ${(err as Error).message}`, { cause: err });
  }
}

/** The fields every message has, read from its wire object and checked (trusted from here on). */
function baseFields(
  obj: Record<string, unknown>,
  options: DecodeOptions,
): Record<PropertyKey, unknown> {
  const id = checkId(obj.id, options.fileId);
  const created = fieldTime(obj, "created", nowMicros);
  return {
    [TRUSTED]: true,
    id,
    sender: fieldSender(obj),
    url: fieldUrl(obj),
    body: fieldBody(obj),
    headers: checkHeaders(obj.headers),
    createdUs: created,
    expiresUs: fieldTime(obj, "expires", () => created + DEFAULT_MESSAGE_EXPIRY_MS * 1000),
  };
}

/**
 * Fields and helpers shared by {@linkcode SyftRequest} and {@linkcode SyftResponse}.
 *
 * @example Read a body
 * ```ts
 * import { SyftRequest } from "@syft/syft/rpc";
 * const req = new SyftRequest({ sender: "a@b.io", url: "syft://c@d.io/x", body: '{"n":1}' });
 * console.log(req.json(), req.text()); // { n: 1 } {"n":1}
 * ```
 */
export abstract class SyftMessage {
  /** Lower-case hyphenated UUID; equals the file-name stem. */
  readonly id: string;
  /** The writer's e-mail. */
  readonly sender: string;
  /** The endpoint URL (a response carries its request's URL). */
  readonly url: SyftBoxURL;
  /** The body bytes, or `null`. */
  readonly body: Uint8Array | null;
  /** String headers, in insertion order. */
  readonly headers: Record<string, string>;
  /** Creation time in epoch microseconds (what the file carries). */
  readonly createdMicros: number;
  /** Expiry time in epoch microseconds. */
  readonly expiresMicros: number;
  #created: Temporal.Instant | undefined;
  #expires: Temporal.Instant | undefined;
  #text: string | undefined;
  #bodyText: string | undefined;

  /**
   * Validates and stores the shared fields.
   *
   * @param init The fields.
   */
  constructor(init: SyftMessageInit) {
    const trusted = init as unknown as TrustedInit;
    if (trusted[TRUSTED]) {
      // Built from fields that have already been validated (decoding, replies).
      this.id = init.id!;
      this.sender = init.sender;
      this.url = init.url as SyftBoxURL;
      this.body = init.body as Uint8Array | null;
      this.headers = init.headers!;
      this.createdMicros = trusted.createdUs;
      this.expiresMicros = trusted.expiresUs;
      return;
    }
    if (init.id === undefined) this.id = crypto.randomUUID();
    else {
      const id = canonicalUuid(init.id);
      if (id === undefined) {
        throw new RpcProtocolError("id", `Invalid id: ${JSON.stringify(init.id)} is not a UUID`);
      }
      this.id = id;
    }
    if (typeof init.sender !== "string") {
      throw new RpcProtocolError("sender", "Invalid sender: expected a string");
    }
    this.sender = init.sender;
    try {
      this.url = SyftBoxURL.parse(init.url);
    } catch (err) {
      throw new RpcProtocolError("url", `Invalid url: ${(err as Error).message}`, { cause: err });
    }
    this.body = toBodyBytes(init.body);
    this.headers = checkHeaders(init.headers ?? {});
    this.createdMicros = init.created === undefined
      ? nowMicros()
      : microsOf(init.created, "created");
    this.expiresMicros = init.expires === undefined
      ? this.createdMicros + DEFAULT_MESSAGE_EXPIRY_MS * 1000
      : microsOf(init.expires, "expires");
  }

  /** Creation time (microsecond precision). */
  get created(): Temporal.Instant {
    return this.#created ??= instantOfMicros(this.createdMicros);
  }

  /** Expiry time (microsecond precision). */
  get expires(): Temporal.Instant {
    return this.#expires ??= instantOfMicros(this.expiresMicros);
  }

  /** The body as UTF-8 text (`""` when there is none). */
  text(): string {
    return this.body === null ? "" : new TextDecoder().decode(this.body);
  }

  /**
   * The body parsed as JSON.
   *
   * @throws {SyntaxError} When the body is not JSON.
   */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  /**
   * Whether the message has expired.
   *
   * @param now The time to compare with (default: now).
   */
  isExpired(now?: Temporal.Instant): boolean {
    return (now === undefined ? Date.now() * 1000 : microsOfInstant(now)) > this.expiresMicros;
  }

  /** The body as the file carries it (URL-safe base64), or `null`; computed once. */
  #wireBody(): string | null {
    if (this.body === null) return null;
    return this.#bodyText ??= encodeBody(this.body);
  }

  /** The JSON of the subclass's own fields, appended after the shared ones (`,"method":"GET"`). */
  protected abstract ownJson(): string;

  /** Adds the subclass's own fields to a wire object, after the shared ones. */
  protected abstract ownFields(obj: Record<string, unknown>): void;

  /**
   * The file text: compact JSON in syft-rpc's key order, no trailing newline. A message is
   * immutable, so the text is built once and kept for later calls.
   */
  encode(): string {
    return this.#text ??= this.#build();
  }

  #build(): string {
    const body = this.#wireBody();
    return `{"id":"${this.id}","sender":${JSON.stringify(this.sender)},"url":${
      JSON.stringify(this.url.href)
    },"body":${body === null ? "null" : `"${body}"`},"headers":${
      JSON.stringify(this.headers)
    },"created":"${formatMicros(this.createdMicros)}","expires":"${
      formatMicros(this.expiresMicros)
    }"${this.ownJson()}}`;
  }

  /**
   * The wire object: what `JSON.parse(encode())` gives (same keys, order and values, a fresh
   * object each call), built without a round trip through the text.
   */
  toJSON(): Record<string, unknown> {
    const obj: Record<string, unknown> = {
      id: this.id,
      sender: this.sender,
      url: this.url.href,
      body: this.#wireBody(),
      headers: { ...this.headers },
      created: formatMicros(this.createdMicros),
      expires: formatMicros(this.expiresMicros),
    };
    this.ownFields(obj);
    return obj;
  }

  /**
   * The file bytes (UTF-8 of {@linkcode SyftMessage.encode}). The text is not kept when it was
   * not asked for: a request that is followed until its response would hold it all that time.
   */
  toBytes(): Uint8Array {
    return encoder.encode(this.#text ?? this.#build());
  }
}

/**
 * A request: what a `.request` file holds.
 *
 * @example Encode and decode
 * ```ts
 * import { SyftRequest } from "@syft/syft/rpc";
 * const req = new SyftRequest({
 *   sender: "alice@example.com",
 *   url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
 *   method: "POST",
 *   body: JSON.stringify({ msg: "hello" }),
 *   expires: new Date(Date.now() + 60_000),
 * });
 * const again = SyftRequest.decode(req.encode(), { fileId: req.id });
 * console.log(again.method, again.json()); // POST { msg: "hello" }
 * ```
 */
export class SyftRequest extends SyftMessage {
  /** The method. */
  readonly method: SyftMethod;

  /**
   * Creates a request; validates every field.
   *
   * @param init The fields.
   * @throws {RpcProtocolError} Naming the invalid field.
   */
  constructor(init: SyftRequestInit) {
    super(init);
    const method = init.method ?? "GET";
    if ((init as { [TRUSTED]?: true })[TRUSTED]) {
      this.method = method;
      return;
    }
    if (!SYFT_METHODS.includes(method)) {
      throw new RpcProtocolError(
        "method",
        `Invalid method: ${JSON.stringify(method)} is not one of ${SYFT_METHODS.join(", ")}`,
      );
    }
    this.method = method;
  }

  /**
   * Decodes a `.request` file. Accepts what pydantic accepts (extra keys ignored, missing optional
   * fields defaulted, standard or unpadded base64, `Z` or offset timestamps with up to 9 digits).
   *
   * @param input The file bytes or text.
   * @param options The file-name stem to check the id against.
   * @returns The request.
   * @throws {RpcProtocolError} Naming the invalid field.
   *
   * @example Decode the Go encoder's format
   * ```ts
   * import { SyftRequest } from "@syft/syft/rpc";
   * const req = SyftRequest.decode(
   *   '{"id":"3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10","sender":"guest@syftbox.net","headers":{},' +
   *     '"created":"2025-09-12T10:00:00.123456789Z","expires":"2025-09-13T10:00:00.123456789Z",' +
   *     '"method":"POST","url":"syft://demo@syftbox.net/app_data/calc/rpc/compute"}',
   * );
   * console.log(req.body, req.created.toString()); // null 2025-09-12T10:00:00.123456Z
   * ```
   */
  static decode(input: string | Uint8Array, options: DecodeOptions = {}): SyftRequest {
    return SyftRequest.fromJSON(parseJsonObject(input, "request"), options);
  }

  /**
   * Builds a request from its wire object (a parsed `.request` file).
   *
   * @param obj The parsed JSON.
   * @param options The file-name stem to check the id against.
   * @returns The request.
   * @throws {RpcProtocolError} Naming the invalid field.
   *
   * @example
   * ```ts
   * import { SyftRequest } from "@syft/syft/rpc";
   * const req = SyftRequest.fromJSON({ sender: "a@b.io", url: "syft://c@d.io/x" });
   * console.log(req.method); // GET
   * ```
   */
  static fromJSON(obj: Record<string, unknown>, options: DecodeOptions = {}): SyftRequest {
    const base = baseFields(obj, options);
    const method = obj.method ?? "GET";
    if (typeof method !== "string" || !SYFT_METHODS.includes(method as SyftMethod)) {
      throw new RpcProtocolError(
        "method",
        `Invalid method: ${JSON.stringify(method)} is not one of ${SYFT_METHODS.join(", ")}`,
      );
    }
    return new SyftRequest({ ...base, method } as unknown as SyftRequestInit);
  }

  /** The method, after the shared fields. */
  protected ownJson(): string {
    return `,"method":"${this.method}"`;
  }

  /** The method, after the shared fields. */
  protected ownFields(obj: Record<string, unknown>): void {
    obj.method = this.method;
  }

  /**
   * The deterministic id syft-rpc uses in cache mode (`get_message_id`): a version-4 UUID from the
   * first 16 bytes of the SHA-256 of `{"sender","url","body","headers","method"}` as compact JSON.
   * Two requests with the same sender, URL, body, headers and method get the same id.
   *
   * @returns The lower-case UUID.
   *
   * @example The reference test vector
   * ```ts
   * import { SyftRequest } from "@syft/syft/rpc";
   * const req = new SyftRequest({
   *   sender: "alice@example.com",
   *   url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
   *   body: '{"msg": "hello?", "ts": 1}',
   *   headers: { "Content-Type": "application/json" },
   *   method: "POST",
   * });
   * console.log(req.cacheId()); // 597b5a94-a6c8-4dba-9896-04dcc54c43a2
   * ```
   */
  cacheId(): string {
    return messageId(this);
  }
}

/**
 * Computes syft-rpc's deterministic message id (see {@linkcode SyftRequest.cacheId}).
 *
 * @param msg The sender, URL, body, headers and method.
 * @returns The lower-case version-4 UUID.
 *
 * @example
 * ```ts
 * import { messageId } from "@syft/syft/rpc";
 * console.log(messageId({
 *   sender: "alice@example.com",
 *   url: "syft://bob@example.com/app_data/pingpong/rpc/ping",
 *   body: null,
 *   headers: {},
 *   method: "GET",
 * }));
 * ```
 */
export function messageId(
  msg: {
    sender: string;
    url: SyftBoxURL | string;
    body: Uint8Array | null;
    headers: Record<string, string>;
    method: string;
  },
): string {
  const url = typeof msg.url === "string" ? msg.url : msg.url.href;
  const m = `{"sender":${JSON.stringify(msg.sender)},"url":${JSON.stringify(url)},"body":${
    msg.body === null ? "null" : `"${encodeBody(msg.body)}"`
  },"headers":${JSON.stringify(msg.headers)},"method":${JSON.stringify(msg.method)}}`;
  const digest = createHash("sha256").update(m).digest();
  const b = new Uint8Array(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/**
 * A response: what a `.response` file holds.
 *
 * @example Check the status and read the body
 * ```ts
 * import { SyftResponse } from "@syft/syft/rpc";
 * const res = new SyftResponse({
 *   sender: "bob@example.com",
 *   url: "syft://bob@example.com/app_data/echo/rpc/echo",
 *   body: '{"ok":true}',
 *   statusCode: 201,
 * });
 * console.log(res.statusCode, res.ok, res.json()); // 201 true { ok: true }
 * ```
 */
export class SyftResponse extends SyftMessage {
  /** The status code (one of {@linkcode SYFT_STATUS_CODES}). */
  readonly statusCode: number;

  /**
   * Creates a response; validates every field.
   *
   * @param init The fields.
   * @throws {RpcProtocolError} Naming the invalid field.
   */
  constructor(init: SyftResponseInit) {
    super(init);
    const code = init.statusCode ?? 200;
    if ((init as { [TRUSTED]?: true })[TRUSTED]) {
      this.statusCode = code;
      return;
    }
    if (!SYFT_STATUS_CODES.has(code)) {
      throw new RpcProtocolError(
        "status_code",
        `Invalid status_code: ${JSON.stringify(code)} is not an HTTP status SyftBox accepts`,
      );
    }
    this.statusCode = code;
  }

  /**
   * Decodes a `.response` file (same leniency as {@linkcode SyftRequest.decode}).
   *
   * @param input The file bytes or text.
   * @param options The file-name stem to check the id against.
   * @returns The response.
   * @throws {RpcProtocolError} Naming the invalid field.
   *
   * @example
   * ```ts
   * import { SyftResponse } from "@syft/syft/rpc";
   * const res = SyftResponse.decode(
   *   '{"id":"3f2c8f6e-0d6a-4f0e-9a55-1c2b7d9e4a10","sender":"b@x.io","url":"syft://b@x.io/p",' +
   *     '"body":"b2s=","headers":{},"created":"2025-11-05T10:00:02+00:00",' +
   *     '"expires":"2025-11-05T10:05:00+00:00","status_code":200}',
   * );
   * console.log(res.text()); // ok
   * ```
   */
  static decode(input: string | Uint8Array, options: DecodeOptions = {}): SyftResponse {
    return SyftResponse.fromJSON(parseJsonObject(input, "response"), options);
  }

  /**
   * Builds a response from its wire object.
   *
   * @param obj The parsed JSON.
   * @param options The file-name stem to check the id against.
   * @returns The response.
   * @throws {RpcProtocolError} Naming the invalid field.
   *
   * @example
   * ```ts
   * import { SyftResponse } from "@syft/syft/rpc";
   * const res = SyftResponse.fromJSON({ sender: "a@b.io", url: "syft://a@b.io/x", status_code: 404 });
   * console.log(res.isError); // true
   * ```
   */
  static fromJSON(obj: Record<string, unknown>, options: DecodeOptions = {}): SyftResponse {
    const base = baseFields(obj, options);
    const code = obj.status_code ?? 200;
    if (typeof code !== "number" || !SYFT_STATUS_CODES.has(code)) {
      throw new RpcProtocolError(
        "status_code",
        `Invalid status_code: ${JSON.stringify(code)} is not an HTTP status SyftBox accepts`,
      );
    }
    return new SyftResponse({ ...base, statusCode: code } as unknown as SyftResponseInit);
  }

  /**
   * A response the client makes up (sender `system@syftbox.localhost`), as syft-rpc's
   * `system_response`.
   *
   * @param statusCode The status.
   * @param message The body text.
   * @param options The id of the request it answers.
   * @returns The response.
   *
   * @example
   * ```ts
   * import { SyftResponse } from "@syft/syft/rpc";
   * console.log(SyftResponse.system(404, "Request with x not found").url.href);
   * // syft://system@syftbox.localhost
   * ```
   */
  static system(statusCode: number, message: string, options: { id?: string } = {}): SyftResponse {
    return new SyftResponse({
      ...(options.id === undefined ? {} : { id: options.id }),
      sender: SYSTEM_SENDER,
      url: `syft://${SYSTEM_SENDER}`,
      body: message,
      statusCode,
    });
  }

  /** The status code, after the shared fields. */
  protected ownJson(): string {
    return `,"status_code":${this.statusCode}`;
  }

  /** The status code, after the shared fields. */
  protected ownFields(obj: Record<string, unknown>): void {
    obj.status_code = this.statusCode;
  }

  /** Whether the status is 200–299 (Python's `is_success`). */
  get isSuccess(): boolean {
    return this.statusCode >= 200 && this.statusCode < 300;
  }

  /** Whether the status is 400 or above (Python's `is_error`). */
  get isError(): boolean {
    return this.statusCode >= 400;
  }

  /** Whether the status is below 400 (like the Fetch `Response.ok`, but including 3xx). */
  get ok(): boolean {
    return this.statusCode < 400;
  }

  /**
   * Throws when the status is 400 or above.
   *
   * @returns This response, for chaining.
   * @throws {RpcStatusError} Carrying the response.
   */
  raiseForStatus(): this {
    if (this.statusCode >= 400) throw new RpcStatusError(this);
    return this;
  }
}
