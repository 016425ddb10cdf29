import assert from "node:assert/strict";
import { join } from "node:path";
import { listPendingRequests, SyftBoxWorkspace, type WatchEvent } from "../../../lib/rpc/mod.ts";
import { DEDUPE_MS, expandGlob, GlobWatcher } from "../../../lib/rpc/globs.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";
import { scriptedEventSource } from "./_fixtures.ts";

Deno.test("expandGlob() fills placeholders and anchors patterns like syft-event", () => {
  const values = { email: "me+x@example.com", appDataDir: "/d/me+x@example.com/app_data/app" };
  assert.equal(expandGlob("{datasite}/**/*.json", values), "**/me\\+x\\@example.com/**/*.json");
  assert.equal(expandGlob("**/*.request", values), "**/*.request");
  assert.equal(
    expandGlob("{app_data}/*.txt", values),
    "/d/me\\+x\\@example.com/app_data/app/*.txt",
  );
});

Deno.test("GlobWatcher without remove events still forgets removed files: a re-created file is a create", async () => {
  await using ws = await tempWorkspace();
  const workspace = new SyftBoxWorkspace({ dataDir: ws.path, email: "me@example.com" });
  await workspace.ensure();
  const dir = join(workspace.myDatasite, "data");
  await Deno.mkdir(dir, { recursive: true });
  const { source, push } = scriptedEventSource();
  const events: string[] = [];
  const clock = new FakeClock();
  const watcher = new GlobWatcher(workspace, "{datasite}/**/*.json", (e) => {
    events.push(`${e.kind} ${e.path.slice(dir.length + 1)}`);
  }, { watcher: { source, reconcileMs: 0 }, clock }); // default events: create and modify
  await watcher.start(); // resolves once the initial inventory (a real directory walk) is taken
  const file = join(dir, "x.json");
  await Deno.writeTextFile(file, "{}");
  push({ kind: "create", paths: [file] });
  await waitFor(() => events.length === 1);
  await Deno.remove(file);
  push({ kind: "remove", paths: [file] });
  await clock.tick(DEDUPE_MS); // past the dedupe window
  await Deno.writeTextFile(file, "{}");
  push({ kind: "any", paths: [workspace.datasitesDir], flag: "rescan" });
  await waitFor(() => events.length === 2);
  assert.deepEqual(events, ["create x.json", "create x.json"]);
  watcher.stop();
});

Deno.test("GlobWatcher delivers a change repeated within the dedupe window once, and again after it", async () => {
  await using ws = await tempWorkspace();
  const workspace = new SyftBoxWorkspace({ dataDir: ws.path, email: "me@example.com" });
  await workspace.ensure();
  const dir = join(workspace.myDatasite, "data");
  await Deno.mkdir(dir, { recursive: true });
  const { source, push } = scriptedEventSource();
  const events: string[] = [];
  const clock = new FakeClock();
  const watcher = new GlobWatcher(workspace, "{datasite}/**/*.json", (e) => {
    events.push(`${e.kind} ${e.path.slice(dir.length + 1)}`);
  }, { watcher: { source, reconcileMs: 0 }, clock });
  await watcher.start(); // resolves once the initial inventory (a real directory walk) is taken
  const file = join(dir, "y.json");
  await Deno.writeTextFile(file, "{}");
  push({ kind: "modify", paths: [file] });
  await waitFor(() => events.length === 1);
  await clock.tick(DEDUPE_MS - 1);
  push({ kind: "modify", paths: [file] });
  await Deno.writeTextFile(join(dir, "marker.json"), "{}");
  push({ kind: "create", paths: [join(dir, "marker.json")] });
  await waitFor(() => events.length === 2); // the marker passed, the repeat did not
  assert.deepEqual(events, ["modify y.json", "create marker.json"]);
  await clock.tick(1);
  push({ kind: "modify", paths: [file] });
  await waitFor(() => events.length === 3);
  assert.deepEqual(events, ["modify y.json", "create marker.json", "modify y.json"]);
  watcher.stop();
});

