/**
 * The EnSync WebSocket text protocol: building and parsing commands (`VERB;KEY=:value;...`),
 * parsing and formatting server messages (`+PASS:`, `-FAIL:`, `+RECORD:`, `+REPLAY:`, `PING`),
 * and event-name wildcard matching. Used by the client and by the engine in `servers/ensync/`.
 *
 * Parsing is tolerant where the SDKs and the docs disagree: `KEY=:value` and `KEY=value` are both
 * read; a field ends only before a `;KEY=` of a known key not seen yet (or an unknown `;KEY=:`), and
 * a JSON value (`METADATA`, `PAYLOAD_METADATA`) ends where its braces balance, so JSON and free
 * text may contain `;`, `=` and `:`.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { EnSyncAuthError, EnSyncError } from "./errors.ts";

/** Keys a command may carry (any other UPPER_SNAKE key is read when written as `KEY=:`). */
export const COMMAND_KEYS: ReadonlySet<string> = new Set([
  "ACCESS_KEY",
  "CLIENT_ID",
  "EVENT_NAME",
  "PAYLOAD",
  "DELIVERY_TO",
  "METADATA",
  "PAYLOAD_METADATA",
  "EVENT_IDEM",
  "BLOCK",
  "PARTITION_BLOCK",
  "DELAY",
  "PRIORITY",
  "REASON",
  "MESSAGE",
  "IDEM",
  "TIMESTAMP",
  "DELIVERY_TIME",
  "FROM_POSITION",
  "LIMIT",
  "INCLUDE_PAYLOADS",
]);

const JSON_KEYS = new Set(["METADATA", "PAYLOAD_METADATA"]);
const KEY_RE = /[A-Z][A-Z0-9_]*=/y;

/** A parsed command: its verb and its fields (the first occurrence of a key wins). */
export interface ParsedCommand {
  /** The verb, such as `PUB`. */
  verb: string;
  /** Field values by key, without the `:` of the `KEY=:value` form. */
  fields: Record<string, string>;
}

/**
 * Builds a command frame in the `KEY=:value` form every SDK writes.
 *
 * Values are written raw (the protocol has no escaping); pass JSON through {@linkcode jsonValue} so
 * it cannot contain `;`.
 *
 * @param verb The verb, such as `"SUB"`.
 * @param fields Key/value pairs in wire order.
 * @returns The text frame.
 *
 * @example Build a subscription command
 * ```ts
 * import { buildCommand } from "@syft/syft/ensync";
 * buildCommand("SUB", [["CLIENT_ID", "c1"], ["EVENT_NAME", "orders/created"]]);
 * // "SUB;CLIENT_ID=:c1;EVENT_NAME=:orders/created"
 * ```
 */
export function buildCommand(
  verb: string,
  fields: ReadonlyArray<readonly [string, string | number]>,
): string {
  let out = verb;
  for (const [key, value] of fields) out += `;${key}=:${value}`;
  return out;
}

/**
 * `JSON.stringify(value)` with every `;` written as `\u003b`: the same JSON to any parser, but it
 * can never be mistaken for a field separator.
 *
 * @param value A JSON-serialisable value.
 * @returns The JSON text without `;`.
 *
 * @example Put metadata into a command
 * ```ts
 * import { jsonValue } from "@syft/syft/ensync";
 * jsonValue({ note: "a;b" }); // '{"note":"a\\u003bb"}'
 * ```
 */
export function jsonValue(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return text.includes(";") ? text.replaceAll(";", "\\u003b") : text;
}

/** Returns the index just past a balanced JSON object/array starting at `start`, or -1. */
function jsonEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) depth++;
    else if (c === 125 /* } */ || c === 93 /* ] */) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/** The position of the `;` that starts the next field, or -1. */
function nextField(text: string, from: number, seen: Set<string>): number {
  let i = text.indexOf(";", from);
  while (i >= 0) {
    KEY_RE.lastIndex = i + 1;
    if (KEY_RE.test(text)) {
      const key = text.slice(i + 1, KEY_RE.lastIndex - 1);
      if (
        !seen.has(key) &&
        (COMMAND_KEYS.has(key) || text.charCodeAt(KEY_RE.lastIndex) === 58 /* : */)
      ) {
        return i;
      }
    }
    i = text.indexOf(";", i + 1);
  }
  return -1;
}

