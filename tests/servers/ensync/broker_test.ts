/**
 * The delivery core on its own (no wire): sessions, subscriptions, one event in flight per
 * subscription, redelivery on ack timeout (on an injected clock) and on disconnect, defer bounds,
 * and the stable error codes.
 */
import assert from "node:assert/strict";
import {
  AppRegistry,
  type EngineSession,
  EnSyncBroker,
  EnSyncEngineError,
  type EnSyncEngineErrorCode,
  MemoryEventStore,
  type StoredEvent,
} from "../../../servers/ensync/mod.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { waitFor } from "../../_helpers/workspace.ts";

const id = (n: number): string => btoa(String.fromCharCode(...new Uint8Array(32).fill(n)));
const SENDER = id(1);
const RECEIVER = id(2);

function registry(): AppRegistry {
  return new AppRegistry({
    grpcStreams: "auto",
    apps: [
      { name: "shop", accessKey: "shop-key-123", appId: SENDER, send: ["orders/*"], receive: [] },
      {
        name: "billing",
        accessKey: "billing-key-123",
        appId: RECEIVER,
        send: [],
        receive: ["orders/*"],
      },
    ],
  });
}

interface Receiver {
  session: EngineSession;
  got: StoredEvent[];
}

async function setup(
  clock: FakeClock,
  ackTimeoutMs = 1_000,
  store: MemoryEventStore = new MemoryEventStore(),
): Promise<
  { broker: EnSyncBroker; shop: EngineSession; receiver: () => Receiver } & AsyncDisposable
> {
  const broker = new EnSyncBroker(store, registry(), { clock, ackTimeoutMs });
  await broker.start();
  const shop = broker.connect("shop-key-123", { deliver: () => {} });
  return {
    broker,
    shop,
    receiver: () => {
      const got: StoredEvent[] = [];
      const session = broker.connect("billing-key-123", { deliver: (_s, ev) => got.push(ev) });
      return { session, got };
    },
    [Symbol.asyncDispose]: () => broker.close(),
  };
}

async function rejectsWith(p: Promise<unknown>, code: EnSyncEngineErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof EnSyncEngineError, String(err));
    assert.equal(err.code, code);
    return true;
  });
}

function publish(t: { broker: EnSyncBroker; shop: EngineSession }, n: number): Promise<unknown> {
  return t.broker.publish(t.shop, {
    name: "orders/created",
    payload: btoa(`order ${n}`),
    deliveryTo: RECEIVER,
    metadata: JSON.stringify({ n }),
  });
}

Deno.test("EnSyncBroker: an event not acked within the ack timeout is redelivered, not before", async () => {
  const clock = new FakeClock(Date.now());
  await using t = await setup(clock, 1_000);
  const a = t.receiver();
  const b = t.receiver();
  await t.broker.subscribe(a.session, "orders/created");
  await publish(t, 1);
  await waitFor(() => a.got.length === 1, { what: "the first delivery" });
  await t.broker.subscribe(b.session, "orders/created");
  // One in flight per subscription: a second event goes to the other consumer.
  await publish(t, 2);
  await waitFor(() => b.got.length === 1, { what: "the second delivery" });
  await t.broker.ack(b.session, b.got[0]!.idem);

  await clock.tick(900);
  assert.equal(a.got.length + b.got.length, 2, "nothing redelivered before the timeout");
  await clock.tick(400);
  await waitFor(() => a.got.length + b.got.length === 3, { what: "the redelivery" });
  const again = [...a.got, ...b.got].at(-1)!;
  assert.equal(again.idem, a.got[0]!.idem);
  // The new holder acks it; it is not redelivered again.
  const holder = a.got.length === 2 ? a : b;
  await t.broker.ack(holder.session, again.idem);
  await clock.tick(5_000);
  assert.equal(a.got.length + b.got.length, 3, "an acked event is not redelivered");
});

Deno.test("EnSyncBroker: a disconnect returns the events a session held to the queue at once", async () => {
  const clock = new FakeClock(Date.now());
  await using t = await setup(clock, 60_000);
  const a = t.receiver();
  await t.broker.subscribe(a.session, "orders/*");
  await publish(t, 1);
  await waitFor(() => a.got.length === 1, { what: "the delivery" });
  await t.broker.disconnect(a.session);
  const b = t.receiver();
  await t.broker.subscribe(b.session, "orders/*");
  await waitFor(() => b.got.length === 1, { what: "the redelivery" });
  assert.equal(b.got[0]!.idem, a.got[0]!.idem);
  await rejectsWith(t.broker.ack(a.session, a.got[0]!.idem), "CLIENT_NOT_FOUND");
});

Deno.test("EnSyncBroker: defer sets the due time on the broker's clock and checks its bounds", async () => {
  const clock = new FakeClock(Date.now());
  await using t = await setup(clock);
  const a = t.receiver();
  await t.broker.subscribe(a.session, "orders/created");
  await publish(t, 1);
  await waitFor(() => a.got.length === 1, { what: "the delivery" });
  const idem = a.got[0]!.idem;
  await rejectsWith(t.broker.defer(a.session, idem, 999, "too soon"), "INVALID_DELAY");
  await rejectsWith(t.broker.defer(a.session, idem, 86_400_001, "too late"), "INVALID_DELAY");
  const dueAt = await t.broker.defer(a.session, idem, 5_000, "later");
  assert.equal(dueAt, clock.now() + 5_000);
  const record = await t.broker.store.lookup(idem);
  assert.equal(record?.state, "deferred");
  assert.equal(record?.dueAt, dueAt);
  // A deferred event is no longer in flight, so the ack timeout leaves it alone.
  await clock.tick(3_000);
  assert.equal(a.got.length, 1);
});

