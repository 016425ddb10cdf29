import assert from "node:assert/strict";
import nacl from "tweetnacl";
import ed2curve from "ed2curve";
import { sha512 } from "@noble/hashes/sha2.js";
import {
  decodeEnvelope,
  decryptEnvelope,
  decryptPayload,
  ed25519PublicKeyToX25519,
  ed25519SecretKeyToX25519,
  encodeEnvelope,
  encryptEnvelope,
  encryptPayload,
  EnSyncAuthError,
  EnSyncGenericError,
  EnvelopeDecryptor,
  EnvelopeEncryptor,
  generateKeyPair,
  type HybridEnvelope,
  publicKeyFromSecretKey,
} from "../../../lib/ensync/mod.ts";

const b64 = (b: Uint8Array) => b.toBase64();
const unb64 = (s: string) => Uint8Array.fromBase64(s);
const utf8 = (s: string) => new TextEncoder().encode(s);

Deno.test("generateKeyPair() makes 32-byte public and 64-byte seed‖public secret keys", () => {
  const keys = generateKeyPair();
  assert.equal(keys.publicKey.length, 44);
  assert.equal(keys.secretKey.length, 88);
  const secret = unb64(keys.secretKey);
  assert.deepEqual(secret.subarray(32), unb64(keys.publicKey));
  // tweetnacl (what the Node SDK uses) derives the same key pair from the seed
  const tw = nacl.sign.keyPair.fromSeed(secret.subarray(0, 32));
  assert.equal(b64(tw.publicKey), keys.publicKey);
  assert.equal(b64(tw.secretKey), keys.secretKey);
  assert.equal(publicKeyFromSecretKey(keys.secretKey), keys.publicKey);
  assert.equal(publicKeyFromSecretKey(secret.subarray(0, 32)), keys.publicKey);
  assert.notEqual(generateKeyPair().publicKey, keys.publicKey);
});

Deno.test("ed25519*ToX25519() convert keys exactly as ed2curve and libsodium do", () => {
  for (let i = 0; i < 5; i++) {
    const kp = nacl.sign.keyPair();
    assert.deepEqual(
      ed25519PublicKeyToX25519(b64(kp.publicKey)),
      ed2curve.convertPublicKey(kp.publicKey),
    );
    const x = ed25519SecretKeyToX25519(b64(kp.secretKey));
    assert.deepEqual(x, ed2curve.convertSecretKey(kp.secretKey));
    // SHA-512(seed)[0..32], clamped
    const h = sha512(kp.secretKey.subarray(0, 32)).slice(0, 32);
    h[0]! &= 248;
    h[31]! &= 127;
    h[31]! |= 64;
    assert.deepEqual(x, h);
    // and the converted pair is a valid X25519 pair
    assert.deepEqual(nacl.scalarMult.base(x), ed2curve.convertPublicKey(kp.publicKey));
  }
  assert.throws(
    () => ed25519PublicKeyToX25519("AAAA"),
    (e) => e instanceof EnSyncGenericError && e.code === "INVALID_KEY",
  );
  assert.throws(() => ed25519SecretKeyToX25519("AAAA"), EnSyncAuthError);
  assert.throws(() => ed25519SecretKeyToX25519("not base64!!"), EnSyncAuthError);
});

Deno.test("encryptPayload() output opens with tweetnacl + ed2curve, as every SDK decrypts", () => {
  const kp = nacl.sign.keyPair();
  const payload = { order: 7, note: "a;b=c:d", nested: { ok: true } };
  const wire = encryptPayload(payload, b64(kp.publicKey));
  const env = JSON.parse(new TextDecoder().decode(unb64(wire)));
  assert.deepEqual(Object.keys(env), ["nonce", "ciphertext", "ephemeralPublicKey"]);
  assert.equal(unb64(env.nonce).length, 24);
  assert.equal(unb64(env.ephemeralPublicKey).length, 32);
  const plain = nacl.box.open(
    unb64(env.ciphertext),
    unb64(env.nonce),
    unb64(env.ephemeralPublicKey),
    ed2curve.convertSecretKey(kp.secretKey),
  );
  assert.ok(plain, "tweetnacl opens the box");
  assert.equal(new TextDecoder().decode(plain!), JSON.stringify(payload));
});

Deno.test("decryptPayload() opens a tweetnacl-made single-recipient envelope (the SDKs' encryptEd25519)", () => {
  const me = generateKeyPair();
  const eph = nacl.box.keyPair();
  const nonce = nacl.randomBytes(24);
  const boxed = nacl.box(
    utf8(JSON.stringify({ hello: "world" })),
    nonce,
    ed2curve.convertPublicKey(unb64(me.publicKey))!,
    eph.secretKey,
  );
  const env = { nonce: b64(nonce), ciphertext: b64(boxed), ephemeralPublicKey: b64(eph.publicKey) };
  const wire = b64(utf8(JSON.stringify(env)));
  assert.deepEqual(decryptPayload(wire, me.secretKey), { hello: "world" });
  // a 32-byte seed works as the secret too (as in the Node SDK)
  assert.deepEqual(decryptPayload(wire, unb64(me.secretKey).subarray(0, 32)), { hello: "world" });
});

