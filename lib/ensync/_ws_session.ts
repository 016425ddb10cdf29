/**
 * The WebSocket session: one socket to `/message`, `CONN` handshake, strict FIFO correlation of
 * replies with a queue (no request ids exist on the wire), one shared deadline timer, pushed
 * `+RECORD:` deliveries routed to the client without ever blocking the reader.
 *
 * The socket is the npm `ws` client, not Deno's built-in `WebSocket`: Deno 2.9's client writes a
 * frame's header and payload separately without `TCP_NODELAY`, so every frame above ~1.4 KB (a PUB
 * with a 1 KiB payload is ~2 KB) waits for the peer's delayed ACK: 40 ms per request on Linux.
 * `ws` sets `TCP_NODELAY` (measured: 0.18 ms round trip for the same frame).
 *
 * @module
 */
// @ts-types="@types/ws"
import WebSocket from "ws";
import type { Clock, TimerHandle } from "../_clock.ts";
import { getLogger } from "../_log.ts";
import {
  EnSyncAuthError,
  EnSyncConnectionError,
  EnSyncError,
  EnSyncTimeoutError,
} from "./errors.ts";
import {
  parseConnReply,
  parsePublishReply,
  parseReplyFields,
  parseServerMessage,
  type ServerMessage,
  type WireRecord,
} from "./protocol.ts";
import { DeadlineTimer, Gate, type Session, type SessionHandlers } from "./_session.ts";

const log = getLogger(["ensync", "ws"]);

type Reply = Extract<ServerMessage, { kind: "pass" | "fail" | "replay" }>;

interface Pending {
  verb: string;
  deadline: number;
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
}

/** Options of {@linkcode openWebSocketSession}. */
export interface WsSessionOptions {
  requestTimeout: number;
  maxInFlight: number;
  /** Request deadlines and the close handshake's limit run on it. */
  clock: Clock;
}

class WsSession implements Session {
  clientId = "";
  clientHash = "";
  readonly #ws: WebSocket;
  readonly #handlers: SessionHandlers;
  readonly #timeout: number;
  readonly #gate: Gate;
  readonly #timer: DeadlineTimer;
  #queue: Pending[] = [];
  #head = 0;
  #dead: Error | undefined;
  #closed: Promise<void>;
  #terminateTimer: TimerHandle | undefined;
  readonly #clock: Clock;

