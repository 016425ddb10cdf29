/**
 * An engine killed (SIGKILL, in its own process) while a client holds an event: the next engine on
 * the same store makes that event deliverable at once, not after the ack timeout (set to an hour
 * here, so a redelivery that waited for it would never come).
 */
import assert from "node:assert/strict";
import { openEnSyncStore, startEnSyncServer } from "../../../servers/ensync/mod.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { ackFrame, configOf, connected, pubFrame, rawClient, testApp } from "./_helpers.ts";

const MAIN = new URL("./_engine_main.ts", import.meta.url).href;
const CONFIG = new URL("../../../deno.json", import.meta.url).pathname;
const HOUR = 3_600_000;

/** Runs the engine in a child process until `kill()`. */
async function engineProcess(spec: string, prefix: string, config: unknown) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-A", "--config", CONFIG, MAIN, spec, prefix, JSON.stringify(config)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/ready (\S+)\n/.test(out)) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`the engine process ended before it was ready: ${out}`);
    out += value;
  }
  return {
    wsUrl: /ready (\S+)\n/.exec(out)![1]!,
    async kill(): Promise<void> {
      child.kill("SIGKILL");
      await child.status;
      await lines.cancel().catch(() => {});
    },
  };
}

/**
 * Publishes three events on a killed-to-be engine, acks the first and holds the second, kills the
 * engine, and checks the next one: the held event is ready at once and comes first.
 */
async function killWhileHeld(spec: string, prefix: string): Promise<void> {
  const a = testApp("a");
  const first = await engineProcess(spec, prefix, configOf([a]));
  let held = "";
  let next = "";
  try {
    const c = await rawClient(`${first.wsUrl}/message`);
    await c.conn(a.accessKey);
    await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:k/x`);
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const reply = await c.request(pubFrame(c, "k/x", a.appId, btoa(`${i}`)));
      ids.push(/IDEM=([^;]+)/.exec(reply)![1]!);
    }
    const r1 = await c.record();
    assert.match(await c.request(ackFrame(c, r1)), /^\+PASS:ACKNOWLEDGED/);
    const r2 = await c.record(); // in flight when the engine dies
    held = r2.id as string;
    next = ids[2]!;
    assert.equal(held, ids[1]);
    await first.kill();
    await c.close();
  } catch (err) {
    await first.kill();
    throw err;
  }
  await using engine = await startEnSyncServer({
    config: configOf([a]),
    store: openEnSyncStore(spec, prefix ? { prefix } : {}),
    wsPort: 0,
    grpcPort: false,
    ackTimeoutMs: HOUR,
  });
  // The state, before anyone subscribes: the event no live session holds is ready again.
  assert.equal((await engine.broker.store.lookup(held))?.state, "ready");
  await using c = await connected(engine, a);
  await c.request(`SUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:k/x`);
  const again = await c.record();
  assert.equal(again.id, held);
  assert.equal(again.block, 2);
  await c.request(ackFrame(c, again));
  const third = await c.record();
  assert.equal(third.id, next);
  await c.request(ackFrame(c, third));
  assert.ok(await c.noRecord(100));
}

Deno.test("KvEventStore: an event in flight when the engine was killed is ready at once after a restart", async () => {
  await using ws = await tempWorkspace();
  await killWhileHeld(`kv:${ws.path}/ensync.kv`, "");
});

redisTest(
  "RedisEventStore: an event in flight when the engine was killed is ready at once after a restart",
  async (r) => {
    await killWhileHeld(r.url, r.prefix);
  },
);