/**
 * Parses a command frame, accepting `KEY=:value` and `KEY=value`. Values may contain `;`, `=` and
 * `:`: a field ends only before a `;KEY=` whose key is known and not seen yet (or any `;KEY=:`), and a
 * `METADATA` / `PAYLOAD_METADATA` value starting with `{` or `[` ends where its brackets balance.
 *
 * @param frame The text frame.
 * @returns The verb and fields.
 * @throws {EnSyncError} `MALFORMED_COMMAND` when there is no verb or a field has no `KEY=`.
 *
 * @example Parse what a client sent
 * ```ts
 * import { parseCommand } from "@syft/syft/ensync";
 * const cmd = parseCommand('PUB;CLIENT_ID=:c1;EVENT_NAME=:a/b;METADATA=:{"k":"x;y=z"}');
 * console.log(cmd.verb, cmd.fields.METADATA); // PUB {"k":"x;y=z"}
 * ```
 */
export function parseCommand(frame: string): ParsedCommand {
  let text = frame;
  while (text.length && (text.endsWith("\n") || text.endsWith("\r"))) text = text.slice(0, -1);
  const semi = text.indexOf(";");
  const verb = semi < 0 ? text : text.slice(0, semi);
  if (!/^[A-Z][A-Z_]*$/.test(verb)) {
    throw new EnSyncError(
      `Malformed command: expected an UPPERCASE verb, got "${verb.slice(0, 40)}"`,
      {
        code: "MALFORMED_COMMAND",
      },
    );
  }
  const fields: Record<string, string> = Object.create(null);
  const seen = new Set<string>();
  let pos = semi < 0 ? text.length : semi + 1;
  while (pos < text.length) {
    KEY_RE.lastIndex = pos;
    if (!KEY_RE.test(text)) {
      throw new EnSyncError(
        `Malformed command ${verb}: expected KEY= at "${text.slice(pos, pos + 30)}"`,
        { code: "MALFORMED_COMMAND" },
      );
    }
    const key = text.slice(pos, KEY_RE.lastIndex - 1);
    seen.add(key);
    let start = KEY_RE.lastIndex;
    if (text.charCodeAt(start) === 58 /* : */) start++;
    let end = -1;
    const first = text.charCodeAt(start);
    if (JSON_KEYS.has(key) && (first === 123 || first === 91)) {
      const j = jsonEnd(text, start);
      if (j > 0 && (j === text.length || text.charCodeAt(j) === 59 /* ; */)) end = j;
    }
    if (end < 0) {
      const next = nextField(text, start, seen);
      end = next < 0 ? text.length : next;
    }
    if (!(key in fields)) fields[key] = text.slice(start, end);
    pos = end + 1;
  }
  return { verb, fields };
}

/** A delivered event as the engine sends it in `+RECORD:` / `+REPLAY:` (normalised). */
export interface WireRecord {
  /** The event's idem (the wire sends it as both `id` and `idem`). */
  idem: string;
  /** The concrete event name. */
  name: string;
  /** The partition block, an integer ≥ 1 (passed back in `ACK`). */
  block: number;
  /** The base64 wire payload (encrypted envelope). */
  payload: string;
  /** When the engine logged the event, in ms since the epoch (0 when absent). */
  loggedAt: number;
  /** Plaintext metadata set by the publisher (plus the engine's `$internal`). */
  metadata: Record<string, unknown>;
  /** The publisher's base64 Ed25519 public key ("" when absent). */
  sender: string;
}

/** A message from the engine. */
export type ServerMessage =
  | { kind: "pass"; body: string }
  | { kind: "fail"; code: string; message: string; body: string }
  | { kind: "record"; record: WireRecord }
  | { kind: "replay"; record: WireRecord }
  | { kind: "ping" }
  | { kind: "unknown"; text: string };

/**
 * Parses one text frame from the engine.
 *
 * @param text The frame.
 * @returns The classified message; `+RECORD:` / `+REPLAY:` bodies are validated records.
 * @throws {EnSyncError} `MALFORMED_RECORD` for a record that is not a valid JSON event.
 *
 * @example Classify engine frames
 * ```ts
 * import { parseServerMessage } from "@syft/syft/ensync";
 * parseServerMessage("-FAIL:PERMISSION_DENIED;MESSAGE=No send permission");
 * // { kind: "fail", code: "PERMISSION_DENIED", message: "No send permission", ... }
 * ```
 */
export function parseServerMessage(text: string): ServerMessage {
  if (text.startsWith("+RECORD:")) return { kind: "record", record: parseRecord(text.slice(8)) };
  if (text.startsWith("+PASS:")) return { kind: "pass", body: text.slice(6) };
  if (text.startsWith("-FAIL:")) {
    const body = text.slice(6);
    const { code, message } = parseFailBody(body);
    return { kind: "fail", code, message, body };
  }
  if (text.startsWith("+REPLAY:")) return { kind: "replay", record: parseRecord(text.slice(8)) };
  if (text === "PING") return { kind: "ping" };
  return { kind: "unknown", text };
}

