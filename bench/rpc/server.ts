// deno-lint-ignore-file no-console
/**
 * The server side of `deno task bench:rpc`: the built-in echo app in its own process (as a real
 * SyftBox app runs), for one workspace. Prints `ready` once watching; prints its counters as one
 * JSON line for every `stats` line read on stdin; stops on SIGTERM or when stdin closes.
 *
 * Usage: deno run -P=bench bench/rpc/server.ts <data_dir> <email>
 *
 * @module
 */
import { TextLineStream } from "../../lib/_lines.ts";
import { createEchoApp } from "../../lib/rpc/mod.ts";

const [dataDir, email] = Deno.args;
if (!dataDir || !email) {
  console.error("usage: server.ts <data_dir> <email>");
  Deno.exit(2);
}
const app = createEchoApp({ workspace: { dataDir, email }, publishSchema: true });
await app.start();
console.log("ready");
const stop = new AbortController();
(async () => {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  );
  for await (const line of lines) {
    if (line.trim() === "stats") {
      console.log(JSON.stringify({
        ...app.stats,
        inFlight: app.inFlight,
        queued: app.queued,
      }));
    }
  }
  stop.abort();
})();
await app.runForever({ signal: stop.signal });
