/**
 * Start-up stays cheap: what `syft --version` and `syft --help` load (the static import graph of
 * `cli/main.ts` and of the command tree, `cli/_program.ts`) holds no part's dependencies. A group
 * that imports a server or a heavy package at top level fails here; put its actions behind
 * `lazy(() => import("./_actions/<group>.ts"), "name")` (see DEVELOPERS.md).
 */
import assert from "node:assert/strict";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as defaults from "../../cli/_defaults.ts";
import { DEFAULT_PROXY_PORT } from "../../servers/proxy/serve.ts";
import { DEFAULT_MAX_TIMEOUT_S } from "../../servers/proxy/app.ts";
import { STORE_FORMS } from "../../lib/proxy/open_store.ts";
import { DEFAULT_HUB_PORT } from "../../servers/hub/main.ts";
import { DEFAULT_HUB_PATH } from "../../servers/hub/app.ts";
import { ENSYNC_DEFAULT_PORTS } from "../../servers/ensync/mod.ts";
import { SYFT_METHODS } from "../../lib/rpc/protocol.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Graph {
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
  }[];
  redirects: Record<string, string>;
}

async function graph(entry: string): Promise<Graph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", `${ROOT}deno.json`, entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** The modules `entry` loads before any `import()`: its static import closure. */
function staticClosure(g: Graph, entry: string): { files: string[]; npm: string[] } {
  const bySpec = new Map(g.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const npm = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const spec = todo.pop()!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    if (spec.startsWith("npm:")) {
      npm.add(/^(@[^/]+\/[^@/]+|[^@/]+)/.exec(spec.replace(/^npm:\/?/, ""))![1]!);
      continue;
    }
    for (const dep of bySpec.get(spec)?.dependencies ?? []) {
      if (dep.isDynamic || dep.code === undefined) continue;
      todo.push(g.redirects[dep.code.specifier] ?? dep.code.specifier);
    }
  }
  return { files: [...seen].filter((s) => s.startsWith("file:")), npm: [...npm].sort() };
}

Deno.test("syft --version loads no npm package; the command tree loads commander only", async () => {
  const main = pathToFileURL(`${ROOT}cli/main.ts`).href;
  const g = await graph(main);
  const version = staticClosure(g, main);
  assert.deepEqual(version.npm, [], "cli/main.ts imports npm packages at top level");
  const tree = staticClosure(g, pathToFileURL(`${ROOT}cli/_program.ts`).href);
  const allowed = ["@commander-js/extra-typings", "commander"];
  assert.deepEqual(tree.npm.filter((p) => !allowed.includes(p)), [], "heavy packages at start-up");
  assert.ok(tree.npm.length > 0, "the graph lists the command tree's packages");
  // servers/proxy/options.ts is the proxy's option-value parsers (no imports): allowed.
  const heavy = tree.files.filter((f) =>
    /\/(servers|cli\/_actions)\/|\/lib\/(ensync|hub|proxy)\//.test(f) &&
    !f.endsWith("/servers/proxy/options.ts")
  );
  assert.deepEqual(heavy, [], "the command tree imports a server or a part at top level");
  // Every group's action module is reachable through import(): bundles include it.
  for (const group of ["rpc", "proxy", "hub", "ensync", "up"]) {
    assert.ok(
      g.modules.some((m) => m.specifier.endsWith(`/cli/_actions/${group}.ts`)),
      `cli/_actions/${group}.ts is not in the graph`,
    );
  }
});

Deno.test("cli/_defaults.ts mirrors the parts' constants", () => {
  assert.equal(defaults.PROXY_PORT, DEFAULT_PROXY_PORT);
  assert.equal(defaults.PROXY_MAX_TIMEOUT_S, DEFAULT_MAX_TIMEOUT_S);
  assert.equal(defaults.PROXY_STORE_FORMS, STORE_FORMS);
  assert.equal(defaults.HUB_PORT, DEFAULT_HUB_PORT);
  assert.equal(defaults.HUB_PATH, DEFAULT_HUB_PATH);
  assert.deepEqual(defaults.ENSYNC_PORTS, ENSYNC_DEFAULT_PORTS);
  assert.deepEqual(defaults.RPC_METHODS, SYFT_METHODS);
});
