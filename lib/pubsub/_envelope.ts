/**
 * The envelope's hot path, with the keys of a secret derived once: what `encodeMessage` and
 * `decodeMessage` (envelope.ts, public) and the hive call. Internal to lib/pubsub.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { Buffer } from "node:buffer";
import {
  canonMembers,
  exciseCanonMember,
  joinCanonMembers,
  pyCanon,
  pyDumps,
  PyNumber,
  pyParse,
  pyString,
  sortKeysPython,
} from "./_pyjson.ts";
import {
  aesCtr,
  deriveKeys,
  encryptToBase64,
  hmacSha1Hex,
  randomIv,
  sameDigest,
  type SecretKeys,
  strictBase64,
  strictUtf8,
} from "./_crypto.ts";
import type { DecodeResult, DropReason, EventMetadata } from "./envelope.ts";

const SIGN_KEY = "__sign__";

const keyCache = new LRUCache<string, SecretKeys>({ max: 64 });

/** Keys for a secret, cached (a few secrets per process; the least recently used go first). */
export function keysFor(secret: string): SecretKeys {
  let keys = keyCache.get(secret);
  if (keys === undefined) {
    keys = deriveKeys(secret);
    keyCache.set(secret, keys);
  }
  return keys;
}

/** The metadata as Python writes it: `time` (`time.time()`) is always a float. */
function metadataForWire(meta: EventMetadata): Record<string, unknown> {
  if (!Number.isInteger(meta.time)) return meta as unknown as Record<string, unknown>;
  return { ...meta, time: new PyNumber(`${meta.time}.0`) };
}

/** Encodes with precomputed keys (the hive's hot path; `encodeMessage` is the public form). */
export function encodeWith(
  payload: Record<string, unknown>,
  metadataKey: string,
  metadata: EventMetadata | null,
  keys: SecretKeys | undefined,
  iv?: Uint8Array,
): string {
  let message: Record<string, unknown>;
  if (metadata === null) message = keys === undefined ? payload : { ...payload };
  else message = { ...payload, [metadataKey]: metadataForWire(metadata) };
  if (keys === undefined) return pyDumps(message);
  if (Object.hasOwn(message, SIGN_KEY)) delete message[SIGN_KEY];
  const members = canonMembers(message);
  const texts = members.map(([, text]) => text);
  const signature = hmacSha1Hex(keys.key, joinCanonMembers(texts));
  // Insert the signature member in its sorted position.
  let at = 0;
  while (at < members.length && sortKeysPython([members[at]![0], SIGN_KEY])[0] !== SIGN_KEY) at++;
  texts.splice(at, 0, `${pyString(SIGN_KEY)}:"${signature}"`);
  const plaintext = joinCanonMembers(texts);
  const vector = iv ?? randomIv();
  return `{"iv": "${Buffer.from(vector).toString("base64")}", "ciphertext": "${
    encryptToBase64(keys.key, vector, plaintext)
  }"}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof PyNumber);
}

function drop(reason: DropReason, detail: string): DecodeResult {
  return { ok: false, reason, detail };
}

/** Decodes with precomputed keys (the hive's hot path; `decodeMessage` is the public form). */
export function decodeWith(
  text: string,
  keys: SecretKeys | undefined,
  acceptLegacy: boolean,
): DecodeResult {
  let value: unknown;
  try {
    value = pyParse(text);
  } catch (err) {
    return drop("not_json", `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isPlainObject(value)) {
    return drop(
      "not_object",
      `a JSON ${Array.isArray(value) ? "list" : typeof value}, not an object`,
    );
  }
  const encrypted = Object.hasOwn(value, "iv") && Object.hasOwn(value, "ciphertext");
  if (!encrypted) {
    if (keys === undefined) return { ok: true, message: value, signed: false };
    if (acceptLegacy && typeof value[SIGN_KEY] === "string") return verifyLegacy(text, keys);
    return drop("unsigned", "a plaintext message at a receiver with a secret");
  }
  if (keys === undefined) {
    return drop("encrypted", "an encrypted message at a receiver without a secret");
  }
  const { iv: ivText, ciphertext } = value;
  const iv = typeof ivText === "string" ? strictBase64(ivText) : undefined;
  const data = typeof ciphertext === "string" ? strictBase64(ciphertext) : undefined;
  if (iv === undefined || data === undefined || iv.length !== 16) {
    return drop("bad_base64", "iv or ciphertext is not base64 (or the iv is not 16 bytes)");
  }
  const plaintext = strictUtf8(aesCtr(keys.key, iv, data));
  if (plaintext === undefined) return drop("bad_key", "does not decrypt to UTF-8 (wrong secret?)");
  let inner: unknown;
  try {
    inner = pyParse(plaintext);
  } catch {
    return drop("bad_key", "does not decrypt to JSON (wrong secret?)");
  }
  if (!isPlainObject(inner)) return drop("not_object", "decrypts to JSON that is not an object");
  const signature = inner[SIGN_KEY];
  if (signature === undefined) return drop("unsigned", "encrypted without a __sign__");
  if (typeof signature !== "string") return drop("bad_signature", "__sign__ is not a string");
  const cut = exciseCanonMember(plaintext, SIGN_KEY);
  let good = cut !== undefined && sameDigest(hmacSha1Hex(keys.key, cut.rest), signature);
  if (!good) {
    // A sender that laid the text out differently: sign the canonical form, as Python does.
    const exact = pyParse(plaintext, { lossless: true }) as Record<string, unknown>;
    delete exact[SIGN_KEY];
    good = sameDigest(hmacSha1Hex(keys.key, pyCanon(exact)), signature);
  }
  if (!good) return drop("bad_signature", "the HMAC does not match (wrong secret or altered)");
  delete inner[SIGN_KEY];
  return { ok: true, message: inner, signed: true };
}

function verifyLegacy(text: string, keys: SecretKeys): DecodeResult {
  const exact = pyParse(text, { lossless: true }) as Record<string, unknown>;
  const signature = exact[SIGN_KEY] as string;
  delete exact[SIGN_KEY];
  if (!sameDigest(hmacSha1Hex(keys.legacyKey, pyCanon(exact)), signature)) {
    return drop("bad_signature", "the legacy (<= 0.3.2) HMAC does not match");
  }
  const message = pyParse(text) as Record<string, unknown>;
  delete message[SIGN_KEY];
  return { ok: true, message, signed: true };
}
