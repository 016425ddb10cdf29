/** The gRPC worker process the engine tests start (see `TEST_GRPC_WORKER` in `_helpers.ts`). */
import { runEnSyncGrpcWorker } from "../../../servers/ensync/mod.ts";

await runEnSyncGrpcWorker();
Deno.exit(0);
