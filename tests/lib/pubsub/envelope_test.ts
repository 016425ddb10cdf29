import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { decodeMessage, encodeMessage, type EventMetadata } from "../../../lib/pubsub/envelope.ts";
import { aesCtr, deriveKeys, hmacSha1Hex } from "../../../lib/pubsub/_crypto.ts";
import { pyCanon } from "../../../lib/pubsub/_pyjson.ts";
import { python } from "./_python.ts";

const PEER = fileURLToPath(new URL("./eventhive_peer.py", import.meta.url));

async function peer(args: string[], input = ""): Promise<string> {
  const child = new Deno.Command("python3", {
    args: [PEER, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input));
  await w.close();
  const out = await child.output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trimEnd();
}

// Section 4.3 of the reference.
const VECTOR_META: EventMetadata = {
  time: 1680610165.4884348,
  version: "0.5.0",
  event: "fastapi/receiver/test_secret",
  id: "d891d47f-64a4-4ecc-88ab-69249da31154",
};
const VECTOR_WIRE =
  '{"iv": "AAECAwQFBgcICQoLDA0ODw==", "ciphertext": "BXq5MceoGhntqlqURWK4q/+Vdmi3FfLlmf293UFtX0ZhkSQ7H/rRtRKVxjwjK9wacdHHCqj1iLB1+SF9THSqzZi+Clwair/FZFFC4LFs4oX4MZ7zFoYBoPFpSj/fY56RewWV9xepPUTjqAivUmBMBfdFzKBGBaiIcqqLcZhp2Wm3ujia8DNMXoKnAig/P6yJB9xq+6hGac5zYUvrW2g84yY3chU0isEFaF2IBL1xfpuWERUrH6bQx5RnbxQXcLP++qKYQwoBzPCNUqdB3w379Lz28/r7Q3M7QbAC9PFZPQ=="}';

Deno.test("encodeMessage() reproduces the 4.3 test vector byte for byte", () => {
  const keys = deriveKeys("123");
  assert.equal(Buffer.from(keys.key).toString("hex"), "a665a45920422f9d417e4867efdc4fb8");
  const message = { key: "value", __eventhive__: VECTOR_META };
  assert.equal(
    pyCanon(message),
    '{\n"__eventhive__":{\n"event":"fastapi/receiver/test_secret",\n"id":"d891d47f-64a4-4ecc-88ab-69249da31154",\n"time":1680610165.4884348,\n"version":"0.5.0"\n},\n"key":"value"\n}',
  );
  assert.equal(hmacSha1Hex(keys.key, pyCanon(message)), "c2578d0a684ede89ce50ca981e54033c8a0ff0c0");
  const payload = { key: "value" };
  const wire = encodeMessage(payload, {
    metadata: VECTOR_META,
    secret: "123",
    iv: Uint8Array.from({ length: 16 }, (_, i) => i),
  });
  assert.equal(wire, VECTOR_WIRE);
  assert.deepEqual(payload, { key: "value" }, "the caller's object is not changed");
});

Deno.test("aes-128-ctr carries the counter over all 128 bits (the 4.3 wrap vector)", () => {
  const out = aesCtr(deriveKeys("123").key, new Uint8Array(16).fill(0xff), new Uint8Array(48));
  assert.equal(
    Buffer.from(out).toString("hex"),
    "2653ae46ce47a0636fd7b7f415041d84c4b53f468f28c531648f6d07e13ab915346d54ae84619fa16c894a5c875ea473",
  );
});

Deno.test("decodeMessage() opens the 4.3 vector and rejects it with another secret", () => {
  const ok = decodeMessage(VECTOR_WIRE, { secret: "123" });
  assert.ok(ok.ok);
  assert.deepEqual(ok.message, { key: "value", __eventhive__: VECTOR_META });
  const wrong = decodeMessage(VECTOR_WIRE, { secret: "1234" });
  assert.ok(!wrong.ok);
  assert.ok(wrong.reason === "bad_key" || wrong.reason === "bad_signature", wrong.reason);
  const none = decodeMessage(VECTOR_WIRE);
  assert.deepEqual(none.ok ? null : none.reason, "encrypted");
});

Deno.test("encodeMessage() writes plain messages exactly as json.dumps (13: the 191-byte message)", () => {
  const wire = encodeMessage({ work: "heavy load", seq: 0 }, {
    metadata: {
      time: 1796651919.4201748,
      version: "0.5.0",
      event: "net/worker-bee/work",
      id: "5c09c114-043f-4309-8fb4-9c2aaca793a5",
    },
  });
  assert.equal(
    wire,
    '{"work": "heavy load", "seq": 0, "__eventhive__": {"time": 1796651919.4201748, "version": "0.5.0", "event": "net/worker-bee/work", "id": "5c09c114-043f-4309-8fb4-9c2aaca793a5"}}',
  );
  // (The reference calls this message 191 bytes; the text it shows, written here, is 177.)
  const integral = encodeMessage({}, { metadata: { ...VECTOR_META, time: 1700000000 } });
  assert.match(integral, /"time": 1700000000\.0,/);
});

const AWKWARD = {
  text: 'é ☃ 😀 \u007f \u2028 "q" \\ /',
  floats: [1e-5, 1.5e-7, 0.1, 1e16 + 2, 2.5],
  big: 123456789012345678901234567890n,
  nested: { __sign__: "not the signature", "\ue000": 1, "😀": 2, list: [[], {}] },
};

Deno.test("encodeMessage() with a secret is read by a Python stdlib peer (json, hmac, hashlib)", async () => {
  for (const secret of ["s3cret", "with:colons:and ünïcode"]) {
    const wire = encodeMessage(AWKWARD, {
      metadata: { ...VECTOR_META, event: "net/rx/awkward" },
      secret,
    });
    const got = JSON.parse(await peer(["decode", secret], wire));
    assert.equal(got.ok, true, got.error);
    assert.equal(got.message.text, AWKWARD.text);
    assert.equal(got.message.nested.__sign__, "not the signature");
    const plain = JSON.parse(
      await peer(["decode"], encodeMessage(AWKWARD, { metadata: VECTOR_META })),
    );
    assert.equal(plain.ok, true);
  }
});

Deno.test("decodeMessage() reads what the Python peer writes, plain and with a secret", async () => {
  const data = JSON.stringify({ work: "heavy load", n: 1.5e-7, e: "é😀", big: 2 ** 70 });
  for (const secret of ["", "123", "a:b"]) {
    const wire = await peer(["encode", "net/rx/work", data, ...(secret ? [secret] : [])]);
    const got = decodeMessage(wire, secret ? { secret } : {});
    assert.ok(got.ok, got.ok ? "" : got.detail);
    assert.equal(got.message.work, "heavy load");
    assert.equal(got.message.e, "é😀");
    assert.equal(got.message.n, 1.5e-7);
    assert.equal((got.message.__eventhive__ as EventMetadata).event, "net/rx/work");
    assert.equal(got.signed, secret !== "");
    if (secret) {
      assert.equal(decodeMessage(wire, { secret: secret + "x" }).ok, false);
    }
  }
});

Deno.test("decodeMessage() drops every malformed input with its reason, never throws", () => {
  const secret = "123";
  const keys = deriveKeys(secret);
  const seal = (plaintext: string): string => {
    const iv = new Uint8Array(16);
    return JSON.stringify({
      iv: Buffer.from(iv).toString("base64"),
      ciphertext: Buffer.from(aesCtr(keys.key, iv, new TextEncoder().encode(plaintext))).toString(
        "base64",
      ),
    });
  };
  const signedText = (obj: Record<string, unknown>, sig?: string): string => {
    const canon = pyCanon(obj);
    const s = sig ?? hmacSha1Hex(keys.key, canon);
    return pyCanon({ ...obj, __sign__: s });
  };
  const good = { a: 1, __eventhive__: VECTOR_META };
  assert.ok(decodeMessage(seal(signedText(good)), { secret }).ok);
  const cases: [string, string, string | undefined][] = [
    ["not json", "not_json", undefined],
    ["{", "not_json", undefined],
    ["[1, 2]", "not_object", undefined],
    ["[1, 2]", "not_object", secret],
    ['"text"', "not_object", undefined],
    ["null", "not_object", secret],
    ['{"iv": "!!!", "ciphertext": "AAAA"}', "bad_base64", secret],
    ['{"iv": "AAAA", "ciphertext": "AAAA"}', "bad_base64", secret],
    ['{"iv": 5, "ciphertext": "AAAA"}', "bad_base64", secret],
    ['{"iv": "AAECAwQFBgcICQoLDA0ODw==", "ciphertext": "A A="}', "bad_base64", secret],
    [seal(signedText(good, "0".repeat(40))), "bad_signature", secret],
    [seal(pyCanon(good)), "unsigned", secret],
    [seal("[1]"), "not_object", secret],
    [seal(signedText({ ...good, a: 2 }).replace('"a":2', '"a":3')), "bad_signature", secret],
    [encodeMessage(good, { metadata: VECTOR_META, secret: "other" }), "bad_key", secret],
    ['{"a": 1}', "unsigned", secret],
    [VECTOR_WIRE, "encrypted", undefined],
  ];
  for (const [text, reason, key] of cases) {
    const got = decodeMessage(text, key === undefined ? {} : { secret: key });
    const actual = got.ok ? "ok" : got.reason;
    // Garbage from a wrong key is almost never UTF-8 JSON; if it were, the HMAC catches it.
    if (reason === "bad_key") assert.ok(actual === "bad_key" || actual === "bad_signature", text);
    else assert.equal(actual, reason, text);
  }
});

Deno.test("decodeMessage() accepts legacy (<= 0.3.2) signed plaintext only when asked", async () => {
  const wire = await python(
    `import json, hmac
m = {"work": 1.5, "x": [2.0, 1e-05], "__eventhive__": {"time": 1.0, "version": "0.3.2", "event": "net/rx/w", "id": "i"}}
m["__sign__"] = hmac.HMAC(b"old", json.dumps(m, indent=0, sort_keys=True, separators=(",", ":")).encode("utf8"), "sha1").hexdigest()
print(json.dumps(m))`,
  );
  assert.equal(
    (decodeMessage(wire.trim(), { secret: "old" }) as { reason?: string }).reason,
    "unsigned",
  );
  const got = decodeMessage(wire.trim(), { secret: "old", acceptLegacy: true });
  assert.ok(got.ok);
  assert.equal(got.message.work, 1.5);
  assert.equal(got.message.__sign__, undefined);
  assert.equal(decodeMessage(wire.trim(), { secret: "new", acceptLegacy: true }).ok, false);
});

Deno.test("decodeMessage() verifies a signed plaintext laid out differently (re-canonicalised)", () => {
  const keys = deriveKeys("k");
  // Python's canonical text has 2.0 where JS would write 2; build it by hand, then lay it out oddly.
  const canon = '{\n"a":"x",\n"b":2.0\n}';
  const sig = hmacSha1Hex(keys.key, canon);
  const odd = `{"b": 2.0, "__sign__": "${sig}", "a": "x"}`;
  const iv = new Uint8Array(16).fill(7);
  const wire = JSON.stringify({
    iv: Buffer.from(iv).toString("base64"),
    ciphertext: Buffer.from(aesCtr(keys.key, iv, new TextEncoder().encode(odd))).toString("base64"),
  });
  const got = decodeMessage(wire, { secret: "k" });
  assert.ok(got.ok);
  assert.deepEqual(got.message, { b: 2, a: "x" });
});
