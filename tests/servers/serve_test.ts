// The hardened serving layer (servers/_serve.ts) over real sockets on 127.0.0.1: timeouts on a
// fake clock (no sleeping, no timed assertions), the connection limit, WebSocket upgrades through
// the layer, and the servers that run on it.
import assert from "node:assert/strict";
import { serveHardened } from "../../servers/_serve.ts";
import { resolveLimits, SERVE_DEFAULTS } from "../../servers/_limits.ts";
import { SERVE_LIMIT_DEFAULTS, serveLimitsOf } from "../../cli/_limits.ts";
import { serveHub } from "../../servers/hub/main.ts";
import { startPubSubServer } from "../../servers/pubsub/mod.ts";
import { startEnSyncServer } from "../../servers/ensync/mod.ts";
import { FakeClock } from "../_helpers/clock.ts";
import { waitFor } from "../_helpers/workspace.ts";
import { readToEnd } from "../_helpers/tcp.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw TCP client. */
async function raw(port: number, text = ""): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (text !== "") await conn.write(encoder.encode(text));
  return conn;
}

/** Reads until `marker` has arrived. */
async function readUntil(conn: Deno.Conn, marker: string): Promise<string> {
  let out = "";
  const buf = new Uint8Array(4096);
  while (!out.includes(marker)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed before ${JSON.stringify(marker)}: ${out}`);
    out += decoder.decode(buf.subarray(0, n));
  }
  return out;
}

/** A WebSocket with a message inbox. */
async function socket(url: string): Promise<{ ws: WebSocket; next(): Promise<string> }> {
  const ws = new WebSocket(url);
  const inbox: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  ws.onmessage = (e) => {
    const w = waiters.shift();
    if (w) w(String(e.data));
    else inbox.push(String(e.data));
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`cannot open ${url}: ${(e as ErrorEvent).message}`));
  });
  return {
    ws,
    next: () =>
      inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiters.push(r)),
  };
}

async function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = new Promise((r) => ws.addEventListener("close", r));
  ws.close();
  await closed;
}

const ok = (): Response => new Response("ok");

Deno.test("serveHardened() closes a client that does not finish its headers in time, and serves others", async () => {
  const clock = new FakeClock();
  await using server = serveHardened({ port: 0, clock, headersTimeoutMs: 10_000 }, ok);
  const slow = await raw(server.addr.port, "GET / HTTP/1.1\r\nHost: x\r\n");
  await waitFor(() => server.stats.open === 1);
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  assert.equal(await res.text(), "ok");
  await clock.tick(9_000);
  assert.equal(server.stats.timedOut.headers, 0);
  await clock.tick(2_000);
  assert.equal(await readToEnd(slow), "");
  assert.equal(server.stats.timedOut.headers, 1);
});

Deno.test("serveHardened() closes a client whose request body does not arrive in time", async () => {
  const clock = new FakeClock();
  let failed = 0;
  await using server = serveHardened(
    { port: 0, clock, bodyTimeoutMs: 30_000 },
    async (request) => {
      try {
        return new Response(`got ${(await request.text()).length}`);
      } catch (err) {
        failed++;
        throw err;
      }
    },
  );
  const slow = await raw(
    server.addr.port,
    "POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n0123456789",
  );
  await waitFor(() => server.stats.open === 1 && server.stats.timedOut.body === 0);
  // A complete body on another connection is read and answered.
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`, { method: "POST", body: "abc" });
  assert.equal(await res.text(), "got 3");
  await clock.tick(31_000);
  assert.equal(await readToEnd(slow), "");
  assert.equal(server.stats.timedOut.body, 1);
  await waitFor(() => failed === 1);
});

