import assert from "node:assert/strict";
import {
  createEventRegister,
  createZapClient,
  type EventRegister,
  type FrameError,
  type ZapClient,
  ZapClientError,
  type ZapClientState,
} from "../../../lib/hub/mod.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { startHub } from "./_helpers.ts";

function echoRegister(log: unknown[] = []): EventRegister {
  return createEventRegister().on("echo", ({ connection, payload, headers }) => {
    log.push(payload);
    connection.send("echo", payload, headers);
  });
}

/** Collects every state of `client` from now on. */
function recordStates(client: ZapClient): ZapClientState[] {
  const states: ZapClientState[] = [];
  (async () => {
    for await (const s of client.states()) states.push(s);
  })();
  return states;
}

Deno.test("ZapClient connects, sends with headers always present, and receives through on() and events()", async () => {
  await using server = startHub(echoRegister());
  const client = createZapClient();
  const viaOn: unknown[] = [];
  const off = client.on("echo", (e) => viaOn.push(e.payload));
  client.send("echo", "queued before connect"); // waits in the offline queue
  assert.equal(client.queued, 1);
  const events = client.events();
  await client.connect(server.url);
  assert.equal(client.state, "ONLINE");
  client.send("echo", { n: 1 }, { trace: "t1" });
  client.send("echo");
  const got = [
    (await events.next()).value,
    (await events.next()).value,
    (await events.next()).value,
  ];
  assert.deepEqual(got, [
    { eventName: "echo", payload: "queued before connect", headers: {} },
    { eventName: "echo", payload: { n: 1 }, headers: { trace: "t1" } },
    { eventName: "echo", payload: null, headers: {} },
  ]);
  assert.deepEqual(viaOn, ["queued before connect", { n: 1 }, null]);
  off();
  await client.close();
  assert.equal((await events.next()).done, true, "events() ends when the client closes");
  assert.equal(client.state, "OFFLINE");
  assert.throws(() => client.send("echo"), (err: unknown) => {
    assert.ok(err instanceof ZapClientError);
    assert.equal(err.code, "CLIENT_CLOSED");
    return true;
  });
});

Deno.test("ZapClient reconnects after the server restarts: states in order, queued sends delivered", async () => {
  const received: unknown[] = [];
  const first = startHub(echoRegister(received));
  const port = first.port;
  const client = createZapClient({
    reconnect: { initialDelayMs: 50, maxDelayMs: 200, jitter: 0.2 },
  });
  const states = recordStates(client);
  await client.connect(first.url);
  client.send("echo", "before");
  await waitFor(() => received.length === 1);

  await first.stop(); // closes every connection with 1001, then stops listening
  await waitFor(() => client.state !== "ONLINE", { what: "the client to notice" });
  client.send("echo", "offline 1");
  client.send("echo", "offline 2");
  client.send("echo", "offline 3");
  assert.equal(client.queued, 3);
  await waitFor(() => states.filter((s) => s === "ERROR").length >= 1, {
    what: "a failed reconnect attempt while the server is down",
  });

  await using second = startHub(echoRegister(received), { port });
  await waitFor(() => received.length === 4, { timeoutMs: 5_000, what: "queued sends" });
  assert.deepEqual(received, ["before", "offline 1", "offline 2", "offline 3"]);
  assert.equal(client.queued, 0);
  assert.equal(client.state, "ONLINE");
  await client.close();
  await waitFor(() => states.at(-1) === "OFFLINE");

  // OFFLINE (initial), CONNECTING, ONLINE, OFFLINE (server went away), then one or more
  // CONNECTING/ERROR pairs while it is down, then CONNECTING, ONLINE, and OFFLINE after close().
  assert.deepEqual(states.slice(0, 4), ["OFFLINE", "CONNECTING", "ONLINE", "OFFLINE"]);
  const middle = states.slice(4, -3);
  assert.ok(middle.length >= 2 && middle.length % 2 === 0, states.join(","));
  for (let i = 0; i < middle.length; i += 2) {
    assert.deepEqual(middle.slice(i, i + 2), ["CONNECTING", "ERROR"], states.join(","));
  }
  assert.deepEqual(states.slice(-3), ["CONNECTING", "ONLINE", "OFFLINE"]);
  void second;
});

Deno.test("ZapClient with reconnect off rejects connect() with CONNECT_FAILED and ends in ERROR", async () => {
  await using server = startHub(createEventRegister());
  const url = server.url;
  await server.stop();
  const client = createZapClient({ reconnect: false });
  const states = recordStates(client);
  await assert.rejects(client.connect(url), (err: unknown) => {
    assert.ok(err instanceof ZapClientError);
    assert.equal(err.code, "CONNECT_FAILED");
    assert.match(err.message, /reconnect is off/);
    return true;
  });
  assert.equal(client.state, "ERROR");
  await waitFor(() => states.length === 3);
  assert.deepEqual(states, ["OFFLINE", "CONNECTING", "ERROR"]);
  assert.throws(() => client.send("x"), /client is closed/);
});

