import assert from "node:assert/strict";
import {
  exciseCanonMember,
  pyCanon,
  pyDumps,
  pyFloatRepr,
  PyNumber,
  pyParse,
} from "../../../lib/pubsub/_pyjson.ts";
import { python, pythonForms } from "./_python.ts";

// The probes of the reference's section 4.4, written as Python writes JSON.
const PROBES = [
  '{"\\ue000": 1, "\\ud83d\\ude00": 2, "b": 3, "a": 4, "A": 5, "_": 6}',
  '{"s": "DEL \\u007f LS \\u2028 emoji \\ud83d\\ude00 tab \\t nl \\n cr \\r bs \\b ff \\f q \\" bsl \\\\ slash / ctl \\u0001 e \\u00e9"}',
  '{"lone": "\\ud800", "pair": "\\udbff\\udfff"}',
  "[1e-05, 1e+16, 1.5e-07, 2.0, 0.0001, 1e16, -0.0, 0.0, 123456789012345678901234567890, -7, 1.7976931348623157e+308, 5e-324, 9999999999999998.0, 0.1, 1680610165.4884348]",
  "[NaN, Infinity, -Infinity]",
  '{"a": {}, "b": [], "c": {"d": [1, {"e": null}], "f": true, "g": false}}',
  '{"__sign__": {"nested": "__sign__"}, "x": [[], [{}]]}',
  '"just a string"',
  "{}",
];

Deno.test("pyDumps() and pyCanon() write the 4.4 probes byte for byte as CPython does", async () => {
  const expected = await pythonForms(PROBES);
  PROBES.forEach((text, i) => {
    const value = pyParse(text, { lossless: true });
    assert.equal(pyDumps(value), expected[i]!.dumps, `dumps of ${text}`);
    assert.equal(pyCanon(value), expected[i]!.canon, `canon of ${text}`);
  });
});

Deno.test("pyCanon() of JS values equals Python's canon after json.loads of pyDumps() (random values)", async () => {
  let seed = 42;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const randomString = (): string => {
    const units: number[] = [];
    const n = Math.floor(rnd() * 8);
    for (let i = 0; i < n; i++) {
      const kind = rnd();
      units.push(
        kind < 0.4
          ? 0x20 + Math.floor(rnd() * 95)
          : kind < 0.6
          ? Math.floor(rnd() * 0x20)
          : kind < 0.8
          ? 0x7f + Math.floor(rnd() * 0xd800)
          : 0xd800 + Math.floor(rnd() * 0x2800),
      );
    }
    return String.fromCharCode(...units);
  };
  const randomNumber = (): number => {
    const kind = rnd();
    if (kind < 0.3) return Math.floor((rnd() - 0.5) * 2 ** 40);
    if (kind < 0.6) return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20);
    if (kind < 0.8) return Number((rnd() * 1000).toFixed(Math.floor(rnd() * 6)));
    return rnd() * 2 ** 53;
  };
  const randomValue = (depth: number): unknown => {
    const kind = rnd();
    if (depth > 2 || kind < 0.3) return randomString();
    if (kind < 0.55) return randomNumber();
    if (kind < 0.6) return [true, false, null][Math.floor(rnd() * 3)];
    if (kind < 0.8) {
      return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(depth + 1));
    }
    const o: Record<string, unknown> = {};
    for (let i = 0; i < Math.floor(rnd() * 5); i++) o[randomString()] = randomValue(depth + 1);
    return o;
  };
  const values = Array.from({ length: 400 }, () => ({ v: randomValue(0) }));
  const expected = await pythonForms(values.map((v) => pyDumps(v)));
  values.forEach((v, i) => {
    assert.equal(pyDumps(v), expected[i]!.dumps, "json.dumps(json.loads(ours)) == ours");
    assert.equal(pyCanon(v), expected[i]!.canon, `canon of ${pyDumps(v)}`);
  });
});

