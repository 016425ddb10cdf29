// deno-lint-ignore-file no-console
/**
 * The rpc server the fault suite kills: an app `fault` with `/echo` on the workspace given as
 * `<dataDir> <email> <log>`. Each handler call appends `<id> <fresh|dup>` to the log (`dup` when a
 * response for the request is already on disk: answering it again would be a second answer).
 * Prints `READY` once it serves.
 */
import { SyftEvents } from "../../lib/rpc/mod.ts";

const [dataDir, email, log] = Deno.args;
if (dataDir === undefined || email === undefined || log === undefined) {
  throw new Error("usage: _rpc_server.ts <dataDir> <email> <log>");
}
const box = new SyftEvents("fault", {
  workspace: { dataDir, email },
  cleanupInterval: 0,
  concurrency: 32,
});
box.onRequest("/echo", async (body, ctx) => {
  const response = ctx.path.slice(0, -".request".length) + ".response";
  const dup = await Deno.stat(response).then(() => true, () => false);
  await Deno.writeTextFile(log, `${ctx.id} ${dup ? "dup" : "fresh"}\n`, { append: true });
  return body;
});
await box.start();
console.log("READY");
await box.runForever();