/** Splits a `-FAIL:` body into its code (`FAIL` when none) and message. */
export function parseFailBody(body: string): { code: string; message: string } {
  const m = /^([A-Z][A-Z0-9_]*)(?:;|:\s*|$)/.exec(body);
  if (!m) return { code: "FAIL", message: body };
  const rest = body.slice(m[0].length);
  if (m[0].endsWith(";")) {
    try {
      const { fields } = parseCommand(`X;${rest}`);
      return { code: m[1]!, message: fields.MESSAGE ?? rest };
    } catch {
      return { code: m[1]!, message: rest };
    }
  }
  return { code: m[1]!, message: rest || m[1]! };
}

/**
 * Reads the fields of a `+PASS:` body in any of the forms engines use: `{k=v,k=v}` (the CONN
 * form; each item split on its first `=`), a JSON object, or `STATUS;KEY=value;...`.
 *
 * @param body The text after `+PASS:`.
 * @returns The leading status word (if any) and the fields.
 *
 * @example Read a publish reply
 * ```ts
 * import { parseReplyFields } from "@syft/syft/ensync";
 * parseReplyFields("PUBLISHED;IDEM=evt-1;TIMESTAMP=1700000000000");
 * // { status: "PUBLISHED", fields: { IDEM: "evt-1", TIMESTAMP: "1700000000000" } }
 * ```
 */
export function parseReplyFields(body: string): { status: string; fields: Record<string, string> } {
  const text = body.trim();
  const fields: Record<string, string> = Object.create(null);
  const braced = text.startsWith("{");
  if (braced) {
    try {
      const obj = JSON.parse(text);
      if (obj && typeof obj === "object" && !Array.isArray(obj)) {
        for (const [k, v] of Object.entries(obj)) {
          fields[k] = typeof v === "string" ? v : JSON.stringify(v);
        }
        return { status: "", fields };
      }
    } catch { /* the {k=v,...} form */ }
  }
  if (braced || (!text.includes(";") && /^[a-z][A-Za-z0-9_]*\s*=/.test(text))) {
    const inner = text.slice(braced ? 1 : 0, text.endsWith("}") ? -1 : undefined);
    for (const item of inner.split(",")) {
      const eq = item.indexOf("=");
      if (eq > 0) fields[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
    }
    return { status: "", fields };
  }
  const semi = text.indexOf(";");
  const head = semi < 0 ? text : text.slice(0, semi);
  if (head.includes("=")) {
    try {
      return { status: "", fields: parseCommand(`X;${text}`).fields };
    } catch {
      return { status: text, fields };
    }
  }
  if (semi < 0) return { status: head, fields };
  try {
    return { status: head, fields: parseCommand(`X;${text.slice(semi + 1)}`).fields };
  } catch {
    return { status: head, fields };
  }
}

/**
 * Reads the client id and hash from a `CONN` reply body. Accepts the SDK form
 * `{clientId=..,clientHash=..}` (values may contain `=`), JSON, and the docs' `CONNECTED;CLIENT_ID=..`.
 *
 * @param body The text after `+PASS:`.
 * @returns The client id and hash ("" when absent).
 * @throws {EnSyncAuthError} `BAD_CONN_REPLY` when no client id can be found.
 *
 * @example Parse the handshake reply
 * ```ts
 * import { parseConnReply } from "@syft/syft/ensync";
 * parseConnReply("{clientId=c-1,clientHash=AAAA=}"); // { clientId: "c-1", clientHash: "AAAA=" }
 * ```
 */
export function parseConnReply(body: string): { clientId: string; clientHash: string } {
  const { fields } = parseReplyFields(body);
  const clientId = fields.clientId ?? fields.client_id ?? fields.CLIENT_ID ?? "";
  const clientHash = fields.clientHash ?? fields.client_hash ?? fields.CLIENT_HASH ?? "";
  if (!clientId) {
    throw new EnSyncAuthError(
      `The engine's CONN reply has no clientId: "+PASS:${body.slice(0, 80)}"`,
      {
        code: "BAD_CONN_REPLY",
      },
    );
  }
  return { clientId, clientHash };
}

/**
 * Reads the event id from a `PUB` reply body: `PUBLISHED;IDEM=..`, `{idem=..}`, JSON, or a bare id.
 *
 * @param body The text after `+PASS:`.
 * @returns The idem (the whole body when no form matches).
 *
 * @example Read an event id
 * ```ts
 * import { parsePublishReply } from "@syft/syft/ensync";
 * parsePublishReply("PUBLISHED;IDEM=evt-9;TIMESTAMP=1"); // "evt-9"
 * parsePublishReply("evt-9"); // "evt-9"
 * ```
 */
export function parsePublishReply(body: string): string {
  const { status, fields } = parseReplyFields(body);
  return fields.IDEM ?? fields.idem ?? fields.EVENT_IDEM ?? fields.id ?? fields.message_idem ??
    (status || body);
}

function bad(message: string, cause?: unknown): EnSyncError {
  return new EnSyncError(`Malformed record: ${message}`, { code: "MALFORMED_RECORD", cause });
}

/**
 * Validates and normalises the JSON of a `+RECORD:` / `+REPLAY:` body. `idem` falls back to `id`;
 * `block` may be a number or a numeric string; `metadata` an object or a JSON string.
 *
 * @param json The JSON text.
 * @returns The record.
 * @throws {EnSyncError} `MALFORMED_RECORD` naming the bad field.
 *
 * @example Parse a delivery
 * ```ts
 * import { parseRecord } from "@syft/syft/ensync";
 * const rec = parseRecord('{"id":"e1","idem":"e1","name":"a/b","block":"3","payload":"e30="}');
 * console.log(rec.block); // 3
 * ```
 */
export function parseRecord(json: string): WireRecord {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json);
  } catch (cause) {
    throw bad("not JSON", cause);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw bad("not a JSON object");
  return normaliseRecord(raw);
}

