import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { redisTest } from "../../_helpers/redis.ts";
import { createHive } from "../../../lib/pubsub/mod.ts";
import { Inbox, uniqueNetwork } from "./_hive_helpers.ts";

const PEER = fileURLToPath(new URL("./eventhive_peer.py", import.meta.url));

/** Starts the stdlib Python peer; its stdout lines are JSON. */
function spawnPeer(args: string[]): { lines: Inbox<Record<string, unknown>>; done: Promise<void> } {
  const child = new Deno.Command("python3", {
    args: ["-u", PEER, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = new Inbox<Record<string, unknown>>();
  const stderr = new Response(child.stderr).text();
  const done = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    }
    const status = await child.status;
    if (!status.success) throw new Error(`python peer failed: ${await stderr}`);
  })();
  return { lines, done };
}

for (const secret of ["", "py:secret"]) {
  const kind = secret ? "with a secret" : "plain";
  redisTest(
    `a Python eventhive-format peer and a syft hive exchange events both ways over Redis (${kind})`,
    async ({ url }) => {
      const port = String(new URL(url).port || 6379);
      const net = uniqueNetwork("py");
      await using hive = createHive({
        connectors: {
          [net]: { type: "redis", url, inputChannel: "syft", ...(secret ? { secret } : {}) },
        },
      });
      const got = new Inbox();
      hive.on("syft/work", got.push);
      await hive.start();

      // Python → syft.
      const pub = spawnPeer([
        "publish",
        port,
        `${net}/syft/work`,
        '{"work": "heavy load", "f": 1e-05, "big": 123456789012345678901}',
        secret,
        "3",
      ]);
      await pub.done;
      assert.deepEqual(pub.lines.items.map((l) => l.receivers), [1, 1, 1]);
      const items = await got.count(3);
      assert.deepEqual(items.map((m) => m.seq), [0, 1, 2]);
      assert.equal(items[0]!.work, "heavy load");
      assert.equal(items[0]!.f, 0.00001);
      assert.equal(items[0]!.big, 123456789012345678901n, "big ints stay exact");

      // syft → Python.
      const listen = spawnPeer(["listen", port, net, "python", "2", secret]);
      await listen.lines.count(1);
      await hive.emit(`${net}/python/task`, {
        text: "é😀",
        n: 0.1,
        nested: { __sign__: "user data" },
      });
      await hive.emit(`${net}/python/task`, { n: 2 });
      await listen.done;
      const [, first, second] = listen.lines.items;
      assert.equal(first!.channel, `${net}/python/task`);
      const message = first!.message as Record<string, unknown>;
      assert.equal(message.text, "é😀");
      assert.equal(message.n, 0.1);
      assert.deepEqual(message.nested, { __sign__: "user data" });
      const meta = message.__eventhive__ as Record<string, unknown>;
      assert.equal(meta.event, `${net}/python/task`);
      assert.equal(meta.version, "0.5.0");
      assert.match(String(meta.id), /^[0-9a-f-]{36}$/);
      assert.equal(typeof meta.time, "number");
      assert.equal((second!.message as Record<string, unknown>).n, 2);
      assert.ok(!listen.lines.items.some((l) => "dropped" in l), "the peer dropped nothing");
    },
  );
}