Deno.test("EnSyncBroker: refused commands carry their stable code", async () => {
  const clock = new FakeClock(Date.now());
  await using t = await setup(clock);
  assert.throws(() => t.broker.connect("wrong-key", { deliver: () => {} }), (err: unknown) => {
    return err instanceof EnSyncEngineError && err.code === "CLIENT_NOT_FOUND";
  });
  assert.throws(() => t.broker.connect("", { deliver: () => {} }), (err: unknown) => {
    return err instanceof EnSyncEngineError && err.code === "MISSING_PARAMETERS";
  });
  await rejectsWith(
    t.broker.publish(t.shop, { name: "refunds/x", payload: "e30=", deliveryTo: RECEIVER }),
    "PERMISSION_DENIED",
  );
  await rejectsWith(
    t.broker.publish(t.shop, { name: "orders/created", payload: "e30=", deliveryTo: id(9) }),
    "NOT_FOUND",
  );
  await rejectsWith(
    t.broker.publish(t.shop, {
      name: "orders/created",
      payload: "not base64!",
      deliveryTo: RECEIVER,
    }),
    "INVALID_PAYLOAD",
  );
  await rejectsWith(
    t.broker.publish(t.shop, { name: "orders/created", payload: "", deliveryTo: RECEIVER }),
    "MISSING_PARAMETERS",
  );
  const a = t.receiver();
  await rejectsWith(t.broker.ack(a.session, "no-such-event"), "NOT_FOUND");
  await rejectsWith(t.broker.unsubscribe(a.session, "orders/created"), "NOT_SUBSCRIBED");
  await t.broker.subscribe(a.session, "orders/created");
  t.broker.pause(a.session, "orders/created");
  assert.throws(() => t.broker.pause(a.session, "orders/created"), (err: unknown) => {
    return err instanceof EnSyncEngineError && err.code === "ALREADY_PAUSED";
  });
  t.broker.resume(a.session, "orders/created");
  assert.throws(() => t.broker.resume(a.session, "orders/created"), (err: unknown) => {
    return err instanceof EnSyncEngineError && err.code === "NOT_PAUSED";
  });
  await t.broker.close();
  assert.throws(
    () => t.broker.connect("billing-key-123", { deliver: () => {} }),
    (err: unknown) => {
      return err instanceof EnSyncEngineError && err.code === "UNAVAILABLE";
    },
  );
});

/** A real memory store whose next `failures` settles and releases fail (a store outage). */
class FailingStore extends MemoryEventStore {
  settleFailures = 0;
  releaseFailures = 0;
  override settle(
    ...args: Parameters<MemoryEventStore["settle"]>
  ): ReturnType<MemoryEventStore["settle"]> {
    if (this.settleFailures > 0) {
      this.settleFailures--;
      return Promise.reject(new Error("connection is closed (store down)"));
    }
    return super.settle(...args);
  }
  override release(...args: Parameters<MemoryEventStore["release"]>): Promise<void> {
    if (this.releaseFailures > 0) {
      this.releaseFailures--;
      return Promise.reject(new Error("connection is closed (store down)"));
    }
    return super.release(...args);
  }
}

/** Subscribes a receiver and has it hold one event in flight. */
async function oneHeld(
  t: { broker: EnSyncBroker; shop: EngineSession; receiver: () => Receiver },
): Promise<{ a: Receiver; idem: string }> {
  const a = t.receiver();
  await t.broker.subscribe(a.session, "orders/created");
  await publish(t, 1);
  await waitFor(() => a.got.length === 1, { what: "the delivery" });
  return { a, idem: a.got[0]!.idem };
}

Deno.test("EnSyncBroker: an ack the store failed can be sent again, and is not stranded in flight", async () => {
  const clock = new FakeClock(Date.now());
  const store = new FailingStore();
  await using t = await setup(clock, 3_600_000, store);
  const { a, idem } = await oneHeld(t);
  store.settleFailures = 1;
  await rejectsWith(t.broker.ack(a.session, idem), "STORE_ERROR");
  // Before the fix: NOT_IN_FLIGHT ("being processed by another client"), and the event stayed in
  // flight in the store until the engine restarted.
  await t.broker.ack(a.session, idem);
  assert.equal((await store.lookup(idem))?.state, "acked");
  await clock.tick(120_000);
  assert.equal(a.got.length, 1, "an acked event is not redelivered");
});

Deno.test("EnSyncBroker: an event whose ack failed and is never retried returns to its queue once the store answers", async () => {
  const clock = new FakeClock(Date.now());
  const store = new FailingStore();
  await using t = await setup(clock, 3_600_000, store);
  const { a, idem } = await oneHeld(t);
  store.settleFailures = 1;
  store.releaseFailures = 1; // still down at the first release
  await rejectsWith(t.broker.ack(a.session, idem), "STORE_ERROR");
  await clock.tick(999);
  assert.equal(a.got.length, 1, "not released before the first retry time");
  await clock.tick(1); // first release: fails (the store is still down)
  await clock.tick(1_999);
  assert.equal(a.got.length, 1);
  await clock.tick(1); // second release, 2 s later: the store answers
  await waitFor(() => a.got.length === 2, { what: "the redelivery" });
  assert.equal(a.got[1]!.idem, idem);
  await t.broker.ack(a.session, idem);
  assert.equal((await store.lookup(idem))?.state, "acked");
});
