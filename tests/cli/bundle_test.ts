import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "../../lib/version.ts";
import { denoDir } from "../_helpers/cli.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function deno(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", DENO_DIR: denoDir(), ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The chunks a bundle file imports statically (`import … from "./x.js"`), transitively. */
async function staticChunks(dir: string, entry: string): Promise<string[]> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await Deno.readTextFile(join(dir, file));
    for (
      const m of text.matchAll(
        /(?:^|[;\n])\s*(?:import|export)\s[^;'"]*?from\s*["']\.\/([^"']+)["']/g,
      )
    ) {
      todo.push(m[1]!);
    }
    for (const m of text.matchAll(/(?:^|[;\n])\s*import\s*["']\.\/([^"']+)["']/g)) todo.push(m[1]!);
  }
  return [...seen];
}

Deno.test("deno bundle builds an offline syft whose parts load only when their command runs", async () => {
  await using ws = await tempWorkspace();
  const dir = `${ws.path}/dist`;
  const bundled = await deno([
    "bundle",
    "-q",
    "--platform=deno",
    "--code-splitting",
    "--outdir",
    dir,
    "cli/main.ts",
  ]);
  assert.equal(bundled.code, 0, bundled.stderr);
  const run = (...args: string[]) =>
    deno(["run", "-q", "-P=cli", "--config", "deno.json", `${dir}/main.js`, ...args], {
      HOME: ws.path,
      USER: "alice",
    });
  const version = await run("--version");
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
  const help = await run("--help");
  assert.equal(help.code, 0, help.stderr);
  for (const group of ["up", "info", "rpc", "proxy", "hub", "ensync"]) {
    assert.match(help.stdout, new RegExp(`^\\s+${group}\\b`, "m"), `bundle help lacks ${group}`);
  }
  // What --help loads holds none of the parts' heavy dependencies: they sit in chunks that only
  // an import() reaches.
  const program = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name)
    .find((n) => n.startsWith("_program"));
  assert.ok(program, "no _program chunk: the tree is not split from main.js");
  const startup = [
    ...new Set([
      ...await staticChunks(dir, "main.js"),
      ...await staticChunks(dir, program),
    ]),
  ];
  let bytes = 0;
  for (const file of startup) {
    const text = await Deno.readTextFile(join(dir, file));
    bytes += text.length;
    // Code of libsodium (its init) and of gRPC's server: not names, which deno.json lists too.
    for (const heavy of ["sodium_init", "ServerCredentials"]) {
      assert.ok(!text.includes(heavy), `${file} (loaded at start) contains ${heavy}`);
    }
  }
  // Commander and the tree (about 150 KB), not the parts (megabytes).
  assert.ok(bytes < 400_000, `start-up loads ${bytes} bytes of the bundle`);
  const all = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  assert.ok(
    (await Promise.all(all.map((f) => Deno.readTextFile(join(dir, f)))))
      .some((t) => t.includes("sodium_init")),
    "the markers appear in the bundle (else the check above proves nothing)",
  );
  // The lazily loaded parts work from the bundle: crypto (libsodium's WASM) and the workspace.
  const keygen = await run("--json", "ensync", "keygen");
  assert.equal(keygen.code, 0, keygen.stderr);
  assert.equal(Uint8Array.fromBase64(JSON.parse(keygen.stdout).publicKey).length, 32);
  const init = await run("--json", "init");
  assert.equal(init.code, 0, init.stderr);
  assert.equal(JSON.parse(init.stdout).email, "alice@localhost.dev");
});
