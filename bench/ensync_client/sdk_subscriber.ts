/**
 * The same subscribing side as `subscriber.ts`, written for Node with the published npm client
 * `ensync-client-sdk@0.0.18` (the peer). Kept as text: the benchmark writes it next to the
 * installed package and runs it with `node`. The SDK logs every step to the console; the script
 * silences `console.log` / `console.error` so the peer is not slowed down by its own logging.
 *
 * @module
 */

/** The CommonJS source of the Node subscriber. */
export const SDK_SUBSCRIBER_CJS = `
"use strict";
const write = (line) => process.stdout.write(line + "\\n");
console.log = () => {};
console.error = () => {};
console.warn = () => {};
const { EnSyncEngine } = require("ensync-client-sdk");
const fs = require("node:fs");
const { performance } = require("node:perf_hooks");
const [url, appsPath, eventName, mode, totalText] = process.argv.slice(2);
const apps = JSON.parse(fs.readFileSync(appsPath, "utf8")).slice(1);
const total = Number(totalText);
const now = () => performance.timeOrigin + performance.now();
const latencies = [];
let received = 0;
(async () => {
  const engines = [];
  let done;
  const finished = new Promise((r) => (done = r));
  for (const app of apps) {
    const engine = new EnSyncEngine(url, { maxReconnectAttempts: 0 });
    engines.push(engine);
    const client = await engine.createClient(app.accessKey, { appSecretKey: app.secretKey });
    const sub = await client.subscribe(eventName, { autoAck: true, appSecretKey: app.secretKey });
    sub.on((event) => {
      if (mode === "latency") latencies.push(now() - event.payload.sentAt);
      if (++received === total) done();
    });
  }
  write("READY");
  await finished;
  const lastAt = now();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)];
  write("RESULT " + JSON.stringify({ received, lastAt, p50: pct(50) ?? null, p99: pct(99) ?? null }));
  process.exit(0);
})().catch((err) => {
  write("ERROR " + (err && err.message ? err.message : String(err)));
  process.exit(1);
});
`;
