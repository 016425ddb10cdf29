// Our fastapi_websocket_pubsub client against our server (and against small fake servers for
// the time-dependent parts, driven by a manual clock).
import assert from "node:assert/strict";
import {
  ALL_TOPICS,
  connectFastApiPubSub,
  connectFastApiPubSubWith,
  FastApiPubSubError,
  type FastApiPubSubState,
} from "../../../lib/pubsub/fastapi_client.ts";
import { startPubSubServer } from "../../../servers/pubsub/mod.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { ManualClock } from "./fastapi_helpers.ts";

async function rejects(promise: Promise<unknown>, code: string): Promise<FastApiPubSubError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof FastApiPubSubError, `expected a FastApiPubSubError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  throw new Error(`expected a rejection with ${code}`);
}

function collector(
  client: { onNotify(l: (t: string, d: unknown) => void): () => void },
): [string, unknown][] {
  const got: [string, unknown][] = [];
  client.onNotify((topic, data) => got.push([topic, data]));
  return got;
}

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

interface FakeServer extends AsyncDisposable {
  url: string;
  frames: Record<string, unknown>[];
  sockets: WebSocket[];
}

/** A WebSocket server whose answers the test decides (`onFrame` returns the reply, if any). */
function fakeServer(
  onFrame: (frame: Record<string, unknown>, socket: WebSocket) => string | undefined,
): FakeServer {
  const frames: Record<string, unknown>[] = [];
  const sockets: WebSocket[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    sockets.push(socket);
    socket.onmessage = (evt) => {
      const frame = JSON.parse(evt.data as string);
      frames.push(frame);
      const reply = onFrame(frame, socket);
      if (reply !== undefined) socket.send(reply);
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/pubsub`,
    frames,
    sockets,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) if (s.readyState === WebSocket.OPEN) s.close();
      await server.shutdown();
    },
  };
}

function pongFor(frame: Record<string, unknown>): string {
  const req = frame.request as { call_id: string };
  return `{"request": null, "response": {"result": "pong", "result_type": "str", "call_id": "${req.call_id}"}}`;
}
function method(frame: Record<string, unknown>): string | undefined {
  return (frame.request as { method?: string } | null)?.method;
}

Deno.test("connectFastApiPubSub() subscribes, publishes sync and async, and unsubscribes", async () => {
  await using server = await startPubSubServer({ port: 0 });
  await using a = connectFastApiPubSub(server.url);
  await using b = connectFastApiPubSub(server.url);
  const got = collector(b);
  await b.subscribe(["net/w/one", "net/w/two"]);
  await a.ready();
  assert.equal(a.state, "open");
  assert.equal(await a.publish(["net/w/one"], "sync"), true);
  // sync: b answered the notify before the server answered a.
  assert.deepEqual(got, [["net/w/one", "sync"]]);
  assert.equal(await a.publish(["net/w/two"], { n: 1, list: [1, "é"] }, { sync: false }), true);
  await waitFor(() => got.length === 2);
  assert.deepEqual(got[1], ["net/w/two", { n: 1, list: [1, "é"] }]);
  await b.unsubscribe(["net/w/one"]);
  await a.publish(["net/w/one"], "not delivered");
  await a.publish(["net/w/two"], "delivered");
  assert.deepEqual(got.slice(2), [["net/w/two", "delivered"]]);
});

Deno.test("connectFastApiPubSub() uses one connection to publish and subscribe, in order; ALL_TOPICS; own events with a notifier id", async () => {
  await using server = await startPubSubServer({ port: 0 });
  await using me = connectFastApiPubSub(server.url);
  await using all = connectFastApiPubSub(server.url);
  const mine = collector(me);
  const every = collector(all);
  await me.subscribe(["t"]);
  await all.subscribe([ALL_TOPICS]);
  assert.equal(server.connections, 2);
  const sends: Promise<boolean>[] = [];
  for (let i = 0; i < 300; i++) sends.push(me.publish([i % 2 ? "t" : "u"], i, { sync: false }));
  assert.deepEqual(new Set(await Promise.all(sends)), new Set([true]));
  await waitFor(() => every.length === 300);
  assert.deepEqual(every.map(([, d]) => d), [...Array(300).keys()]);
  assert.deepEqual(every.slice(0, 2), [["u", 0], ["t", 1]]);
  // notifier_id null (default): the server skips the publisher's own connection.
  assert.equal(mine.length, 0);
  await me.publish(["t"], "echo", { notifierId: "me" });
  assert.deepEqual(mine, [["t", "echo"]]);
  assert.equal(server.connections, 2);
});

