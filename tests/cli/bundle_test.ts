import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { VERSION } from "../../lib/version.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function deno(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("deno bundle builds a single-file syft that runs offline", async () => {
  await using ws = await tempWorkspace();
  const out = `${ws.path}/syft.js`;
  const bundled = await deno(["bundle", "-q", "--platform=deno", "--output", out, "cli/main.ts"]);
  assert.equal(bundled.code, 0, bundled.stderr);
  const version = await deno(["run", "-q", "-P=cli", "--config", "deno.json", out, "--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
  const help = await deno(["run", "-q", "-P=cli", "--config", "deno.json", out, "--help"]);
  assert.equal(help.code, 0, help.stderr);
  for (const group of ["up", "rpc", "proxy", "hub", "ensync"]) {
    assert.match(help.stdout, new RegExp(`^\\s+${group}\\b`, "m"), `bundle help lacks ${group}`);
  }
});
