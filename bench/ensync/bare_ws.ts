// deno-lint-ignore-file no-console
/**
 * The one-in-flight limit beside `bench:ensync`'s (b) and (c): a bare WebSocket server (Deno.serve,
 * nothing of syft's) in its own process that pushes a frame of a delivery's size to each client
 * as soon as that client's previous frame was answered, as EnSync does with one event in flight
 * per client. The clients answer each frame with an ack-sized frame. The rate it reaches is the
 * most any server can deliver with one event in flight per client over this machine's loopback
 * and event loops, with no work per message.
 *
 * Usage (the bench spawns it): `deno run -P=bench bench/ensync/bare_ws.ts FRAME_CHARS`. Prints
 * `{"port": N}` once listening; SIGTERM stops it.
 *
 * @module
 */
const frameChars = Number(Deno.args[0] ?? "2900") || 2900;
const frame = `+RECORD:${"x".repeat(Math.max(0, frameChars - 8))}`;
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  // The client's first message starts it; each answer releases the next frame.
  socket.onmessage = () => socket.send(frame);
  return response;
});
console.log(JSON.stringify({ port: server.addr.port }));
Deno.addSignalListener("SIGTERM", () => {
  void server.shutdown();
  Deno.exit(0);
});