Deno.test("connectFastApiPubSub() reconnects across a server restart and subscribes again", async () => {
  let server = await startPubSubServer({ port: 0 });
  const port = server.port;
  await using sub = connectFastApiPubSub(server.url, { minBackoffMs: 10, maxBackoffMs: 100 });
  const states: FastApiPubSubState[] = [];
  sub.onState((s) => states.push(s));
  const got = collector(sub);
  await sub.subscribe(["net/w/e"]);
  await server.close({ code: 1012 });
  await waitFor(() => sub.state === "reconnecting");
  // A publish while disconnected waits for the connection and goes out in order.
  const queued = sub.publish(["elsewhere"], "queued while down");
  server = await startPubSubServer({ port });
  try {
    await sub.ready();
    assert.equal(await queued, true);
    await using pub = connectFastApiPubSub(server.url);
    assert.equal(await pub.publish(["net/w/e"], "after restart"), true);
    assert.deepEqual(got, [["net/w/e", "after restart"]]);
    // Each failed attempt while the server was down reports "reconnecting" again.
    assert.deepEqual(states.filter((s, i) => s !== states[i - 1]), [
      "open",
      "reconnecting",
      "open",
    ]);
  } finally {
    await sub.close();
    await server.close();
  }
});

Deno.test("connectFastApiPubSub() stops on 401 with an error that says a token is needed", async () => {
  await using server = await startPubSubServer({ port: 0, token: "s3cret" });
  const none = connectFastApiPubSub(server.url, { minBackoffMs: 10 });
  const err = await rejects(none.ready(), "FASTAPI_AUTH");
  assert.match(err.message, /HTTP 401\): it needs a token/);
  assert.equal(none.state, "closed");
  await rejects(none.publish(["t"], 1), "FASTAPI_AUTH");
  const wrong = connectFastApiPubSub(server.url, { token: "nope" });
  assert.match((await rejects(wrong.ready(), "FASTAPI_AUTH")).message, /refused the token/);
  await using right = connectFastApiPubSub(server.url, { token: "s3cret" });
  await right.ready();
  assert.equal(await right.publish(["t"], 1), true);
});

Deno.test("connectFastApiPubSub() refuses a URL that is not ws:// or wss://", () => {
  assert.throws(() => connectFastApiPubSub("http://127.0.0.1:8085/pubsub"), FastApiPubSubError);
  assert.throws(() => connectFastApiPubSub("not a url"), FastApiPubSubError);
});

Deno.test("connectFastApiPubSub() backs off exponentially with jitter (manual clock)", async () => {
  const clock = new ManualClock();
  clock.randomValue = 0.5;
  const client = connectFastApiPubSubWith(`ws://127.0.0.1:${closedPort()}/pubsub`, {
    minBackoffMs: 100,
    maxBackoffMs: 1_000,
  }, { clock });
  let failures = 0;
  client.onState((state, error) => {
    if (state === "reconnecting" && error) failures++;
  });
  const delays: number[] = [];
  for (let attempt = 1; attempt <= 6; attempt++) {
    await waitFor(() => failures === attempt, { what: `failure ${attempt}` });
    const [delay] = clock.delays();
    delays.push(delay!);
    await clock.advance(delay!);
  }
  // min + random * (min(max, min * 2^(n-1)) - min), random = 0.5
  assert.deepEqual(delays, [100, 150, 250, 450, 550, 550]);
  await client.close();
});

Deno.test("connectFastApiPubSub() times out ready() and queued publishes (manual clock)", async () => {
  const clock = new ManualClock();
  const client = connectFastApiPubSubWith(`ws://127.0.0.1:${closedPort()}/pubsub`, {
    readyTimeoutMs: 3_000,
  }, {
    clock,
  });
  const ready = client.ready();
  const publish = client.publish(["t"], "x", { timeoutMs: 500 });
  const readyFailed = rejects(ready, "FASTAPI_TIMEOUT");
  const publishFailed = rejects(publish, "FASTAPI_TIMEOUT");
  await clock.advance(500);
  assert.match((await publishFailed).message, /not sent/);
  await clock.advance(2_500);
  assert.match((await readyFailed).message, /within 3000 ms/);
  await client.close();
  await rejects(client.ready(), "FASTAPI_CLOSED");
});

Deno.test("connectFastApiPubSub() pings a silent connection and drops it when the ping is not answered (manual clock)", async () => {
  let answering = true;
  await using fake = fakeServer((frame) => {
    if (method(frame) === "_ping_" && answering) return pongFor(frame);
    return undefined;
  });
  const clock = new ManualClock();
  const client = connectFastApiPubSubWith(fake.url, { keepAliveMs: 1_000 }, { clock });
  const errors: string[] = [];
  client.onState((state, error) => {
    if (state === "reconnecting") errors.push(error?.message ?? "");
  });
  await waitFor(() => client.state === "open");
  assert.equal(fake.frames.length, 1); // the readiness ping
  await clock.advance(1_000);
  await waitFor(() => fake.frames.length === 2); // keep-alive ping, answered
  await waitFor(() => clock.pending === 1 && clock.delays()[0] === 1_000, {
    what: "next keep-alive",
  });
  answering = false;
  await clock.advance(1_000);
  await waitFor(() => fake.frames.length === 3); // not answered
  assert.equal(client.state, "open");
  await clock.advance(1_000);
  assert.equal(client.state, "reconnecting");
  assert.match(errors[0]!, /keep-alive: no answer to _ping_ within 1000 ms/);
  await client.close();
});