Deno.test("ZapClient gives up after maxAttempts with growing, capped backoff delays", async () => {
  await using server = startHub(createEventRegister());
  const url = server.url;
  await server.stop();
  const clock = new FakeClock();
  const client = createZapClient({
    reconnect: { initialDelayMs: 40, factor: 2, maxDelayMs: 100, jitter: 0, maxAttempts: 3 },
    clock,
  });
  const starts: number[] = [];
  (async () => {
    for await (const s of client.states()) if (s === "CONNECTING") starts.push(clock.now());
  })();
  const gaveUp = assert.rejects(client.connect(url), /gave up after 3 attempts/);
  // Each attempt fails for real (nothing listens); the retry waits on the fake clock.
  for (const expected of [40, 80, 100]) {
    await waitFor(() => client.state === "ERROR" && clock.pending === 1, {
      what: "the attempt to fail and the retry to be armed",
    });
    const attempts = starts.length;
    await clock.tick(expected - 1);
    assert.equal(starts.length, attempts, `no retry before ${expected} ms`);
    await clock.tick(1);
    assert.equal(starts.length, attempts + 1, `the retry after ${expected} ms`);
  }
  await gaveUp;
  assert.equal(starts.length, 4, "the first attempt plus three retries");
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  assert.deepEqual(gaps, [40, 80, 100], "40, 80, then capped at 100 ms");
  assert.equal(clock.pending, 0);
});

Deno.test("ZapClient refuses sends past the offline queue limit with QUEUE_FULL", () => {
  const client = createZapClient({ queueLimit: 2 });
  client.send("a");
  client.send("b");
  assert.throws(() => client.send("c"), (err: unknown) => {
    assert.ok(err instanceof ZapClientError);
    assert.equal(err.code, "QUEUE_FULL");
    assert.match(err.message, /queue already holds 2 events/);
    return true;
  });
  assert.equal(client.queued, 2);
});

Deno.test("ZapClient reports malformed frames from the server and keeps working", async () => {
  const register = createEventRegister()
    .on("bad", ({ connection }) => {
      connection.sendFrame('{"payload": "no name"}');
      connection.sendFrame("not json");
      connection.send("good", 1);
    });
  await using server = startHub(register);
  const problems: FrameError[] = [];
  const client = createZapClient({ onProtocolError: (err) => problems.push(err) });
  const events = client.events();
  await client.connect(server.url);
  client.send("bad");
  assert.deepEqual((await events.next()).value, { eventName: "good", payload: 1, headers: {} });
  assert.deepEqual(problems.map((p) => p.code), ["MISSING_EVENT_NAME", "INVALID_JSON"]);
  await client.close();
});

Deno.test("ZapClient.close() delivers what was sent just before it", async () => {
  const received: unknown[] = [];
  await using server = startHub(
    createEventRegister().on("bulk", ({ payload }) => {
      received.push(payload);
    }),
  );
  const client = createZapClient();
  await client.connect(server.url);
  const big = "z".repeat(64 * 1024);
  for (let i = 0; i < 50; i++) client.send("bulk", { i, big });
  await client.close();
  await waitFor(() => received.length === 50, { what: "every event sent before close()" });
  assert.deepEqual(received.map((p) => (p as { i: number }).i), [...Array(50).keys()]);
});

Deno.test("ZapClient states() gives every observer every state, starting with the current one", async () => {
  await using server = startHub(createEventRegister());
  const client = createZapClient();
  const a = recordStates(client);
  await client.connect(server.url);
  const b = recordStates(client);
  await client.close();
  await waitFor(() => a.at(-1) === "OFFLINE" && b.at(-1) === "OFFLINE" && a.length === 4);
  assert.deepEqual(a, ["OFFLINE", "CONNECTING", "ONLINE", "OFFLINE"]);
  assert.deepEqual(b, ["ONLINE", "OFFLINE"]);
});

Deno.test("ZapClient rejects an invalid URL with CONNECT_FAILED at once", async () => {
  const client = createZapClient();
  await assert.rejects(client.connect("http://[not a url"), (err: unknown) => {
    assert.ok(err instanceof ZapClientError);
    assert.equal(err.code, "CONNECT_FAILED");
    return true;
  });
});

Deno.test("ZapClient stops at a 401/403 upgrade answer with UNAUTHORIZED instead of retrying", async () => {
  for (const status of [401, 403]) {
    let upgrades = 0;
    await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      upgrades++;
      return new Response("token required", { status });
    });
    const client = createZapClient({ reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
    const states: string[] = [];
    const watching = (async () => {
      for await (const s of client.states()) states.push(s);
    })();
    await assert.rejects(
      client.connect(`ws://127.0.0.1:${server.addr.port}/ws`),
      (err) =>
        err instanceof ZapClientError && err.code === "UNAUTHORIZED" &&
        err.message.includes(`HTTP ${status}`),
    );
    await watching;
    assert.equal(upgrades, 1, "no retry after a refusal");
    assert.deepEqual(states, ["OFFLINE", "CONNECTING", "ERROR"]);
  }
});
