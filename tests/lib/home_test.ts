import assert from "node:assert/strict";
import { ensureSyftHome, SyftError } from "../../mod.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

Deno.test("ensureSyftHome() creates config, datasite and state dirs once", async () => {
  await using ws = await tempWorkspace();
  const first = await ensureSyftHome({ root: ws.path, email: "me@localhost.dev" });
  assert.equal(first.created, true);
  assert.equal(first.email, "me@localhost.dev");
  assert.equal(first.dataDir, `${ws.path}/data`);
  assert.ok((await Deno.stat(`${ws.path}/data/datasites/me@localhost.dev`)).isDirectory);
  const second = await ensureSyftHome({ root: ws.path, email: "other@localhost.dev" });
  assert.equal(second.created, false);
  assert.equal(second.email, "me@localhost.dev");
});

Deno.test("ensureSyftHome() names the field when an existing config is unusable", async () => {
  await using ws = await tempWorkspace();
  await Deno.writeTextFile(`${ws.path}/config.json`, JSON.stringify({ data_dir: "/x" }));
  await assert.rejects(ensureSyftHome({ root: ws.path }), (err) => {
    assert.ok(err instanceof SyftError);
    assert.match(err.message, /"email" is missing or invalid/);
    return true;
  });
  await Deno.writeTextFile(`${ws.path}/config.json`, "{ not json");
  await assert.rejects(ensureSyftHome({ root: ws.path }), /Cannot read SyftBox config/);
});
