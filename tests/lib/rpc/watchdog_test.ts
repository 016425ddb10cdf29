// deno-lint-ignore-file no-console
/**
 * What a Python SyftBox app's watcher (watchdog, inotify) sees of our client's files. Needs
 * Debian's `/usr/bin/python3` with `python3-watchdog` (`.ci/run` installs it); skipped with a
 * message where it is missing.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { sep } from "node:path";
import { TextLineStream } from "../../../lib/_lines.ts";
import { createEchoApp, RpcClient } from "../../../lib/rpc/mod.ts";
import { rpcWorkspace, waitFor } from "./_fixtures.ts";

export const DEBIAN_PYTHON = "/usr/bin/python3";

async function hasWatchdog(): Promise<boolean> {
  try {
    const out = await new Deno.Command(DEBIAN_PYTHON, {
      args: ["-c", "import watchdog.observers.inotify"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

const WATCHDOG = await hasWatchdog();
if (!WATCHDOG) {
  console.warn(
    "%cwatchdog tests skipped: /usr/bin/python3 cannot import watchdog (apt-get install -y python3-watchdog)",
    "color: yellow",
  );
}

type WatchdogEvent = [type: string, src: string | null, dest: string | null];

/** Runs the watchdog observer on `dir`; its events accumulate in `events`. */
async function observe(dir: string): Promise<
  { events: WatchdogEvent[] } & AsyncDisposable
> {
  const script = fileURLToPath(new URL("./_watchdog_observer.py", import.meta.url));
  const child = new Deno.Command(DEBIAN_PYTHON, {
    args: [script, dir],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  );
  const events: WatchdogEvent[] = [];
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const reading = (async () => {
    for await (const line of lines) {
      if (line === "ready") ready();
      else events.push(JSON.parse(line));
    }
  })();
  await started;
  return {
    events,
    async [Symbol.asyncDispose]() {
      await child.stdin.close();
      await child.status;
      await reading;
    },
  };
}

Deno.test({
  name: "RpcClient consumed files leave the datasite as deletes under watchdog, never moves out",
  ignore: !WATCHDOG,
  async fn() {
    await using ws = await rpcWorkspace();
    const root = ws.workspace.datasitesDir;
    await using app = createEchoApp({ workspace: ws.workspace });
    await app.start();
    await using observer = await observe(root);
    await using client = await RpcClient.open({ workspace: ws.workspace });
    const consumed: string[] = [];
    // Sequential calls, then a few in flight at once (both reuse files the first ones freed).
    for (let i = 0; i < 10; i++) {
      const future = await client.send(app.url("/echo"), { body: { i }, cache: false });
      await future.wait({ timeout: "10s" });
      consumed.push(future.requestPath, future.responsePath);
    }
    await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const future = await client.send(app.url("/echo"), { body: { j: i }, cache: false });
      await future.wait({ timeout: "10s" });
      consumed.push(future.requestPath, future.responsePath);
    }));
    const inTree = (p: string | null): boolean => p !== null && p.startsWith(root + sep);
    const left = (path: string): boolean =>
      observer.events.some(([type, src]) =>
        src === path && (type === "deleted" || type === "moved")
      );
    // watchdog holds a move out of the tree for 0.5 s: wait until every file's exit was reported.
    await waitFor(() => consumed.every(left), { timeoutMs: 10_000, what: "every exit reported" });
    const movedOut = observer.events.filter(([type, src, dest]) =>
      type === "moved" && inTree(src) && !inTree(dest)
    );
    assert.deepEqual(movedOut, [], "files renamed out of the watched tree");
    for (const path of consumed) {
      assert.ok(
        observer.events.some(([type, src]) => type === "deleted" && src === path),
        `no delete event for ${path}`,
      );
    }
  },
});
