import assert from "node:assert/strict";
import { join } from "node:path";
import {
  acquireWatcher,
  type FileChange,
  FileWatcher,
  type FsEventSource,
  type RescanReason,
  walkFiles,
} from "../../../lib/rpc/watcher.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import { tempWorkspace, waitFor } from "../../_helpers/workspace.ts";

/** A scripted event source: push events, make it fail, count how often it was opened. */
function scripted() {
  let queue: Deno.FsEvent[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let opened = 0;
  let closed = 0;
  const factory = (_paths: string[]): FsEventSource => {
    opened++;
    let isClosed = false;
    return {
      close() {
        isClosed = true;
        closed++;
        wake?.();
      },
      async *[Symbol.asyncIterator]() {
        while (!isClosed) {
          if (failure) {
            const err = failure;
            failure = undefined;
            throw err;
          }
          if (queue.length > 0) {
            yield queue.shift()!;
            continue;
          }
          await new Promise<void>((r) => (wake = r));
        }
      },
    };
  };
  return {
    factory,
    push(...events: Deno.FsEvent[]) {
      queue.push(...events);
      wake?.();
    },
    fail(err: Error) {
      failure = err;
      wake?.();
    },
    reset() {
      queue = [];
    },
    get opened() {
      return opened;
    },
    get closed() {
      return closed;
    },
  };
}

function collect(watcher: FileWatcher, dir: string) {
  const changes: FileChange[] = [];
  const rescans: RescanReason[] = [];
  const off = watcher.subscribe({
    dir,
    onChange: (c) => changes.push(c),
    onRescan: (r) => rescans.push(r),
  });
  return { changes, rescans, off };
}

Deno.test("FileWatcher delivers a rename into place and a close-after-write at once, once each", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const watcher = new FileWatcher(ws.path, {
    source: src.factory,
    quietMs: 10_000,
    reconcileMs: 0,
  });
  await watcher.start();
  const { changes } = collect(watcher, ws.path);
  const a = join(ws.path, "ep", "alice@x.io", "a.request");
  const b = join(ws.path, "ep", "alice@x.io", "b.request");
  // A Python writer: create, modify, then close (access). quietMs is huge: only the close flushes.
  src.push({ kind: "create", paths: [a] }, { kind: "modify", paths: [a] }, {
    kind: "access",
    paths: [a],
  });
  // An atomic writer from a temp file in the same directory: temp events are ignored.
  const tmp = join(ws.path, "ep", "alice@x.io", ".b.request.syft.tmp.1-0");
  src.push(
    { kind: "create", paths: [tmp] },
    { kind: "access", paths: [tmp] },
    { kind: "remove", paths: [tmp] },
    { kind: "rename", paths: [b] },
    { kind: "rename", paths: [tmp, b] },
  );
  await waitFor(() => changes.length >= 3);
  assert.deepEqual(changes.map((c) => [c.kind, c.path]), [
    ["create", a],
    ["create", b],
    ["create", b], // the pair event repeats it; subscribers are idempotent
  ]);
  watcher.close();
});

Deno.test("FileWatcher coalesces create/modify without a close and flushes after the quiet period", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const clock = new FakeClock();
  const watcher = new FileWatcher(ws.path, {
    source: src.factory,
    quietMs: 30,
    reconcileMs: 0,
    clock,
  });
  await watcher.start();
  const { changes } = collect(watcher, ws.path);
  const p = join(ws.path, "x.response");
  src.push({ kind: "create", paths: [p] }, { kind: "modify", paths: [p] }, {
    kind: "modify",
    paths: [p],
  });
  await waitFor(() => watcher.stats.events >= 3);
  await clock.tick(29); // within the quiet period: nothing yet
  assert.deepEqual(changes, []);
  await clock.tick(1);
  assert.deepEqual(changes, [{ kind: "create", path: p, origin: "event" }]);
  await clock.tick(1_000); // the three events were one change
  assert.equal(changes.length, 1);
  // A remove cancels a pending change and is delivered at once.
  src.push({ kind: "modify", paths: [p] }, { kind: "remove", paths: [p] });
  await waitFor(() => changes.length === 2);
  await clock.tick(1_000);
  assert.deepEqual(changes[1], { kind: "remove", path: p, origin: "event" });
  assert.equal(changes.length, 2);
  watcher.close();
});

