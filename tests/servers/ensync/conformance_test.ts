/**
 * Real-client conformance: the only EnSync SDK on the npm registry, `ensync-client-sdk@0.0.18`, is
 * installed into a temp folder at test time and driven with Node against our engine; events are
 * also exchanged both ways between it and our client (`lib/ensync`).
 */
import assert from "node:assert/strict";
import { EnSyncWebSocketEngine } from "../../../lib/ensync/mod.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { startTestEngine, testApp } from "./_helpers.ts";

const SDK = "ensync-client-sdk@0.0.18";

/** The Node driver: runs one scenario and prints `RESULT <json>` lines. */
const DRIVER = `
const { EnSyncEngine } = require("ensync-client-sdk");
const cfg = JSON.parse(process.env.SDK_SCENARIO);
const out = (o) => process.stdout.write("RESULT " + JSON.stringify(o) + "\\n");
// The SDK logs unconditionally; keep stdout for results.
console.log = (...a) => process.stderr.write(a.map(String).join(" ") + "\\n");
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
// The test says "go" on stdin when it has checked the engine's state.
const goes = [];
const goWaiters = [];
require("readline").createInterface({ input: process.stdin }).on("line", () => {
  const w = goWaiters.shift();
  if (w) w(); else goes.push(1);
});
const go = () => goes.length ? Promise.resolve(goes.shift()) : new Promise((r) => goWaiters.push(r));
async function waitFor(pred, ms, what) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await wait(10);
  }
}
async function main() {
  const engine = new EnSyncEngine(cfg.url, { reconnectInterval: 60000, maxReconnectAttempts: 1 });
  const client = await engine.createClient(cfg.accessKey, { appSecretKey: cfg.secretKey });
  if (cfg.mode === "roundtrip") {
    const autoEvents = [];
    const auto = await client.subscribe("conf/auto", { autoAck: true, appSecretKey: cfg.secretKey });
    auto.on((e) => autoEvents.push(e));
    const manualEvents = [];
    const manual = await client.subscribe("conf/manual", { autoAck: false, appSecretKey: cfg.secretKey });
    manual.on((e) => manualEvents.push(e));
    out({ step: "publish-auto", reply: await client.publish("conf/auto", [cfg.appId], { x: 1, s: "hi; a=b:c" }) });
    await waitFor(() => autoEvents.length >= 1, 5000, "the auto-ack event");
    out({ step: "auto-received", event: autoEvents[0] });
    await wait(50);
    out({ step: "publish-manual", reply: await client.publish("conf/manual", [cfg.appId], { n: 2 }) });
    await waitFor(() => manualEvents.length >= 1, 5000, "the manual event");
    out({ step: "manual-received", event: manualEvents[0] });
    await wait(300);
    out({ step: "still-one", count: manualEvents.length });
    await go();
    const first = manualEvents[0];
    out({ step: "rollback", reply: await manual.rollback(first.idem, first.block) });
    await waitFor(() => manualEvents.length >= 2, 5000, "the redelivery");
    out({ step: "redelivered", event: manualEvents[1] });
    out({ step: "ack", reply: await manual.ack(manualEvents[1].idem, manualEvents[1].block) });
    await auto.unsubscribe();
    out({ step: "done" });
  } else if (cfg.mode === "receive") {
    const events = [];
    const sub = await client.subscribe(cfg.event, { autoAck: true, appSecretKey: cfg.secretKey });
    sub.on((e) => { events.push(e); out({ step: "event", event: e }); });
    out({ step: "ready" });
    await waitFor(() => events.length >= cfg.count, 10000, cfg.count + " events");
    await wait(300);
  } else if (cfg.mode === "send") {
    for (const p of cfg.payloads) {
      out({ step: "published", reply: await client.publish(cfg.event, [cfg.to], p) });
      await wait(5);
    }
  }
  await engine.close();
}
main().then(() => process.exit(0), (e) => {
  out({ step: "error", error: String((e && e.message) || e) });
  process.exit(1);
});
`;

interface Driver {
  results: Record<string, unknown>[];
  /** Lets the driver continue past its next `go()`. */
  go(): Promise<void>;
  waitFor(step: string, count?: number): Promise<Record<string, unknown>>;
  done: Promise<{ code: number; stderr: string }>;
}

function runDriver(dir: string, scenario: Record<string, unknown>): Driver {
  const child = new Deno.Command("node", {
    args: [`${dir}/driver.cjs`],
    cwd: dir,
    env: { SDK_SCENARIO: JSON.stringify(scenario) },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const results: Record<string, unknown>[] = [];
  const stdin = child.stdin.getWriter();
  const stderr = new Response(child.stderr).text();
  const reading = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("RESULT ")) results.push(JSON.parse(line.slice(7)));
      }
    }
  })();
  const done = (async () => {
    const status = await child.status;
    await stdin.close().catch(() => {});
    await reading;
    return { code: status.code, stderr: await stderr };
  })();
  let exited = false;
  done.then(() => exited = true);
  return {
    results,
    done,
    go: () => stdin.write(new TextEncoder().encode("go\n")),
    async waitFor(step, count = 1) {
      await waitFor(() => {
        if (results.some((r) => r.step === "error")) {
          throw new Error(`driver failed: ${JSON.stringify(results.at(-1))}`);
        }
        if (exited && results.filter((r) => r.step === step).length < count) {
          throw new Error(`driver exited before "${step}"`);
        }
        return results.filter((r) => r.step === step).length >= count;
      }, { timeoutMs: 15_000, what: `driver step ${step}` });
      return results.filter((r) => r.step === step)[count - 1]!;
    },
  };
}