Deno.test("connectFastApiPubSub() gives up on a server that never answers the readiness ping after 5 tries (manual clock)", async () => {
  await using fake = fakeServer(() => undefined);
  const clock = new ManualClock();
  const client = connectFastApiPubSubWith(fake.url, {}, { clock });
  const errors: string[] = [];
  client.onState((state, error) => {
    if (state === "reconnecting") errors.push(error?.message ?? "");
  });
  for (let i = 1; i <= 5; i++) {
    await waitFor(() => fake.frames.length === i, { what: `ping ${i}` });
    assert.equal(method(fake.frames[i - 1]!), "_ping_");
    await clock.advance(1_000);
  }
  assert.equal(client.state, "reconnecting");
  assert.match(errors[0]!, /No answer to the readiness _ping_ .* \(5 tries\)/);
  await client.close();
});

Deno.test("connectFastApiPubSub() answers the server's calls as a Python client does and survives unknown ones", async () => {
  await using fake = fakeServer((frame) => {
    if (method(frame) === "_ping_") return pongFor(frame);
    if (method(frame) === "subscribe") {
      const id = (frame.request as { call_id: string }).call_id;
      return `{"request": null, "response": {"result": true, "result_type": "bool", "call_id": "${id}"}}`;
    }
    return undefined;
  });
  await using client = connectFastApiPubSub(fake.url, { keepAliveMs: 0 });
  const got = collector(client);
  await client.subscribe(["t"]);
  const socket = fake.sockets[0]!;
  const call = (m: string, args: string, id: string): void =>
    socket.send(
      `{"request": {"method": "${m}", "arguments": ${args}, "call_id": "${id}"}, "response": null}`,
    );
  call("_private_", "{}", "x0");
  call("something_new", '{"a": 1}', "x1");
  call(
    "notify",
    '{"subscription": {"id": "s", "subscriber_id": "c", "topic": "t", "notifier_id": null}, "data": "payload"}',
    "x2",
  );
  socket.send("garbage that is not JSON");
  call("_ping_", "{}", "x3");
  await waitFor(() => fake.frames.filter((f) => f.response !== null).length === 3);
  assert.deepEqual(fake.frames.map(method).slice(0, 2), ["_ping_", "subscribe"]);
  const answers = fake.frames.filter((f) => f.response !== null).map((f) => f.response);
  assert.deepEqual(answers, [
    { result: null, result_type: "NoneType", call_id: "x1" },
    { result: "None", result_type: "str", call_id: "x2" },
    { result: "pong", result_type: "str", call_id: "x3" },
  ]);
  assert.deepEqual(got, [["t", "payload"]]);
  assert.equal(client.state, "open");
});

Deno.test("connectFastApiPubSub() rejects a publish whose connection drops before the answer, and never resends it", async () => {
  await using fake = fakeServer((frame, socket) => {
    if (method(frame) === "_ping_") return pongFor(frame);
    if (method(frame) === "publish") socket.close(1011, "boom");
    return undefined;
  });
  await using client = connectFastApiPubSub(fake.url, { minBackoffMs: 10 });
  await client.ready();
  const err = await rejects(client.publish(["t"], "x"), "FASTAPI_CONNECTION_LOST");
  assert.match(err.message, /may or may not have been delivered/);
  await waitFor(() => fake.sockets.length === 2 && client.state === "open");
  assert.equal(fake.frames.filter((f) => method(f) === "publish").length, 1);
});

Deno.test("connectFastApiPubSub() with retryUnheard: a publish held through a restart waits for the subscriber, or fails clearly", async () => {
  let server = await startPubSubServer({ port: 0 });
  const port = server.port;
  await using pub = connectFastApiPubSub(server.url, { minBackoffMs: 10, maxBackoffMs: 50 });
  await pub.ready();
  await server.close({ code: 1012 });
  await waitFor(() => pub.state === "reconnecting");
  const held = pub.publish(["net/w/e"], "held", { retryUnheard: true, timeoutMs: 20_000 });
  const nobody = pub.publish(["net/w/nobody"], "x", { retryUnheard: true, timeoutMs: 500 });
  const plain = pub.publish(["net/w/plain"], "y"); // without it: at most once, as the original
  server = await startPubSubServer({ port });
  try {
    await pub.ready();
    assert.equal(await plain, true);
    // The subscriber comes back after the publisher: the held publish reaches it all the same.
    await using sub = connectFastApiPubSub(server.url);
    const got = collector(sub);
    await sub.subscribe(["net/w/e"]);
    assert.equal(await held, true);
    assert.deepEqual(got, [["net/w/e", "held"]]);
    await rejects(nobody, "FASTAPI_NO_SUBSCRIBER");
  } finally {
    await pub.close();
    await server.close();
  }
});
