/**
 * The WebSocket dialect of the engine: one connection per client on any path (`/message` for the
 * Node and Python SDKs, `/` for Go), text frames `VERB;KEY=:value;...`, every command answered
 * exactly once and in order (`+PASS:`, `-FAIL:CODE;MESSAGE=..`, `+REPLAY:`), deliveries pushed as
 * `+RECORD:`. A malformed or unknown command gets `-FAIL:` and the connection stays open.
 *
 * @module
 */
import { formatConnPass, formatFail, parseCommand } from "../../lib/ensync/protocol.ts";
import { getLogger } from "../../lib/_log.ts";
import {
  type EngineSession,
  type EngineSubscription,
  type EnSyncBroker,
  EnSyncEngineError,
} from "./broker.ts";
import { metadataWithReplayInfo, passReply, recordFrame } from "./protocol.ts";
import type { StoredEvent } from "./store.ts";

const log = getLogger(["ensync", "ws"]);

/** How long after a `+PASS:SUBSCRIBED` the first delivery of that subscription waits (ms). */
const SUBSCRIBE_GRACE_MS = 20;

/**
 * The largest command frame accepted (characters); larger ones get `-FAIL:PAYLOAD_TOO_LARGE`.
 *
 * @example
 * ```ts
 * import { MAX_FRAME_CHARS } from "@syft/syft/ensync/engine";
 * console.log(MAX_FRAME_CHARS / 1024 / 1024); // 16
 * ```
 */
export const MAX_FRAME_CHARS = 16 * 1024 * 1024;

/** Replies queued for a client past this many bytes close its connection (1013). */
const SEND_BUFFER_LIMIT = 4 * MAX_FRAME_CHARS;

type Reply = string | Promise<string>;

/** A reply with an action to run right after it was sent. */
interface Queued {
  reply: Reply;
  after?: () => void;
}

function failFrom(err: unknown): string {
  if (err instanceof EnSyncEngineError) return formatFail(err.code, err.message);
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "MALFORMED_COMMAND") return formatFail("MALFORMED_COMMAND", message);
  log.error("Command failed: {error}", { error: message });
  return formatFail("INTERNAL", message.replace(/[\r\n]/g, " "));
}

/** One WebSocket client connection. */
class WsConnection {
  readonly #broker: EnSyncBroker;
  readonly #socket: WebSocket;
  #session: EngineSession | undefined;
  #queue: Queued[] = [];
  #after: (() => void) | undefined;
  #closed = false;

  readonly #sockets: Set<WebSocket> | undefined;

  constructor(broker: EnSyncBroker, socket: WebSocket, sockets?: Set<WebSocket>) {
    this.#broker = broker;
    this.#socket = socket;
    this.#sockets = sockets;
    sockets?.add(socket);
    socket.onmessage = (e) => this.#onFrame(e.data);
    socket.onclose = () => this.#onClose();
    socket.onerror = () => {/* close follows */};
  }

