/**
 * One WebSocket peer of a hub, as handlers see it: its id, per-connection state, rooms, and
 * sending with a bounded send buffer. Hubs create connections (the implementation is internal).
 *
 * @module
 */
import type { EventHeaders } from "./frame.ts";

/**
 * The default send-buffer limit of a connection: 4 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_SEND_BUFFER_LIMIT } from "@syft/syft/hub";
 * console.log(DEFAULT_SEND_BUFFER_LIMIT); // 4194304
 * ```
 */
export const DEFAULT_SEND_BUFFER_LIMIT = 4 * 1024 * 1024;

/**
 * A WebSocket peer of a hub. A hub creates one per accepted socket; handlers receive it as
 * `ctx.connection`.
 *
 * `send()` never throws for a closed peer and never lets memory grow without bound: when more
 * than `sendBufferLimit` bytes wait to be written (a consumer that does not read), the connection
 * is closed with 1013 and later sends return `false`.
 *
 * @example Reply to the sender and remember something about it
 * ```ts
 * import { createEventRegister } from "@syft/syft/hub";
 * const register = createEventRegister();
 * register.on("hello", ({ connection, payload }) => {
 *   connection.data.name = payload;
 *   connection.send("welcome", { id: connection.id });
 * });
 * ```
 */
export interface Connection {
  /** The id, `"zpt-" + uuid` unless the hub was given another id factory. */
  readonly id: string;
  /** The HTTP request that opened the WebSocket (URL, headers, for auth or routing). */
  readonly request: Request;
  /** Per-connection state for handlers; starts with what `authenticate` returned, if anything. */
  readonly data: Record<string, unknown>;
  /** When the connection was made (ms since the epoch). */
  readonly connectedAt: number;
  /** The peer's address (`host:port`), or `""` when the adapter did not know it. */
  readonly remoteAddress: string;
  /** Frames queued to this peer so far. */
  readonly framesSent: number;
  /** Frames received from this peer so far (0 when the hub does not count them). */
  readonly framesReceived: number;
  /**
   * The rooms this connection is in. Change them through `ConnectionRouter.join()` and
   * `leave()`.
   */
  readonly rooms: ReadonlySet<string>;
  /** Whether the socket is open and not closing (sends are accepted). */
  readonly open: boolean;
  /** Whether `close()` was called (or a limit closed the connection). */
  readonly closing: boolean;
  /** Bytes queued for this peer and not yet written to the network. */
  readonly bufferedAmount: number;
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
  send(eventName: string, payload?: unknown, headers?: EventHeaders | null): boolean;
  /**
   * Sends an already encoded frame (see `encodeFrame()`). Routers use it to encode a broadcast
   * once and send the same text to every member.
   *
   * @param frame The frame text.
   * @returns `true` when the frame was queued; `false` when the connection is closed or closing,
   * or when this frame pushed the send buffer over its limit (the connection then closes with
   * 1013).
   */
  sendFrame(frame: string): boolean;
  /**
   * Starts the closing handshake: sends are refused at once; the close frame goes out at the
   * first moment the peer is not sending (at most 250 ms later). Does nothing when already
   * closing or closed.
   *
   * @param code The close code (default 1000).
   * @param reason A short reason (at most 123 bytes; longer reasons are cut).
   */
  close(code?: number, reason?: string): void;
}
