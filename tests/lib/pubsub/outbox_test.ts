import assert from "node:assert/strict";
import { Outbox, type OutboxItem, type SendResult } from "../../../lib/pubsub/_outbox.ts";
import { PublishError } from "../../../lib/pubsub/errors.ts";
import { ManualHiveClock } from "./_hive_helpers.ts";

function outbox(
  clock: ManualHiveClock,
  send: (batch: readonly OutboxItem[]) => Promise<SendResult[]>,
  open: () => boolean = () => true,
): Outbox {
  return new Outbox({
    network: "net",
    where: "Redis at redis://x",
    maxQueue: 3,
    timeoutMs: 1_000,
    retryUnheard: true,
    clock,
    isOpen: open,
    send,
  });
}

async function ticks(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
}

Deno.test("Outbox waits after a failed send instead of retrying in a hot loop", async () => {
  const clock = new ManualHiveClock();
  let sends = 0;
  let fail = true;
  const box = outbox(clock, (batch) => {
    sends++;
    return Promise.resolve(
      batch.map((): SendResult =>
        fail ? { ok: false, error: new Error("Stream isn't writeable"), retry: true } : { ok: true }
      ),
    );
  });
  const sent = box.push("net/w/e", "{}");
  await ticks();
  assert.equal(sends, 1, "one attempt, then it waits");
  await clock.advance(100);
  await ticks();
  assert.equal(sends, 2);
  fail = false;
  await clock.advance(100);
  await sent;
  assert.equal(sends, 3);
  box.close();
});

Deno.test("Outbox keeps order, fails at the deadline while down and refuses a full queue", async () => {
  const clock = new ManualHiveClock();
  let open = false;
  const order: string[] = [];
  const box = outbox(clock, (batch) => {
    for (const item of batch) order.push(item.data);
    return Promise.resolve(batch.map((): SendResult => ({ ok: true, receivers: 1 })));
  }, () => open);
  const a = box.push("net/w/e", "a");
  const b = box.push("net/w/e", "b");
  const c = box.push("net/w/e", "c");
  await assert.rejects(
    box.push("net/w/e", "d"),
    (err) => err instanceof PublishError && err.code === "PUBSUB_QUEUE_FULL",
  );
  open = true;
  box.wake();
  await Promise.all([a, b, c]);
  assert.deepEqual(order, ["a", "b", "c"]);
  open = false;
  const late = box.push("net/w/e", "late");
  await ticks();
  await clock.advance(999);
  let settled = false;
  late.catch(() => {}).finally(() => settled = true);
  await ticks();
  assert.equal(settled, false);
  await clock.advance(1);
  await assert.rejects(
    late,
    (err) => err instanceof PublishError && err.code === "PUBSUB_PUBLISH_TIMEOUT",
  );
  box.close();
});

Deno.test("Outbox sends an event held through an outage again until someone hears it", async () => {
  const clock = new ManualHiveClock();
  let open = false;
  let receivers = 0;
  let sends = 0;
  const box = outbox(clock, (batch) => {
    sends++;
    return Promise.resolve(batch.map((): SendResult => ({ ok: true, receivers })));
  }, () => open);
  const held = box.push("net/w/e", "x");
  await ticks();
  open = true;
  box.wake();
  await ticks();
  assert.equal(sends, 1, "PUBLISH answered 0: nobody re-subscribed yet");
  receivers = 1;
  await clock.advance(50);
  await held;
  assert.equal(sends, 2);
  // Nobody ever listens: it fails loudly at its deadline.
  receivers = 0;
  open = false;
  const lost = box.push("net/w/e", "y");
  lost.catch(() => {}); // checked below; it rejects while time moves
  await ticks();
  open = true;
  box.wake();
  await ticks();
  for (let t = 0; t < 1_000; t += 50) {
    await clock.advance(50);
    await ticks(5);
  }
  await assert.rejects(
    lost,
    (err) => err instanceof PublishError && err.code === "PUBSUB_NO_SUBSCRIBER",
  );
  box.close();
});

Deno.test("Outbox retries an event sent just after an outage that nobody heard, but not one sent later", async () => {
  const clock = new ManualHiveClock();
  let receivers = 0;
  let sends = 0;
  const box = outbox(clock, (batch) => {
    sends++;
    return Promise.resolve(batch.map((): SendResult => ({ ok: true, receivers })));
  });
  // Before any outage, an event nobody hears is simply sent (at most once).
  await box.push("net/w/e", "before");
  assert.equal(sends, 1);
  box.lost();
  box.wake();
  // Just after the connection came back, the subscribers may not have re-subscribed yet.
  const early = box.push("net/w/e", "early");
  await ticks();
  assert.equal(sends, 2);
  receivers = 1;
  await clock.advance(50);
  await early;
  assert.equal(sends, 3, "sent again once someone listened");
  // Past the recovery window, nobody hearing it is normal again.
  receivers = 0;
  await clock.advance(5_000);
  await box.push("net/w/e", "later");
  assert.equal(sends, 4);
  box.close();
});
