import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadSyftBoxConfig,
  parseSyftBoxConfig,
  resolveConfigPath,
  RpcConfigError,
  SyftBoxWorkspace,
  writeSyftBoxConfig,
} from "../../../lib/rpc/mod.ts";
import { configCandidates, resolveWorkspace } from "../../../lib/rpc/config.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(value));
}

Deno.test("loadSyftBoxConfig() resolves explicit path, env, ~/.syftbox, then ~/.config/syftbox", async () => {
  await using ws = await tempWorkspace();
  const home = join(ws.path, "home");
  const env: Record<string, string | undefined> = {};
  // Nothing exists: a NO_CONFIG error naming the candidates.
  await assert.rejects(
    loadSyftBoxConfig({ home, env }),
    (err) =>
      err instanceof RpcConfigError && err.code === "NO_CONFIG" &&
      err.message.includes(".syftbox/config.json"),
  );
  // The Go client's second location.
  await writeJson(join(home, ".config/syftbox/config.json"), {
    data_dir: "/d4",
    email: "four@x.io",
  });
  assert.equal((await loadSyftBoxConfig({ home, env })).email, "four@x.io");
  // The legacy client_config.json beside ~/.syftbox/config.json.
  await writeJson(join(home, ".syftbox/client_config.json"), {
    data_dir: "/d3",
    email: "three@x.io",
  });
  assert.equal((await loadSyftBoxConfig({ home, env })).email, "three@x.io");
  // ~/.syftbox/config.json.
  await writeJson(join(home, ".syftbox/config.json"), { data_dir: "/d2", email: "two@x.io" });
  assert.equal((await loadSyftBoxConfig({ home, env })).email, "two@x.io");
  assert.equal(await resolveConfigPath({ home, env }), join(home, ".syftbox/config.json"));
  // SYFTBOX_CLIENT_CONFIG_PATH.
  const envPath = join(ws.path, "env.json");
  await writeJson(envPath, { data_dir: "/d1", email: "one@x.io" });
  env.SYFTBOX_CLIENT_CONFIG_PATH = envPath;
  assert.equal((await loadSyftBoxConfig({ home, env })).email, "one@x.io");
  // The explicit path wins.
  const explicit = join(ws.path, "explicit.json");
  await writeJson(explicit, { data_dir: "/d0", email: "zero@x.io" });
  const cfg = await loadSyftBoxConfig({ path: explicit, home, env });
  assert.equal(cfg.email, "zero@x.io");
  assert.equal(cfg.path, explicit);
  // A missing explicit path does not fall back to the defaults.
  await assert.rejects(
    loadSyftBoxConfig({ path: join(ws.path, "none.json"), home, env }),
    /Cannot find a SyftBox config/,
  );
  assert.deepEqual(configCandidates({ path: "/x/c.json" }), ["/x/c.json", "/x/client_config.json"]);
});

Deno.test("parseSyftBoxConfig() reads fields and aliases and names what is wrong", () => {
  const cfg = parseSyftBoxConfig(
    { sync_folder: "~/Box", email: "me@example.com", port: 8080, client_token: "t", extra: 1 },
    "/c/config.json",
    { home: "/home/me" },
  );
  assert.equal(cfg.dataDir, "/home/me/Box");
  assert.equal(cfg.clientUrl, "http://localhost:8080");
  assert.equal(cfg.serverUrl, "https://syftbox.net");
  assert.equal(cfg.clientToken, "t");
  assert.equal(
    parseSyftBoxConfig({ data_dir: "rel", email: "a@b.io" }, "/c/config.json").dataDir,
    "/c/rel",
  );
  assert.throws(
    () => parseSyftBoxConfig({ data_dir: "/d" }, "/c.json"),
    /"email" is missing or invalid/,
  );
  assert.throws(
    () => parseSyftBoxConfig({ data_dir: "/d", email: "me@localhost" }, "/c.json"),
    /"email"/,
  );
  assert.throws(() => parseSyftBoxConfig({ email: "a@b.io" }, "/c.json"), /"data_dir" is missing/);
  assert.throws(
    () => parseSyftBoxConfig({ data_dir: "/d", email: "a@b.io", server_url: 5 }, "/c.json"),
    /"server_url" must be a string/,
  );
  assert.throws(() => parseSyftBoxConfig([], "/c.json"), RpcConfigError);
});

Deno.test("loadSyftBoxConfig() reports unreadable JSON as BAD_CONFIG", async () => {
  await using ws = await tempWorkspace();
  const path = join(ws.path, "config.json");
  await Deno.writeTextFile(path, "{ nope");
  await assert.rejects(
    loadSyftBoxConfig({ path }),
    (err) => err instanceof RpcConfigError && err.code === "BAD_CONFIG" && err.path === path,
  );
});

Deno.test("writeSyftBoxConfig() writes what syft-core saves and the workspace paths follow", async () => {
  await using ws = await tempWorkspace();
  const path = join(ws.path, "cfg", "config.json");
  await writeSyftBoxConfig(path, { dataDir: join(ws.path, "data"), email: "me@example.com" });
  assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
    data_dir: join(ws.path, "data"),
    email: "me@example.com",
    server_url: "https://syftbox.net",
  });
  await assert.rejects(writeSyftBoxConfig(path, { dataDir: "/d", email: "bad" }), RpcConfigError);
  const workspace = await resolveWorkspace(path);
  assert.ok(workspace instanceof SyftBoxWorkspace);
  assert.equal(workspace.datasitesDir, join(ws.path, "data", "datasites"));
  assert.equal(workspace.myDatasite, join(ws.path, "data", "datasites", "me@example.com"));
  assert.equal(
    workspace.appRpcDir("echo", "bob@x.io"),
    join(ws.path, "data", "datasites", "bob@x.io", "app_data", "echo", "rpc"),
  );
  assert.equal(
    workspace.toSyftUrl(workspace.appRpcDir("echo")).href,
    "syft://me@example.com/app_data/echo/rpc",
  );
  await workspace.ensure();
  assert.ok((await Deno.stat(workspace.myDatasite)).isDirectory);
  assert.ok((await Deno.stat(workspace.tmpDir)).isDirectory);
});

Deno.test("loadSyftBoxConfig() falls back to the syft home's config ($SYFT_HOME, else ~/.syft), as the syft command does", async () => {
  await using ws = await tempWorkspace();
  const home = join(ws.path, "home");
  await writeJson(join(home, ".syft/config.json"), { data_dir: "/s", email: "syft@x.io" });
  assert.equal((await loadSyftBoxConfig({ home, env: {} })).email, "syft@x.io");
  const elsewhere = join(ws.path, "elsewhere");
  await writeJson(join(elsewhere, "config.json"), { data_dir: "/e", email: "else@x.io" });
  assert.equal(
    (await loadSyftBoxConfig({ home, env: { SYFT_HOME: elsewhere } })).email,
    "else@x.io",
  );
  assert.deepEqual(
    configCandidates({ home, env: { SYFT_HOME: elsewhere } }).at(-1),
    join(elsewhere, "config.json"),
  );
  // A SyftBox client's own config comes first.
  await writeJson(join(home, ".syftbox/config.json"), { data_dir: "/b", email: "box@x.io" });
  assert.equal(
    (await loadSyftBoxConfig({ home, env: { SYFT_HOME: elsewhere } })).email,
    "box@x.io",
  );
});
