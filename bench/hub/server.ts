// deno-lint-ignore-file no-console
/**
 * Benchmark servers for `bench/hub.ts`, one per process:
 *
 * - `raw`: the limit, a bare `Deno.upgradeWebSocket` that echoes every text frame back;
 * - `rawrelay`: the fan-out limit, bare `Deno.upgradeWebSocket` sockets in a `Set`, each text frame
 *   sent as is to every other socket;
 * - `echo`: a hub (`createZapHub`) whose `echo` handler sends the event back to its sender;
 * - `relay`: the relay hub of `servers/hub` (lobby, rooms, exclude sender).
 *
 * Usage: `deno run -P=bench --v8-flags=--expose-gc bench/hub/server.ts <mode>`. Prints
 * `READY <port>` when listening; `GET /__gc` runs a full GC (for the memory figure).
 *
 * @module
 */
import { createEventRegister, createZapHub } from "../../lib/hub/mod.ts";
import { createHubApp } from "../../servers/hub/app.ts";

const mode = Deno.args[0];

function gc(): Response {
  (globalThis as { gc?: () => void }).gc?.();
  return new Response("ok");
}

let handler: (req: Request) => Response | Promise<Response>;
if (mode === "raw") {
  handler = (req) => {
    if (req.headers.get("upgrade") !== "websocket") return new Response("raw", { status: 426 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  };
} else if (mode === "rawrelay") {
  const all = new Set<WebSocket>();
  handler = (req) => {
    if (req.headers.get("upgrade") !== "websocket") return new Response("raw", { status: 426 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => all.add(socket);
    socket.onclose = () => all.delete(socket);
    socket.onmessage = (e) => {
      for (const other of all) if (other !== socket) other.send(e.data);
    };
    return response;
  };
} else if (mode === "echo") {
  const register = createEventRegister().on("echo", ({ connection, payload, headers }) => {
    connection.send("echo", payload, headers);
  });
  handler = createZapHub(register).fetch;
} else if (mode === "relay") {
  handler = createHubApp().app.fetch;
} else {
  console.error("usage: server.ts raw|rawrelay|echo|relay");
  Deno.exit(2);
}

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`READY ${port}`),
}, (req) => new URL(req.url).pathname === "/__gc" ? gc() : handler(req));

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => Deno.exit(0));
}
