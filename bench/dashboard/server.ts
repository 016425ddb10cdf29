// deno-lint-ignore-file no-console
/**
 * The server side of `deno task bench:dashboard`: the built-in echo app in its own process, as in
 * `syft up`, and with `--dashboard` the dashboard in the same process reading its live state.
 * Prints `ready <dashboard url or ->`; stops when stdin closes.
 *
 * Usage: deno run -P=bench bench/dashboard/server.ts <data_dir> <email> [--dashboard]
 *
 * @module
 */
import { createEchoApp } from "../../lib/rpc/mod.ts";
import { startDashboard } from "../../servers/dashboard/mod.ts";

const [dataDir, email, flag] = Deno.args;
if (!dataDir || !email) {
  console.error("usage: server.ts <data_dir> <email> [--dashboard]");
  Deno.exit(2);
}
const app = createEchoApp({ workspace: { dataDir, email }, publishSchema: true });
await app.start();
const dashboard = flag === "--dashboard"
  ? await startDashboard({
    port: 0,
    workspace: { dataDir, email, config: "" },
    services: () => [{ name: "rpc-echo", where: app.url("/echo"), live: app.live() }],
  })
  : undefined;
console.log(`ready ${dashboard?.url ?? "-"}`);
for await (const _ of Deno.stdin.readable) { /* until stdin closes */ }
await dashboard?.close();
await app.stop();
