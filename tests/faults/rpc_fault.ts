// deno-lint-ignore-file no-console
/**
 * Fault cases of the file-RPC part:
 *
 * - `rpc_kill`: the server is killed with SIGKILL in the middle of a load and restarted; every
 *   request is answered exactly once (its own body back), nothing is lost, no request file or
 *   response file is left behind.
 * - `rpc_full_disk`: on a full tmpfs, a send whose request file cannot be written fails at once
 *   with `RPC_WRITE` and a message that says to free space, whether the file would be new or a
 *   reused (recycled) one; a cache-mode send of a request already on disk needs no write and
 *   still works; after space returns, sends work again.
 *
 * Each case prints one `FAULT <case> key=value …` line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  RpcClient,
  SyftBoxWorkspace,
  type SyftFuture,
  SyftRequest,
  SyftResponse,
} from "../../lib/rpc/mod.ts";
import { SyftError } from "../../lib/errors.ts";
import { recyclerFor } from "../../lib/rpc/_recycle.ts";
import { fillDisk, mountTmpfs, TMPFS_UNAVAILABLE } from "../lib/rpc/_tmpfs.ts";

const SERVER = new URL("./_rpc_server.ts", import.meta.url).pathname;
const OWNER = "bob@example.com";
const RUNS = 3;
const REQUESTS = 2000;

/**
 * Prints a `FAULT` line where `deno test -q` shows it (the quiet runner hides console output of
 * tests; /dev/stderr is not captured).
 */
function report(line: string): void {
  try {
    Deno.writeTextFileSync("/dev/stderr", `\n${line}\n`, { append: true });
  } catch {
    console.log(line);
  }
}

interface Server {
  process: Deno.ChildProcess;
  exited: Promise<Deno.CommandStatus>;
}

async function startServer(dataDir: string, log: string): Promise<Server> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-A", SERVER, dataDir, OWNER, log],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("READY")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the rpc server exited before it was ready");
    seen += value;
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return { process, exited: process.status };
}

async function listRpcFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".request") || e.name.endsWith(".response")) out.push(p);
    }
  };
  await walk(dir).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  return out;
}

Deno.test("rpc_kill: the server killed with SIGKILL mid-load and restarted answers every request exactly once", async () => {
  let sent = 0;
  let answered = 0;
  let lost = 0;
  let twice = 0;
  let rehandled = 0;
  for (let run = 0; run < RUNS; run++) {
    const dataDir = await Deno.makeTempDir({ prefix: "syft_rpc_fault_" });
    const log = join(dataDir, "handled.log");
    const workspace = new SyftBoxWorkspace({ dataDir, email: "alice@example.com" });
    let server = await startServer(dataDir, log);
    try {
      await using client = new RpcClient(workspace);
      const url = `syft://${OWNER}/app_data/fault/rpc/echo`;
      const futures: SyftFuture[] = [];
      const bodies = new Map<string, string>();
      let done = 0;
      const results: Promise<void>[] = [];
      let killed: Promise<void> | undefined;
      for (let i = 0; i < REQUESTS; i++) {
        const body = `run ${run} request ${i}`;
        const future = await client.send(url, { method: "POST", body, cache: false });
        sent++;
        futures.push(future);
        bodies.set(future.id, body);
        results.push(
          future.wait({ timeout: "120s" }).then((res) => {
            done++;
            if (res.statusCode === 200 && res.text() === bodies.get(future.id)) answered++;
            else lost++;
            // Kill the server once about half the requests are answered, then restart it.
            if (done === REQUESTS / 2 && killed === undefined) {
              killed = (async () => {
                server.process.kill("SIGKILL");
                await server.exited;
                server = await startServer(dataDir, log);
              })();
            }
          }, () => {
            done++;
            lost++;
          }),
        );
      }
      await Promise.all(results);
      assert.ok(killed !== undefined, "the server was never killed");
      await killed;
      const handled = (await Deno.readTextFile(log)).trim().split("\n").map((l) => l.split(" "));
      const calls = new Map<string, number>();
      for (const [id, kind] of handled) {
        calls.set(id!, (calls.get(id!) ?? 0) + 1);
        if (kind === "dup") twice++;
      }
      for (const n of calls.values()) if (n > 1) rehandled += n - 1;
      assert.equal(
        [...bodies.keys()].filter((id) => !calls.has(id)).length,
        0,
        "every request reached a handler",
      );
      // Consumed responses are deleted with their requests: nothing is left behind.
      await client.close();
      const left = await listRpcFiles(workspace.appRpcDir("fault", OWNER));
      assert.deepEqual(left, [], "request or response files left behind");
    } finally {
      server.process.kill("SIGKILL");
      await server.exited;
      await Deno.remove(dataDir, { recursive: true });
    }
  }
  report(
    `FAULT rpc_kill runs=${RUNS} sent=${sent} answered=${answered} lost=${lost} twice=${twice} rehandled=${rehandled}`,
  );
  assert.equal(answered, sent);
  assert.equal(lost, 0);
  assert.equal(twice, 0);
});

