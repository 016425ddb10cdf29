/**
 * Raw protocol clients for the EnSync benchmark: a pipelined publisher and an acking subscriber
 * over the WebSocket dialect. Payloads are encrypted once up front (the engine never decrypts), so
 * the figures measure the engine, not the client's crypto.
 *
 * The clients use `npm:ws` rather than Deno's built-in `WebSocket`: Deno's client does not set
 * TCP_NODELAY and stalls ~44 ms (Nagle + delayed ACK) on every frame between ~1.4 KB and 64 KB,
 * which is exactly the size of a 1 KiB encrypted event. `ws` (what the Node SDKs use) sets it.
 *
 * @module
 */
// @ts-types="@types/ws"
import WebSocket from "ws";

/** A connected raw client. */
export interface BenchConn {
  socket: WebSocket;
  clientId: string;
}

/** Opens a WebSocket and authenticates. */
export async function openConn(url: string, accessKey: string): Promise<BenchConn> {
  const socket = new WebSocket(`${url}/message`);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", (e) => reject(new Error(`Cannot connect to ${url}: ${e.message}`)));
  });
  const reply = await new Promise<string>((resolve) => {
    socket.once("message", (data) => resolve(String(data)));
    socket.send(`CONN;ACCESS_KEY=:${accessKey}`);
  });
  const m = /clientId=([^,}]+)/.exec(reply);
  if (!m) throw new Error(`CONN failed: ${reply}`);
  return { socket, clientId: m[1]! };
}

/** Closes a connection and waits for the close. */
export async function closeConn(c: BenchConn): Promise<void> {
  if (c.socket.readyState === WebSocket.CLOSED) return;
  const closed = new Promise<void>((r) => c.socket.once("close", () => r()));
  c.socket.close();
  await closed;
}

/** A publisher keeping up to `window` PUBs outstanding. */
export class Publisher {
  readonly conn: BenchConn;
  readonly window: number;
  outstanding = 0;
  replies = 0;
  failures = 0;
  lastFailure = "";
  #waiters: (() => void)[] = [];

  constructor(conn: BenchConn, window: number) {
    this.conn = conn;
    this.window = window;
    conn.socket.on("message", (data) => {
      const text = String(data);
      if (text.startsWith("+RECORD:")) return;
      this.replies++;
      this.outstanding--;
      if (!text.startsWith("+PASS:")) {
        this.failures++;
        this.lastFailure = text;
      }
      const w = this.#waiters.shift();
      if (w) w();
    });
  }

  /** Sends a PUB, waiting first while the window is full. */
  async publish(name: string, to: string, payload: string, metadata: string): Promise<void> {
    while (this.outstanding >= this.window) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    this.outstanding++;
    this.conn.socket.send(
      `PUB;CLIENT_ID=:${this.conn.clientId};EVENT_NAME=:${name};PAYLOAD=:${payload};DELIVERY_TO=:${to};METADATA=:${metadata}`,
    );
  }

  /** Resolves when every PUB was answered. */
  async drain(): Promise<void> {
    while (this.outstanding > 0) await new Promise<void>((r) => this.#waiters.push(r));
  }
}

/** A subscriber that acks every record at once; `onRecord` sees the raw record text. */
export class Subscriber {
  readonly conn: BenchConn;
  received = 0;
  acks = 0;
  #target = Infinity;
  #done: (() => void) | undefined;

  constructor(conn: BenchConn, onRecord?: (json: string, now: number) => void) {
    this.conn = conn;
    const prefix = `ACK;CLIENT_ID=:${conn.clientId};EVENT_IDEM=:`;
    conn.socket.on("message", (data) => {
      const text = String(data);
      if (text.charCodeAt(1) !== 82 /* R of +RECORD */) {
        if (text.startsWith("+PASS:ACK")) this.acks++;
        return;
      }
      const now = performance.now();
      // {"id":"<idem>","idem":"<idem>","name":"<name>","block":N,...
      const idStart = 15;
      const idEnd = text.indexOf('"', idStart);
      const idem = text.slice(idStart, idEnd);
      const b = text.indexOf('"block":', idEnd) + 8;
      const block = text.slice(b, text.indexOf(",", b));
      conn.socket.send(`${prefix}${idem};BLOCK=:${block}`);
      this.received++;
      onRecord?.(text, now);
      if (this.received >= this.#target) this.#done?.();
    });
  }

  /** Subscribes to `name`. */
  subscribe(name: string): void {
    this.conn.socket.send(`SUB;CLIENT_ID=:${this.conn.clientId};EVENT_NAME=:${name}`);
  }

  /** Resolves once `count` records (in total) have arrived. */
  until(count: number): Promise<void> {
    if (this.received >= count) return Promise.resolve();
    this.#target = count;
    return new Promise((r) => this.#done = r);
  }
}

/**
 * The one-in-flight limit: `clients` connections to a bare server (`bench/ensync/bare_ws.ts`) that
 * pushes the next frame to a client once its previous one was answered; measures frames per
 * second until `total` arrived in all.
 */
export async function oneInFlightRate(
  url: string,
  clients: number,
  total: number,
): Promise<number> {
  const answer = `ACK;CLIENT_ID=:${"c".repeat(20)};EVENT_IDEM=:${"i".repeat(16)};BLOCK=:12345`;
  let received = 0;
  let stop = false;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const sockets = await Promise.all(
    Array.from({ length: clients }, async () => {
      const socket = new WebSocket(url);
      await new Promise<void>((ok, fail) => {
        socket.once("open", () => ok());
        socket.once("error", (e) => fail(new Error(`Cannot connect to ${url}: ${e.message}`)));
      });
      return socket;
    }),
  );
  const t0 = performance.now();
  for (const socket of sockets) {
    socket.on("message", (data) => {
      String(data); // read it as the EnSync subscriber does
      if (stop) return;
      if (++received >= total) {
        stop = true;
        resolve();
        return;
      }
      socket.send(answer);
    });
  }
  for (const socket of sockets) socket.send(answer); // each client's first answer starts it
  await done;
  const rate = total / ((performance.now() - t0) / 1000);
  await Promise.all(sockets.map((s) => {
    const closed = new Promise<void>((r) => s.once("close", () => r()));
    s.close();
    return closed;
  }));
  return rate;
}
