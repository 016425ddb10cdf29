import assert from "node:assert/strict";
import { deleteKeys, redisTest } from "./redis.ts";

redisTest("redisTest() gives each test its own prefix and removes its keys", async (r) => {
  assert.match(r.prefix, /^syft-test:[0-9a-f]{8}:$/);
  await r.client.set(`${r.prefix}a`, "1");
  await r.client.set(`${r.prefix}b`, "2");
  assert.equal(await r.client.get(`${r.prefix}a`), "1");
  await deleteKeys(r.client, r.prefix);
  assert.equal(await r.client.exists(`${r.prefix}a`, `${r.prefix}b`), 0);
});
