import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openKv } from "../../mod.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

Deno.test("openKv() opens a file store and creates its directory", async () => {
  await using ws = await tempWorkspace();
  const kv = await openKv(`${ws.path}/deep/dir/state.kv`);
  try {
    await kv.set(["k"], 1);
    assert.equal((await kv.get(["k"])).value, 1);
  } finally {
    kv.close();
  }
});

Deno.test("openKv() without --unstable-kv fails with one clear error", async () => {
  await using ws = await tempWorkspace();
  const script = `${ws.path}/use_kv.ts`;
  const mod = fileURLToPath(new URL("../../lib/kv.ts", import.meta.url));
  await Deno.writeTextFile(
    script,
    `import { openKv } from ${JSON.stringify(mod)};\n` +
      `try { await openKv(":memory:"); } catch (e) { console.log(e.name + ": " + e.message); }\n`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--no-config", "--allow-read", "--allow-write", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.match(
    text,
    /^KvUnavailableError: Cannot open Deno KV: .*--unstable-kv.*"unstable": \["kv"\]/,
  );
});
