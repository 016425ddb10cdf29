/**
 * The limit of the fan-out benchmark: a bare `Deno.upgradeWebSocket` relay that forwards each
 * frame as is to every other socket (no parsing, no queues). Prints its URL.
 *
 * @module
 */
const sockets = new Set<WebSocket>();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onopen = () => sockets.add(socket);
  socket.onclose = () => sockets.delete(socket);
  socket.onmessage = (evt) => {
    for (const s of sockets) if (s !== socket) s.send(evt.data);
  };
  return response;
});
Deno.stdout.writeSync(
  new TextEncoder().encode(`bare listening on ws://127.0.0.1:${server.addr.port}/\n`),
);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
