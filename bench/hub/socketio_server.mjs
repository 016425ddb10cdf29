// deno-lint-ignore-file no-console
// The Socket.IO 4.8 peer of `bench/hub.ts` (Node). The packages are installed by bench/hub.ts
// into a temp dir named by SOCKETIO_DIR (never committed).
//
// - `echo`: sends each "echo" event back to its sender;
// - `f`: relays each "f" event to every other client (socket.broadcast.emit), like the syft relay.
// Prints `READY <port>`; `GET /__gc` runs a full GC when node runs with --expose-gc.
import { createRequire } from "node:module";
import http from "node:http";

const require = createRequire(`${process.env.SOCKETIO_DIR}/package.json`);
const { Server } = require("socket.io");

const httpServer = http.createServer((req, res) => {
  if (req.url === "/__gc") {
    globalThis.gc?.();
    res.end("ok");
  }
});
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });
io.on("connection", (socket) => {
  socket.on("echo", (payload) => socket.emit("echo", payload));
  socket.on("f", (payload) => socket.broadcast.emit("f", payload));
});
httpServer.listen(0, "127.0.0.1", () => console.log(`READY ${httpServer.address().port}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
