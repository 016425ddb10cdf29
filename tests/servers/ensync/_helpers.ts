/**
 * Helpers for engine tests: apps with real key pairs, an engine on free ports, and a raw
 * WebSocket client that reads replies and pushed records separately.
 *
 * @module
 */
import { generateKeyPair } from "../../../lib/ensync/crypto.ts";
import {
  type EnSyncApp,
  type EnSyncConfig,
  type EnSyncServer,
  type EnSyncServerOptions,
  type GrpcWorkerCommand,
  startEnSyncServer,
} from "../../../servers/ensync/mod.ts";

/** A gRPC worker process as the engine tests start it: `_grpc_worker_main.ts` under `deno run`. */
export const TEST_GRPC_WORKER: GrpcWorkerCommand = {
  command: Deno.execPath(),
  args: [
    "run",
    "--quiet",
    "--no-prompt",
    "--allow-env",
    "--allow-net=127.0.0.1",
    "--config",
    new URL("../../../deno.json", import.meta.url).pathname,
    new URL("./_grpc_worker_main.ts", import.meta.url).href,
  ],
};

/** Both ways of serving gRPC: in the engine's process and in a worker process. */
export const GRPC_FRONT_ENDS: { label: string; options: Partial<EnSyncServerOptions> }[] = [
  { label: "", options: {} },
  { label: " [gRPC worker process]", options: { grpcWorker: TEST_GRPC_WORKER } },
];

/** An app with its secret key. */
export interface TestApp extends EnSyncApp {
  /** The base64 64-byte Ed25519 secret key. */
  secretKey: string;
}

/** Creates an app with a fresh key pair and access key `<name>-access-key`. */
export function testApp(
  name: string,
  send: string[] = ["*"],
  receive: string[] = ["*"],
): TestApp {
  const keys = generateKeyPair();
  return {
    name,
    accessKey: `${name}-access-key`,
    appId: keys.publicKey,
    secretKey: keys.secretKey,
    send,
    receive,
  };
}

/** A config holding `apps`. */
export function configOf(apps: EnSyncApp[]): EnSyncConfig {
  return {
    grpcStreams: "auto",
    apps: apps.map(({ name, accessKey, appId, send, receive }) => ({
      name,
      accessKey,
      appId,
      send,
      receive,
    })),
  };
}

/** Starts an engine on free ports with an in-memory store unless one is given. */
export function startTestEngine(
  apps: EnSyncApp[],
  options: Partial<EnSyncServerOptions> = {},
): Promise<EnSyncServer> {
  return startEnSyncServer({ config: configOf(apps), wsPort: 0, grpcPort: 0, ...options });
}

/** A raw WebSocket client: `reply()` returns the next `+PASS`/`-FAIL`/`+REPLAY`, `record()` the next `+RECORD`. */
export interface RawClient extends AsyncDisposable {
  socket: WebSocket;
  /** The client id after `conn()`. */
  clientId: string;
  send(frame: string): void;
  /** Sends a frame and returns its reply. */
  request(frame: string): Promise<string>;
  reply(timeoutMs?: number): Promise<string>;
  record(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with `true` when no record arrives within `ms`. */
  noRecord(ms: number): Promise<boolean>;
  /** Sends CONN and returns the reply. */
  conn(accessKey: string): Promise<string>;
  close(): Promise<void>;
}

class Inbox<T> {
  items: T[] = [];
  waiters: ((v: T) => void)[] = [];
  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }
  next(timeoutMs: number, what: string): Promise<T> {
    if (this.items.length) return Promise.resolve(this.items.shift()!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`No ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (v: T): void => {
        clearTimeout(timer);
        resolve(v);
      };
      this.waiters.push(done);
    });
  }
}

/** Opens a raw WebSocket client to `url` (path included). */
export async function rawClient(url: string, protocols?: string[]): Promise<RawClient> {
  const socket = new WebSocket(url, protocols);
  const replies = new Inbox<string>();
  const records = new Inbox<Record<string, unknown>>();
  socket.onmessage = (e) => {
    const text = String(e.data);
    if (text.startsWith("+RECORD:")) records.push(JSON.parse(text.slice(8)));
    else replies.push(text);
  };
  const closed = new Promise<void>((r) => socket.addEventListener("close", () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = (e) => reject(new Error(`Cannot open ${url}: ${(e as ErrorEvent).message}`));
  });
  const client: RawClient = {
    socket,
    clientId: "",
    send: (frame) => socket.send(frame),
    request(frame) {
      socket.send(frame);
      return replies.next(5_000, `reply to ${frame.slice(0, 40)}`);
    },
    reply: (timeoutMs = 5_000) => replies.next(timeoutMs, "reply"),
    record: (timeoutMs = 5_000) => records.next(timeoutMs, "record"),
    async noRecord(ms) {
      try {
        const r = await records.next(ms, "record");
        records.items.unshift(r);
        return false;
      } catch {
        return true;
      }
    },
    async conn(accessKey) {
      const reply = await client.request(`CONN;ACCESS_KEY=:${accessKey}`);
      const m = /clientId=([^,}]+)/.exec(reply);
      if (m) client.clientId = m[1]!;
      return reply;
    },
    async close() {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close();
      }
      await closed;
    },
    async [Symbol.asyncDispose]() {
      await client.close();
    },
  };
  return client;
}

/** Connects a raw client for `app`; the client id is in `client.clientId`. */
export async function connected(
  engine: EnSyncServer,
  app: EnSyncApp,
  path = "/message",
): Promise<RawClient> {
  const c = await rawClient(`${engine.wsUrl}${path}`);
  const reply = await c.conn(app.accessKey);
  if (!reply.startsWith("+PASS:")) throw new Error(`CONN failed: ${reply}`);
  return c;
}

/** Builds a PUB frame (`=:` form). */
export function pubFrame(
  c: RawClient,
  name: string,
  to: string,
  payload: string,
  metadata = '{"persist":true,"headers":{}}',
): string {
  return `PUB;CLIENT_ID=:${c.clientId};EVENT_NAME=:${name};PAYLOAD=:${payload};DELIVERY_TO=:${to};METADATA=:${metadata}`;
}

/** Builds an ACK frame for a record. */
export function ackFrame(c: RawClient, rec: Record<string, unknown>, name = "undefined"): string {
  return `ACK;CLIENT_ID=:${c.clientId};EVENT_IDEM=:${rec.id};BLOCK=:${rec.block};EVENT_NAME=:${name}`;
}
