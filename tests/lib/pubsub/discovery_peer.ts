// deno-lint-ignore-file no-console
/**
 * A process for the discovery tests, run inside a network namespace:
 * `advertise <name> <host> <port> <endpoint>` prints "ready" and advertises until stdin closes;
 * `discover <name> <timeoutMs>` prints the result as one JSON line (`null` when nothing answered).
 *
 * @module
 */
import { advertisePubSubServer, discoverPubSubServer } from "../../../lib/pubsub/discovery.ts";

const [mode, name, ...rest] = Deno.args;
if (mode === "advertise") {
  const [host, port, endpoint] = rest;
  const ad = await advertisePubSubServer(name!, {
    host: host!,
    port: Number(port),
    endpoint: endpoint!,
  });
  console.log("ready");
  for await (const _ of Deno.stdin.readable) { /* until the test closes stdin */ }
  await ad[Symbol.asyncDispose]();
  console.log("gone");
} else if (mode === "discover") {
  const started = performance.now();
  const found = await discoverPubSubServer(name!, { timeoutMs: Number(rest[0]) });
  console.log(
    JSON.stringify({ found: found ?? null, ms: Math.round(performance.now() - started) }),
  );
} else {
  console.error("usage: discovery_peer.ts advertise|discover ...");
  Deno.exit(2);
}
