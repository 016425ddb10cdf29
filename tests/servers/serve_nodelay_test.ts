/**
 * The serving layer sets TCP_NODELAY on every accepted connection, as `Deno.serve` does: read
 * back from the server's own socket with getsockopt(2) (through FFI on libc), found by its inode in
 * /proc/net/tcp. Without it a WebSocket that writes a delivery after a reply waits for the peer's
 * delayed ACK on every exchange (the EnSync engine lost half its delivery rate to it).
 *
 * Linux only (/proc, libc.so.6).
 */
import assert from "node:assert/strict";
import { serveHardened } from "../../servers/_serve.ts";

const linux = Deno.build.os === "linux";
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/** The inode of the server-side socket of the connection from `clientPort` to `serverPort`. */
function serverSocketInode(serverPort: number, clientPort: number): string | undefined {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, "0");
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (f[1]!.endsWith(`:${hex(serverPort)}`) && f[2]!.endsWith(`:${hex(clientPort)}`)) return f[9];
  }
  return undefined;
}

/** This process's descriptor of the socket with `inode`. */
function fdOf(inode: string): number | undefined {
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === `socket:[${inode}]`) {
        return Number(entry.name);
      }
    } catch { /* closed meanwhile */ }
  }
  return undefined;
}

function noDelayOf(fd: number): number {
  const libc = Deno.dlopen("libc.so.6", {
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  });
  try {
    const value = new Int32Array(1);
    const length = new Uint32Array([4]);
    const rc = libc.symbols.getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, value, length);
    assert.equal(rc, 0, "getsockopt failed");
    return value[0]!;
  } finally {
    libc.close();
  }
}

for (const websocket of [false, true]) {
  Deno.test({
    name: `serveHardened (${
      websocket ? "upgradable" : "native"
    } engine) sets TCP_NODELAY on accepted connections`,
    ignore: !linux,
    async fn() {
      await using server = serveHardened({ port: 0, websocket }, () => new Response("ok"));
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
      // Answered: the connection was accepted and is being served.
      const buf = new Uint8Array(1024);
      const n = await conn.read(buf);
      assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
      const inode = serverSocketInode(server.addr.port, (conn.localAddr as Deno.NetAddr).port);
      assert.ok(inode !== undefined, "the server's socket is not in /proc/net/tcp");
      const fd = fdOf(inode);
      assert.ok(fd !== undefined, "the server's socket has no descriptor in this process");
      assert.equal(noDelayOf(fd), 1, "TCP_NODELAY is off on the accepted connection");
    },
  });
}
