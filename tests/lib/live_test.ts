import assert from "node:assert/strict";
import {
  createLatency,
  createLiveFeed,
  createRing,
  DEFAULT_LATENCY_BOUNDS_MS,
  diffLatency,
  isLoopbackHost,
  isLoopbackPeer,
  LiveActionError,
  type LiveEventBase,
  type LiveFeedWriter,
  liveHandler,
  type LiveSource,
  preview,
  quantile,
  runAction,
  stringArg,
} from "../../lib/live/mod.ts";

/** A feed scheduler the test runs by hand. */
function manualSchedule(): {
  schedule: (fn: () => void, ms: number) => void;
  run: () => void;
  armed: () => number;
} {
  const queue: (() => void)[] = [];
  return {
    schedule: (fn) => void queue.push(fn),
    run: () => {
      for (const fn of queue.splice(0)) fn();
    },
    armed: () => queue.length,
  };
}

Deno.test("createLiveFeed() publishes nothing and schedules nothing without subscribers", () => {
  const clock = manualSchedule();
  const feed = createLiveFeed<number>({ schedule: clock.schedule });
  assert.equal(feed.active, false);
  feed.publish(1);
  assert.equal(clock.armed(), 0);
});

Deno.test("createLiveFeed() coalesces events into one batch per interval and counts drops past maxBatch", () => {
  const clock = manualSchedule();
  const feed = createLiveFeed<number>({ schedule: clock.schedule, maxBatch: 3 });
  const batches: { events: readonly number[]; dropped: number }[] = [];
  const stop = feed.subscribe((events, dropped) => batches.push({ events, dropped }));
  assert.equal(feed.active, true);
  for (let i = 0; i < 5; i++) feed.publish(i);
  assert.equal(clock.armed(), 1, "one flush scheduled for the whole burst");
  assert.equal(batches.length, 0);
  clock.run();
  assert.deepEqual(batches, [{ events: [0, 1, 2], dropped: 2 }]);
  feed.publish(9);
  clock.run();
  assert.deepEqual(batches[1], { events: [9], dropped: 0 });
  stop();
  assert.equal(feed.active, false);
  feed.publish(10);
  clock.run();
  assert.equal(batches.length, 2);
});

Deno.test("createLiveFeed() keeps delivering to other subscribers when one throws", () => {
  const clock = manualSchedule();
  const feed = createLiveFeed<string>({ schedule: clock.schedule });
  const got: string[] = [];
  feed.subscribe(() => {
    throw new Error("bad subscriber");
  });
  feed.subscribe((events) => got.push(...events));
  feed.publish("a");
  clock.run();
  assert.deepEqual(got, ["a"]);
});

Deno.test("createRing() keeps the newest items, newest first, and counts every push", () => {
  const ring = createRing<number>(3);
  assert.deepEqual(ring.newest(), []);
  for (let i = 1; i <= 5; i++) ring.push(i);
  assert.equal(ring.size, 3);
  assert.equal(ring.total, 5);
  assert.deepEqual(ring.newest(), [5, 4, 3]);
  assert.deepEqual(ring.newest(2), [5, 4]);
  assert.equal(ring.find((n) => n % 2 === 1), 5);
  assert.equal(ring.find((n) => n === 1), undefined, "overwritten items are gone");
  assert.throws(() => createRing(0), RangeError);
});

Deno.test("createLatency() buckets observations; quantile() interpolates; diffLatency() gives a window", () => {
  const h = createLatency([1, 2, 4, 8]);
  for (const v of [0.5, 1.5, 1.5, 3]) h.record(v);
  const a = h.snapshot();
  assert.deepEqual(a.counts, [1, 2, 1, 0, 0]);
  assert.equal(a.count, 4);
  assert.equal(a.sumMs, 6.5);
  assert.equal(quantile(a, 0.5), 1.5); // rank 2 of 4: halfway through the (1, 2] bucket
  h.record(100); // over every bound: counts as the last bound
  const b = h.snapshot();
  assert.equal(quantile(b, 1), 8);
  const w = diffLatency(b, a);
  assert.deepEqual(w.counts, [0, 0, 0, 0, 1]);
  assert.equal(w.count, 1);
  assert.equal(quantile({ ...w, count: 0, counts: [0, 0, 0, 0, 0] }, 0.5), null);
  assert.throws(() => createLatency([2, 1]), RangeError);
});

Deno.test("DEFAULT_LATENCY_BOUNDS_MS rise from 25 µs past ten minutes; p99 of a known spread lands in its bucket", () => {
  const b = DEFAULT_LATENCY_BOUNDS_MS;
  assert.ok(b[0]! <= 0.025 && b.at(-1)! >= 600_000);
  const h = createLatency();
  for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 .. 100 ms
  const p50 = quantile(h.snapshot(), 0.5)!;
  const p99 = quantile(h.snapshot(), 0.99)!;
  assert.ok(p50 > 40 && p50 < 63, `p50 ${p50}`);
  assert.ok(p99 > 80 && p99 <= 127, `p99 ${p99}`);
});

