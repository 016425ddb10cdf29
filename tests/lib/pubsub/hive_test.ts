import assert from "node:assert/strict";
import { createHive, PubSubConfigError, PubSubError } from "../../../lib/pubsub/mod.ts";

Deno.test("createHive() routes names on whole segments: local, network-accessible, remote", () => {
  const hive = createHive({
    connectors: {
      net: { type: "redis", url: "redis://127.0.0.1:1", inputChannel: "worker" },
      other: { type: "redis", url: "redis://127.0.0.1:1", inputChannel: "" },
    },
  });
  assert.deepEqual(hive.route("bee_stuff"), { kind: "local" });
  assert.deepEqual(hive.route("worker/work"), { kind: "network-accessible", networks: ["net"] });
  assert.deepEqual(hive.route("workers/work"), { kind: "local" }, "worker does not match workers");
  assert.deepEqual(hive.route("net/worker/work"), { kind: "remote", network: "net" });
  assert.deepEqual(hive.route("other/queen/x/y"), { kind: "remote", network: "other" });
  assert.deepEqual(hive.route("net/x"), { kind: "local" }, "two segments are not remote");
  assert.deepEqual(hive.route("nope/queen/x"), { kind: "local" });
});

Deno.test("emit() of local events runs every handler, isolates errors and never publishes", async () => {
  await using hive = createHive({});
  const got: unknown[] = [];
  const errors: string[] = [];
  hive.onError((err, info) => errors.push(`${info.phase}:${info.event}:${err.message}`));
  hive.on("bee_stuff", (p) => {
    got.push(["first", p]);
  });
  hive.on("bee_stuff", () => {
    throw new Error("boom");
  });
  hive.on("bee_stuff", async (p) => {
    await Promise.resolve();
    got.push(["third", p]);
    throw new Error("later boom");
  });
  const payload = { n: 1 };
  await hive.emit("bee_stuff", payload);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(got, [["first", { n: 1 }], ["third", { n: 1 }]]);
  assert.deepEqual(errors, ["handler:bee_stuff:boom", "handler:bee_stuff:later boom"]);
  assert.deepEqual(payload, { n: 1 });
  assert.equal(hive.stats().handlerErrors, 2);
  assert.equal(hive.stats().published, 0);
});

Deno.test("emit() refuses payloads that are not objects and remote events before start", async () => {
  await using hive = createHive({
    connectors: { net: { type: "redis", url: "redis://127.0.0.1:1", inputChannel: "q" } },
  });
  await assert.rejects(hive.emit("x", [1, 2] as unknown as Record<string, unknown>), TypeError);
  await assert.rejects(
    hive.emit("x", null as unknown as Record<string, unknown>),
    /plain JSON object/,
  );
  await assert.rejects(
    hive.emit("net/worker/work", {}),
    (err) => err instanceof PubSubError && err.code === "PUBSUB_NOT_STARTED",
  );
  await assert.rejects(
    hive.request("bee_stuff", {}),
    (err) => err instanceof PubSubError && err.code === "PUBSUB_NO_ROUTE",
  );
});

Deno.test("start() with servers to create and no startServer says what to pass", async () => {
  await using hive = createHive({
    servers: { net: { host: "127.0.0.1", port: 0, create: "always" } },
    source: "hive.yaml",
  } as never);
  await assert.rejects(hive.start(), (err) => {
    assert.ok(err instanceof PubSubConfigError);
    assert.match(
      err.message,
      /^hive\.yaml: servers\.net: create: always needs a server starter: pass startServer/,
    );
    assert.equal(err.key, "servers.net.create");
    return true;
  });
});

Deno.test("start() starts the servers of servers: through the injected startServer, stop() stops them", async () => {
  const calls: string[] = [];
  const hive = createHive({
    servers: {
      a: { host: "127.0.0.1", port: 9999, create: "always" },
      b: { host: "127.0.0.1", port: 9998, create: "never" },
    },
    startServer: (name, init) => {
      calls.push(`start ${name} ${init.host}:${init.port}${init.endpoint} ${init.scheme}`);
      return Promise.resolve({
        [Symbol.asyncDispose]: () => {
          calls.push(`stop ${name}`);
          return Promise.resolve();
        },
      });
    },
  });
  await hive.start();
  assert.equal(hive.state, "started");
  await hive.stop();
  assert.deepEqual(calls, ["start a 127.0.0.1:9999/pubsub ws", "stop a"]);
});

Deno.test("start() of a create: needed server asks discovery first and creates only if none answers", async () => {
  for (const found of [true, false]) {
    const calls: string[] = [];
    await using hive = createHive({
      servers: { net: { host: "127.0.0.1", port: 1, create: "needed", broadcast: true } },
      discovery: {
        discover: (name, { timeoutMs }) => {
          calls.push(`discover ${name} ${timeoutMs}`);
          return Promise.resolve(
            found ? { host: "10.0.0.1", port: 1, endpoint: "/pubsub", scheme: "ws" } : undefined,
          );
        },
        advertise: (name, info) => {
          calls.push(`advertise ${name} ${info.port}`);
          return Promise.resolve({ [Symbol.asyncDispose]: () => Promise.resolve() });
        },
      },
      startServer: (name) => {
        calls.push(`start ${name}`);
        return Promise.resolve({ [Symbol.asyncDispose]: () => Promise.resolve() });
      },
    });
    await hive.start();
    assert.deepEqual(
      calls,
      found ? ["discover net 5000"] : ["discover net 5000", "start net", "advertise net 1"],
    );
  }
});

Deno.test("start() reports an unreachable backend with what to check", async () => {
  await using hive = createHive({
    connectors: {
      net: { type: "redis", url: "redis://127.0.0.1:1", inputChannel: "q", connectTimeoutMs: 500 },
    },
  });
  await assert.rejects(hive.start(), (err) => {
    assert.ok(err instanceof PubSubError);
    assert.equal(err.code, "PUBSUB_CONNECT");
    assert.match(err.message, /Cannot connect connector net to Redis at redis:\/\/127\.0\.0\.1:1/);
    return true;
  });
  assert.equal(hive.state, "stopped");
});
