// deno-lint-ignore-file no-console
/**
 * The servers of `bench/serve.ts`, one per process: `bare` (Deno.serve), `native` (the hardened
 * layer, HTTP-only engine), `upgradable` (the hardened layer with `websocket: true`), and
 * `engine`: bare `Deno.serveHttp`, the upgradable engine with nothing of the layer in it (its
 * limit: an accept loop and `respondWith`, no limits, no timeouts). Each serves
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
interface LegacyEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}
type ServeHttp = (conn: Deno.Conn) => AsyncIterable<LegacyEvent>;

// A clean exit on SIGTERM (the bench's stop), so that `--cpu-prof` writes its profile.
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
if (mode === "bare") {
  Deno.serve({ hostname: "127.0.0.1", port: 0, onListen }, handler);
} else if (mode === "engine") {
  const serveHttp = (Deno as unknown as { serveHttp: ServeHttp }).serveHttp;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  onListen(listener.addr);
  for await (const conn of listener) {
    (async () => {
      try {
        for await (const event of serveHttp(conn)) {
          event.respondWith(handler(event.request)).catch(() => {});
        }
      } catch { /* closed by the client */ }
    })();
  }
} else {
  serveHardened(
    { hostname: "127.0.0.1", port: 0, onListen, websocket: mode === "upgradable" },
    handler,
  );
}
