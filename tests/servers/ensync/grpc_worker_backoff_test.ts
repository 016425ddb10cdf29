/**
 * The gRPC worker supervisor's restart backoff runs on the engine's clock: a worker that dies soon
 * after starting is replaced at once the first time, then after 250 ms, 500 ms, … of that clock;
 * once a worker ran 10 s (of that clock) it is replaced at once again.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../_helpers/clock.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { startTestEngine, TEST_GRPC_WORKER, testApp } from "./_helpers.ts";

Deno.test("a gRPC worker that keeps dying is restarted after a backoff on the engine's clock", async () => {
  const clock = new FakeClock(Date.now());
  await using engine = await startTestEngine([testApp("a")], {
    grpcWorker: TEST_GRPC_WORKER,
    clock,
  });
  const kill = async (n: number): Promise<void> => {
    Deno.kill(engine.grpcWorker!.pid!, "SIGKILL");
    // the death is a real event: wait until the supervisor saw it
    await waitFor(() => engine.grpcWorker!.restarts === n, {
      timeoutMs: 15_000,
      what: `death ${n}`,
    });
  };
  const running = (n: number) =>
    waitFor(() => engine.grpcWorker!.state === "running" && engine.grpcWorker!.restarts === n, {
      timeoutMs: 15_000,
      what: `worker ${n} running`,
    });
  await kill(1); // the first quick death: replaced at once, no time passes
  await running(1);
  for (const [n, backoff] of [[2, 250], [3, 500]] as const) {
    await kill(n);
    await clock.tick(backoff - 1);
    assert.equal(
      engine.grpcWorker!.pid,
      undefined,
      `no new worker ${backoff - 1} ms after death ${n}`,
    );
    await clock.tick(1);
    assert.notEqual(
      engine.grpcWorker!.pid,
      undefined,
      `a new worker ${backoff} ms after death ${n}`,
    );
    await running(n);
  }
  await clock.tick(10_000); // the worker ran 10 s: its death is not a quick one
  await kill(4);
  await running(4); // replaced at once, without the clock moving
});
