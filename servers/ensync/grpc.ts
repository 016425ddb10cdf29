/**
 * The gRPC front end: `ensync.EnSyncService` with both method-name sets (`PublishMessage` ... of
 * Node and Go, `PublishEvent` ... of Python) on the same handlers, except replay: `ReplayMessage`
 * answers `message_data` as the record JSON Node and Go parse, `ReplayEvent` as the bare base64
 * envelope the Python SDK decrypts.
 *
 * Subscription streams: the Node SDK opens one `Subscribe` stream and never reads the others
 * ("multiplexed"), while Go and Python read one stream per subscription. The mode is chosen per
 * client from the `user-agent` of its `Connect` (starting with `grpc-node-js/`, as the Node SDK's
 * does → multiplexed; anything else, such as `grpc-go/...` or `grpc-python/...` → per-subscription) unless the configuration forces one. In multiplexed mode every event goes to
 * the client's oldest open stream; in per-subscription mode to the stream opened for its
 * subscription. A client id lives while its streams are open or it calls (Heartbeat) within the
 * session timeout.
 *
 * Failures are answered with `success: false` and a message `CODE: text` (such as
 * `PERMISSION_DENIED: App "a" cannot send "x"`); a refused `Subscribe` ends the stream with a gRPC
 * status whose details have the same form.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import {
  type AcknowledgeRequest,
  type ConnectRequest,
  type ContinueRequest,
  type DeferRequest,
  type DiscardRequest,
  ensyncServiceDefinition,
  EVENT_METHOD_ALIASES,
  type HeartbeatRequest,
  type PauseRequest,
  type PublishMessageRequest,
  type ReplayRequest,
  type SubscribeRequest,
} from "../../lib/ensync/proto.ts";
import { type Clock, systemClock, type TimerHandle, unrefTimer } from "../../lib/_clock.ts";
import { getLogger } from "../../lib/_log.ts";
import {
  type EngineSession as Session,
  type EngineSubscription as Subscription,
  type EnSyncBroker as Broker,
  EnSyncEngineError,
} from "./broker.ts";
import type { GrpcStreamMode } from "./config.ts";
import { grpcMessage, grpcReplayData, metadataWithReplayInfo } from "./protocol.ts";
import type { StoredEvent } from "./store.ts";

const log = getLogger(["ensync", "grpc"]);

type Stream = grpc.ServerWritableStream<SubscribeRequest, unknown>;

/** What {@linkcode EnSyncGrpcService.addTo} needs of a server: a grpc-js `Server` fits. */
export interface GrpcServiceRegistry {
  /**
   * Registers a service definition and its handlers.
   *
   * @param service The grpc-js service definition.
   * @param implementation The handlers by method name.
   */
  addService(service: unknown, implementation: unknown): void;
}

/** Options of {@linkcode EnSyncGrpcService}. */
export interface EnSyncGrpcOptions {
  /** Forces a subscription-stream mode; `auto` (default) decides by user agent. */
  streams?: () => GrpcStreamMode;
  /** A client id with no call and no open stream for this long ends (default 90 000 ms). */
  sessionTimeoutMs?: number;
  /**
   * The clock the session timeout is measured and checked on (default the system clock); the
   * engine passes its own, so tests advance a fake one instead of sleeping.
   */
  clock?: Clock;
}