Deno.test("pyFloatRepr() matches Python's repr for edge magnitudes", async () => {
  const xs = [1e-4, 1e-5, 9.999e-5, 1e15, 1e16, 1.5e16, 123.456, -2.5e-10, 1 / 3, 2 ** 70, 0.5];
  const out = await python(
    "import json,sys\nprint('\\n'.join(repr(float(x)) for x in json.loads(sys.stdin.read())))",
    JSON.stringify(xs),
  );
  assert.deepEqual(xs.map(pyFloatRepr), out.trimEnd().split("\n"));
});

Deno.test("pyParse() reads NaN, Infinity, big integers and 1e-05 as Python writes them", () => {
  const v = pyParse(
    '{"a": NaN, "b": -Infinity, "c": 123456789012345678901, "d": 1e-05, "e": [Infinity]}',
  ) as Record<string, unknown>;
  assert.ok(Number.isNaN(v.a));
  assert.equal(v.b, -Infinity);
  assert.equal(v.c, 123456789012345678901n);
  assert.equal(v.d, 0.00001);
  assert.deepEqual(v.e, [Infinity]);
  assert.equal(
    pyDumps(v),
    '{"a": NaN, "b": -Infinity, "c": 123456789012345678901, "d": 1e-05, "e": [Infinity]}',
  );
  const exact = pyParse("[2.0, 7]", { lossless: true }) as PyNumber[];
  assert.ok(exact[0] instanceof PyNumber && !exact[0].isInt && exact[1]!.isInt);
  assert.throws(() => pyParse("{oops"), SyntaxError);
  assert.throws(() => pyParse("[1, 2"), SyntaxError);
  assert.throws(() => pyParse('{"a": 1} x'), SyntaxError);
  assert.throws(() => pyParse("Nan"), SyntaxError);
  const proto = pyParse('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.hasOwn(proto, "__proto__"));
});

Deno.test("exciseCanonMember() removes only the top-level member, wherever it sorts", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ a: 1, __sign__: "x" }, pyCanon({ a: 1 })],
    [{ __sign__: "x", "~": 1 }, pyCanon({ "~": 1 })],
    [{ __sign__: "x" }, "{}"],
    [
      { A: { __sign__: "nested" }, __sign__: "x", z: ["__sign__"] },
      pyCanon({ A: { __sign__: "nested" }, z: ["__sign__"] }),
    ],
  ];
  for (const [value, rest] of cases) {
    const cut = exciseCanonMember(pyCanon(value), "__sign__");
    assert.deepEqual(cut, { rest, value: "x" });
  }
  assert.equal(exciseCanonMember(pyCanon({ a: { __sign__: "nested" } }), "__sign__"), undefined);
  assert.equal(exciseCanonMember(pyCanon({ __sign__: 5 }), "__sign__"), undefined);
  assert.equal(exciseCanonMember('{"__sign__": "x", "a": 1}', "__sign__"), undefined);
});

Deno.test("pyParse() keeps big integers exact in plain JSON too, deep inside, and leaves safe ones and digit strings alone", () => {
  const v = pyParse(
    '{"id": "12345678901234567890", "n": 9007199254740991, "deep": {"list": [1, {"big": 9007199254740993}]}, "f": 1e300}',
  ) as { id: string; n: number; deep: { list: [number, { big: unknown }] }; f: number };
  assert.equal(v.id, "12345678901234567890");
  assert.equal(v.n, 9007199254740991);
  assert.equal(v.deep.list[1].big, 9007199254740993n);
  assert.equal(v.f, 1e300);
  assert.deepEqual(pyParse('{"seq": 1, "t": 1796670127126.123}'), { seq: 1, t: 1796670127126.123 });
  // Floats from 1e-4 up are written with JS's own digits, below with Python's exponent form.
  assert.equal(
    pyDumps([0.0001, 123.456, -0.5, 1e-5, 1796651919.4201748]),
    "[0.0001, 123.456, -0.5, 1e-05, 1796651919.4201748]",
  );
});