  #send(frame: string): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    try {
      this.#socket.send(frame);
      // A client that sends commands but does not read its replies (pipelined REPLAYs of large
      // events, say) would grow the engine's memory without bound: close it instead.
      if (this.#socket.bufferedAmount > SEND_BUFFER_LIMIT) {
        log.warn("Closing a client whose unread replies passed {limit} bytes", {
          limit: SEND_BUFFER_LIMIT,
        });
        this.#socket.close(1013, "Send buffer full: read your replies");
      }
    } catch (err) {
      log.debug("Cannot send: {error}", { error: String(err) });
    }
  }

  /** Queues a reply; replies leave in command order even when some take longer. */
  #reply(reply: Reply, after?: () => void): void {
    if (this.#queue.length === 0 && typeof reply === "string") {
      this.#send(reply);
      after?.();
      return;
    }
    this.#queue.push(after === undefined ? { reply } : { reply, after });
    if (this.#queue.length === 1) void this.#drain();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      this.#send(typeof head.reply === "string" ? head.reply : await head.reply);
      this.#queue.shift();
      try {
        head.after?.();
      } catch (err) {
        log.error("After-reply action failed: {error}", { error: String(err) });
      }
    }
  }

  #onFrame(data: unknown): void {
    let text: string;
    if (typeof data === "string") text = data;
    else if (data instanceof ArrayBuffer) text = new TextDecoder().decode(data);
    else {
      this.#reply(formatFail("MALFORMED_COMMAND", "Expected a text frame"));
      return;
    }
    if (text === "PONG") return; // the answer to a text PING, not a command
    if (text.length > MAX_FRAME_CHARS) {
      this.#reply(
        formatFail("PAYLOAD_TOO_LARGE", `Frame is larger than ${MAX_FRAME_CHARS} characters`),
      );
      return;
    }
    let reply: Reply;
    this.#after = undefined;
    try {
      reply = this.#handle(text);
    } catch (err) {
      reply = failFrom(err);
    }
    if (typeof reply !== "string") reply = reply.catch(failFrom);
    const after = this.#after;
    this.#after = undefined;
    this.#reply(reply, after);
  }

  #sessionFor(fields: Record<string, string>): EngineSession {
    const session = this.#session;
    if (session === undefined || session.closed) {
      throw new EnSyncEngineError(
        "CLIENT_NOT_FOUND",
        "Client not found or session expired: send CONN first",
      );
    }
    const id = fields.CLIENT_ID;
    if (id !== undefined && id !== "" && id !== session.id) {
      throw new EnSyncEngineError(
        "CLIENT_NOT_FOUND",
        `Client not found or session expired: "${id}" is not this connection's client id`,
      );
    }
    return session;
  }

  #handle(text: string): Reply {
    const { verb, fields } = parseCommand(text);
    const b = this.#broker;
    switch (verb) {
      case "CONN": {
        if (this.#session !== undefined) void b.disconnect(this.#session);
        this.#session = undefined;
        const session = b.connect(fields.ACCESS_KEY ?? "", this);
        this.#session = session;
        return formatConnPass(session.id, session.hash);
      }
      case "PUB": {
        const s = this.#sessionFor(fields);
        return b.publish(s, {
          name: fields.EVENT_NAME ?? "",
          payload: fields.PAYLOAD ?? "",
          deliveryTo: fields.DELIVERY_TO ?? "",
          ...(fields.METADATA === undefined ? {} : { metadata: fields.METADATA }),
          ...(fields.PAYLOAD_METADATA === undefined
            ? {}
            : { payloadMetadata: fields.PAYLOAD_METADATA }),
        }).then((p) => passReply("PUBLISHED", { IDEM: p.idem, TIMESTAMP: p.loggedAt }));
      }
      case "SUB": {
        const s = this.#sessionFor(fields);
        const name = fields.EVENT_NAME ?? "";
        // Deliveries start a moment after the reply went out: SDKs (such as the npm 0.0.18 one)
        // register handlers after the reply resolves, and a record read in the same chunk as the
        // reply would find none and be dropped until the ack timeout.
        let subscribed: EngineSubscription | undefined;
        this.#after = () => {
          const sub = subscribed;
          if (sub === undefined) return;
          setTimeout(() => b.setAttached(sub, true), SUBSCRIBE_GRACE_MS);
        };
        return b.subscribe(s, name, { attached: false }).then((sub) => {
          subscribed = sub;
          return passReply("SUBSCRIBED", { "EVENT_NAME": name });
        });
      }
      case "UNSUB": {
        const s = this.#sessionFor(fields);
        const name = fields.EVENT_NAME ?? "";
        return b.unsubscribe(s, name).then(() =>
          passReply("UNSUBSCRIBED", { "EVENT_NAME": name, "CLIENT_ID": s.id })
        );
      }
      case "ACK": {
        const s = this.#sessionFor(fields);
        const idem = fields.EVENT_IDEM ?? "";
        return b.ack(s, idem).then(() => passReply("ACKNOWLEDGED", { IDEM: idem }));
      }
      case "DEFER": {
        const s = this.#sessionFor(fields);
        const idem = fields.EVENT_IDEM ?? "";
        const delayText = fields.DELAY ?? "";
        const delay = delayText === "" ? 60_000 : Number(delayText);
        return b.defer(s, idem, delay, fields.REASON ?? "").then((at) =>
          passReply("DEFERRED", { IDEM: idem, "DELIVERY_TIME": at })
        );
      }
      case "DISCARD": {
        const s = this.#sessionFor(fields);
        const idem = fields.EVENT_IDEM ?? "";
        return b.discard(s, idem, fields.REASON ?? "").then(() =>
          passReply("DISCARDED", { IDEM: idem })
        );
      }
      case "PAUSE": {
        const s = this.#sessionFor(fields);
        const name = fields.EVENT_NAME ?? "";
        b.pause(s, name);
        return passReply("PAUSED", { "EVENT_NAME": name });
      }
      case "CONTINUE":
      case "RESUME": {
        const s = this.#sessionFor(fields);
        const name = fields.EVENT_NAME ?? "";
        b.resume(s, name);
        return passReply("CONTINUED", { "EVENT_NAME": name });
      }
      case "REPLAY": {
        const s = this.#sessionFor(fields);
        return b.replay(s, fields.EVENT_IDEM ?? "").then((r) =>
          recordFrame(
            r.event,
            "REPLAY",
            metadataWithReplayInfo(r.event.metadata, {
              isReplayed: true,
              replayTimestamp: r.replayedAt,
              wasAcknowledged: r.state === "acked",
            }),
          )
        );
      }
      case "ROLLBACK": {
        const s = this.#sessionFor(fields);
        const idem = fields.EVENT_IDEM ?? "";
        return b.rollback(s, idem).then(() => passReply("ROLLED_BACK", { IDEM: idem }));
      }
      case "PING":
        return passReply("PONG");
      case "CLOSE": {
        const s = this.#sessionFor(fields);
        void b.disconnect(s);
        this.#session = undefined;
        this.#after = () => this.#socket.close(1000, "CLOSE");
        return passReply("CLOSED");
      }
      default:
        throw new EnSyncEngineError("UNKNOWN_COMMAND", `Unknown command "${verb}"`);
    }
  }

  /** EngineSessionSink: push a delivery. */
  deliver(_sub: EngineSubscription, event: StoredEvent): void {
    this.#send(recordFrame(event));
  }

  #onClose(): void {
    this.#closed = true;
    this.#sockets?.delete(this.#socket);
    const s = this.#session;
    this.#session = undefined;
    if (s !== undefined) void this.#broker.disconnect(s);
  }
}

/**
 * Upgrades an HTTP request to an EnSync WebSocket connection served by `broker`. Echoes the
 * `ensync-protocol` subprotocol when the client offers it.
 *
 * @param broker The delivery core.
 * @param request A request with `Upgrade: websocket`.
 * @param options `sockets`: a set the open sockets are kept in (to close them on shutdown).
 * @returns The 101 response.
 *
 * @example Serve the dialect on any path
 * ```ts ignore
 * import { acceptEnSyncWebSocket } from "@syft/syft/ensync/engine";
 * Deno.serve((req) => acceptEnSyncWebSocket(broker, req));
 * ```
 */
export function acceptEnSyncWebSocket(
  broker: EnSyncBroker,
  request: Request,
  options: { sockets?: Set<WebSocket> } = {},
): Response {
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) =>
    s.trim()
  );
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: 120,
    ...(offered.includes("ensync-protocol") ? { protocol: "ensync-protocol" } : {}),
  });
  new WsConnection(broker, socket, options.sockets);
  return response;
}
