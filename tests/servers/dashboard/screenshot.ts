// deno-lint-ignore-file no-console camelcase -- the proxy API is snake_case
/**
 * `deno task screenshot:dashboard`: starts `syft up` on a demo workspace, makes some traffic
 * (file-RPC calls through the proxy, hub clients chatting in rooms, EnSync events published,
 * acknowledged and one discarded, pub/sub events to two subscribers), waits for the charts to fill and saves the overview as
 * docs/dashboard.png (README shows it). `--all <dir>` saves every panel into `<dir>` as well.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { EnSyncWebSocketEngine } from "../../../lib/ensync/mod.ts";
import { connectFastApiPubSub } from "../../../lib/pubsub/mod.ts";
import { launchBrowser } from "./_browser.ts";
import { startStack } from "./_stack.ts";

const OUT = fileURLToPath(new URL("../../../docs/dashboard.png", import.meta.url));
const allAt = Deno.args.indexOf("--all");
const allDir = allAt >= 0 ? Deno.args[allAt + 1] : undefined;

await using stack = await startStack();
const stop = new AbortController();
const sockets: WebSocket[] = [];
for (let i = 0; i < 3; i++) {
  const s = new WebSocket(stack.hub);
  await new Promise((r) => s.onopen = r);
  if (i > 0) s.send(JSON.stringify({ eventName: "$join", payload: { room: "ops" }, headers: {} }));
  sockets.push(s);
}
const engine = new EnSyncWebSocketEngine(stack.ensync.replace(/\/message$/, ""));
const shop = await engine.createClient(stack.shop.accessKey, {
  appSecretKey: stack.shop.secretKey,
});
const mail = await engine.createClient(stack.mail.accessKey, {
  appSecretKey: stack.mail.secretKey,
});
const sub = await mail.subscribe("orders/created", { autoAck: false });
let n = 0;
sub.on(async (event) => {
  if (n++ === 3) await sub.discard(event.idem, "address missing");
  else await sub.ack(event.idem, event.block);
});
const pubsubClients = [0, 1, 2].map(() => connectFastApiPubSub(stack.pubsub));
await pubsubClients[0]!.subscribe(["hive/worker/work"]);
await pubsubClients[1]!.subscribe(["hive/worker/work", "hive/queen/result"]);
const traffic = (async () => {
  let i = 0;
  while (!stop.signal.aborted) {
    i++;
    const body = {
      app_name: "echo",
      func_name: i % 3 === 0 ? "ping" : "echo",
      destination: stack.email,
      params: { i },
      blocking: true,
      timeout: 10,
    };
    await fetch(`${stack.proxy}/rpc/send`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    })
      .then((r) => r.body?.cancel()).catch(() => {});
    sockets[i % 3]!.send(
      JSON.stringify({ eventName: "chat", payload: { text: `hello ${i}` }, headers: {} }),
    );
    await pubsubClients[2]!.publish(
      [i % 2 ? "hive/worker/work" : "hive/queen/result"],
      `{"i": ${i}}`,
    )
      .catch(() => {});
    if (i % 4 === 0) {
      await shop.publish("orders/created", [stack.mail.appId], { order: i }).catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 40 + (i % 7) * 15));
  }
})();

await using browser = await launchBrowser({ width: 1280, height: 800 });
const page = await browser.context.newPage();
await page.goto(stack.dashboard);
await page.waitForSelector("#conn.live");
await new Promise((r) => setTimeout(r, 20_000)); // let the rate charts fill
await page.screenshot({ path: OUT });
console.log(`wrote ${OUT}`);
if (allDir !== undefined) {
  await Deno.mkdir(allDir, { recursive: true });
  for (const panel of ["overview", "rpc", "proxy", "hub", "ensync", "pubsub"]) {
    await page.click(`#tab-${panel}`);
    await page.waitForSelector(`.panel[data-panel="${panel}"]`);
    await new Promise((r) => setTimeout(r, 300));
    await page.screenshot({ path: join(allDir, `${panel}.png`), fullPage: true });
  }
  console.log(`wrote every panel into ${allDir}`);
}
stop.abort();
await traffic;
for (const s of sockets) s.close();
for (const c of pubsubClients) await c.close();
await mail.close();
await shop.close();
