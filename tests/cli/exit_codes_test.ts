import assert from "node:assert/strict";
import { exitCodeOf, USAGE_ERROR_CODES } from "../../cli/_program.ts";
import { UsageError } from "../../cli/_common.ts";
import { SyftError } from "../../lib/errors.ts";
import { RpcTimeoutError } from "../../lib/rpc/errors.ts";
import { SyftBoxURL } from "../../lib/rpc/mod.ts";
import { parseHiveConfig } from "../../lib/pubsub/mod.ts";
import { openRequestStore, StoreError } from "../../lib/proxy/mod.ts";
import { openEnSyncStore } from "../../servers/ensync/stores.ts";
import { DashboardError } from "../../servers/dashboard/serve.ts";

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("did not throw");
}

Deno.test("exitCodeOf() maps the library's error codes to the syft command's statuses", async () => {
  // The library's errors carry codes only: the statuses are the command's.
  assert.equal("exitCode" in new SyftError("x", { code: "X" }), false);
  const usage: [string, unknown][] = [
    ["UsageError", new UsageError("Cannot use --port x")],
    ["a bad syft:// URL", thrown(() => SyftBoxURL.parse("http://not-syft"))],
    ["a bad hive config", thrown(() => parseHiveConfig("connectors: 3\n", { file: "h.yaml" }))],
    ["a store named wrongly", await openRequestStore("postgres://x").catch((e) => e)],
    ["an EnSync store named wrongly", thrown(() => openEnSyncStore("postgres://x"))],
    ["a dashboard bind without a token", new DashboardError("Cannot bind 0.0.0.0 without a token")],
  ];
  for (const [what, err] of usage) {
    assert.ok(err instanceof SyftError, what);
    assert.ok(USAGE_ERROR_CODES.has(err.code), `${what}: ${err.code}`);
    assert.equal(exitCodeOf(err), 2, what);
  }
  assert.equal(exitCodeOf(new RpcTimeoutError("id", 10)), 124);
  assert.equal(exitCodeOf(new SyftError("no answer", { code: "PROXY_TIMEOUT" })), 124);
  assert.equal(exitCodeOf(new SyftError("Interrupted", { code: "INTERRUPTED" })), 130);
  // A store that cannot be used (not a wrong name) is an ordinary failure.
  assert.equal(exitCodeOf(new StoreError("Redis is unreachable")), 1);
  assert.equal(exitCodeOf(new Error("boom")), 1);
  assert.equal(exitCodeOf("a string"), 1);
  assert.equal(exitCodeOf(null), 1);
});