for (const websocket of [false, true]) {
  const engine = websocket ? "upgradable" : "native";
  Deno.test(`serveHardened() on the ${engine} engine times a body only while the app reads it`, async () => {
    const clock = new FakeClock();
    const read = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    let failed = 0;
    await using server = serveHardened(
      { port: 0, clock, websocket, bodyTimeoutMs: 30_000, idleTimeoutMs: 600_000 },
      async (request) => {
        const path = new URL(request.url).pathname;
        if (path === "/stream") {
          // Reads the body itself, chunk by chunk, and is starved by the client.
          const reader = request.body!.getReader();
          try {
            for (;;) if ((await reader.read()).done) break;
          } catch {
            failed++;
          }
          return new Response("never");
        }
        if (path === "/ignore") {
          // Never reads its body (whose bytes never come): nothing is slow.
          await release.promise;
          return new Response("ignored");
        }
        // Reads its whole body, then works for longer than the body timeout.
        const text = await request.text();
        read.resolve();
        await release.promise;
        return new Response(`got ${text.length} after work`);
      },
    );
    try {
      const port = server.addr.port;
      const post = (path: string, length: number, body: string): string =>
        `POST ${path} HTTP/1.1\r\nHost: x\r\ncontent-length: ${length}\r\n\r\n${body}`;
      const worker = await raw(port, post("/work", 5, "hello"));
      const ignorer = await raw(port, post("/ignore", 5, ""));
      const slow = await raw(port, post("/stream", 9, "abc"));
      await read.promise;
      await waitFor(() => server.stats.open === 3);
      await clock.tick(31_000);
      // The starved reader is closed; the worker, whose body was all read, and the app that does
      // not read its body are not.
      assert.equal(await readToEnd(slow), "");
      await waitFor(() => failed === 1);
      await clock.tick(31_000);
      assert.equal(server.stats.timedOut.body, 1);
      release.resolve();
      assert.match(await readUntil(worker, "got 5 after work"), /^HTTP\/1.1 200/);
      assert.match(await readUntil(ignorer, "ignored"), /^HTTP\/1.1 200/);
      worker.close();
      ignorer.close();
      assert.equal(server.stats.timedOut.body, 1);
    } finally {
      release.resolve();
    }
  });
}

