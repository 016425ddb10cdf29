import assert from "node:assert/strict";
import { createEchoApp } from "../../../lib/rpc/echo.ts";
import { redisTest } from "../../_helpers/redis.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { getJson, postJson, spawnProxy } from "./_procs.ts";

redisTest(
  "two proxies on Redis, one killed -9: the survivor completes the dead one's requests",
  async (r) => {
    await using ws = await tempWorkspace();
    const args = ["--store", r.url, "--redis-prefix", r.prefix, "--lease", "1"];
    const a = await spawnProxy(ws.path, args);
    await using b = await spawnProxy(ws.path, args);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const res = await postJson(`${a.url}/rpc/send`, {
          app_name: "echo",
          func_name: "echo",
          destination: a.email,
          params: { i },
          blocking: false,
        });
        assert.equal(res?.status, 200);
        ids.push(res!.body.id as string);
      }
    } finally {
      await a.kill();
    }
    // The app answers only now: the dead proxy never saw a response.
    await using echo = createEchoApp({
      workspace: { email: a.email, dataDir: a.dataDir },
      cleanupInterval: 0,
    });
    await echo.start();
    await waitFor(async () => {
      const statuses = await Promise.all(ids.map((id) => getJson(`${b.url}/rpc/status/${id}`)));
      return statuses.every((s) => s?.body.status === "completed");
    }, { timeoutMs: 30_000, intervalMs: 200, what: "every request of the killed proxy completed" });
    const results = await Promise.all(ids.map((id) => getJson(`${b.url}/rpc/status/${id}`)));
    assert.deepEqual(results.map((s) => (s!.body.result as { i: number }).i), ids.map((_, i) => i));
    assert.equal(echo.stats.answered, 40);
  },
);
