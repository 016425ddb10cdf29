/**
 * Test helpers for the hub: a hub on a real `Deno.serve` (port 0), a raw WebSocket peer that
 * records exact frame texts, and a raw TCP peer that completes the handshake and then reads
 * (or does not read) on demand.
 *
 * @module
 */
import {
  createZapHub,
  type EventRegister,
  type ZapHub,
  type ZapHubOptions,
} from "../../../lib/hub/mod.ts";

/** A hub served on 127.0.0.1 with a free port. */
export interface TestHub extends AsyncDisposable {
  hub: ZapHub;
  server: Deno.HttpServer<Deno.NetAddr>;
  port: number;
  /** `ws://127.0.0.1:<port>/ws`. */
  url: string;
  stop(): Promise<void>;
}

/** Serves `register` with a hub (`createZapHub`) on a free port. */
export function startHub(
  register: EventRegister,
  options: ZapHubOptions & { port?: number } = {},
): TestHub {
  const hub = createZapHub(register, options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    hub.fetch,
  );
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    stopped ??= (async () => {
      await hub.close({ timeoutMs: 2_000 });
      await server.shutdown();
    })();
  return {
    hub,
    server,
    port: server.addr.port,
    url: `ws://127.0.0.1:${server.addr.port}/ws`,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A standard WebSocket that records every text frame exactly as received. */
export interface RawPeer extends AsyncDisposable {
  socket: WebSocket;
  frames: string[];
  /** Resolves with the next unread frame (rejects after `timeoutMs`). */
  next(timeoutMs?: number): Promise<string>;
  /** Resolves with the next unread frame, parsed. */
  nextJson(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the close event. */
  closed: Promise<CloseEvent>;
  /** Sends raw text or bytes. */
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(): Promise<void>;
}

/** Opens a standard WebSocket to `url` and waits until it is open. */
export async function rawPeer(url: string): Promise<RawPeer> {
  const socket = new WebSocket(url);
  const frames: string[] = [];
  let read = 0;
  let waiter: (() => void) | undefined;
  const closed = new Promise<CloseEvent>((resolve) => {
    socket.addEventListener("close", (e) => {
      resolve(e);
      waiter?.();
    });
  });
  socket.onmessage = (e) => {
    frames.push(typeof e.data === "string" ? e.data : `<binary ${e.data}>`);
    waiter?.();
  };
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = (e) =>
      reject(new Error(`Cannot connect to ${url}: ${(e as ErrorEvent).message}`));
  });
  const peer: RawPeer = {
    socket,
    frames,
    closed,
    async next(timeoutMs = 3_000) {
      const deadline = Date.now() + timeoutMs;
      while (read >= frames.length) {
        if (socket.readyState === WebSocket.CLOSED) {
          throw new Error(`Socket closed while waiting for a frame (got ${frames.length})`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`No frame within ${timeoutMs} ms (got ${frames.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiter = () => {
            clearTimeout(t);
            resolve();
          };
        });
        waiter = undefined;
      }
      return frames[read++]!;
    },
    async nextJson(timeoutMs) {
      return JSON.parse(await peer.next(timeoutMs));
    },
    send(data) {
      socket.send(data);
    },
    async close() {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close();
      }
      await closed;
    },
    [Symbol.asyncDispose]() {
      return peer.close();
    },
  };
  return peer;
}

/** A WebSocket client over raw TCP: it answers nothing (no pongs) and reads only when asked. */
export interface TcpPeer extends Disposable {
  conn: Deno.TcpConn;
  /** Reads frames until a close frame arrives; returns its code and the bytes of data before it. */
  readUntilClose(timeoutMs?: number): Promise<{ code: number; reason: string; dataBytes: number }>;
  /** Reads the next data frame as text (a close frame is an error). */
  readText(timeoutMs?: number): Promise<string>;
  /** Sends one masked text frame. */
  sendText(text: string): Promise<void>;
  /** Reads the next frame of any kind (control frames included). */
  readFrame(timeoutMs?: number): Promise<{ opcode: number; body: Uint8Array }>;
  /** Sends one masked frame with this opcode (`0xa` for a pong). */
  sendFrame(opcode: number, payload: Uint8Array): Promise<void>;
}

/** Connects to `port`, performs the WebSocket handshake on `path`, and returns the raw peer. */
export async function tcpPeer(port: number, path = "/ws", headers = ""): Promise<TcpPeer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(
    new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`,
    ),
  );
  // Read the response head byte by byte so no frame bytes are consumed with it.
  let head = "";
  const one = new Uint8Array(1);
  while (!head.endsWith("\r\n\r\n")) {
    const n = await conn.read(one);
    if (n === null) throw new Error(`Connection closed during the handshake: ${head}`);
    head += String.fromCharCode(one[0]!);
  }
  if (!head.startsWith("HTTP/1.1 101")) {
    conn.close();
    throw new Error(`Handshake refused: ${head.split("\r\n")[0]}`);
  }
  let buffered = new Uint8Array(0);
  const fill = async (need: number, deadline: number): Promise<void> => {
    while (buffered.length < need) {
      if (Date.now() > deadline) throw new Error("Timed out reading frames");
      const chunk = new Uint8Array(256 * 1024);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("Connection closed before a close frame");
      const merged = new Uint8Array(buffered.length + n);
      merged.set(buffered);
      merged.set(chunk.subarray(0, n), buffered.length);
      buffered = merged;
    }
  };
  const nextFrame = async (deadline: number): Promise<{ opcode: number; body: Uint8Array }> => {
    await fill(2, deadline);
    const opcode = buffered[0]! & 0x0f;
    let len = buffered[1]! & 0x7f;
    let offset = 2;
    if (len === 126) {
      await fill(4, deadline);
      len = (buffered[2]! << 8) | buffered[3]!;
      offset = 4;
    } else if (len === 127) {
      await fill(10, deadline);
      len = Number(new DataView(buffered.buffer, buffered.byteOffset + 2, 8).getBigUint64(0));
      offset = 10;
    }
    await fill(offset + len, deadline);
    const body = buffered.subarray(offset, offset + len);
    buffered = buffered.slice(offset + len);
    return { opcode, body };
  };
  return {
    conn,
    async readText(timeoutMs = 10_000) {
      const { opcode, body } = await nextFrame(Date.now() + timeoutMs);
      if (opcode === 0x8) throw new Error("Closed instead of a data frame");
      return new TextDecoder().decode(body);
    },
    async readUntilClose(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let dataBytes = 0;
      while (true) {
        const { opcode, body } = await nextFrame(deadline);
        const len = body.length;
        if (opcode === 0x8) {
          const code = body.length >= 2 ? (body[0]! << 8) | body[1]! : 1005;
          return { code, reason: new TextDecoder().decode(body.subarray(2)), dataBytes };
        }
        dataBytes += len;
      }
    },
    readFrame(timeoutMs = 10_000) {
      return nextFrame(Date.now() + timeoutMs);
    },
    sendText(text) {
      return sendFrame(0x1, new TextEncoder().encode(text));
    },
    sendFrame,
    [Symbol.dispose]() {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
  async function sendFrame(opcode: number, payload: Uint8Array): Promise<void> {
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const header = payload.length < 126
      ? new Uint8Array([0x80 | opcode, 0x80 | payload.length])
      : new Uint8Array([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
    const frame = new Uint8Array(header.length + 4 + payload.length);
    frame.set(header);
    frame.set(mask, header.length);
    for (let i = 0; i < payload.length; i++) {
      frame[header.length + 4 + i] = payload[i]! ^ mask[i % 4]!;
    }
    await conn.write(frame);
  }
}

/** Sends an HTTP request over raw TCP and returns the status line's code and the whole response head. */
export async function rawHttpStatus(
  port: number,
  request: string,
): Promise<{ status: number; head: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return { status: Number(text.split(" ")[1]), head: text.split("\r\n\r\n")[0]! };
  } finally {
    conn.close();
  }
}

/** An upgrade request head for `rawHttpStatus`. */
export function upgradeRequest(port: number, path: string, extraHeaders = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`;
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its resolvers, for handlers that block until a test lets them go. */
export function deferred<T = void>(): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>();
}