/** Builds a reference-shaped hybrid blob with tweetnacl (independent of the code under test). */
function hybrid(
  payload: unknown,
  recipients: string[],
  keyField: "encryptedKey" | "ciphertext",
  mapKey: "base64" | "hex",
): HybridEnvelope {
  const messageKey = nacl.randomBytes(32);
  const nonce = nacl.randomBytes(24);
  const keys: HybridEnvelope["keys"] = {};
  for (const r of recipients) {
    const eph = nacl.box.keyPair();
    const n = nacl.randomBytes(24);
    const boxed = nacl.box(messageKey, n, ed2curve.convertPublicKey(unb64(r))!, eph.secretKey);
    const id = mapKey === "hex" ? unb64(r).toHex() : r;
    keys[id] = { nonce: b64(n), [keyField]: b64(boxed), ephemeralPublicKey: b64(eph.publicKey) };
  }
  return {
    type: "hybrid",
    payload: {
      nonce: b64(nonce),
      ciphertext: b64(nacl.secretbox(utf8(JSON.stringify(payload)), nonce, messageKey)),
    },
    keys,
  };
}

Deno.test("decryptPayload() opens Node-style hybrid blobs (encryptedKey, base64 map keys)", () => {
  const others = [generateKeyPair(), generateKeyPair()];
  const me = generateKeyPair();
  const blob = hybrid(
    { n: 1 },
    [others[0]!.publicKey, me.publicKey, others[1]!.publicKey],
    "encryptedKey",
    "base64",
  );
  assert.deepEqual(decryptPayload(encodeEnvelope(blob), me.secretKey), { n: 1 });
  assert.deepEqual(decryptPayload(encodeEnvelope(blob), others[1]!.secretKey), { n: 1 });
});

Deno.test("decryptPayload() opens Go-style (ciphertext) and Python-style (hex map keys) hybrid blobs", () => {
  const me = generateKeyPair();
  const go = hybrid({ go: true }, [me.publicKey], "ciphertext", "base64");
  assert.deepEqual(decryptPayload(encodeEnvelope(go), me.secretKey), { go: true });
  const py = hybrid(
    { py: [1, 2] },
    [generateKeyPair().publicKey, me.publicKey],
    "ciphertext",
    "hex",
  );
  assert.deepEqual(decryptPayload(encodeEnvelope(py), me.secretKey), { py: [1, 2] });
});

Deno.test("decryptPayload() rejects wrong keys, tampering and malformed envelopes with DECRYPTION_FAILED", () => {
  const me = generateKeyPair();
  const other = generateKeyPair();
  const wire = encryptPayload({ a: 1 }, me.publicKey);
  const isDecryptFail = (e: unknown) =>
    e instanceof EnSyncGenericError && e.code === "DECRYPTION_FAILED";
  assert.throws(() => decryptPayload(wire, other.secretKey), isDecryptFail);
  const env = decodeEnvelope(wire) as { ciphertext: string };
  const ct = unb64(env.ciphertext);
  ct[ct.length - 1]! ^= 1;
  env.ciphertext = b64(ct);
  assert.throws(() => decryptPayload(encodeEnvelope(env as never), me.secretKey), isDecryptFail);
  assert.throws(() => decryptPayload("%%%", me.secretKey), isDecryptFail);
  assert.throws(() => decryptPayload(b64(utf8("[1]")), me.secretKey), isDecryptFail);
  assert.throws(() => decryptPayload(b64(utf8('{"nonce":"AA=="}')), me.secretKey), isDecryptFail);
  const blob = hybrid({ x: 1 }, [other.publicKey], "encryptedKey", "base64");
  assert.throws(() => decryptPayload(encodeEnvelope(blob), me.secretKey), /no key entry opens/);
  assert.throws(
    () =>
      decryptPayload(
        encodeEnvelope({ type: "hybrid", payload: { nonce: "", ciphertext: "" }, keys: {} }),
        me.secretKey,
      ),
    isDecryptFail,
  );
});

Deno.test("EnvelopeEncryptor reuses an ephemeral key up to maxUses; every envelope still opens", () => {
  const me = generateKeyPair();
  const enc = new EnvelopeEncryptor({ maxUses: 2 });
  const envs = [1, 2, 3].map((i) => enc.seal(utf8(String(i)), me.publicKey));
  assert.equal(envs[0]!.ephemeralPublicKey, envs[1]!.ephemeralPublicKey);
  assert.notEqual(envs[1]!.ephemeralPublicKey, envs[2]!.ephemeralPublicKey);
  assert.notEqual(envs[0]!.nonce, envs[1]!.nonce);
  const dec = new EnvelopeDecryptor(me.secretKey);
  assert.deepEqual(envs.map((e) => new TextDecoder().decode(dec.open(e))), ["1", "2", "3"]);
  // and tweetnacl opens the reused-key envelopes too
  for (const e of envs) {
    assert.ok(
      nacl.box.open(
        unb64(e.ciphertext),
        unb64(e.nonce),
        unb64(e.ephemeralPublicKey),
        ed2curve.convertSecretKey(unb64(me.secretKey)),
      ),
    );
  }
  const fresh = [
    encryptEnvelope(utf8("a"), me.publicKey),
    encryptEnvelope(utf8("a"), me.publicKey),
  ];
  assert.notEqual(fresh[0]!.ephemeralPublicKey, fresh[1]!.ephemeralPublicKey);
  assert.equal(new TextDecoder().decode(decryptEnvelope(fresh[1]!, me.secretKey)), "a");
});
