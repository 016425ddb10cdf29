// deno-lint-ignore-file no-console
/**
 * The subscribing side of the client benchmark, with our client: one client per receiving app, each
 * subscribed with auto-ack. Prints `READY` once every subscription is in place, then
 * `RESULT {...}` when `total` events arrived: when the last one arrived (`lastAt`, epoch ms) and,
 * in mode `latency`, the publish-to-delivery latencies (payloads carry `sentAt`, epoch ms).
 *
 * Usage: deno run -P=bench bench/ensync_client/subscriber.ts WS_URL APPS.json EVENT drain|latency TOTAL
 *
 * @module
 */
import { EnSyncWebSocketEngine } from "../../lib/ensync/mod.ts";

interface App {
  accessKey: string;
  secretKey: string;
}

const [url, appsPath, eventName, mode, totalText] = Deno.args;
const apps: App[] = JSON.parse(await Deno.readTextFile(appsPath!)).slice(1);
const total = Number(totalText);
const now = (): number => performance.timeOrigin + performance.now();
const latencies: number[] = [];
let received = 0;
const done = Promise.withResolvers<void>();
const engines: EnSyncWebSocketEngine[] = [];
for (const app of apps) {
  const engine = new EnSyncWebSocketEngine(url!);
  engines.push(engine);
  const client = await engine.createClient(app.accessKey, { appSecretKey: app.secretKey });
  const sub = await client.subscribe(eventName!);
  sub.on((event) => {
    if (mode === "latency") latencies.push(now() - (event.payload as { sentAt: number }).sentAt);
    if (++received === total) done.resolve();
  });
}
console.log("READY");
await done.promise;
const lastAt = now();
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.ceil(p / 100 * latencies.length) - 1)];
console.log(
  `RESULT ${JSON.stringify({ received, lastAt, p50: pct(50) ?? null, p99: pct(99) ?? null })}`,
);
await Promise.all(engines.map((e) => e.close()));
Deno.exit(0);