const URL_ = `syft://${OWNER}/app_data/calc/rpc/add`;

function isWriteError(err: unknown): boolean {
  return err instanceof SyftError && err.code === "RPC_WRITE" &&
    /No space left on device/.test(err.message) && /free some space/.test(err.message);
}

Deno.test({
  name: "rpc_full_disk: a send that cannot write its request fails at once, new file or reused",
  ignore: TMPFS_UNAVAILABLE !== null,
  async fn() {
    await using fs = await mountTmpfs("2m");
    const workspace = new SyftBoxWorkspace({ dataDir: fs.path, email: "alice@example.com" });
    const recycler = recyclerFor(workspace.tmpDir);
    await using client = await RpcClient.open({ workspace });
    const answer = async (future: SyftFuture): Promise<void> => {
      const res = new SyftResponse({ id: future.id, sender: OWNER, url: URL_, body: "ok" });
      await Deno.writeFile(future.responsePath, res.toBytes());
      assert.equal((await future.wait({ timeout: "10s" })).statusCode, 200);
    };
    // Consumed requests and responses are kept for reuse.
    for (let i = 0; i < 20; i++) {
      await answer(await client.send(URL_, { body: `warm ${i}`, cache: false }));
    }
    const cached = await client.send(URL_, { body: "cached" }); // cache mode: stays on disk
    const fillers = await fillDisk(fs.path);
    let reusedFailed = 0;
    let newFailed = 0;
    let other = 0;
    let slowest = 0;
    const big = "x".repeat(200_000); // larger than any reused file and the space left
    const kept = () => Array.fromAsync(Deno.readDir(recycler.dir)).then((l) => l.length);
    assert.ok(await kept() > 0, "no reusable files to try");
    // A small request still fits in a reused file: it is written, completely.
    const small = await client.send(URL_, { body: "fits in a reused file", cache: false });
    assert.equal(
      SyftRequest.decode(await Deno.readFile(small.requestPath)).text(),
      "fits in a reused file",
    );
    await Deno.remove(small.requestPath);
    fillers.push(...await fillDisk(fs.path));
    for (let i = 0; i < 50; i++) {
      const keptBefore = await kept();
      const t0 = performance.now();
      const err = await client.send(URL_, { body: `${big}${i}`, cache: false }).then(
        () => undefined,
        (e: unknown) => e,
      );
      slowest = Math.max(slowest, performance.now() - t0);
      if (!isWriteError(err)) other++;
      else if (await kept() < keptBefore) reusedFailed++; // reused files were tried (and dropped)
      else newFailed++;
    }
    // The same request again in cache mode needs no write: it is the one already on disk.
    const again = await client.send(URL_, { body: "cached" });
    assert.equal(again.id, cached.id);
    for (const f of fillers) await Deno.remove(f);
    const after = await client.send(URL_, { body: "after", cache: false });
    await answer(after);
    report(
      `FAULT rpc_full_disk sends=50 failed_at_once=${
        reusedFailed + newFailed
      } new=${newFailed} reused=${reusedFailed} other=${other} slowest_ms=${
        slowest.toFixed(1)
      } cache_hit_ok=${again.id === cached.id ? 1 : 0}`,
    );
    assert.equal(other, 0, "a send on a full disk did not fail with a clear RPC_WRITE error");
    assert.ok(reusedFailed > 0 && newFailed > 0, "both kinds of file were tried");
  },
});
