import assert from "node:assert/strict";
import { runSyft, spawnSyft } from "../_helpers/cli.ts";
import { REDIS_URL, redisTest } from "../_helpers/redis.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";
import { createHive, decodeMessage } from "../../lib/pubsub/mod.ts";
import { Inbox, uniqueNetwork } from "../lib/pubsub/_hive_helpers.ts";

Deno.test("syft pubsub --help teaches serve, publish, listen and check with examples", async () => {
  const [run, serve, publish] = await Promise.all([
    runSyft(["pubsub", "--help"]),
    runSyft(["pubsub", "serve", "--help"]),
    runSyft(["pubsub", "publish", "--help"]),
  ]);
  assert.equal(run.code, 0, run.stderr);
  for (const sub of ["serve", "publish", "listen", "check"]) {
    assert.match(run.stdout, new RegExp(`^\\s+${sub} `, "m"));
  }
  assert.match(run.stdout, /Examples:/);
  for (const opt of ["--host", "--port", "--path", "--redis", "--token"]) {
    assert.ok(serve.stdout.includes(opt), `serve --help lacks ${opt}`);
  }
  for (
    const opt of [
      "--config",
      "--connector",
      "--redis",
      "--url",
      "--nats",
      "--secret",
      "--json-data",
    ]
  ) {
    assert.ok(publish.stdout.includes(opt), `publish --help lacks ${opt}`);
  }
});

redisTest(
  "syft pubsub listen and publish exchange events over Redis, plain and with --secret",
  async () => {
    for (const secret of [[], ["--secret", "cli:secret"]]) {
      const net = uniqueNetwork("cli");
      await using listen = spawnSyft([
        "pubsub",
        "listen",
        `${net}/worker/*`,
        "--redis",
        REDIS_URL,
        "--count",
        "2",
        ...secret,
      ]);
      // The listener reports on stderr when it is subscribed; wait for a hive to see it.
      await using probe = createHive({
        connectors: {
          [net]: {
            type: "redis",
            url: REDIS_URL,
            inputChannel: "",
            ...(secret.length ? { secret: secret[1]! } : {}),
          },
        },
      });
      await probe.start();
      const { Redis } = await import("ioredis");
      const admin = new Redis(REDIS_URL);
      for (let i = 0; i < 200; i++) {
        const n = await admin.call("PUBSUB", "NUMPAT") as number;
        const channels = await admin.publish(`${net}/worker/probe`, "not json");
        if (channels > 0 && n > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      admin.disconnect();
      const first = await runSyft([
        "pubsub",
        "publish",
        `${net}/worker/work`,
        '{"task": "build", "n": 1e-05}',
        "--redis",
        REDIS_URL,
        ...secret,
      ]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(
        first.stdout,
        new RegExp(`^published ${net}/worker/work on ${net} \\(redis://`, "m"),
      );
      const second = await runSyft([
        "--json",
        "pubsub",
        "publish",
        `${net}/worker/other`,
        "--json-data",
        '{"k": [1, 2]}',
        "--redis",
        REDIS_URL,
        ...secret,
      ]);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout).published, true);
      const { code } = await listen.child.status;
      assert.equal(code, 0);
      const lines = listen.lines.map((l) => JSON.parse(l));
      assert.equal(lines.length, 2);
      assert.equal(lines[0].event, `${net}/worker/work`);
      assert.deepEqual(lines[0].payload, { task: "build", n: 0.00001 });
      assert.equal(lines[0].metadata.event, `${net}/worker/work`);
      assert.deepEqual(lines[1].payload, { k: [1, 2] });
    }
  },
);

redisTest(
  "syft pubsub publish writes what a syft hive (and so eventhive) reads",
  async ({ url }) => {
    const net = uniqueNetwork("cli");
    await using hive = createHive({
      connectors: { [net]: { type: "redis", url, inputChannel: "rx", secret: "k" } },
    });
    const got = new Inbox();
    hive.on("rx/e", got.push);
    await hive.start();
    const run = await runSyft([
      "pubsub",
      "publish",
      `${net}/rx/e`,
      '{"a": 1}',
      "--redis",
      url,
      "--secret",
      "k",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await got.count(1))[0], { a: 1 });
  },
);

redisTest("syft pubsub publish --request prints the reply of a syft handler", async ({ url }) => {
  const net = uniqueNetwork("cli");
  await using hive = createHive({
    connectors: { [net]: { type: "redis", url, inputChannel: "calc" } },
  });
  hive.on("calc/add", (p) => ({ sum: (p.a as number) + (p.b as number) }));
  await hive.start();
  const run = await runSyft([
    "pubsub",
    "publish",
    `${net}/calc/add`,
    '{"a": 2, "b": 3}',
    "--redis",
    url,
    "--request",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { sum: 5 });
});

Deno.test("syft pubsub publish refuses bad payloads, names and sources with status 2", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["pubsub", "publish", "n/w/e", "[1,2]", "--redis", REDIS_URL],
      /eventhive events carry a JSON object, got a list/,
    ],
    [
      ["pubsub", "publish", "n/w/e", "{oops", "--redis", REDIS_URL],
      /Cannot parse \[json\] as JSON/,
    ],
    [
      ["pubsub", "publish", "n/e", "{}", "--redis", REDIS_URL],
      /expected <network>\/<input_channel>\/<event>/,
    ],
    [["pubsub", "publish", "n/w/e", "{}"], /exactly one of --config hive\.yaml, --redis URL/],
    [
      ["pubsub", "publish", "n/w/e", "{}", "--json-data", "{}", "--redis", REDIS_URL],
      /Give the payload once/,
    ],
    [["pubsub", "listen", "n/*/e", "--redis", REDIS_URL], /only a trailing \/\* is a wildcard/],
  ];
  // Independent subprocesses: run them side by side.
  const runs = await Promise.all(cases.map(([args]) => runSyft(args)));
  cases.forEach(([args, pattern], i) => {
    const run = runs[i]!;
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
  });
  const down = await runSyft([
    "pubsub",
    "publish",
    "n/w/e",
    "{}",
    "--redis",
    "redis://127.0.0.1:1",
  ]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /Cannot connect connector n to Redis at redis:\/\/127\.0\.0\.1:1/);
});

