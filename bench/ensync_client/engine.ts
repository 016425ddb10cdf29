// deno-lint-ignore-file no-console
/**
 * The engine process of the client benchmark: `startEnSyncServer` with the in-memory store on free
 * ports, so the clients, not the store, are what is measured. Prints `{"ws": url, "grpc": url}`
 * when ready; SIGTERM stops it.
 *
 * Usage: deno run -P=bench bench/ensync_client/engine.ts CONFIG.yaml
 *
 * @module
 */
import { startEnSyncServer } from "../../servers/ensync/mod.ts";

const [config] = Deno.args;
if (!config) {
  console.error("usage: engine.ts CONFIG.yaml");
  Deno.exit(2);
}
const engine = await startEnSyncServer({ config, wsPort: 0, grpcPort: 0 });
console.log(JSON.stringify({ ws: engine.wsUrl, grpc: engine.grpcUrl }));
const stop = async (): Promise<void> => {
  await engine.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