Deno.test({
  name:
    `${SDK} (npm) conforms: connect, subscribe, publish, decrypt, auto-ack on and off, ack, rollback, and exchanges events with our client`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using ws = await tempWorkspace("syft_sdk018_");
    const install = await new Deno.Command("npm", {
      args: ["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", ws.path, SDK],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      install.code,
      0,
      `npm install ${SDK} failed: ${new TextDecoder().decode(install.stderr)}`,
    );
    await Deno.writeTextFile(`${ws.path}/driver.cjs`, DRIVER);

    const sdkApp = testApp("sdk");
    const ours = testApp("ours");
    await using engine = await startTestEngine([sdkApp, ours], { ackTimeoutMs: 10_000 });
    const http = engine.wsUrl!.replace(/^ws/, "http");

    await t.step("connect, publish, decrypt, auto-ack, manual ack and rollback", async () => {
      const d = runDriver(ws.path, {
        mode: "roundtrip",
        url: http,
        accessKey: sdkApp.accessKey,
        secretKey: sdkApp.secretKey,
        appId: sdkApp.appId,
      });
      const pub = await d.waitFor("publish-auto");
      const m = /^\+PASS:PUBLISHED;IDEM=([^;]+);TIMESTAMP=\d+$/.exec(pub.reply as string);
      assert.ok(m, String(pub.reply));
      const autoEvent = (await d.waitFor("auto-received")).event as Record<string, unknown>;
      assert.equal(autoEvent.eventName, "conf/auto");
      assert.equal(autoEvent.idem, m[1]);
      assert.equal(autoEvent.block, 1);
      assert.equal(typeof autoEvent.timestamp, "number");
      assert.deepEqual(autoEvent.payload, { x: 1, s: "hi; a=b:c" });
      assert.deepEqual(autoEvent.metadata, { persist: true, headers: {} });
      const manual = (await d.waitFor("manual-received")).event as Record<string, unknown>;
      assert.deepEqual(manual.payload, { n: 2 });
      // Auto-ack off: the event stays in flight (one at a time, nothing else arrives).
      assert.equal((await d.waitFor("still-one")).count, 1);
      assert.equal(
        (await engine.broker.store.lookup(manual.idem as string))?.state,
        "inflight",
      );
      await d.go();
      assert.equal((await d.waitFor("rollback")).reply, `+PASS:ROLLED_BACK;IDEM=${manual.idem}`);
      const again = (await d.waitFor("redelivered")).event as Record<string, unknown>;
      assert.equal(again.idem, manual.idem);
      assert.deepEqual(again.payload, { n: 2 });
      assert.equal((await d.waitFor("ack")).reply, `+PASS:ACKNOWLEDGED;IDEM=${manual.idem}`);
      await d.waitFor("done");
      const { code, stderr } = await d.done;
      assert.equal(code, 0, stderr);
      // The auto-ack (sent with EVENT_NAME=:undefined) and the manual ack both reached the engine.
      assert.equal((await engine.broker.store.lookup(autoEvent.idem as string))?.state, "acked");
      assert.equal((await engine.broker.store.lookup(manual.idem as string))?.state, "acked");
    });

    await t.step("our client publishes, the npm SDK receives and decrypts", async () => {
      const d = runDriver(ws.path, {
        mode: "receive",
        url: http,
        accessKey: sdkApp.accessKey,
        secretKey: sdkApp.secretKey,
        event: "cross/to-sdk",
        count: 3,
      });
      await d.waitFor("ready");
      const client = await new EnSyncWebSocketEngine(engine.wsUrl!).createClient(ours.accessKey, {
        appSecretKey: ours.secretKey,
      });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          ids.push(...await client.publish("cross/to-sdk", [sdkApp.appId], { i, from: "syft" }));
        }
        const events = [];
        for (let i = 1; i <= 3; i++) {
          events.push((await d.waitFor("event", i)).event as Record<string, unknown>);
        }
        assert.deepEqual(events.map((e) => e.payload), [0, 1, 2].map((i) => ({ i, from: "syft" })));
        assert.deepEqual(events.map((e) => e.idem), ids);
        const { code, stderr } = await d.done;
        assert.equal(code, 0, stderr);
        for (const id of ids) assert.equal((await engine.broker.store.lookup(id))?.state, "acked");
      } finally {
        await client.close({ closeEngine: true });
      }
    });

    await t.step("the npm SDK publishes, our client receives and decrypts", async () => {
      const client = await new EnSyncWebSocketEngine(engine.wsUrl!).createClient(ours.accessKey, {
        appSecretKey: ours.secretKey,
      });
      try {
        const sub = await client.subscribe("cross/to-syft", { autoAck: true });
        const got: { payload: unknown; sender: string; eventName: string }[] = [];
        sub.on((e) => {
          got.push(e);
        });
        const payloads = [{ a: 1 }, { b: [true, null] }, "plain text"];
        const d = runDriver(ws.path, {
          mode: "send",
          url: http,
          accessKey: sdkApp.accessKey,
          secretKey: sdkApp.secretKey,
          event: "cross/to-syft",
          to: ours.appId,
          payloads,
        });
        const { code, stderr } = await d.done;
        assert.equal(code, 0, stderr);
        assert.equal(d.results.filter((r) => r.step === "published").length, 3);
        await waitFor(() => got.length >= 3, { timeoutMs: 5_000, what: "3 events" });
        assert.deepEqual(got.map((e) => e.payload), payloads);
        assert.ok(got.every((e) => e.sender === sdkApp.appId && e.eventName === "cross/to-syft"));
      } finally {
        await client.close({ closeEngine: true });
      }
    });
  },
});