function describe(err: unknown): { code: string; message: string } {
  if (err instanceof EnSyncEngineError) return { code: err.code, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  log.error("gRPC call failed: {error}", { error: message });
  return { code: "INTERNAL", message };
}

function failText(err: unknown): string {
  const { code, message } = describe(err);
  return `${code}: ${message}`;
}

const STATUS_BY_CODE: Record<string, grpc.status> = {
  "CLIENT_NOT_FOUND": grpc.status.UNAUTHENTICATED,
  "PERMISSION_DENIED": grpc.status.PERMISSION_DENIED,
  "MISSING_PARAMETERS": grpc.status.INVALID_ARGUMENT,
  "INVALID_EVENT_NAME": grpc.status.INVALID_ARGUMENT,
  "STORE_ERROR": grpc.status.UNAVAILABLE,
  "UNAVAILABLE": grpc.status.UNAVAILABLE,
};

/** The status details of the streams ended when the engine stops. */
const STOPPING = "UNAVAILABLE: The engine is stopping; connect again";

/** One gRPC client id. */
class GrpcClient {
  readonly session: Session;
  readonly mode: "multiplexed" | "per-subscription";
  /** Open Subscribe streams, oldest first (multiplexed mode delivers on the first). */
  readonly streams: Stream[] = [];
  lastSeen: number;
  readonly #broker: Broker;
  readonly #clock: Clock;

  constructor(
    broker: Broker,
    accessKey: string,
    mode: "multiplexed" | "per-subscription",
    clock: Clock,
  ) {
    this.#broker = broker;
    this.#clock = clock;
    this.lastSeen = clock.now();
    this.mode = mode;
    this.session = broker.connect(accessKey, this);
  }

  /** SessionSink. */
  deliver(sub: Subscription, event: StoredEvent): void {
    const stream = this.mode === "multiplexed" ? this.streams[0] : sub.tag as Stream | undefined;
    if (stream === undefined || stream.cancelled || stream.writableEnded) {
      // No stream to carry it: hand it back at once.
      this.#broker.setAttached(sub, false);
      return;
    }
    stream.write(grpcMessage(event));
  }

  addStream(stream: Stream): void {
    this.streams.push(stream);
    if (this.mode === "multiplexed" && this.streams.length === 1) {
      // Subscriptions left without a stream can receive again.
      for (const sub of this.session.subs.values()) this.#broker.setAttached(sub, true);
    }
  }

  /** A stream ended: detach what depended on it. */
  removeStream(stream: Stream): void {
    const i = this.streams.indexOf(stream);
    if (i < 0) return;
    this.streams.splice(i, 1);
    this.lastSeen = this.#clock.now();
    if (this.mode === "multiplexed") {
      if (this.streams.length === 0) {
        for (const sub of this.session.subs.values()) this.#broker.setAttached(sub, false);
      } else if (i === 0) {
        // The carrying stream changed: whatever was in flight on it is redelivered.
        for (const sub of this.session.subs.values()) {
          if (sub.inflight !== undefined) {
            this.#broker.setAttached(sub, false);
            this.#broker.setAttached(sub, true);
          }
        }
      }
    } else {
      for (const sub of this.session.subs.values()) {
        if (sub.tag === stream) {
          sub.tag = undefined;
          this.#broker.setAttached(sub, false);
        }
      }
    }
  }

  /**
   * Ends every stream with UNAVAILABLE, the status of a server going away: the Python SDK
   * re-subscribes only on UNAVAILABLE, INTERNAL or UNAUTHENTICATED (an OK end leaves it dead), Go
   * reconnects, and grpc-js reports it as the retryable status it is.
   */
  endStreams(): void {
    for (const s of this.streams.splice(0)) {
      if (s.writableEnded || s.cancelled) continue;
      s.emit("error", { code: grpc.status.UNAVAILABLE, details: STOPPING });
    }
  }
}

/**
 * The gRPC service implementation over a {@linkcode Broker}.
 *
 * @example Serve it with grpc-js
 * ```ts ignore
 * import * as grpc from "@grpc/grpc-js";
 * import { EnSyncGrpcService } from "@syft/syft/ensync/engine";
 * const service = new EnSyncGrpcService(broker);
 * const server = new grpc.Server();
 * service.addTo(server);
 * ```
 */
export class EnSyncGrpcService {
  readonly #broker: Broker;
  readonly #clients = new Map<string, GrpcClient>();
  readonly #streams: () => GrpcStreamMode;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  /** `undefined` before the expiry timer starts, `false` once the service closed. */
  #expiring: boolean | undefined;

  /**
   * Creates the service.
   *
   * @param broker The delivery core.
   * @param options Stream mode and session timeout.
   */
  constructor(broker: Broker, options: EnSyncGrpcOptions = {}) {
    this.#broker = broker;
    this.#streams = options.streams ?? (() => broker.registry.config.grpcStreams);
    this.#timeoutMs = options.sessionTimeoutMs ?? 90_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** The number of live gRPC client ids. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /**
   * Registers the service (both method-name sets) on a grpc-js server and starts the session
   * expiry timer.
   *
   * @param server The server (a grpc-js `Server`).
   */
  addTo(server: GrpcServiceRegistry): void {
    const impl: grpc.UntypedServiceImplementation = {
      Connect: this.#unary((req: ConnectRequest, call) => this.#connect(req, call)),
      Heartbeat: this.#unary((req: HeartbeatRequest) => {
        const c = this.#clients.get(req.client_id);
        if (c !== undefined) c.lastSeen = this.#clock.now();
        return { success: c !== undefined && !c.session.closed };
      }),
      Subscribe: (call: Stream) => this.#subscribe(call),
      Unsubscribe: this.#unary(async (req: SubscribeRequest) => {
        try {
          const c = this.#client(req.client_id);
          const sub = c.session.subs.get(req.message_name);
          await this.#broker.unsubscribe(c.session, req.message_name);
          if (c.mode === "per-subscription" && sub?.tag !== undefined) {
            const stream = sub.tag as Stream;
            c.removeStream(stream);
            if (!stream.writableEnded) stream.end();
          }
          return { success: true, message: `Unsubscribed from ${req.message_name}` };
        } catch (err) {
          return { success: false, message: failText(err) };
        }
      }),
      PublishMessage: this.#unary(async (req: PublishMessageRequest) => {
        try {
          const c = this.#client(req.client_id);
          const p = await this.#broker.publish(c.session, {
            name: req.message_name,
            payload: req.payload,
            deliveryTo: req.delivery_to,
            metadata: req.metadata,
            ...(req.payload_metadata ? { payloadMetadata: req.payload_metadata } : {}),
          });
          return { success: true, "message_idem": p.idem, "error_message": "" };
        } catch (err) {
          return { success: false, "message_idem": "", "error_message": failText(err) };
        }
      }),
      AcknowledgeMessage: this.#status(async (req: AcknowledgeRequest) => {
        await this.#broker.ack(this.#client(req.client_id).session, req.message_idem);
        return `Acknowledged ${req.message_idem}`;
      }),
      DeferMessage: this.#unary(async (req: DeferRequest) => {
        try {
          const c = this.#client(req.client_id);
          const at = await this.#broker.defer(
            c.session,
            req.message_idem,
            Number(req.delay_ms),
            req.reason,
          );
          return { success: true, message: `Deferred ${req.message_idem}`, "delivery_time": at };
        } catch (err) {
          return { success: false, message: failText(err), "delivery_time": 0 };
        }
      }),
      DiscardMessage: this.#status(async (req: DiscardRequest) => {
        await this.#broker.discard(
          this.#client(req.client_id).session,
          req.message_idem,
          req.reason,
        );
        return `Discarded ${req.message_idem}`;
      }),
      // Node and Go read `message_data` as the record JSON.
      ReplayMessage: this.#replay((event, metadata) => grpcReplayData(event, metadata)),
      PauseMessages: this.#status((req: PauseRequest) => {
        this.#broker.pause(this.#client(req.client_id).session, req.message_name);
        return Promise.resolve(`Paused ${req.message_name}`);
      }),
      ContinueMessages: this.#status((req: ContinueRequest) => {
        this.#broker.resume(this.#client(req.client_id).session, req.message_name);
        return Promise.resolve(`Continued ${req.message_name}`);
      }),
    };
    for (const [alias, target] of Object.entries(EVENT_METHOD_ALIASES)) impl[alias] = impl[target]!;
    // The Python SDK (the only caller of the "Event" names) base64-decodes `event_data` as the
    // bare envelope, so its method answers with the stored payload itself.
    impl.ReplayEvent = this.#replay((event) => event.payload);
    server.addService(ensyncServiceDefinition(), impl);
    if (this.#expiring === undefined) {
      this.#expiring = true;
      this.#armExpiry(Math.min(10_000, this.#timeoutMs));
    }
  }

  /** Checks the session timeout every `every` ms on the clock. */
  #armExpiry(every: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#expire(this.#clock.now());
      if (this.#expiring) this.#armExpiry(every);
    }, every);
    unrefTimer(this.#clock, this.#timer);
  }

  /** Ends every client's streams (status UNAVAILABLE, so SDKs reconnect) and session. */
  async close(): Promise<void> {
    this.#expiring = false;
    this.#clock.clearTimeout(this.#timer);
    const all = [...this.#clients.values()];
    this.#clients.clear();
    for (const c of all) c.endStreams();
    await Promise.allSettled(all.map((c) => this.#broker.disconnect(c.session)));
  }

  #expire(now: number): void {
    for (const [id, c] of this.#clients) {
      if (c.session.closed) {
        this.#clients.delete(id);
        continue;
      }
      if (c.streams.length === 0 && now - c.lastSeen > this.#timeoutMs) {
        log.info("gRPC client {id} expired: no call or stream for {ms} ms", {
          id,
          ms: this.#timeoutMs,
        });
        this.#clients.delete(id);
        void this.#broker.disconnect(c.session);
      }
    }
  }

  #client(clientId: string): GrpcClient {
    const c = this.#clients.get(clientId);
    if (c === undefined || c.session.closed) {
      throw new EnSyncEngineError("CLIENT_NOT_FOUND", "Client not found or session expired");
    }
    c.lastSeen = this.#clock.now();
    return c;
  }

  #unary<Req, Res>(
    fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let result: Res | Promise<Res>;
      try {
        result = fn(call.request, call);
      } catch (err) {
        callback({ code: grpc.status.INTERNAL, details: failText(err) });
        return;
      }
      Promise.resolve(result).then(
        (res) => callback(null, res),
        (err) => callback({ code: grpc.status.INTERNAL, details: failText(err) }),
      );
    };
  }

  /** A replay handler answering `message_data` in the form `data` makes of the event. */
  #replay(
    data: (event: StoredEvent, metadata: string) => string,
  ): grpc.handleUnaryCall<ReplayRequest, unknown> {
    return this.#unary(async (req: ReplayRequest) => {
      try {
        const c = this.#client(req.client_id);
        const r = await this.#broker.replay(c.session, req.message_idem);
        const metadata = metadataWithReplayInfo(r.event.metadata, {
          isReplayed: true,
          replayTimestamp: r.replayedAt,
          wasAcknowledged: r.state === "acked",
        });
        return {
          success: true,
          message: `Replayed ${req.message_idem}`,
          "message_data": data(r.event, metadata),
        };
      } catch (err) {
        return { success: false, message: failText(err), "message_data": "" };
      }
    });
  }

  #status<Req>(
    fn: (req: Req) => Promise<string>,
  ): grpc.handleUnaryCall<Req, { success: boolean; message: string }> {
    return this.#unary(async (req: Req) => {
      try {
        return { success: true, message: await fn(req) };
      } catch (err) {
        return { success: false, message: failText(err) };
      }
    });
  }

  #connect(
    req: ConnectRequest,
    call: grpc.ServerUnaryCall<ConnectRequest, unknown>,
  ): Record<string, unknown> {
    const agent = String(call.metadata.get("user-agent")[0] ?? "");
    const forced = this.#streams();
    const mode = forced === "auto"
      ? (agent.startsWith("grpc-node-js/") ? "multiplexed" : "per-subscription")
      : forced;
    try {
      const c = new GrpcClient(this.#broker, req.access_key, mode, this.#clock);
      this.#clients.set(c.session.id, c);
      log.debug("gRPC client {id} ({agent}) uses {mode} streams", {
        id: c.session.id,
        agent,
        mode,
      });
      return {
        success: true,
        "client_id": c.session.id,
        "client_hash": c.session.hash,
        "server_config": { "subscription_streams": mode },
        "error_message": "",
      };
    } catch (err) {
      return {
        success: false,
        "client_id": "",
        "client_hash": "",
        "server_config": {},
        "error_message": failText(err),
      };
    }
  }

  #subscribe(call: Stream): void {
    const req = call.request;
    let c: GrpcClient;
    try {
      c = this.#client(req.client_id);
    } catch (err) {
      this.#failStream(call, err);
      return;
    }
    let gone = false;
    const onGone = (): void => {
      if (gone) return;
      gone = true;
      c.removeStream(call);
    };
    call.on("cancelled", onGone);
    call.on("close", onGone);
    call.on("finish", onGone);
    call.on("error", onGone);
    c.addStream(call);
    this.#broker.subscribe(c.session, req.message_name, { attached: false }).then((sub) => {
      if (gone) return;
      // Response headers now, so clients know the subscription is accepted before any event.
      try {
        call.sendMetadata(new grpc.Metadata());
      } catch { /* headers already sent */ }
      if (c.mode === "per-subscription") {
        const previous = sub.tag as Stream | undefined;
        sub.tag = call;
        if (previous !== undefined && previous !== call) {
          // A new stream for the same subscription replaces the old one.
          this.#broker.setAttached(sub, false);
          c.removeStream(previous);
          if (!previous.writableEnded) previous.end();
        }
      }
      this.#broker.setAttached(sub, true);
    }, (err) => {
      c.removeStream(call);
      gone = true;
      this.#failStream(call, err);
    });
  }

  #failStream(call: Stream, err: unknown): void {
    const { code } = describe(err);
    call.emit("error", {
      code: STATUS_BY_CODE[code] ?? grpc.status.FAILED_PRECONDITION,
      details: failText(err),
    });
  }
}