Deno.test("FileWatcher asks subscribers to rescan on the overflow flag", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const watcher = new FileWatcher(ws.path, { source: src.factory, reconcileMs: 0 });
  await watcher.start();
  const { rescans } = collect(watcher, ws.path);
  src.push({ kind: "any", paths: [ws.path], flag: "rescan" });
  await waitFor(() => rescans.length === 1);
  assert.deepEqual(rescans, ["overflow"]);
  assert.equal(watcher.stats.overflows, 1);
  watcher.close();
});

Deno.test("FileWatcher scans a directory that appears and finds files written before its watch", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const watcher = new FileWatcher(ws.path, { source: src.factory, reconcileMs: 0 });
  await watcher.start();
  const { changes } = collect(watcher, ws.path);
  // mkdir -p + writes whose events were lost: only the top directory's create arrives.
  const top = join(ws.path, "ep", "new@x.io");
  await Deno.mkdir(join(top, "deeper"), { recursive: true });
  await Deno.writeTextFile(join(top, "1.request"), "{}");
  await Deno.writeTextFile(join(top, "deeper", "2.request"), "{}");
  await Deno.writeTextFile(join(top, ".3.request.syft.tmp.9-9"), "{}");
  src.push({ kind: "create", paths: [join(ws.path, "ep")] });
  await waitFor(() => changes.length >= 2);
  assert.deepEqual(
    changes.map((c) => [c.kind, c.path, c.origin]).sort(),
    [
      ["create", join(top, "1.request"), "scan"],
      ["create", join(top, "deeper", "2.request"), "scan"],
    ],
  );
  assert.equal(watcher.stats.dirScans, 1);
  // A populated directory moved in (one rename event) is scanned too.
  const moved = join(ws.path, "moved");
  await Deno.mkdir(moved);
  await Deno.writeTextFile(join(moved, "m.json"), "{}");
  src.push({ kind: "rename", paths: [moved] });
  await waitFor(() => changes.some((c) => c.path === join(moved, "m.json")));
  watcher.close();
});

Deno.test("FileWatcher looks at a new directory again: a file moved in before its watch exists is found", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const watcher = new FileWatcher(ws.path, { source: src.factory, reconcileMs: 0 });
  await watcher.start();
  const { changes } = collect(watcher, ws.path);
  const dir = join(ws.path, "ep", "new@x.io");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "1.request"), "{}");
  src.push({ kind: "create", paths: [dir] });
  await waitFor(() => changes.length >= 1);
  // Moved in after the first scan, and no event for it (the watch came too late).
  await Deno.writeTextFile(join(ws.path, "tmp"), "{}");
  await Deno.rename(join(ws.path, "tmp"), join(dir, "2.request"));
  await waitFor(() => changes.some((c) => c.path === join(dir, "2.request")), { timeoutMs: 2000 });
  // Each file is delivered once by the scans.
  assert.deepEqual(changes.map((c) => c.path).sort(), [
    join(dir, "1.request"),
    join(dir, "2.request"),
  ]);
  watcher.close();
});

Deno.test("FileWatcher only delivers paths inside a subscriber's directory", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const watcher = new FileWatcher(ws.path, { source: src.factory, reconcileMs: 0 });
  await watcher.start();
  const a = collect(watcher, join(ws.path, "a"));
  const all = collect(watcher, ws.path);
  src.push({ kind: "access", paths: [join(ws.path, "a", "1.request")] });
  src.push({ kind: "access", paths: [join(ws.path, "ab", "2.request")] });
  await waitFor(() => all.changes.length === 2);
  assert.deepEqual(a.changes.map((c) => c.path), [join(ws.path, "a", "1.request")]);
  a.off();
  src.push({ kind: "access", paths: [join(ws.path, "a", "3.request")] });
  await waitFor(() => all.changes.length === 3);
  assert.equal(a.changes.length, 1);
  watcher.close();
});

