// Slow-subscriber isolation: a subscriber that never reads does not stall the others, and is
// disconnected (1013, with a reason) once its bounded queue is full.
import assert from "node:assert/strict";
import { connectFastApiPubSub } from "../../../lib/pubsub/fastapi_client.ts";
import { waitFor } from "../../_helpers/workspace.ts";
import { metric, testServer } from "./_helpers.ts";

/** A WebSocket client over raw TCP that sends what it is told and reads nothing until asked. */
async function stuckPeer(wsUrl: string): Promise<{
  sendText(text: string): Promise<void>;
  readUntilClose(): Promise<{ code: number; reason: string; frames: number }>;
  close(): void;
}> {
  const url = new URL(wsUrl);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(
    new TextEncoder().encode(
      `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  // Read the 101 response headers only (byte by byte up to the blank line).
  let head = "";
  const one = new Uint8Array(1);
  while (!head.endsWith("\r\n\r\n")) {
    if ((await conn.read(one)) === null) throw new Error("closed during the handshake");
    head += String.fromCharCode(one[0]!);
  }
  assert.match(head, /^HTTP\/1\.1 101/);
  let buffer = new Uint8Array(0);
  const need = async (n: number): Promise<void> => {
    while (buffer.length < n) {
      const chunk = new Uint8Array(256 * 1024);
      const got = await conn.read(chunk);
      if (got === null) throw new Error("connection ended before a close frame");
      const merged = new Uint8Array(buffer.length + got);
      merged.set(buffer);
      merged.set(chunk.subarray(0, got), buffer.length);
      buffer = merged;
    }
  };
  return {
    async sendText(text) {
      const payload = new TextEncoder().encode(text);
      const mask = crypto.getRandomValues(new Uint8Array(4));
      const header = payload.length < 126
        ? [0x81, 0x80 | payload.length]
        : [0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff];
      const frame = new Uint8Array(header.length + 4 + payload.length);
      frame.set(header);
      frame.set(mask, header.length);
      for (let i = 0; i < payload.length; i++) {
        frame[header.length + 4 + i] = payload[i]! ^ mask[i % 4]!;
      }
      await conn.write(frame);
    },
    async readUntilClose() {
      let frames = 0;
      while (true) {
        await need(2);
        const opcode = buffer[0]! & 0x0f;
        let length = buffer[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          await need(4);
          length = (buffer[2]! << 8) | buffer[3]!;
          offset = 4;
        } else if (length === 127) {
          await need(10);
          length = Number(new DataView(buffer.buffer, buffer.byteOffset + 2, 8).getBigUint64(0));
          offset = 10;
        }
        await need(offset + length);
        const payload = buffer.slice(offset, offset + length);
        buffer = buffer.slice(offset + length);
        if (opcode === 0x8) {
          const code = (payload[0]! << 8) | payload[1]!;
          return { code, reason: new TextDecoder().decode(payload.subarray(2)), frames };
        }
        frames++;
      }
    },
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

Deno.test("pub/sub server: a subscriber that never reads is disconnected at its limit while the others receive everything", async () => {
  await using server = await testServer({ maxQueue: 8, sendBufferBytes: 64 * 1024 });
  const stuck = await stuckPeer(server.url);
  try {
    await stuck.sendText(
      '{"request": {"method": "subscribe", "arguments": {"topics": ["load"]}, "call_id": "s1"}, "response": null}',
    );
    await using fast1 = connectFastApiPubSub(server.url);
    await using fast2 = connectFastApiPubSub(server.url);
    let got1 = 0;
    let got2 = 0;
    let ordered = true;
    fast1.onNotify((_t, d) => {
      if ((d as { seq: number }).seq !== got1) ordered = false;
      got1++;
    });
    fast2.onNotify(() => got2++);
    await fast1.subscribe(["load"]);
    await fast2.subscribe(["load"]);
    await waitFor(async () => (await metric(server.url, "syft_pubsub_subscriptions")) === 3);

    await using pub = connectFastApiPubSub(server.url);
    const blob = "x".repeat(64 * 1024);
    let sent = 0;
    // Bounded: at most 3,000 publishes of 64 KiB (the kernel buffers a few MiB first).
    while (sent < 3_000 && (await metric(server.url, "syft_pubsub_slow_disconnects_total")) === 0) {
      const batch: Promise<boolean>[] = [];
      for (let i = 0; i < 4; i++) {
        batch.push(pub.publish(["load"], { seq: sent++, blob }, { sync: false }));
      }
      await Promise.all(batch);
      await waitFor(() => got1 === sent && got2 === sent, {
        timeoutMs: 10_000,
        what: "fast subscribers",
      }).catch((e) => {
        throw new Error(
          `${e.message}: ${got1} ${got2} of ${sent}, ${fast1.state} ${fast2.state} ${server.connections}`,
        );
      });
    }
    assert.equal(await metric(server.url, "syft_pubsub_slow_disconnects_total"), 1);
    for (let i = 0; i < 10; i++) {
      await pub.publish(["load"], { seq: sent++, blob }, { sync: false });
    }
    await waitFor(() => got1 === sent && got2 === sent, {
      timeoutMs: 10_000,
      what: "fast subscribers",
    });
    assert.ok(ordered, "fast subscriber received out of order");
    assert.equal(server.connections, 3);
    assert.ok(
      (await metric(server.url, 'syft_pubsub_dropped_total{reason="slow_subscriber"}'))! >= 9,
    );

    // What reached the stuck peer ends with a close frame 1013 and a reason.
    const closed = await stuck.readUntilClose();
    assert.equal(closed.code, 1013);
    assert.match(closed.reason, /subscriber too slow: over 8 notifications queued/);
    assert.ok(closed.frames < sent, `${closed.frames} frames reached the stuck peer`);
  } finally {
    stuck.close();
  }
});
