/**
 * The peer of `deno task bench:rpc`: a client that behaves like syft-rpc's `send` +
 * `SyftFuture.wait()` — it writes the request with a plain, non-atomic write (Python's
 * `write_text`) and polls `resolve()` every 100 ms (syft-rpc's default `poll_interval=0.1`):
 * rejection marker, then response (load + delete both files), then request gone, then expiry.
 * It shares only the wire codec with syft; the watcher-driven client is not used.
 *
 * @module
 */
import { join } from "node:path";
import { SyftRequest, SyftResponse } from "../../lib/rpc/mod.ts";

/** The poll interval of syft-rpc's `SyftFuture.wait` (seconds 0.1). */
export const POLL_INTERVAL_MS = 100;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Sends one request and polls for its response like syft-rpc; returns the response. */
export async function pollCall(
  datasitesDir: string,
  sender: string,
  url: string,
  body: string,
): Promise<SyftResponse> {
  const request = new SyftRequest({
    sender,
    url,
    method: "POST",
    body,
    expires: new Date(Date.now() + 15 * 60_000),
  });
  const dir = join(request.url.toLocalPath(datasitesDir), sender);
  await Deno.mkdir(dir, { recursive: true });
  const requestPath = join(dir, `${request.id}.request`);
  const responsePath = join(dir, `${request.id}.response`);
  await Deno.writeTextFile(requestPath, request.encode());
  while (true) {
    // resolve(): one check in syft-rpc's order.
    if (await exists(join(dir, `${request.id}.syftrejected.request`))) {
      throw new Error("rejected");
    }
    if (await exists(responsePath)) {
      try {
        return SyftResponse.decode(await Deno.readFile(responsePath));
      } finally {
        await Deno.remove(requestPath).catch(() => {});
        await Deno.remove(responsePath).catch(() => {});
      }
    }
    if (!(await exists(requestPath))) throw new Error("request vanished");
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
}
