/**
 * eventhive's secret scheme (0.4.0+): `K = SHA-256(secret)[:16]` is both the AES-128 key and the
 * HMAC-SHA1 key; the signed plaintext is encrypted with AES-128-CTR whose counter is the whole
 * 16-byte IV incremented as one 128-bit big-endian integer (Node's `aes-128-ctr`). The legacy
 * scheme of eventhive <= 0.3.2 signs with the raw secret bytes and does not encrypt.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, createHash, randomFillSync } from "node:crypto";
import { hmac } from "@noble/hashes/hmac.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** The keys derived from one connector secret. */
export interface SecretKeys {
  /** `SHA-256(secret)[:16]`: the AES key and the HMAC key of eventhive 0.4.0+. */
  readonly key: Uint8Array;
  /** The secret's UTF-8 bytes: the HMAC key of eventhive <= 0.3.2 (legacy). */
  readonly legacyKey: Uint8Array;
}

/** Derives eventhive's keys from a secret. */
export function deriveKeys(secret: string): SecretKeys {
  const legacyKey = new TextEncoder().encode(secret);
  const key = new Uint8Array(createHash("sha256").update(legacyKey).digest().subarray(0, 16));
  return { key, legacyKey };
}

type Keyed = ReturnType<typeof hmac.create>;
// A keyed HMAC per key, cloned per message: the key schedule (two SHA-1 blocks) is done once.
// (@noble/hashes: about 2.5x less CPU per message than node:crypto's createHmac under Deno.)
const keyed = new WeakMap<Uint8Array, Keyed>();
const utf8 = new TextEncoder();

/** HMAC-SHA1 of `text` (UTF-8) as lower-case hex. */
export function hmacSha1Hex(key: Uint8Array, text: string): string {
  let base = keyed.get(key);
  if (base === undefined) {
    base = hmac.create(sha1, key);
    keyed.set(key, base);
  }
  return bytesToHex(base.clone().update(utf8.encode(text)).digest());
}

/** Compares two strings (hex digests) in time independent of where they differ. */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** A fresh random 16-byte IV. */
export function randomIv(): Uint8Array {
  return randomFillSync(new Uint8Array(16));
}

/** AES-128-CTR with the full 128-bit counter; returns standard base64. */
export function encryptToBase64(key: Uint8Array, iv: Uint8Array, plaintext: string): string {
  const cipher = createCipheriv("aes-128-ctr", key, iv);
  const head = cipher.update(plaintext, "utf8");
  const tail = cipher.final();
  return (tail.length === 0 ? head : Buffer.concat([head, tail])).toString("base64");
}

/** AES-128-CTR (encryption and decryption are the same operation). */
export function aesCtr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const cipher = createDecipheriv("aes-128-ctr", key, iv);
  const head = cipher.update(data);
  const tail = cipher.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const fromBase64 = (Uint8Array as unknown as {
  fromBase64?: (s: string, o: { lastChunkHandling: "strict" }) => Uint8Array;
}).fromBase64;

/** Decodes standard padded base64 strictly; `undefined` for anything else. */
export function strictBase64(text: string): Uint8Array | undefined {
  if (fromBase64 !== undefined) {
    // Also skips ASCII whitespace, as Python's b64decode does.
    try {
      return fromBase64(text, { lastChunkHandling: "strict" });
    } catch {
      return undefined;
    }
  }
  if (!BASE64.test(text)) return undefined;
  return Buffer.from(text, "base64");
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes UTF-8 strictly; `undefined` when the bytes are not UTF-8 (a wrong key, usually). */
export function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}
