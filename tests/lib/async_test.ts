import assert from "node:assert/strict";
import { abortable, deadline, delay } from "../../lib/_async.ts";
import { systemClock } from "../../lib/_clock.ts";
import { FakeClock } from "../_helpers/clock.ts";

Deno.test("delay() resolves only when the clock reaches the time", async () => {
  const clock = new FakeClock();
  let done = false;
  const wait = delay(1_000, { clock }).then(() => (done = true));
  await clock.tick(999);
  assert.equal(done, false);
  await clock.tick(1);
  await wait;
  assert.equal(done, true);
  assert.equal(clock.pending, 0);
});

Deno.test("delay() rejects with the signal's reason and clears its timer", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const wait = delay(1_000, { clock, signal: controller.signal });
  controller.abort(new Error("stop"));
  await assert.rejects(wait, /stop/);
  assert.equal(clock.pending, 0);
  await assert.rejects(delay(1, { clock, signal: controller.signal }), /stop/);
});

Deno.test("deadline() rejects with the timeout error once the time passes", async () => {
  const clock = new FakeClock();
  const never = new Promise<number>(() => {});
  const wait = deadline(never, 500, { clock, onTimeout: () => new RangeError("too slow") });
  const seen = wait.catch((err) => err);
  await clock.tick(499);
  await clock.tick(1);
  assert.ok((await seen) instanceof RangeError);
  assert.equal(clock.pending, 0);
});

Deno.test("deadline() passes the value through and clears its timer and listener", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  assert.equal(await deadline(Promise.resolve(7), 500, { clock, signal: controller.signal }), 7);
  assert.equal(clock.pending, 0);
  await assert.rejects(deadline(Promise.reject(new Error("inner")), 500, { clock }), /inner/);
  const timedOut = deadline(new Promise(() => {}), 5, { clock }).catch((e: DOMException) => e.name);
  await clock.tick(5);
  assert.equal(await timedOut, "TimeoutError");
});

Deno.test("abortable() rejects at abort and otherwise settles as the promise", async () => {
  const controller = new AbortController();
  const { promise, resolve } = Promise.withResolvers<string>();
  const wait = abortable(promise, controller.signal);
  controller.abort(new Error("gone"));
  await assert.rejects(wait, /gone/);
  resolve("late");
  assert.equal(await abortable(Promise.resolve("v"), new AbortController().signal), "v");
});

Deno.test("systemClock chains delays longer than setTimeout honours", () => {
  let fired = false;
  const handle = systemClock.setTimeout(() => (fired = true), 2 ** 31 + 10);
  systemClock.clearTimeout(handle);
  assert.equal(fired, false);
});
