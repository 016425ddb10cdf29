// deno-lint-ignore-file no-console
/**
 * The engine process of the EnSync benchmark: `startEnSyncServer` with the Deno KV store (the
 * default of `syft ensync serve`) on a free port. Prints `{"ws": url}` when ready; SIGTERM stops it.
 *
 * Usage: deno run -P=bench bench/ensync/engine.ts CONFIG.yaml STORE.kv
 *
 * @module
 */
import { KvEventStore, startEnSyncServer } from "../../servers/ensync/mod.ts";

const [config, kvPath] = Deno.args;
if (!config || !kvPath) {
  console.error("usage: engine.ts CONFIG.yaml STORE.kv");
  Deno.exit(2);
}
const engine = await startEnSyncServer({
  config,
  // ENSYNC_BENCH_INLINE_KV=1 commits on the engine's thread instead of the writer thread.
  store: new KvEventStore(kvPath, { writerThread: Deno.env.get("ENSYNC_BENCH_INLINE_KV") !== "1" }),
  wsPort: 0,
  grpcPort: false,
});
console.log(JSON.stringify({ ws: engine.wsUrl }));
const stop = async (): Promise<void> => {
  await engine.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
