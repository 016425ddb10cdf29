import assert from "node:assert/strict";
import { type Connection, createConnectionRouter } from "../../../lib/hub/mod.ts";
import { ConnectionImpl, type SocketLike } from "../../../lib/hub/_connection.ts";

/** A socket that records what is sent to it. */
class RecordingSocket implements SocketLike {
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  closedWith: [number | undefined, string | undefined] | undefined;
  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.readyState = 3;
    this.closedWith = [code, reason];
  }
}

function peer(id?: string): { conn: Connection; socket: RecordingSocket } {
  const socket = new RecordingSocket();
  const conn = new ConnectionImpl(socket, new Request("http://127.0.0.1/ws"), id ? { id } : {});
  return { conn, socket };
}

Deno.test("ConnectionRouter add/get/all/remove: remove is idempotent and leaves every room", () => {
  const router = createConnectionRouter();
  const a = peer("zpt-a");
  const b = peer("zpt-b");
  router.add(a.conn);
  router.add(b.conn);
  router.add(a.conn);
  assert.equal(router.size, 2);
  assert.equal(router.get("zpt-a"), a.conn);
  assert.deepEqual(router.all().map((c) => c.id).sort(), ["zpt-a", "zpt-b"]);
  router.join(a.conn, "r1");
  router.join(a.conn, "r2");
  assert.deepEqual([...a.conn.rooms].sort(), ["r1", "r2"]);
  assert.equal(router.remove(a.conn), true);
  assert.equal(router.remove(a.conn), false);
  assert.equal(router.remove("zpt-unknown"), false);
  assert.equal(a.conn.rooms.size, 0);
  assert.deepEqual([...router.rooms()], []);
  assert.equal(router.get("zpt-a"), undefined);
});

Deno.test("ConnectionRouter.broadcast() encodes once and sends the same frame to all but the excluded", () => {
  const router = createConnectionRouter();
  const peers = [peer("zpt-1"), peer("zpt-2"), peer("zpt-3"), peer("zpt-4")];
  for (const p of peers) router.add(p.conn);
  let encodes = 0;
  const payload = {
    toJSON() {
      encodes++;
      return { n: 1 };
    },
  };
  const sent = router.broadcast("tick", payload, {
    exclude: [peers[0]!.conn, "zpt-2"],
    headers: { h: "v" },
  });
  assert.equal(sent, 2);
  assert.equal(encodes, 1, "the payload must be serialised once for all members");
  const expected = '{"eventName":"tick","payload":{"n":1},"headers":{"h":"v"}}';
  assert.deepEqual(peers.map((p) => p.socket.sent), [[], [], [expected], [expected]]);
  assert.equal(router.broadcast("all"), 4);
  assert.equal(router.broadcast("but-one", null, { exclude: peers[3]!.conn }), 3);
});

Deno.test("ConnectionRouter rooms: to(room).send reaches members once, even across several rooms", () => {
  const router = createConnectionRouter();
  const a = peer("zpt-a");
  const b = peer("zpt-b");
  const c = peer("zpt-c");
  for (const p of [a, b, c]) router.add(p.conn);
  router.join(a.conn, "red");
  router.join(b.conn, "red");
  router.join(b.conn, "blue");
  router.join(c.conn, "blue");
  assert.deepEqual(Object.fromEntries(router.rooms()), { red: 2, blue: 2 });
  assert.deepEqual(router.members("red").map((x) => x.id).sort(), ["zpt-a", "zpt-b"]);
  assert.equal(router.to("red").send("r", 1), 2);
  assert.equal(router.to(["red", "blue"]).send("rb", 2, { exclude: "zpt-c" }), 2);
  assert.equal(router.to("nobody").send("x"), 0);
  assert.deepEqual(a.socket.sent.map((f) => JSON.parse(f).eventName), ["r", "rb"]);
  assert.deepEqual(b.socket.sent.map((f) => JSON.parse(f).eventName), ["r", "rb"]);
  assert.deepEqual(c.socket.sent.map((f) => JSON.parse(f).eventName), []);
  assert.equal(router.leave(b.conn, "red"), true);
  assert.equal(router.leave(b.conn, "red"), false);
  assert.equal(router.to("red").send("after-leave"), 1);
  router.leave(a.conn, "red");
  assert.equal(router.rooms().has("red"), false, "empty rooms are dropped");
});

Deno.test("ConnectionRouter.sendTo() resolves true for a local id and false otherwise", async () => {
  const router = createConnectionRouter();
  const a = peer("zpt-a");
  router.add(a.conn);
  assert.equal(await router.sendTo("zpt-a", "direct", { x: 1 }, { k: 1 }), true);
  assert.deepEqual(a.socket.sent, ['{"eventName":"direct","payload":{"x":1},"headers":{"k":1}}']);
  assert.equal(await router.sendTo("zpt-missing", "direct"), false);
  a.socket.readyState = 3;
  assert.equal(await router.sendTo("zpt-a", "direct"), false, "a closed connection refuses");
});

Deno.test("ConnectionRouter will not add or join a closed connection", () => {
  const router = createConnectionRouter();
  const a = peer("zpt-a");
  a.conn.close();
  router.add(a.conn);
  router.join(a.conn, "room");
  assert.equal(router.size, 0);
  assert.equal(router.rooms().size, 0);
  assert.deepEqual(a.socket.closedWith, [1000, ""]);
});

Deno.test("Connection.sendFrame() closes with 1013 when the send buffer passes the limit", () => {
  const socket = new RecordingSocket();
  let overflowed = 0;
  const conn = new ConnectionImpl(socket, new Request("http://127.0.0.1/"), {
    sendBufferLimit: 10,
    onOverflow: (_c, bytes) => overflowed = bytes,
  });
  // Small frames are checked once per 16 KiB queued; a large frame is checked at once.
  socket.bufferedAmount = 11;
  assert.equal(conn.sendFrame("12345"), true);
  const big = "x".repeat(16 * 1024);
  assert.equal(conn.sendFrame(big), false);
  assert.equal(overflowed, 11);
  assert.equal(conn.open, false);
  assert.equal(conn.closing, true);
  assert.equal(conn.sendFrame("after"), false);
  assert.deepEqual(socket.closedWith, [1013, "send buffer over 10 bytes: consumer too slow"]);
  assert.deepEqual(socket.sent, ["12345", big]);
});

Deno.test("Connection.close() cuts a reason over 123 bytes", () => {
  const socket = new RecordingSocket();
  const conn = new ConnectionImpl(socket, new Request("http://127.0.0.1/"));
  conn.close(4001, "é".repeat(100));
  const [code, reason] = socket.closedWith!;
  assert.equal(code, 4001);
  assert.ok(new TextEncoder().encode(reason!).length <= 123);
  assert.ok(reason!.endsWith("..."));
});
