import assert from "node:assert/strict";
import {
  loadHiveConfig,
  parseHiveConfig,
  PubSubConfigError,
  resolveHiveConfig,
} from "../../../lib/pubsub/mod.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";

// The shape of eventhive's own example configs.
const EVENTHIVE_YAML = `
eventhive:
  metadata_key: '__eventhive__'
  remove_metadata: false
connectors:
  my-beehive:
    pubsub_type: redis
    input_channel: worker-bee
    secret: 'abc'
    init:
      host: 127.0.0.1
      port: 6379
      db: 0
      decode_responses: true
  fast:
    pubsub_type: fastapi
    input_channel: ''
    init:
      host: 127.0.0.1
      port: '8085'
      endpoint: pubsub
  found:
    pubsub_type: fastapi
    input_channel: rx
    from_broadcast: true
  old:
    pubsub_type: redis
    input_channel: x
    channels: ['*']
    init: {}
servers:
  fast:
    pubsub_type: fastapi
    init: { host: 0.0.0.0, port: 8085, endpoint: /pubsub, scheme: ws }
    create: needed
    broadcast: 'false'
`;

Deno.test("parseHiveConfig() reads eventhive's keys and defaults", () => {
  const c = parseHiveConfig(EVENTHIVE_YAML, { file: "eventhive.yaml" });
  assert.equal(c.metadataKey, "__eventhive__");
  assert.equal(c.separator, "/");
  assert.equal(c.receiveOwn, true);
  assert.equal(c.dedupeSize, 10_000);
  assert.deepEqual(c.connectors["my-beehive"], {
    type: "redis",
    inputChannel: "worker-bee",
    secret: "abc",
    host: "127.0.0.1",
    port: 6379,
    db: 0,
  });
  assert.deepEqual(c.connectors.fast, {
    type: "fastapi",
    inputChannel: "",
    host: "127.0.0.1",
    port: 8085,
    endpoint: "/pubsub",
  });
  assert.deepEqual(c.connectors.found, {
    type: "fastapi",
    inputChannel: "rx",
    fromBroadcast: true,
  });
  assert.deepEqual(c.connectors.old, { type: "redis", inputChannel: "x" });
  assert.deepEqual(c.servers.fast, {
    type: "fastapi",
    host: "0.0.0.0",
    port: 8085,
    endpoint: "/pubsub",
    scheme: "ws",
    create: "needed",
    broadcast: false,
  });
  assert.equal(c.source, "eventhive.yaml");
  assert.deepEqual(parseHiveConfig("").connectors, {});
});

Deno.test("parseHiveConfig() errors name the file and the key", () => {
  const cases: [string, RegExp][] = [
    [
      "connectors:\n  net:\n    pubsub_type: kafka\n    input_channel: x\n",
      /^hive\.yaml: connectors\.net\.pubsub_type: expected "redis", "fastapi" or "nats"/,
    ],
    [
      "connectors:\n  net:\n    pubsub_type: redis\n    init: {}\n",
      /^hive\.yaml: connectors\.net\.input_channel: missing \(required\)/,
    ],
    [
      "connectors:\n  net:\n    pubsub_type: redis\n    input_channel: w\n",
      /^hive\.yaml: connectors\.net\.init: missing \(required unless from_broadcast\)/,
    ],
    [
      "connectors:\n  net:\n    pubsub_type: redis\n    input_channel: w\n    init: {prot: 1}\n",
      /^hive\.yaml: connectors\.net\.init\.prot: unknown key "prot"/,
    ],
    [
      "connectors:\n  net:\n    pubsub_type: fastapi\n    input_channel: w\n    init: {port: abc}\n",
      /^hive\.yaml: connectors\.net\.init\.port: expected a port number \(0-65535\) \(got "abc"\)/,
    ],
    [
      "connectors:\n  net:\n    pubsub_type: fastapi\n    input_channel: w\n    from_broadcast: -1\n",
      /^hive\.yaml: connectors\.net\.from_broadcast:/,
    ],
    [
      "connectors:\n  a/b:\n    pubsub_type: redis\n    input_channel: w\n    init: {}\n",
      /^hive\.yaml: connectors\.a\/b: a network name must be non-empty, without spaces or "\/"/,
    ],
    [
      "servers:\n  net:\n    init: {host: 0.0.0.0, port: 8085}\n",
      /^hive\.yaml: servers\.net\.create: missing \(required\)/,
    ],
    [
      "servers:\n  net:\n    pubsub_type: other\n    init: {host: 0.0.0.0, port: 1}\n    create: always\n",
      /^hive\.yaml: servers\.net\.pubsub_type: expected "fastapi"/,
    ],
    [
      "eventhive:\n  metadata_keyy: x\n",
      /^hive\.yaml: eventhive\.metadata_keyy: unknown key "metadata_keyy" \(known: metadata_key, /,
    ],
    ["foo: 1\n", /^hive\.yaml: foo: unknown key "foo" \(known: eventhive, connectors, servers\)/],
    ["connectors: [1\n", /^hive\.yaml: line \d+: not valid YAML/],
    [
      "connectors:\n  net:\n    pubsub_type: redis\n    input_channel: w\n    accept_legacy: true\n    init: {}\n",
      /^hive\.yaml: connectors\.net\.accept_legacy: needs a secret/,
    ],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseHiveConfig(text, { file: "hive.yaml" }), (err) => {
      assert.ok(err instanceof PubSubConfigError, String(err));
      assert.match(err.message, pattern);
      assert.equal(err.file, "hive.yaml");
      return true;
    });
  }
});

