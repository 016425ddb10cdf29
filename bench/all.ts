// deno-lint-ignore-file no-console
/**
 * Runs every benchmark: each `bench:<name>` task in deno.json, one after the other. Each benchmark
 * prints one JSON object as its last line; this prints them again as a summary.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

const tasks = Object.keys(denoJson.tasks).filter((t) => t.startsWith("bench:")).sort();
if (tasks.length === 0) {
  console.log(JSON.stringify({ benchmarks: [] }));
  Deno.exit(0);
}
const results: Record<string, unknown> = {};
let failed = 0;
for (const task of tasks) {
  console.log(`== deno task ${task}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", task],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let last = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    Deno.stdout.writeSync(new TextEncoder().encode(chunk));
    const lines = (last + chunk).split("\n").filter((l) => l.trim() !== "");
    last = lines.at(-1) ?? last;
  }
  const { code } = await child.status;
  if (code !== 0) failed++;
  try {
    results[task] = JSON.parse(last);
  } catch {
    results[task] = { error: `exit ${code}; last line is not JSON` };
  }
}
console.log(JSON.stringify({ benchmarks: results }));
Deno.exit(failed === 0 ? 0 : 1);
