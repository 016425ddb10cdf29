import assert from "node:assert/strict";

const COMMON = new URL("../../cli/_common.ts", import.meta.url).href;

Deno.test("waitForShutdownSignal(): the same Ctrl-C delivered twice (terminal + deno task) stops gracefully; a later one forces exit 130", async () => {
  // In a subprocess: it signals itself (real signals) while the clock is injected.
  const script = `
    import { waitForShutdownSignal, SIGNAL_ECHO_MS } from "${COMMON}";
    let t = 1_000_000;
    const stopping = waitForShutdownSignal({ now: () => t });
    Deno.kill(Deno.pid, "SIGINT");
    console.log("resolved", await stopping);
    t += 10; // the echo of the same Ctrl-C, from the task runner
    Deno.kill(Deno.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    console.log("still stopping");
    t += SIGNAL_ECHO_MS; // a second Ctrl-C, later: exit now
    Deno.kill(Deno.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 5_000));
    console.log("not reached");`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--allow-run", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(stdout, "resolved SIGINT\nstill stopping\n", new TextDecoder().decode(out.stderr));
  assert.equal(out.code, 130);
});