Deno.test("EVENTHIVE_SECRET sets secrets on the named connectors; ':' may appear in a secret", () => {
  const yaml =
    "connectors:\n  a:\n    pubsub_type: redis\n    input_channel: w\n    init: {}\n    secret: from-file\n  b:\n    pubsub_type: redis\n    input_channel: w\n    init: {}\n";
  const c = parseHiveConfig(yaml, { env: { EVENTHIVE_SECRET: "a:x:y:z  b:plain" } });
  assert.equal(c.connectors.a!.secret, "x:y:z", "the environment wins over the file");
  assert.equal(c.connectors.b!.secret, "plain");
  assert.equal(c.connectors.secret, undefined, "no bogus connector named secret");
  assert.throws(
    () => parseHiveConfig(yaml, { file: "h.yaml", env: { EVENTHIVE_SECRET: "nope:1" } }),
    /EVENTHIVE_SECRET: nope: no connector "nope" in h\.yaml \(connectors: a, b\)/,
  );
  assert.throws(
    () => parseHiveConfig(yaml, { env: { EVENTHIVE_SECRET: "nocolon" } }),
    /expected "<connector>:<secret>"/,
  );
});

Deno.test("loadHiveConfig() reads $EVENTHIVE_CONFIG, else eventhive.yaml, and names a missing file", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/hive.yaml`;
  await Deno.writeTextFile(
    path,
    "connectors:\n  n:\n    pubsub_type: nats\n    input_channel: q\n    init: {}\n",
  );
  const c = await loadHiveConfig(undefined, { env: { EVENTHIVE_CONFIG: path } });
  assert.deepEqual(c.connectors.n, { type: "nats", inputChannel: "q" });
  assert.equal(c.source, path);
  await assert.rejects(
    loadHiveConfig(`${ws.path}/missing.yaml`, { env: {} }),
    (err) =>
      err instanceof PubSubConfigError &&
      /Cannot read hive config .*missing\.yaml/.test(err.message),
  );
  await assert.rejects(
    loadHiveConfig(undefined, { env: { EVENTHIVE_CONFIG: `${ws.path}/none.yaml` } }),
    /pass a path or set EVENTHIVE_CONFIG/,
  );
});

Deno.test("resolveHiveConfig() validates the typed form with the same messages", () => {
  assert.throws(
    () =>
      resolveHiveConfig({
        connectors: { n: { type: "redis", inputChannel: "q", prot: 1 } as never },
      }),
    /options: connectors\.n\.prot: unknown key "prot"/,
  );
  assert.throws(
    () => resolveHiveConfig({ connectors: { n: { type: "zmq" } as never } }),
    /options: connectors\.n\.type: expected "redis", "fastapi" or "nats"/,
  );
  const c = resolveHiveConfig({
    connectors: { n: { type: "fastapi", inputChannel: "q", endpoint: "ps" } },
  });
  assert.equal((c.connectors.n as { endpoint: string }).endpoint, "/ps");
});