Deno.test("GlobWatcher reports what changed while events were lost, after an overflow", async () => {
  await using ws = await tempWorkspace();
  const workspace = new SyftBoxWorkspace({ dataDir: ws.path, email: "me@example.com" });
  await workspace.ensure();
  const dir = join(workspace.myDatasite, "data");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "keep.json"), "{}");
  await Deno.writeTextFile(join(dir, "change.json"), "{}");
  await Deno.writeTextFile(join(dir, "drop.json"), "{}");
  const { source, push } = scriptedEventSource();
  const events: WatchEvent[] = [];
  const watcher = new GlobWatcher(workspace, "{datasite}/**/*.json", (e) => void events.push(e), {
    events: ["create", "modify", "remove"],
    watcher: { source, reconcileMs: 0 },
  });
  await watcher.start();
  assert.equal(watcher.matches(join(dir, "x.json")), true);
  assert.equal(watcher.matches(join(dir, "x.txt")), false);
  // Changes the (scripted) watcher never reports:
  await new Promise((r) => setTimeout(r, 20)); // file times later than the inventory's (a real mtime)
  await Deno.writeTextFile(join(dir, "change.json"), '{"v":2}');
  await Deno.writeTextFile(join(dir, "new.json"), "{}");
  await Deno.remove(join(dir, "drop.json"));
  push({ kind: "any", paths: [workspace.datasitesDir], flag: "rescan" });
  await waitFor(() => events.length >= 3);
  await new Promise((r) => setTimeout(r, 100));
  const seen = events.map((e) => `${e.kind} ${e.path.slice(dir.length + 1)} ${e.origin}`).sort();
  assert.deepEqual(seen, [
    "create new.json scan",
    "modify change.json scan",
    "remove drop.json scan",
  ]);
  watcher.stop();
  assert.throws(() => new GlobWatcher(workspace, [], () => {}), /no glob pattern/);
});

Deno.test("listPendingRequests() lists requests without responses in both layouts", async () => {
  await using ws = await tempWorkspace();
  const workspace = new SyftBoxWorkspace({ dataDir: ws.path, email: "me@example.com" });
  const ep = join(workspace.appRpcDir("app"), "ep");
  await Deno.mkdir(join(ep, "a@example.com"), { recursive: true });
  const answered = crypto.randomUUID();
  const waiting = crypto.randomUUID();
  const legacy = crypto.randomUUID();
  await Deno.writeTextFile(join(ep, "a@example.com", `${answered}.request`), "{}");
  await Deno.writeTextFile(join(ep, "a@example.com", `${answered}.response`), "{}");
  await Deno.writeTextFile(
    join(ep, "a@example.com", `${waiting}.request`),
    JSON.stringify({
      id: waiting,
      sender: "a@example.com",
      url: "syft://me@example.com/app_data/app/rpc/ep",
      method: "POST",
      created: "2025-01-01T00:00:00+00:00",
      expires: "2025-01-02T00:00:00+00:00",
    }),
  );
  await Deno.writeTextFile(join(ep, `${legacy}.request`), "garbage");
  await Deno.writeTextFile(join(ep, "a@example.com", "x.syftrejected.request"), "");
  const list = await listPendingRequests(workspace);
  assert.deepEqual(
    list.map((p) => [p.id, p.endpoint, p.folder, p.expired, p.error !== undefined]),
    [
      [waiting, "/ep", "a@example.com", true, false],
      [legacy, "/ep", "", false, true],
    ],
  );
  assert.equal(list[0]!.method, "POST");
  assert.deepEqual(await listPendingRequests(workspace, { app: "other" }), []);
});

Deno.test("GlobWatcher.start() resolves once the files already there are known: a rescan right after reports none of them", async () => {
  await using ws = await tempWorkspace();
  const workspace = new SyftBoxWorkspace({ dataDir: ws.path, email: "me@example.com" });
  await workspace.ensure();
  const dir = join(workspace.myDatasite, "data");
  await Deno.mkdir(dir, { recursive: true });
  for (let i = 0; i < 300; i++) await Deno.writeTextFile(join(dir, `old${i}.json`), "{}");
  const { source, push } = scriptedEventSource();
  const events: string[] = [];
  const watcher = new GlobWatcher(workspace, "{datasite}/**/*.json", (e) => {
    events.push(`${e.kind} ${e.path.slice(dir.length + 1)}`);
  }, { events: ["create", "modify", "remove"], watcher: { source, reconcileMs: 0 } });
  await watcher.start();
  const marker = join(dir, "new.json");
  await Deno.writeTextFile(marker, "{}");
  push({ kind: "any", paths: [workspace.datasitesDir], flag: "rescan" });
  await waitFor(() => events.length >= 1);
  assert.deepEqual(events, ["create new.json"]);
  watcher.stop();
});
