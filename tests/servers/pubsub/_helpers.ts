/**
 * Helpers of the pub/sub server tests: a raw WebSocket peer that sends frames as given and reads
 * what the server sends, and a server started for one test.
 *
 * @module
 */
import {
  type PubSubServer,
  type PubSubServerOptions,
  startPubSubServer,
} from "../../../servers/pubsub/mod.ts";

/** A raw WebSocket peer. */
export interface RawPeer extends AsyncDisposable {
  /** The socket. */
  socket: WebSocket;
  /** Sends a text frame. */
  send(text: string): void;
  /** The next text frame (rejects after `timeoutMs`, default 5 s). */
  next(timeoutMs?: number): Promise<string>;
  /** The next frame parsed as JSON. */
  nextJson(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Frames received and not yet read. */
  readonly buffered: number;
}

/** Opens a raw peer and waits until it is open. */
export async function rawPeer(url: string, headers?: Record<string, string>): Promise<RawPeer> {
  const socket = new WebSocket(url, headers ? { headers } : undefined);
  const inbox: string[] = [];
  const waiters: ((text: string) => void)[] = [];
  let resolveClosed!: (info: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => resolveClosed = r);
  socket.onmessage = (evt) => {
    const text = typeof evt.data === "string" ? evt.data : "<binary>";
    const waiter = waiters.shift();
    if (waiter) waiter(text);
    else inbox.push(text);
  };
  socket.onclose = (evt) => resolveClosed({ code: evt.code, reason: evt.reason });
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = (evt) => reject(new Error((evt as ErrorEvent).message));
  });
  const next = (timeoutMs = 5_000): Promise<string> => {
    const ready = inbox.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(done), 1);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (text: string): void => {
        clearTimeout(timer);
        resolve(text);
      };
      waiters.push(done);
    });
  };
  return {
    socket,
    send: (text) => socket.send(text),
    next,
    nextJson: async (timeoutMs) => JSON.parse(await next(timeoutMs)),
    closed,
    get buffered() {
      return inbox.length;
    },
    async [Symbol.asyncDispose]() {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close();
      }
      await closed;
    },
  };
}

/** Starts a server on 127.0.0.1, port 0. */
export function testServer(options: PubSubServerOptions = {}): Promise<PubSubServer> {
  return startPubSubServer({ port: 0, ...options });
}

/** The HTTP base URL of a server's WebSocket URL. */
export function httpBase(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `http://${u.host}`;
}

/** Reads `/metrics` and returns the value of one sample line (`name{labels}`), or undefined. */
export async function metric(wsUrl: string, sample: string): Promise<number | undefined> {
  const res = await fetch(`${httpBase(wsUrl)}/metrics`);
  const text = await res.text();
  for (const line of text.split("\n")) {
    if (line.startsWith(sample + " ")) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}
