import assert from "node:assert/strict";

const SUPERVISOR = new URL("../../../servers/ensync/_grpc_supervisor.ts", import.meta.url).href;

Deno.test("runnable(Deno.execPath()) spawns under --allow-run=deno when deno on PATH is a symlink to it (npm-installed Deno)", async () => {
  const script = `
    import { runnable } from "${SUPERVISOR}";
    const out = new Deno.Command(runnable(Deno.execPath()), { args: ["--version"] }).outputSync();
    console.log(out.success ? "spawned" : "failed");`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--allow-run=deno", "--allow-read", "--allow-env", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const { stdout, stderr, code } = await out.output();
  const text = new TextDecoder().decode(stdout).trim();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(text, "spawned");
});
