// deno-lint-ignore-file no-console
/**
 * The "bare files" limit of `deno task bench:rpc`: the least a file round trip can cost with
 * `Deno.watchFs`, with no protocol at all. On each `.request` that is closed or renamed into place
 * it copies the bytes to `<id>.response` (temp file + rename). Prints `ready` once watching.
 *
 * Modes (see `_bare_files.ts`): `recycled` handles files with the same system calls as lib/rpc
 * (reused temp files from `<tmp>/recycle`, with the client's consumed responses learnt from remove
 * events, synchronous metadata ops); `churn` creates a new temp file for every response (and the
 * client deletes what it consumed) with async ops only.
 *
 * With `codec` it also does the protocol's own work (public wire codec only): decodes each request
 * as a `SyftRequest` and answers with an encoded `SyftResponse` carrying its body.
 *
 * Usage: deno run -P=bench bench/rpc/raw_server.ts <dir> <tmp_dir> <recycled|churn> [codec]
 *
 * @module
 */
import { SyftRequest, SyftResponse } from "../../lib/rpc/mod.ts";
import { bareFiles } from "./_bare_files.ts";

const [dir, tmpDir, mode, codec] = Deno.args;
if (!dir || !tmpDir || (mode !== "recycled" && mode !== "churn")) {
  console.error("usage: raw_server.ts <dir> <tmp_dir> <recycled|churn>");
  Deno.exit(2);
}
const files = bareFiles(tmpDir, mode);
const watcher = Deno.watchFs(dir);
console.log("ready");
for await (const event of watcher) {
  if (event.kind === "remove") {
    const path = event.paths[0]!;
    if (path.endsWith(".response")) files.hint(path.slice(path.lastIndexOf("/") + 1));
    continue;
  }
  if (event.kind !== "access" && event.kind !== "rename") continue;
  // Requests are renamed into place: one event each, no de-duplication needed.
  const path = event.paths[event.paths.length - 1]!;
  if (!path.endsWith(".request")) continue;
  (async () => {
    const data = await files.read(path);
    const response = path.slice(0, -".request".length) + ".response";
    let out = data;
    if (codec === "codec") {
      const stem = path.slice(path.lastIndexOf("/") + 1, -".request".length);
      const req = SyftRequest.decode(data, { fileId: stem });
      out = new SyftResponse({
        id: req.id,
        sender: req.sender,
        url: req.url,
        body: req.body,
        headers: {},
        expires: req.expiresMicros / 1000,
        statusCode: 200,
      }).toBytes();
    }
    await files.commit(await files.stage(response, out), response);
  })().catch(() => {});
}
