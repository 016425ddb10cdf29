import assert from "node:assert/strict";
import { parseDuration } from "../../../lib/rpc/mod.ts";
import { nowInstant, toInstant } from "../../../lib/rpc/time.ts";

Deno.test("parseDuration() reads syft-rpc and syft-event durations", () => {
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("1d2h30m"), 95_400_000);
  assert.equal(parseDuration("30D"), 30 * 86_400_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration(1234), 1234);
  for (const bad of ["15", "", "m", "1w", "5 minutes", "-1s"]) {
    assert.throws(
      () => parseDuration(bad, "expiry"),
      (err) => err instanceof RangeError && /Invalid expiry/.test(err.message),
      bad,
    );
  }
  assert.throws(() => parseDuration(-1), RangeError);
  assert.throws(() => parseDuration(Number.NaN), RangeError);
});

Deno.test("nowInstant() and toInstant() keep microsecond precision", () => {
  assert.equal(nowInstant().epochNanoseconds % 1000n, 0n);
  assert.equal(toInstant(new Date(1500)).epochMilliseconds, 1500);
  assert.equal(toInstant(1500.25).epochNanoseconds, 1_500_250_000n);
  assert.equal(toInstant(Temporal.Instant.fromEpochNanoseconds(1_999n)).epochNanoseconds, 1000n);
  assert.throws(() => toInstant(new Date("nope")), /invalid Date/);
});
