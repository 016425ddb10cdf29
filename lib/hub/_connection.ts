/**
 * The implementation of {@linkcode Connection} (internal): one WebSocket peer of a hub, with a
 * bounded send buffer and a close that waits for a quiet moment.
 *
 * @module
 */
import { type Connection, DEFAULT_SEND_BUFFER_LIMIT } from "./connection.ts";
import { encodeFrame, type EventHeaders } from "./frame.ts";

/** WebSocket close code for a frame over the size limit ("message too big"). */
export const CLOSE_TOO_LARGE = 1009;
/** WebSocket close code for a consumer that cannot keep up ("try again later"). */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** WebSocket close code for a server going away (shutdown). */
export const CLOSE_GOING_AWAY = 1001;

/** The part of a standard `WebSocket` a connection uses. */
export interface SocketLike {
  /** `WebSocket.OPEN` (1) while open. */
  readonly readyState: number;
  /** Bytes queued by `send()` and not yet written to the network. */
  readonly bufferedAmount: number;
  /** Queues a text frame. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
}

/** Options of {@linkcode ConnectionImpl}. */
export interface ConnectionOptions {
  /** The id; default `"zpt-" + crypto.randomUUID()`. */
  id?: string;
  /** Initial per-connection state (for example what `authenticate` returned). */
  data?: Record<string, unknown>;
  /** Close with 1013 when more than this many bytes wait to be sent (default 4 MiB). */
  sendBufferLimit?: number;
  /** Called once when the send buffer passes the limit, just before the connection closes. */
  onOverflow?: (connection: Connection, bufferedBytes: number) => void;
  /**
   * Returns how many frames the peer has sent so far. With it, `close()` waits (up to 250 ms) for
   * a moment without incoming frames before it closes the socket: Deno drops a server socket
   * that receives a data frame after its close frame went out, and the peer would then see an
   * abnormal closure instead of the close code.
   */
  incomingFrames?: () => number;
  /** The peer's address (`host:port`), when known. */
  remoteAddress?: string;
}

const QUIET_TICK_MS = 2;
/**
 * The send buffer is checked after every this many bytes queued (and after every frame at least
 * this large): small frames then cost no extra call into Deno, and the limit is overshot by at
 * most this much.
 */
const CHECK_EVERY_BYTES = 16 * 1024;
const QUIET_MAX_MS = 250;

/**
 * Returns a new zaptools connection id: `"zpt-"` followed by a lower-case UUID v4.
 *
 * @returns A fresh id.
 */
export function newConnectionId(): string {
  return "zpt-" + crypto.randomUUID();
}

/** A WebSocket peer of a hub (see {@linkcode Connection}); the hub's engine creates them. */
export class ConnectionImpl implements Connection {
  /** The id, `"zpt-" + uuid` unless the hub was given another id factory. */
  readonly id: string;
  /** The HTTP request that opened the WebSocket (URL, headers, for auth or routing). */
  readonly request: Request;
  /** Per-connection state for handlers; starts with what `authenticate` returned, if anything. */
  readonly data: Record<string, unknown>;
  /** When the connection was made (ms since the epoch). */
  readonly connectedAt: number = Date.now();
  /** The peer's address (`host:port`), or `""` when the adapter did not know it. */
  readonly remoteAddress: string;
  readonly #socket: SocketLike;
  readonly #rooms = new Set<string>();
  readonly #limit: number;
  readonly #onOverflow: ((connection: Connection, bufferedBytes: number) => void) | undefined;
  readonly #incoming: (() => number) | undefined;
  #closing = false;
  #unchecked = 0;
  #sent = 0;

  /**
   * Wraps an open (or opening) WebSocket.
   *
   * @param socket The server side of the WebSocket.
   * @param request The upgrade request.
   * @param options Id, initial data and the send-buffer limit.
   */
  constructor(socket: SocketLike, request: Request, options: ConnectionOptions = {}) {
    this.#socket = socket;
    this.request = request;
    this.id = options.id || newConnectionId();
    this.data = options.data ?? {};
    this.#limit = options.sendBufferLimit ?? DEFAULT_SEND_BUFFER_LIMIT;
    this.#onOverflow = options.onOverflow;
    this.#incoming = options.incomingFrames;
    this.remoteAddress = options.remoteAddress ?? "";
  }