/** Normalises a record-shaped object (WS or gRPC field names). */
export function normaliseRecord(raw: Record<string, unknown>): WireRecord {
  const idem = raw.idem ?? raw.id ?? raw.message_idem ?? raw.event_idem;
  if (typeof idem !== "string" || !idem) throw bad("idem/id must be a non-empty string");
  const name = raw.name ?? raw.message_name ?? raw.event_name;
  if (typeof name !== "string" || !name) throw bad("name must be a non-empty string");
  const blockRaw = raw.block ?? raw.partition_block;
  const block = typeof blockRaw === "number"
    ? blockRaw
    : typeof blockRaw === "string" && /^\d+$/.test(blockRaw)
    ? Number(blockRaw)
    : NaN;
  if (!Number.isSafeInteger(block) || block < 0) {
    throw bad(`block must be a non-negative integer, got ${JSON.stringify(blockRaw)}`);
  }
  const payload = raw.payload;
  if (typeof payload !== "string") throw bad("payload must be a base64 string");
  const loggedRaw = raw.loggedAt ?? raw.logged_at;
  const loggedAt = typeof loggedRaw === "number"
    ? loggedRaw
    : typeof loggedRaw === "string"
    ? Number(loggedRaw) || 0
    : 0;
  let metadata: Record<string, unknown> = {};
  const m = raw.metadata;
  if (typeof m === "string" && m) {
    try {
      const parsed = JSON.parse(m);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) metadata = parsed;
    } catch {
      throw bad("metadata is a string but not JSON");
    }
  } else if (m && typeof m === "object" && !Array.isArray(m)) {
    metadata = m as Record<string, unknown>;
  }
  const sender = typeof raw.sender === "string" ? raw.sender : "";
  return { idem, name, block, payload, loggedAt, metadata, sender };
}

/**
 * Formats a record for the wire: `+RECORD:{"id","idem","name","block","loggedAt","payload","metadata","sender"}`
 * (or `+REPLAY:` for a replay reply), the shape every SDK reads.
 *
 * @param record The record.
 * @param kind `"RECORD"` for a delivery (default), `"REPLAY"` for the reply to `REPLAY`.
 * @returns The text frame.
 *
 * @example Push a delivery
 * ```ts
 * import { formatRecord } from "@syft/syft/ensync";
 * formatRecord({ idem: "e1", name: "a/b", block: 1, payload: "e30=", loggedAt: 0, metadata: {}, sender: "" });
 * ```
 */
export function formatRecord(record: WireRecord, kind: "RECORD" | "REPLAY" = "RECORD"): string {
  return `+${kind}:${
    JSON.stringify({
      id: record.idem,
      idem: record.idem,
      name: record.name,
      block: record.block,
      loggedAt: record.loggedAt,
      payload: record.payload,
      metadata: record.metadata,
      sender: record.sender,
    })
  }`;
}

