/**
 * One client connection of the pub/sub server: answers its RPC calls (`_ping_`, `subscribe`,
 * `unsubscribe`, `publish`), and writes notifications to it through a bounded queue (private).
 *
 * Notifications are written at once while the socket's send buffer is below `sendBufferBytes`;
 * past it they wait in the queue, which holds at most `maxQueue` frames: one more and the
 * subscriber is disconnected (1013, with a reason), so a slow subscriber never holds memory or
 * delays anyone else.
 *
 * @module
 */
import { getLogger } from "../../lib/_log.ts";
import {
  ALL_TOPICS,
  callIdFactory,
  decodeRpcMessage,
  encodeNotify,
  encodeResponse,
  pyJson,
  randomHexId,
  type RpcRequest,
} from "../../lib/pubsub/rpc_frames.ts";
import type { PubSubStats } from "./_stats.ts";

const log = getLogger(["pubsub", "server"]);

/** Close code for a subscriber over its queue limit (Try Again Later). */
export const CLOSE_SLOW_SUBSCRIBER = 1013;
/** Close code for an unknown method, as the original (Normal Closure). */
export const CLOSE_UNKNOWN_METHOD = 1000;

/** Topics one connection may hold at most. */
export const MAX_TOPICS_PER_CONNECTION = 10_000;

/** What a session needs from the broker. */
export interface SessionHost {
  /** Adds subscriptions. */
  subscribe(session: Session, topics: readonly string[]): void;
  /** Removes subscriptions (`null`: all). */
  unsubscribe(session: Session, topics: readonly string[] | null): void;
  /**
   * Publishes; with `sync`, resolves once delivered (see the broker) with how many received it
   * (`receivers`: local subscribers notified plus other instances reached) and whether it could
   * be forwarded to the other instances (`ok`).
   */
  publish(
    session: Session,
    topics: readonly string[],
    dataJson: string,
    notifierId: string,
    sync: boolean,
  ): Promise<PublishOutcome> | PublishOutcome | undefined;
  /** The session's connection ended. */
  closed(session: Session): void;
}

/** What a sync publish reached. */
export interface PublishOutcome {
  /** Local subscribers notified plus other instances reached through Redis. */
  receivers: number;
  /** False when it could not be forwarded to the other instances (Redis down). */
  ok: boolean;
}

/**
 * The upgrade header with which a syft client asks for `syft_receivers` in publish answers (a
 * field Python clients never see: they do not send the header, and pydantic ignores it anyway).
 */
export const RECEIVERS_HEADER = "x-syft-pubsub";

/** Limits of a session. */
export interface SessionLimits {
  /** Frames that may wait for a slow socket (past it: disconnected). */
  maxQueue: number;
  /** Bytes in the socket's send buffer above which frames wait in the queue. */
  sendBufferBytes: number;
  /** Largest frame accepted from the client, in UTF-16 units (larger: ignored, counted). */
  maxFrameChars: number;
}

/** Counts the notify answers a sync publish waits for. */
export class DeliveryWait {
  #left = 0;
  /** Subscribers notified (each `add()`). */
  notified = 0;
  #done: (() => void) | undefined;
  readonly promise: Promise<void>;