  /** Frames queued to this peer so far. */
  get framesSent(): number {
    return this.#sent;
  }

  /** Frames received from this peer so far (0 when the hub does not count them). */
  get framesReceived(): number {
    return this.#incoming?.() ?? 0;
  }

  /**
   * The rooms this connection is in. Change them through `ConnectionRouter.join()` and
   * `leave()`.
   */
  get rooms(): ReadonlySet<string> {
    return this.#rooms;
  }

  /** Whether the socket is open and not closing (sends are accepted). */
  get open(): boolean {
    return this.#socket.readyState === 1 && !this.#closing;
  }

  /** Whether `close()` was called (or a limit closed the connection). */
  get closing(): boolean {
    return this.#closing;
  }

  /** Bytes queued for this peer and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  /**
   * Sends one event: `{"eventName", "payload", "headers"}` with `payload` `null` and `headers`
   * `{}` when not given.
   *
   * @param eventName The event name.
   * @param payload Any JSON-serialisable value (default `null`).
   * @param headers Application metadata (default `{}`).
   * @returns `true` when the frame was queued; `false` when the connection is closed or closing.
   * @throws {FrameEncodeError} When the payload or headers cannot be encoded as JSON.
   */
  send(eventName: string, payload: unknown = null, headers: EventHeaders | null = null): boolean {
    return this.sendFrame(encodeFrame(eventName, payload, headers));
  }

  /**
   * Sends an already encoded frame (see `encodeFrame()`). Routers use it to encode a broadcast
   * once and send the same text to every member.
   *
   * @param frame The frame text.
   * @returns `true` when the frame was queued; `false` when the connection is closed or closing,
   * or when this frame pushed the send buffer over its limit (the connection then closes with
   * 1013).
   */
  sendFrame(frame: string): boolean {
    const socket = this.#socket;
    if (this.#closing || socket.readyState !== 1) return false;
    socket.send(frame);
    this.#sent++;
    if ((this.#unchecked += frame.length) < CHECK_EVERY_BYTES) return true;
    this.#unchecked = 0;
    const buffered = socket.bufferedAmount;
    if (buffered > this.#limit) {
      this.#onOverflow?.(this, buffered);
      this.close(CLOSE_TRY_AGAIN_LATER, `send buffer over ${this.#limit} bytes: consumer too slow`);
      return false;
    }
    return true;
  }

  /**
   * Starts the closing handshake: sends are refused at once; the close frame goes out at the
   * first moment the peer is not sending (at most 250 ms later). Does nothing when already
   * closing or closed.
   *
   * @param code The close code (default 1000).
   * @param reason A short reason (at most 123 bytes; longer reasons are cut).
   */
  close(code = 1000, reason = ""): void {
    const socket = this.#socket;
    if (this.#closing || socket.readyState > 1) return;
    this.#closing = true;
    const probe = this.#incoming;
    if (probe === undefined || socket.readyState !== 1) {
      this.#closeSocket(code, reason);
      return;
    }
    const started = Date.now();
    let seen = probe();
    const tick = (): void => {
      const now = probe();
      if (now !== seen && Date.now() - started < QUIET_MAX_MS) {
        seen = now;
        setTimeout(tick, QUIET_TICK_MS);
      } else this.#closeSocket(code, reason);
    };
    setTimeout(tick, 0);
  }

  #closeSocket(code: number, reason: string): void {
    const socket = this.#socket;
    if (socket.readyState > 1) return;
    try {
      socket.close(code, truncateReason(reason));
    } catch {
      // Already closing: nothing to do.
    }
  }
}

/** Cuts a close reason to the 123 bytes the WebSocket protocol allows. */
function truncateReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= 123) return reason;
  let cut = 120;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return new TextDecoder().decode(bytes.subarray(0, cut)) + "...";
}