  constructor(ws: WebSocket, handlers: SessionHandlers, options: WsSessionOptions) {
    this.#ws = ws;
    this.#clock = options.clock;
    this.#handlers = handlers;
    this.#timeout = options.requestTimeout;
    this.#gate = new Gate(options.maxInFlight);
    this.#timer = new DeadlineTimer(
      this.#clock,
      () => this.#queue[this.#head]?.deadline,
      (now) => {
        // The timer may have been armed for a request answered since: only the oldest one still
        // waiting counts (FIFO, one timeout: it is the first to expire).
        const p = this.#queue[this.#head];
        if (p === undefined || p.deadline > now) return;
        this.#die(
          new EnSyncTimeoutError(
            `No reply to ${p.verb} within ${this.#timeout} ms`,
          ),
          true,
        );
      },
    );
    this.#closed = ws.readyState === WebSocket.CLOSED
      ? Promise.resolve()
      : new Promise((resolve) => ws.once("close", () => resolve()));
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) {
        log.warn("Ignoring a binary frame from the engine");
        return;
      }
      this.#onMessage(data.toString());
    });
    ws.on("close", (code: number, reason: Buffer) => {
      const text = reason.length ? `: ${reason.toString()}` : "";
      this.#die(new EnSyncConnectionError(`The connection closed (code ${code}${text})`), true);
    });
    ws.on("error", (err: Error) => log.debug("WebSocket error: {error}", { error: err.message }));
  }

  #onMessage(data: string): void {
    let msg: ServerMessage;
    try {
      msg = parseServerMessage(data);
    } catch (err) {
      // A malformed +RECORD/+REPLAY. A bad +REPLAY still answers the oldest request.
      if (data.startsWith("+REPLAY:")) {
        this.#settle({
          kind: "fail",
          code: "MALFORMED_RECORD",
          message: (err as Error).message,
          body: data,
        });
      } else log.warn("Ignoring a malformed frame: {error}", { error: (err as Error).message });
      return;
    }
    switch (msg.kind) {
      case "record":
        this.#handlers.onRecord(msg.record);
        return;
      case "pass":
      case "fail":
      case "replay":
        this.#settle(msg);
        return;
      case "ping":
        if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send("PONG");
        return;
      default:
        log.debug("Ignoring an unknown frame: {text}", { text: data.slice(0, 80) });
    }
  }

  #settle(reply: Reply): void {
    const p = this.#queue[this.#head];
    if (!p) {
      log.warn("Ignoring a reply with no pending request: {text}", { text: reply.kind });
      return;
    }
    this.#queue[this.#head++] = undefined as unknown as Pending;
    if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#gate.leave();
    p.resolve(reply);
  }

  #die(error: Error, notify: boolean): void {
    if (this.#dead) return;
    this.#dead = error;
    this.#timer.stop();
    const pending = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const p of pending) p.reject(error);
    this.#gate.drain();
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      try {
        this.#ws.close(error instanceof EnSyncTimeoutError ? 4000 : 1000);
      } catch { /* already closing */ }
    }
    // a peer that never answers the close handshake must not keep the socket open
    this.#terminateTimer ??= this.#clock.setTimeout(() => this.#ws.terminate(), 1000);
    this.#closed.then(() => this.#clock.clearTimeout(this.#terminateTimer));
    if (notify) this.#handlers.onClose(error);
  }

  /** Sends a frame and resolves with its reply (in FIFO order). */
  async request(frame: string, verb: string): Promise<Reply> {
    const wait = this.#gate.enter();
    if (wait) await wait;
    if (this.#dead) {
      this.#gate.leave();
      throw this.#dead;
    }
    return new Promise<Reply>((resolve, reject) => {
      this.#queue.push({ verb, deadline: this.#clock.now() + this.#timeout, resolve, reject });
      try {
        if (this.#ws.readyState !== WebSocket.OPEN) {
          throw new Error(`readyState ${this.#ws.readyState}`);
        }
        this.#ws.send(frame);
      } catch (cause) {
        this.#die(
          new EnSyncConnectionError(`Cannot send ${verb}: the connection is not open`, { cause }),
          true,
        );
        return;
      }
      this.#timer.arm();
    });
  }

  async #ok(frame: string, verb: string): Promise<string> {
    const reply = await this.request(frame, verb);
    if (reply.kind === "fail") {
      throw new EnSyncError(`${verb} failed: ${reply.message}`, { code: reply.code });
    }
    if (reply.kind === "replay") {
      throw new EnSyncError(`${verb} got an unexpected +REPLAY reply`, {
        code: "UNEXPECTED_REPLY",
      });
    }
    return reply.body;
  }

  async publish(
    name: string,
    to: string,
    payload: string,
    metadata: string,
    payloadMetadata: string,
  ): Promise<string> {
    const body = await this.#ok(
      `PUB;CLIENT_ID=:${this.clientId};EVENT_NAME=:${name};PAYLOAD=:${payload};DELIVERY_TO=:${to};METADATA=:${metadata};PAYLOAD_METADATA=:${payloadMetadata}`,
      "PUB",
    );
    return parsePublishReply(body);
  }

  async subscribe(name: string): Promise<void> {
    await this.#ok(`SUB;CLIENT_ID=:${this.clientId};EVENT_NAME=:${name}`, "SUB");
  }

  async unsubscribe(name: string): Promise<void> {
    await this.#ok(`UNSUB;CLIENT_ID=:${this.clientId};EVENT_NAME=:${name}`, "UNSUB");
  }

  async ack(idem: string, block: number, name: string): Promise<void> {
    await this.#ok(
      `ACK;CLIENT_ID=:${this.clientId};EVENT_IDEM=:${idem};BLOCK=:${block};EVENT_NAME=:${name}`,
      "ACK",
    );
  }

  async defer(
    idem: string,
    name: string,
    delayMs: number,
    reason: string,
  ): Promise<number | undefined> {
    const body = await this.#ok(
      `DEFER;CLIENT_ID=:${this.clientId};EVENT_IDEM=:${idem};EVENT_NAME=:${name};DELAY=:${delayMs};REASON=:${reason}`,
      "DEFER",
    );
    const t = Number(parseReplyFields(body).fields.DELIVERY_TIME);
    return Number.isFinite(t) && t > 0 ? t : undefined;
  }

  async discard(idem: string, name: string, reason: string): Promise<void> {
    await this.#ok(
      `DISCARD;CLIENT_ID=:${this.clientId};EVENT_IDEM=:${idem};EVENT_NAME=:${name};REASON=:${reason}`,
      "DISCARD",
    );
  }

  async pause(name: string, reason: string): Promise<void> {
    await this.#ok(
      `PAUSE;CLIENT_ID=:${this.clientId};EVENT_NAME=:${name};REASON=:${reason}`,
      "PAUSE",
    );
  }

  async continue(name: string): Promise<void> {
    await this.#ok(`CONTINUE;CLIENT_ID=:${this.clientId};EVENT_NAME=:${name}`, "CONTINUE");
  }

  async replay(idem: string, name: string): Promise<WireRecord> {
    const reply = await this.request(
      `REPLAY;CLIENT_ID=:${this.clientId};EVENT_IDEM=:${idem};EVENT_NAME=:${name}`,
      "REPLAY",
    );
    if (reply.kind === "fail") {
      throw new EnSyncError(`REPLAY failed: ${reply.message}`, { code: reply.code });
    }
    if (reply.kind === "pass") {
      throw new EnSyncError(`REPLAY got +PASS:${reply.body.slice(0, 60)} instead of +REPLAY:`, {
        code: "UNEXPECTED_REPLY",
      });
    }
    return reply.record;
  }

  async close(): Promise<void> {
    this.#die(new EnSyncConnectionError("The client was closed", { code: "CLOSED" }), false);
    await this.#closed; // at most ~1 s: #die terminates a socket whose peer does not close
  }

  /** Marks the session dead without notifying (used when the handshake fails). */
  abort(error: Error): void {
    this.#die(error, false);
  }
}