Deno.test("stringArg(), preview() and LiveActionError carry what was wrong", () => {
  assert.equal(stringArg({ id: "x" }, "id"), "x");
  assert.equal(stringArg({}, "room", { optional: true }), undefined);
  assert.throws(
    () => stringArg({ id: 3 }, "id"),
    (e) => e instanceof LiveActionError && e.code === "LIVE_BAD_ARGS",
  );
  assert.equal(preview("x".repeat(300)).length, 200);
  assert.equal(preview({ a: 1 }), '{"a":1}');
  assert.equal(new LiveActionError("LIVE_NOT_FOUND", "gone").status, 404);
});

Deno.test("isLoopbackHost() and isLoopbackPeer() accept 127.0.0.0/8, ::1 and localhost only", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (const h of ["0.0.0.0", "10.0.0.1", "example.com", "::", "128.0.0.1"]) {
    assert.ok(!isLoopbackHost(h), h);
  }
  const info = (hostname: string) => ({
    remoteAddr: { transport: "tcp" as const, hostname, port: 1 },
    completed: Promise.resolve(),
  });
  assert.ok(isLoopbackPeer(info("127.0.0.1")));
  assert.ok(!isLoopbackPeer(info("192.168.1.2")));
  assert.ok(!isLoopbackPeer(undefined));
});

function fakeSource(): LiveSource & { feed: LiveFeedWriter<LiveEventBase> } {
  let n = 0;
  const feed = createLiveFeed<LiveEventBase>({ intervalMs: 0 });
  return {
    part: "hub",
    feed,
    actions: ["bump", "fail"],
    state: () => ({ part: "hub", name: "t", startedAt: 1, counters: { n }, gauges: {} }),
    act: (action, args) => {
      if (action === "fail") {
        return Promise.reject(new LiveActionError("LIVE_NOT_FOUND", "nothing here"));
      }
      n += Number(args.by ?? 1);
      return Promise.resolve({ n });
    },
  };
}

const LOOPBACK = {
  remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 9 },
  completed: Promise.resolve(),
};
const REMOTE = {
  remoteAddr: { transport: "tcp" as const, hostname: "192.0.2.7", port: 9 },
  completed: Promise.resolve(),
};

Deno.test("liveHandler() answers GET /live with the snapshot and runs actions from loopback only by default", async () => {
  const source = fakeSource();
  const live = liveHandler(source);
  assert.equal(await live(new Request("http://x/other")), undefined);
  const snap = await (await live(new Request("http://x/live")))!.json();
  assert.deepEqual(snap, {
    part: "hub",
    actions: ["bump", "fail"],
    state: { part: "hub", name: "t", startedAt: 1, counters: { n: 0 }, gauges: {} },
  });
  const post = (path: string, body: string, info = LOOPBACK) =>
    live(new Request(`http://x${path}`, { method: "POST", body }), info);
  const refused = (await post("/live/actions/bump", "{}", REMOTE))!;
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  const ok = (await post("/live/actions/bump", '{"by":2}'))!;
  assert.deepEqual(await ok.json(), { result: { n: 2 } });
  const bad = (await post("/live/actions/bump", "[1]"))!;
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  const missing = (await post("/live/actions/fail", "{}"))!;
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, "LIVE_NOT_FOUND");
  const unknown = await runAction(source, "nope", {});
  assert.equal(unknown.status, 400);
  assert.match((await unknown.json()).error, /Unknown action "nope".*bump, fail/);
  const notFound = (await live(new Request("http://x/live/elsewhere")))!;
  assert.equal(notFound.status, 404);
  await notFound.body?.cancel();
});

Deno.test("liveHandler() streams feed batches as Server-Sent Events and unsubscribes when the client goes", async () => {
  const source = fakeSource();
  const live = liveHandler(source);
  const controller = new AbortController();
  const res = (await live(new Request("http://x/live/events", { signal: controller.signal })))!;
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  assert.equal(source.feed.active, true);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  source.feed.publish({ type: "connect", at: 5 });
  while (!text.includes("event: batch")) text += (await reader.read()).value ?? "";
  while (!text.includes("\n\n", text.indexOf("event: batch"))) {
    text += (await reader.read()).value ?? "";
  }
  assert.match(text, /event: hello\ndata: {"part":"hub"}/);
  assert.match(text, /event: batch\ndata: {"events":\[{"type":"connect","at":5}\],"dropped":0}/);
  await reader.cancel();
  assert.equal(source.feed.active, false);
});
