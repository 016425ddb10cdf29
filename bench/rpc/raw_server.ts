// deno-lint-ignore-file no-console
/**
 * The "bare files" limit of `deno task bench:rpc`: the least a file round trip can cost with
 * `Deno.watchFs`, with no protocol at all. On each `.request` that is closed or renamed into place
 * it copies the bytes to `<id>.response` (temp file + rename). Prints `ready` once watching.
 *
 * Usage: deno run -P=bench bench/rpc/raw_server.ts <dir> <tmp_dir>
 *
 * @module
 */
const [dir, tmpDir] = Deno.args;
if (!dir || !tmpDir) {
  console.error("usage: raw_server.ts <dir> <tmp_dir>");
  Deno.exit(2);
}
const watcher = Deno.watchFs(dir);
const seen = new Set<string>();
let n = 0;
console.log("ready");
for await (const event of watcher) {
  if (event.kind !== "access" && event.kind !== "rename") continue;
  const path = event.paths[event.paths.length - 1]!;
  if (!path.endsWith(".request") || seen.has(path)) continue;
  seen.add(path);
  const tmp = `${tmpDir}/r${n++}`;
  (async () => {
    const data = await Deno.readFile(path);
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path.slice(0, -".request".length) + ".response");
  })().catch(() => {}).finally(() => setTimeout(() => seen.delete(path), 1000));
}