Deno.test("syft pubsub check validates a config and prints what each connector does", async () => {
  await using ws = await tempWorkspace();
  const good = `${ws.path}/hive.yaml`;
  await Deno.writeTextFile(
    good,
    `connectors:
  hive:
    pubsub_type: redis
    input_channel: worker
    secret: s
    init: { host: 127.0.0.1, port: 6379, password: hunter2 }
  fast:
    pubsub_type: fastapi
    input_channel: ''
    init: { host: 127.0.0.1, port: 8085, endpoint: /pubsub }
  bus:
    pubsub_type: nats
    input_channel: rx
    init: { jetstream: true }
servers:
  fast:
    init: { host: 127.0.0.1, port: 8085 }
    create: needed
`,
  );
  const run = await runSyft(["pubsub", "check", good]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /hive\.yaml: valid \(3 connectors, 1 server\)/);
  assert.match(
    run.stdout,
    /connector hive: redis redis:\/\/:\*\*\*@127\.0\.0\.1:6379, signed\+encrypted/,
  );
  assert.ok(!run.stdout.includes("hunter2"), "passwords are not printed");
  assert.match(
    run.stdout,
    /receives {3}PSUBSCRIBE hive\/worker\/\* -> handlers of worker\/<event>/,
  );
  assert.match(run.stdout, /connector fast: fastapi ws:\/\/127\.0\.0\.1:8085\/pubsub, plaintext/);
  assert.match(run.stdout, /receives {3}nothing \(input_channel is empty: publish-only\)/);
  assert.match(run.stdout, /connector bus: nats nats:\/\/127\.0\.0\.1:4222 \(JetStream\)/);
  assert.match(run.stdout, /SUB eventhive\.bus\.rx\.>/);
  assert.match(run.stdout, /server fast: ws:\/\/127\.0\.0\.1:8085\/pubsub create: needed/);
  const json = await runSyft(["--json", "pubsub", "check", good], {
    env: { EVENTHIVE_SECRET: "fast:x" },
  });
  const d = JSON.parse(json.stdout);
  assert.equal(d.valid, true);
  assert.equal(d.connectors.find((c: { network: string }) => c.network === "fast").secret, true);

  const bad = `${ws.path}/bad.yaml`;
  await Deno.writeTextFile(
    bad,
    "connectors:\n  hive:\n    pubsub_type: kafka\n    input_channel: w\n",
  );
  const invalid = await runSyft(["pubsub", "check", bad]);
  assert.equal(invalid.code, 2);
  assert.match(
    invalid.stderr,
    /bad\.yaml: connectors\.hive\.pubsub_type: expected "redis", "fastapi" or "nats"/,
  );
});

