import assert from "node:assert/strict";
import { join } from "node:path";
import {
  chooseWorkspaceConfig,
  claimServer,
  ensureSyftHome,
  listRunningServers,
  openSyftHome,
  SyftError,
  WorkspaceBusyError,
} from "../../mod.ts";
import { tempWorkspace } from "../_helpers/workspace.ts";

/** A user with nothing set up: no SYFT_HOME, no SYFTBOX_CLIENT_CONFIG_PATH, an empty HOME. */
function fresh(home: string): { env: Record<string, string>; homeDir: string } {
  return { env: { HOME: home, USER: "ada" }, homeDir: home };
}

Deno.test("ensureSyftHome() creates config, datasite and state dirs once", async () => {
  await using ws = await tempWorkspace();
  const first = await ensureSyftHome({
    ...fresh(ws.path),
    root: ws.path,
    email: "me@localhost.dev",
  });
  assert.equal(first.created, true);
  assert.equal(first.source, "syft-home");
  assert.equal(first.email, "me@localhost.dev");
  assert.equal(first.dataDir, `${ws.path}/data`);
  assert.ok((await Deno.stat(`${ws.path}/data/datasites/me@localhost.dev`)).isDirectory);
  const second = await ensureSyftHome({
    ...fresh(ws.path),
    root: ws.path,
    email: "x@localhost.dev",
  });
  assert.equal(second.created, false);
  assert.equal(second.email, "me@localhost.dev");
  // The default e-mail comes from USER.
  await using other = await tempWorkspace();
  assert.equal((await ensureSyftHome(fresh(other.path))).email, "ada@localhost.dev");
});

Deno.test("ensureSyftHome() names the field when an existing config is unusable", async () => {
  await using ws = await tempWorkspace();
  await Deno.writeTextFile(`${ws.path}/config.json`, JSON.stringify({ data_dir: "/x" }));
  await assert.rejects(ensureSyftHome({ ...fresh(ws.path), root: ws.path }), (err) => {
    assert.ok(err instanceof SyftError);
    assert.match(err.message, /"email" is missing or invalid/);
    return true;
  });
  await Deno.writeTextFile(`${ws.path}/config.json`, "{ not json");
  await assert.rejects(
    ensureSyftHome({ ...fresh(ws.path), root: ws.path }),
    /Cannot read SyftBox config/,
  );
});

Deno.test("chooseWorkspaceConfig(): --config > $SYFTBOX_CLIENT_CONFIG_PATH > ~/.syftbox > the syft home", async () => {
  await using ws = await tempWorkspace();
  const home = join(ws.path, "home");
  const base = fresh(home);
  // Nothing: the syft home's config (~/.syft), which does not exist yet.
  let c = await chooseWorkspaceConfig(base);
  assert.deepEqual([c.source, c.path, c.exists], [
    "syft-home",
    join(home, ".syft/config.json"),
    false,
  ]);
  // $SYFT_HOME moves the syft home.
  c = await chooseWorkspaceConfig({
    ...base,
    env: { ...base.env, SYFT_HOME: join(ws.path, "sh") },
  });
  assert.equal(c.path, join(ws.path, "sh/config.json"));
  assert.match(c.reason, /\$SYFT_HOME/);
  // A SyftBox client's own config wins over the syft home, when it exists.
  await Deno.mkdir(join(home, ".syftbox"), { recursive: true });
  await Deno.writeTextFile(join(home, ".syftbox/config.json"), "{}");
  c = await chooseWorkspaceConfig({
    ...base,
    env: { ...base.env, SYFT_HOME: join(ws.path, "sh") },
  });
  assert.deepEqual([c.source, c.path], ["syftbox", join(home, ".syftbox/config.json")]);
  assert.equal(c.syftHome, join(ws.path, "sh"), "state stays in the syft home");
  // The environment variable wins over it, existing or not.
  const envPath = join(ws.path, "env.json");
  c = await chooseWorkspaceConfig({
    ...base,
    env: { ...base.env, SYFTBOX_CLIENT_CONFIG_PATH: envPath },
  });
  assert.deepEqual([c.source, c.path, c.exists], ["env", envPath, false]);
  // --config wins over everything.
  c = await chooseWorkspaceConfig({
    ...base,
    configPath: join(ws.path, "flag.json"),
    env: { ...base.env, SYFTBOX_CLIENT_CONFIG_PATH: envPath },
  });
  assert.deepEqual([c.source, c.path], ["path", join(ws.path, "flag.json")]);
});