  constructor() {
    this.promise = new Promise<void>((resolve) => this.#done = resolve);
  }

  /** Answers still awaited. */
  get outstanding(): number {
    return this.#left;
  }

  /** One more answer to wait for. */
  add(): void {
    this.#left++;
    this.notified++;
  }

  /** One answer came (or will never come). */
  settle(): void {
    if (--this.#left === 0) this.#done?.();
  }

  /** No more `add()` calls: resolves now if nothing is outstanding. */
  seal(): void {
    if (this.#left === 0) this.#done?.();
  }

  /** Resolves regardless (a timeout). */
  finish(): void {
    this.#done?.();
  }
}

/** The server side of one fastapi_websocket_rpc channel. */
export class Session {
  /** The channel id (`subscriber_id` in notifications), 32 hex characters. */
  readonly id: string = randomHexId();
  /** Subscribed topics and their subscription ids. */
  readonly topics = new Map<string, string>();
  readonly #socket: WebSocket;
  readonly #host: SessionHost;
  readonly #stats: PubSubStats;
  readonly #limits: SessionLimits;
  readonly #nextId = callIdFactory();
  /** Frames waiting for the socket's buffer to drain. */
  #queue: string[] = [];
  /** Whether each queued frame is a notification (for the delivered count). */
  #queuedKinds: boolean[] = [];
  #queueHead = 0;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** Sync publishes waiting for this subscriber's notify answers, by call id. */
  readonly #waits = new Map<string, DeliveryWait>();
  #closed = false;
  #malformedLogged = false;

  /** Whether its client asked for `syft_receivers` in publish answers ({@linkcode RECEIVERS_HEADER}). */
  readonly reportsReceivers: boolean;

  constructor(
    socket: WebSocket,
    host: SessionHost,
    stats: PubSubStats,
    limits: SessionLimits,
    reportsReceivers = false,
  ) {
    this.reportsReceivers = reportsReceivers;
    this.#socket = socket;
    this.#host = host;
    this.#stats = stats;
    this.#limits = limits;
  }

  /** Whether the connection ended (or is being closed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Frames waiting in the queue. */
  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** Whether everything was handed to the socket and the socket sent it. */
  get drained(): boolean {
    return this.queued === 0 && (this.#closed || this.#socket.bufferedAmount === 0);
  }

  /**
   * Writes a notification.
   *
   * @param topicJson The topic as JSON.
   * @param dataJson The data as JSON.
   * @param subscriptionId The subscription it belongs to.
   * @param wait A sync publish waiting for the answer.
   */
  notify(topicJson: string, dataJson: string, subscriptionId: string, wait?: DeliveryWait): void {
    if (this.#closed) return;
    const callId = this.#nextId();
    if (
      this.#write(encodeNotify(subscriptionId, this.id, topicJson, dataJson, callId), true) && wait
    ) {
      wait.add();
      this.#waits.set(callId, wait);
    }
  }

  /** Closes the connection (`code`, `reason`) and releases its subscriptions. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#end();
    try {
      this.#socket.close(code, reason);
    } catch {
      // already closing
    }
  }

  /** Handles one frame from the client. */
  onFrame(data: unknown): void {
    if (this.#closed) return;
    if (typeof data !== "string") return this.#malformed("a binary frame");
    if (data.length > this.#limits.maxFrameChars) {
      return this.#malformed(
        `a frame of ${data.length} characters (limit ${this.#limits.maxFrameChars})`,
      );
    }
    let message;
    try {
      message = decodeRpcMessage(data);
    } catch (err) {
      return this.#malformed(err instanceof Error ? err.message : String(err));
    }
    if (message.response !== null && message.response.call_id !== null) {
      const wait = this.#waits.get(message.response.call_id);
      if (wait !== undefined) {
        this.#waits.delete(message.response.call_id);
        wait.settle();
      }
    }
    if (message.request !== null) this.#onRequest(message.request);
  }

  /** The socket closed (by either side). */
  onClose(): void {
    if (this.#closed) return;
    this.#end();
  }

  #end(): void {
    this.#closed = true;
    clearTimeout(this.#drainTimer);
    const left = this.queued;
    if (left > 0) this.#stats.drop("disconnected", left);
    this.#queue = [];
    this.#queuedKinds = [];
    this.#queueHead = 0;
    for (const wait of this.#waits.values()) wait.settle();
    this.#waits.clear();
    this.#host.closed(this);
  }

  #malformed(what: string): void {
    this.#stats.drop("malformed");
    if (!this.#malformedLogged) {
      this.#malformedLogged = true;
      log.warn("Ignoring {what} from connection {id} (further ones are only counted)", {
        what,
        id: this.id,
      });
    }
  }

  #respond(callId: string | null, result: unknown, type: string): void {
    this.#write(encodeResponse(callId, result, type), false);
  }

  /** Writes a frame or queues it; false when the connection is (now) closed. */
  #write(frame: string, notification: boolean): boolean {
    if (this.#closed) return false;
    if (this.queued === 0 && this.#socket.bufferedAmount < this.#limits.sendBufferBytes) {
      return this.#sendNow(frame, notification);
    }
    if (this.queued >= this.#limits.maxQueue) {
      this.#stats.slowDisconnects++;
      this.#stats.drop("slow_subscriber", this.queued + 1);
      this.#queue = [];
      this.#queuedKinds = [];
      this.#queueHead = 0;
      log.warn("Disconnecting subscriber {id}: {n} frames wait to be sent (limit {limit})", {
        id: this.id,
        n: this.#limits.maxQueue,
        limit: this.#limits.maxQueue,
      });
      this.close(
        CLOSE_SLOW_SUBSCRIBER,
        `subscriber too slow: over ${this.#limits.maxQueue} notifications queued`,
      );
      return false;
    }
    this.#queue.push(frame);
    this.#queuedKinds.push(notification);
    this.#drainTimer ??= setTimeout(() => this.#drain(), 5);
    return true;
  }

  #sendNow(frame: string, notification: boolean): boolean {
    try {
      this.#socket.send(frame);
    } catch {
      this.onClose();
      return false;
    }
    if (notification) this.#stats.delivered++;
    return true;
  }

  #drain(): void {
    this.#drainTimer = undefined;
    while (
      !this.#closed && this.queued > 0 && this.#socket.bufferedAmount < this.#limits.sendBufferBytes
    ) {
      const frame = this.#queue[this.#queueHead]!;
      const notification = this.#queuedKinds[this.#queueHead]!;
      this.#queueHead++;
      if (!this.#sendNow(frame, notification)) return;
    }
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queuedKinds = this.#queuedKinds.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    if (!this.#closed && this.queued > 0) this.#drainTimer = setTimeout(() => this.#drain(), 5);
  }

  #onRequest(request: RpcRequest): void {
    const args = request.arguments;
    switch (request.method) {
      case "_ping_":
      case "ping":
        return this.#respond(request.call_id, "pong", "str");
      case "_get_channel_id_":
        return this.#respond(request.call_id, this.id, "str");
      case "subscribe": {
        const topics = topicList(args.topics ?? []);
        if (topics === undefined || this.topics.size + topics.length > MAX_TOPICS_PER_CONNECTION) {
          log.warn("Refusing a subscribe from {id}: {why}", {
            id: this.id,
            why: topics === undefined
              ? "topics must be a list of strings"
              : `over ${MAX_TOPICS_PER_CONNECTION} topics on one connection`,
          });
          return this.#respond(request.call_id, false, "bool");
        }
        this.#host.subscribe(this, topics);
        return this.#respond(request.call_id, true, "bool");
      }
      case "unsubscribe": {
        const topics = args.topics === null ? null : topicList(args.topics ?? []);
        if (topics === undefined) return this.#respond(request.call_id, false, "bool");
        this.#host.unsubscribe(this, topics);
        return this.#respond(request.call_id, true, "bool");
      }
      case "publish":
        return this.#publish(request);
    }
    if (request.method.startsWith("_")) return; // protected methods get no answer, as in Python
    // The original raises on an unknown method and the connection ends with 1000; the caller
    // would otherwise wait forever for an answer. We say why in the close reason.
    this.#stats.unknownMethods++;
    log.warn("Closing connection {id}: it called unknown method {method}", {
      id: this.id,
      method: request.method,
    });
    this.close(
      CLOSE_UNKNOWN_METHOD,
      `unknown method ${JSON.stringify(request.method.slice(0, 60))}`,
    );
  }

  #publish(request: RpcRequest): void {
    const args = request.arguments;
    const topics = topicList(args.topics ?? []);
    const notifier = args.notifier_id ?? null;
    if (topics === undefined || (notifier !== null && typeof notifier !== "string")) {
      log.warn(
        "Refusing a publish from {id}: topics must be a list of strings and notifier_id a string or null",
        {
          id: this.id,
        },
      );
      return this.#respond(request.call_id, false, "bool");
    }
    let dataJson: string;
    try {
      dataJson = pyJson(args.data ?? null);
    } catch {
      return this.#respond(request.call_id, false, "bool");
    }
    const sync = args.sync === undefined ? true : Boolean(args.sync);
    const done = this.#host.publish(this, topics, dataJson, notifier ?? this.id, sync);
    if (done === undefined) return this.#respond(request.call_id, true, "bool");
    const answer = ({ receivers, ok }: PublishOutcome): void => {
      this.#write(
        encodeResponse(
          request.call_id,
          ok,
          "bool",
          this.reportsReceivers ? { syft_receivers: receivers } : undefined,
        ),
        false,
      );
    };
    if (done instanceof Promise) done.then(answer);
    else answer(done);
  }
}

/** `topics` as Python accepts it: a list of strings, or one string (ALL_TOPICS included). */
function topicList(value: unknown): string[] | undefined {
  if (typeof value === "string") return [value === ALL_TOPICS ? ALL_TOPICS : value];
  if (!Array.isArray(value) || value.some((t) => typeof t !== "string")) return undefined;
  return value as string[];
}
