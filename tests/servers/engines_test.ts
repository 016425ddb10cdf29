/**
 * The per-connection engines of the serving layer (servers/_engines.ts), at the edges that decide
 * whether a server survives: closing a connection the peer already closed.
 */
import assert from "node:assert/strict";
import { ENGINES, serveNative } from "../../servers/_engines.ts";
import { ConnectionGuard } from "../../servers/_conn_guard.ts";
import { systemClock } from "../../lib/_clock.ts";

const LIMITS = { headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, idleTimeoutMs: 60_000 };

async function oneRequestThenHangUp(port: number): Promise<void> {
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  await client.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  const buf = new Uint8Array(1024);
  const n = await client.read(buf);
  assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
  client.close();
}

Deno.test({
  name:
    "serveNative(): stopping or aborting a connection the peer has closed never throws an uncaught BadResource",
  ignore: !ENGINES.native,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    for (const when of ["after it finished", "while it is closing"] as const) {
      for (const how of ["shutdown", "abort"] as const) {
        const accepted = listener.accept();
        const hangUp = oneRequestThenHangUp(listener.addr.port);
        const conn = await accepted;
        const guard = new ConnectionGuard(systemClock, LIMITS, () => {});
        const served = serveNative(
          conn,
          guard,
          () => new Response("ok"),
          () => new Response("error", { status: 500 }),
        );
        await hangUp;
        if (when === "after it finished") await served.finished;
        else await new Promise((r) => setTimeout(r, 0)); // the close is under way, not settled
        // Before the fix this reported "Uncaught BadResource: Bad resource ID" (the process died).
        served[how]();
        await served.finished;
        guard.close();
      }
    }
  },
});