Deno.test("openSyftHome() creates nothing and says what to run; ensureSyftHome() creates a named config only when asked", async () => {
  await using ws = await tempWorkspace();
  await assert.rejects(openSyftHome(fresh(ws.path)), (err) => {
    assert.ok(err instanceof SyftError);
    assert.equal(err.code, "NO_CONFIG");
    assert.match(err.message, /No syft workspace yet: .* \(run `syft up` or `syft init`/);
    return true;
  });
  assert.equal(await Array.fromAsync(Deno.readDir(ws.path)).then((e) => e.length), 0);
  const named = join(ws.path, "box", "config.json");
  await assert.rejects(
    ensureSyftHome({ ...fresh(ws.path), configPath: named }),
    /Cannot use SyftBox config ".*box\/config\.json" \(given with --config\): the file does not exist/,
  );
  const made = await ensureSyftHome({ ...fresh(ws.path), configPath: named, createNamed: true });
  assert.equal(made.created, true);
  assert.equal(made.dataDir, join(ws.path, "box", "data"));
  assert.equal(
    (await openSyftHome({ ...fresh(ws.path), configPath: named })).email,
    "ada@localhost.dev",
  );
});

Deno.test("claimServer() records a server, refuses another holder while it lives, and takes over when it died", async () => {
  await using ws = await tempWorkspace();
  const home = { root: ws.path };
  const kv = join(ws.path, "state", "syft.kv");
  const first = await claimServer(home, { name: "up", command: "syft up", holds: [kv] });
  await first.update([{ name: "proxy", where: "http://127.0.0.1:8000" }]);
  const [listed] = await listRunningServers(home);
  assert.equal(listed!.pid, Deno.pid);
  assert.equal(listed!.alive, true);
  assert.deepEqual(listed!.services, [{ name: "proxy", where: "http://127.0.0.1:8000" }]);

  // As another process sees it: a record with another pid whose beacon (this one's) answers.
  const record = JSON.parse(await Deno.readTextFile(first.file));
  const other = join(ws.path, "state", "running", "other.json");
  await Deno.writeTextFile(other, JSON.stringify({ ...record, name: "other", pid: 424242 }));
  await assert.rejects(
    claimServer(home, { name: "ensync", command: "syft ensync serve", holds: [kv] }),
    (err) => {
      assert.ok(err instanceof WorkspaceBusyError);
      assert.equal(err.holder.pid, 424242);
      assert.match(err.message, /^syft up \(pid 424242, since .*\) already holds .*syft\.kv in /);
      return true;
    },
  );
  // The holder stops: its record goes (release), and the other record, whose beacon now refuses
  // (port 1: nothing listens there; a freed port could be anyone's by now), counts as dead.
  await first.release();
  await Deno.writeTextFile(
    other,
    JSON.stringify({ ...record, name: "other", pid: 424242, beacon: { port: 1, nonce: "x" } }),
  );
  const [dead] = await listRunningServers(home);
  assert.deepEqual([dead!.name, dead!.alive], ["other", false]);
  const next = await claimServer(home, { name: "other", command: "syft up", holds: [kv] });
  assert.equal(
    JSON.parse(await Deno.readTextFile(next.file)).pid,
    Deno.pid,
    "took the record over",
  );
  await next.release();
  assert.deepEqual(await listRunningServers(home), []);
});