Deno.test("serveHardened() closes an idle keep-alive connection, and only after the idle timeout", async () => {
  const clock = new FakeClock();
  await using server = serveHardened({ port: 0, clock, idleTimeoutMs: 60_000 }, ok);
  const conn = await raw(server.addr.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.match(await readUntil(conn, "ok"), /^HTTP\/1.1 200/);
  await clock.tick(50_000);
  // Still open: a second request on it is answered.
  await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.match(await readUntil(conn, "ok"), /^HTTP\/1.1 200/);
  assert.equal(server.stats.timedOut.idle, 0);
  await clock.tick(61_000);
  assert.equal(await readToEnd(conn), "");
  assert.equal(server.stats.timedOut.idle, 1);
});

Deno.test("serveHardened() refuses connections beyond maxConnections with a 503 naming the flag, and serves again after", async () => {
  await using server = serveHardened({ port: 0, maxConnections: 2, name: "the test server" }, ok);
  const port = server.addr.port;
  const a = await raw(port);
  const b = await raw(port);
  await waitFor(() => server.stats.open === 2);
  const refused = await readToEnd(await raw(port));
  assert.match(refused, /^HTTP\/1.1 503/);
  assert.match(refused, /too_many_connections/);
  assert.match(
    refused,
    /the test server has 2 open connections, its limit \(--max-connections 2\)/,
  );
  assert.equal(server.stats.refused, 1);
  a.close();
  await waitFor(() => server.stats.open === 1);
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" } });
  assert.equal(await res.text(), "ok");
  b.close();
  await waitFor(() => server.stats.open === 0);
});

Deno.test("serveHardened({ websocket: true }) upgrades, and an upgraded socket is exempt from the timeouts", async () => {
  const clock = new FakeClock();
  await using server = serveHardened(
    { port: 0, clock, websocket: true, headersTimeoutMs: 1_000, idleTimeoutMs: 1_000 },
    (request) => {
      if (request.headers.get("upgrade") !== "websocket") return ok();
      const { socket: ws, response } = Deno.upgradeWebSocket(request);
      ws.onmessage = (e) => ws.send(`echo:${e.data}`);
      return response;
    },
  );
  const client = await socket(`ws://127.0.0.1:${server.addr.port}/`);
  client.ws.send("one");
  assert.equal(await client.next(), "echo:one");
  await waitFor(() => server.stats.websockets === 1);
  await clock.tick(10_000);
  client.ws.send("two");
  assert.equal(await client.next(), "echo:two");
  assert.deepEqual(server.stats.timedOut, { headers: 0, body: 0, idle: 0 });
  assert.equal(server.stats.open, 1);
  await closeSocket(client.ws);
  await waitFor(() => server.stats.open === 0 && server.stats.websockets === 0);
});

Deno.test("serveHardened() shuts down with clients connected: idle ones are closed, a WebSocket gets 1001", async () => {
  const server = serveHardened({ port: 0, websocket: true }, (request) => {
    if (request.headers.get("upgrade") !== "websocket") return ok();
    return Deno.upgradeWebSocket(request).response;
  });
  const idle = await raw(server.addr.port);
  const client = await socket(`ws://127.0.0.1:${server.addr.port}/`);
  const closed = new Promise<number>((r) => client.ws.addEventListener("close", (e) => r(e.code)));
  await waitFor(() => server.stats.open === 2);
  await server.shutdown();
  assert.equal(await closed, 1001);
  assert.equal(await readToEnd(idle), "");
});

Deno.test("resolveLimits() fills the defaults and names a bad value", () => {
  assert.deepEqual(resolveLimits(), {
    maxConnections: 10_000,
    headersTimeoutMs: 10_000,
    bodyTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
  });
  assert.throws(() => resolveLimits({ maxConnections: 0 }), /maxConnections must be a positive/);
});

Deno.test("the CLI's --help defaults are the servers' and its flags map to the limits in ms", () => {
  assert.deepEqual({
    maxConnections: SERVE_LIMIT_DEFAULTS.maxConnections,
    headersTimeoutMs: SERVE_LIMIT_DEFAULTS.headersTimeoutS * 1000,
    bodyTimeoutMs: SERVE_LIMIT_DEFAULTS.bodyTimeoutS * 1000,
    idleTimeoutMs: SERVE_LIMIT_DEFAULTS.keepAliveTimeoutS * 1000,
  }, SERVE_DEFAULTS);
  assert.deepEqual(
    serveLimitsOf({ maxConnections: 5, headersTimeout: 0.5, bodyTimeout: 2, keepAliveTimeout: 3 }),
    { maxConnections: 5, headersTimeoutMs: 500, bodyTimeoutMs: 2000, idleTimeoutMs: 3000 },
  );
  assert.deepEqual(serveLimitsOf({}), {});
});

Deno.test("the hub, pub/sub and EnSync WebSocket servers upgrade through the layer and keep their sockets", async () => {
  const hub = await serveHub({ port: 0, limits: { maxConnections: 50 } });
  try {
    const peer = await socket(hub.wsUrl);
    peer.ws.send('{"eventName":"$join","payload":{"room":"ops"}}');
    assert.equal(
      await peer.next(),
      '{"eventName":"$joined","payload":{"room":"ops"},"headers":{}}',
    );
    peer.ws.send('{"eventName":"$leave","payload":{"room":"ops"}}');
    assert.equal(await peer.next(), '{"eventName":"$left","payload":{"room":"ops"},"headers":{}}');
    await closeSocket(peer.ws);
  } finally {
    await hub.shutdown();
  }

  await using pubsub = await startPubSubServer({ port: 0, limits: { maxConnections: 50 } });
  const sub = await socket(pubsub.url);
  for (const id of ["p1", "p2"]) {
    sub.ws.send(
      `{"request": {"method": "_ping_", "arguments": {}, "call_id": "${id}"}, "response": null}`,
    );
    assert.match(await sub.next(), new RegExp(`"result": "pong".*"call_id": "${id}"`));
  }
  await closeSocket(sub.ws);

  await using engine = await startEnSyncServer({
    config: { grpcStreams: "auto", apps: [] },
    wsPort: 0,
    grpcPort: false,
    limits: { maxConnections: 50 },
  });
  const app = await socket(`${engine.wsUrl}/message`);
  for (let i = 0; i < 2; i++) {
    app.ws.send("CONN;ACCESS_KEY=:nobody");
    assert.match(await app.next(), /^-FAIL:CLIENT_NOT_FOUND;/);
  }
  await closeSocket(app.ws);
});