/**
 * Opens a WebSocket to `url`, sends `CONN;ACCESS_KEY=:<appKey>` and returns the session.
 *
 * @throws {EnSyncConnectionError} When the socket does not open within the request timeout.
 * @throws {EnSyncAuthError} When the engine refuses the key (its `-FAIL:` code is kept).
 */
export async function openWebSocketSession(
  url: string,
  appKey: string,
  handlers: SessionHandlers,
  options: WsSessionOptions,
): Promise<Session> {
  let ws: WebSocket;
  try {
    ws = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: options.requestTimeout,
      maxPayload: 64 * 1024 * 1024,
    });
  } catch (cause) {
    throw new EnSyncConnectionError(`Cannot connect to ${url}: ${(cause as Error).message}`, {
      cause,
    });
  }
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      ws.off("open", onOpen);
      ws.off("error", onError);
      ws.off("close", onClose);
    };
    const onOpen = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      ws.on("error", () => {}); // later errors are reported through "close"
      ws.terminate();
      const timedOut = /timed? ?out/i.test(err.message);
      reject(
        timedOut
          ? new EnSyncTimeoutError(`No connection to ${url} within ${options.requestTimeout} ms`, {
            cause: err,
          })
          : new EnSyncConnectionError(`Cannot connect to ${url}: ${err.message}`, { cause: err }),
      );
    };
    const onClose = (code: number) => {
      cleanup();
      reject(new EnSyncConnectionError(`Cannot connect to ${url} (closed with code ${code})`));
    };
    ws.on("open", onOpen);
    ws.on("error", onError);
    ws.on("close", onClose);
  });
  const session = new WsSession(ws, handlers, options);
  let reply: Reply;
  try {
    reply = await session.request(`CONN;ACCESS_KEY=:${appKey}`, "CONN");
  } catch (err) {
    session.abort(err as Error);
    throw err;
  }
  if (reply.kind !== "pass") {
    const error = reply.kind === "fail"
      ? new EnSyncAuthError(`Authentication failed: ${reply.message}`, { code: reply.code })
      : new EnSyncAuthError("Authentication failed: unexpected +REPLAY reply to CONN");
    await session.close();
    throw error;
  }
  try {
    const { clientId, clientHash } = parseConnReply(reply.body);
    session.clientId = clientId;
    session.clientHash = clientHash;
  } catch (err) {
    await session.close();
    throw err;
  }
  return session;
}