/**
 * Formats the `CONN` success reply every SDK parses: `+PASS:{clientId=..,clientHash=..}`.
 *
 * @param clientId The new client id (no `,` or `=`).
 * @param clientHash The client hash (no `,` or `=`: use hex or unpadded base64url).
 * @returns The text frame.
 * @throws {EnSyncError} `INVALID_VALUE` when a value contains `,`, `=` or `}`.
 *
 * @example Answer a handshake
 * ```ts
 * import { formatConnPass } from "@syft/syft/ensync";
 * formatConnPass("c-1", "ab12"); // "+PASS:{clientId=c-1,clientHash=ab12}"
 * ```
 */
export function formatConnPass(clientId: string, clientHash: string): string {
  if (/[,=}]/.test(clientId) || /[,=}]/.test(clientHash)) {
    throw new EnSyncError("clientId and clientHash must not contain ',', '=' or '}'", {
      code: "INVALID_VALUE",
    });
  }
  return `+PASS:{clientId=${clientId},clientHash=${clientHash}}`;
}

/**
 * Formats a failure reply: `-FAIL:CODE;MESSAGE=text`.
 *
 * @param code An UPPER_SNAKE code such as `PERMISSION_DENIED`.
 * @param message A human-readable description.
 * @returns The text frame.
 *
 * @example Refuse a command
 * ```ts
 * import { formatFail } from "@syft/syft/ensync";
 * formatFail("NOT_FOUND", "No such event"); // "-FAIL:NOT_FOUND;MESSAGE=No such event"
 * ```
 */
export function formatFail(code: string, message: string): string {
  return `-FAIL:${code};MESSAGE=${message}`;
}

/** A compiled pattern: literal text, `1` for `*` (within a segment), `2` for `**` (anything). */
type GlobToken = string | 1 | 2;
const patternCache = new LRUCache<string, GlobToken[] | true>({ max: 1_000 });

function compileGlob(pattern: string): GlobToken[] {
  const tokens: GlobToken[] = [];
  pattern.split("**").forEach((part, i) => {
    if (i > 0) tokens.push(2);
    part.split("*").forEach((literal, j) => {
      if (j > 0) tokens.push(1);
      if (literal !== "") tokens.push(literal);
    });
  });
  return tokens;
}

/**
 * Matches in O(tokens x name length): the set of name positions each token can end at, one token
 * at a time. (A regular expression built from the pattern backtracks exponentially on patterns
 * such as `a*a*a*a*...c`: one subscription could stall the engine.)
 */
function globMatch(tokens: GlobToken[], name: string): boolean {
  const n = name.length;
  let reach = new Uint8Array(n + 1);
  reach[0] = 1;
  for (const token of tokens) {
    const next = new Uint8Array(n + 1);
    let any = false;
    if (typeof token === "string") {
      for (let p = 0; p + token.length <= n; p++) {
        if (reach[p] === 1 && name.startsWith(token, p)) {
          next[p + token.length] = 1;
          any = true;
        }
      }
    } else {
      let on = false;
      for (let p = 0; p <= n; p++) {
        if (reach[p] === 1) on = true;
        if (on) {
          next[p] = 1;
          any = true;
        }
        if (token === 1 && p < n && name.charCodeAt(p) === 47 /* "/" */) on = false;
      }
    }
    if (!any) return false;
    reach = next;
  }
  return reach[n] === 1;
}

/**
 * Whether an event name matches a subscription or permission pattern. `*` alone matches every name;
 * otherwise `*` matches any characters within one `/`-separated segment and `**` matches across
 * segments (`orders/*` matches `orders/created`, not `orders/a/b`; `orders/**` matches both).
 * Names without `*` match only themselves.
 *
 * @param pattern The pattern, such as `orders/*`.
 * @param name A concrete event name.
 * @returns Whether it matches.
 *
 * @example Route a delivery to a wildcard subscription
 * ```ts
 * import { matchesEventName } from "@syft/syft/ensync";
 * matchesEventName("orders/*", "orders/created"); // true
 * matchesEventName("orders/*", "billing/created"); // false
 * ```
 */
export function matchesEventName(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  let compiled = patternCache.get(pattern);
  if (compiled === undefined) {
    if (pattern === "*" || pattern === "**") compiled = true;
    else if (!pattern.includes("*")) return false;
    else compiled = compileGlob(pattern);
    patternCache.set(pattern, compiled);
  }
  return compiled === true || globMatch(compiled, name);
}

/** Whether an event name contains a wildcard. */
export function isWildcard(pattern: string): boolean {
  return pattern.includes("*");
}