Deno.test("FileWatcher restarts a failed source and asks for a rescan", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const watcher = new FileWatcher(ws.path, { source: src.factory, reconcileMs: 0 });
  await watcher.start();
  const { changes, rescans } = collect(watcher, ws.path);
  src.fail(new Error("boom"));
  await waitFor(() => rescans.includes("error"));
  assert.equal(src.opened, 2);
  assert.equal(watcher.stats.restarts, 1);
  src.push({ kind: "access", paths: [join(ws.path, "after.request")] });
  await waitFor(() => changes.length === 1);
  watcher.close();
  assert.ok(src.closed >= 2);
});

Deno.test("FileWatcher polls when no watcher can be created", async () => {
  await using ws = await tempWorkspace();
  const watcher = new FileWatcher(ws.path, {
    source: () => {
      throw new Error("inotify watch limit reached");
    },
    pollMs: 20,
    reconcileMs: 0,
  });
  await watcher.start();
  assert.equal(watcher.mode, "poll");
  const { rescans } = collect(watcher, ws.path);
  await waitFor(() => rescans.length >= 2);
  assert.ok(rescans.every((r) => r === "poll"));
  watcher.close();
});

Deno.test("FileWatcher reconciles periodically", async () => {
  await using ws = await tempWorkspace();
  const src = scripted();
  const watcher = new FileWatcher(ws.path, { source: src.factory, reconcileMs: 20 });
  await watcher.start();
  const { rescans } = collect(watcher, ws.path);
  await waitFor(() => rescans.length >= 2);
  assert.ok(rescans.every((r) => r === "reconcile"));
  watcher.close();
});

Deno.test("FileWatcher on Deno.watchFs sees an atomic write, a plain write and a removal", async () => {
  await using ws = await tempWorkspace();
  const root = join(ws.path, "root");
  const watcher = new FileWatcher(root, { reconcileMs: 0 });
  await watcher.start();
  const { changes } = collect(watcher, root);
  const staged = join(ws.path, "staged");
  await Deno.writeTextFile(staged, "{}");
  await Deno.rename(staged, join(root, "a.request"));
  await Deno.writeTextFile(join(root, "b.json"), "{}");
  await waitFor(() => changes.filter((c) => c.kind !== "remove").length >= 2, {
    what: "two files",
  });
  await Deno.remove(join(root, "a.request"));
  await waitFor(() =>
    changes.some((c) => c.kind === "remove" && c.path === join(root, "a.request"))
  );
  const paths = new Set(changes.map((c) => c.path));
  assert.ok(paths.has(join(root, "a.request")));
  assert.ok(paths.has(join(root, "b.json")));
  watcher.close();
});

Deno.test("acquireWatcher() shares one watcher per tree and closes it with the last lease", async () => {
  await using ws = await tempWorkspace();
  await Deno.mkdir(join(ws.path, "a", "b"), { recursive: true });
  const outer = await acquireWatcher(ws.path);
  const inner = await acquireWatcher(join(ws.path, "a", "b"));
  assert.equal(outer.watcher, inner.watcher);
  const seen: string[] = [];
  inner.subscribe({ dir: join(ws.path, "a", "b"), onChange: (c) => seen.push(c.path) });
  await Deno.writeTextFile(join(ws.path, "a", "b", "x.request"), "{}");
  await waitFor(() => seen.length > 0);
  inner.release();
  assert.equal(outer.watcher.subscribers, 0);
  assert.equal(outer.watcher.mode, "watch");
  outer.release();
  assert.equal(outer.watcher.mode, "idle");
  // A new lease after the last release gets a fresh watcher.
  const again = await acquireWatcher(ws.path);
  assert.notEqual(again.watcher, outer.watcher);
  again.release();
});

Deno.test("walkFiles() lists files recursively and skips temp files", async () => {
  await using ws = await tempWorkspace();
  await Deno.mkdir(join(ws.path, "a", "b"), { recursive: true });
  await Deno.writeTextFile(join(ws.path, "a", "1"), "");
  await Deno.writeTextFile(join(ws.path, "a", "b", "2"), "");
  await Deno.writeTextFile(join(ws.path, "a", ".3.syft.tmp.1-1"), "");
  const files = (await Array.fromAsync(walkFiles(ws.path))).sort();
  assert.deepEqual(files, [join(ws.path, "a", "1"), join(ws.path, "a", "b", "2")]);
  assert.deepEqual(await Array.fromAsync(walkFiles(join(ws.path, "missing"))), []);
});
