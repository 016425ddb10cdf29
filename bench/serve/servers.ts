// deno-lint-ignore-file no-console
/**
 * The servers of `bench/serve.ts`, one per process: `bare` (Deno.serve), `native` (the hardened
 * layer, HTTP-only engine), `upgradable` (the hardened layer with `websocket: true`). Each serves
 * `GET /` → "hello" and `POST /` → the body's length, and prints `READY <url>`.
 *
 * @module
 */
import { serveHardened } from "../../servers/_serve.ts";

const mode = Deno.args[0] ?? "bare";
const handler = async (request: Request): Promise<Response> =>
  request.method === "POST"
    ? new Response(`got ${(await request.text()).length}`)
    : new Response("hello");
const onListen = (addr: Deno.NetAddr): void => console.log(`READY http://127.0.0.1:${addr.port}/`);
if (mode === "bare") {
  Deno.serve({ hostname: "127.0.0.1", port: 0, onListen }, handler);
} else {
  serveHardened(
    { hostname: "127.0.0.1", port: 0, onListen, websocket: mode === "upgradable" },
    handler,
  );
}