Deno.test("syft pubsub serve runs the server; listen and publish --url work through it", async () => {
  await using serve = spawnSyft(["pubsub", "serve", "--port", "0"]);
  const line = await serve.waitForLine(/listening on ws:\/\//);
  const url = line.match(/(ws:\/\/\S+)/)![1]!;
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/pubsub$/);
  await serve.waitForLine(/Press Ctrl-C/);
  assert.ok(serve.lines.some((l) => l.includes(`pubsub listen 'hive/worker/*' --url ${url}`)));
  const health = await fetch(url.replace(/^ws/, "http").replace(/\/pubsub$/, "/health"));
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const net = uniqueNetwork("cli");
  await using listen = spawnSyft([
    "pubsub",
    "listen",
    `${net}/worker/*`,
    "--url",
    url,
    "--count",
    "1",
  ]);
  // The listener subscribes to all topics; publish until it has printed (it may still be starting).
  const deadline = Date.now() + 20_000;
  while (listen.lines.length === 0 && Date.now() < deadline) {
    const run = await runSyft([
      "pubsub",
      "publish",
      `${net}/worker/work`,
      '{"via": "server"}',
      "--url",
      url,
    ]);
    assert.equal(run.code, 0, run.stderr);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal((await listen.child.status).code, 0);
  const got = JSON.parse(listen.lines[0]!);
  assert.deepEqual(got.payload, { via: "server" });
  assert.equal(decodeMessage(JSON.stringify(got.payload)).ok, true);
  const stopped = await serve.stop("SIGINT");
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(serve.lines.join("\n"), /syft pubsub: stopped/);
});

Deno.test("syft up serves the pub/sub server and prints working Try: lines", async () => {
  await using ws = await tempWorkspace();
  await using up = spawnSyft(["up", "--any-port"], { env: { SYFT_HOME: `${ws.path}/home` } });
  await up.waitForLine(/Press Ctrl-C to stop/, 60_000);
  const out = up.lines.join("\n");
  const url = out.match(/^\s+pubsub\s+(ws:\/\/127\.0\.0\.1:\d+\/pubsub)/m)?.[1];
  assert.ok(url, `no pubsub line in:\n${out}`);
  const listenHint = up.lines.find((l) => l.includes("pubsub listen"))!.trim();
  const publishHint = up.lines.find((l) => l.includes("pubsub publish"))!.trim();
  assert.equal(listenHint, `deno task syft pubsub listen 'hive/worker/*' --url ${url}`);
  assert.equal(
    publishHint,
    `deno task syft pubsub publish hive/worker/work '{"task": "build"}' --url ${url}`,
  );
  // Run the hints' commands (as `syft`, without `deno task`) against it.
  await using hive = createHive({
    connectors: { hive: { type: "fastapi", url, inputChannel: "worker" } },
  });
  const got = new Inbox();
  hive.on("worker/work", got.push);
  await hive.start();
  const run = await runSyft([
    "pubsub",
    "publish",
    "hive/worker/work",
    '{"task": "build"}',
    "--url",
    url,
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual((await got.count(1))[0], { task: "build" });
  assert.equal((await up.stop("SIGINT")).code, 0);
});

redisTest(
  "syft pubsub publish --config fills {secret} as eventhive's CLI does and --connector picks the network",
  async ({ url }) => {
    await using ws = await tempWorkspace();
    const net = uniqueNetwork("cli");
    const file = `${ws.path}/hive.yaml`;
    const u = new URL(url);
    await Deno.writeTextFile(
      file,
      `connectors:
  ${net}:
    pubsub_type: redis
    input_channel: cli
    secret: '{secret}'
    init: { host: ${u.hostname}, port: ${u.port || 6379} }
`,
    );
    await using hive = createHive({
      connectors: { [net]: { type: "redis", url, inputChannel: "rx", secret: "tmpl:secret" } },
    });
    const got = new Inbox();
    hive.on("rx/e", got.push);
    await hive.start();
    const run = await runSyft([
      "pubsub",
      "publish",
      "rx/e",
      '{"via": "config"}',
      "--config",
      file,
      "--connector",
      net,
      "--secret",
      "tmpl:secret",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`published ${net}/rx/e on ${net}`));
    assert.deepEqual((await got.count(1))[0], { via: "config" });
    const wrong = await runSyft(["pubsub", "publish", "x/rx/e", "{}", "--config", file]);
    assert.equal(wrong.code, 2);
    assert.match(
      wrong.stderr,
      new RegExp(`No connector "x" in .*hive\\.yaml \\(connectors: ${net}\\)`),
    );
  },
);
