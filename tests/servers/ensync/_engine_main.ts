/**
 * An engine in its own process for the kill tests (`restart_test.ts`): `<store spec> <prefix>
 * <config JSON>`; prints `ready <ws url>` and serves until it is killed.
 *
 * @module
 */
import { openEnSyncStore, startEnSyncServer } from "../../../servers/ensync/mod.ts";

const [spec, prefix, config] = Deno.args;
const engine = await startEnSyncServer({
  config: JSON.parse(config!),
  store: openEnSyncStore(spec!, prefix ? { prefix } : {}),
  wsPort: 0,
  grpcPort: false,
  ackTimeoutMs: 3_600_000,
});
await Deno.stdout.write(new TextEncoder().encode(`ready ${engine.wsUrl}\n`));
await engine.finished;
