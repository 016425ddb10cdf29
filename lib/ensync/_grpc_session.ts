/**
 * The gRPC session: `Connect` for a client id, unary calls for every operation (one shared
 * deadline timer cancels calls that take too long), one `Subscribe` stream per subscription with
 * every message routed by `message_name` (so both the multiplexed and the per-stream engine modes
 * work), and a `Heartbeat` that reconnects when it fails.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { Clock, TimerHandle } from "../_clock.ts";
import { getLogger } from "../_log.ts";
import {
  EnSyncAuthError,
  EnSyncConnectionError,
  EnSyncError,
  EnSyncTimeoutError,
} from "./errors.ts";
import { normaliseRecord, parseFailBody, type WireRecord } from "./protocol.ts";
import { DeadlineTimer, Gate, type Session, type SessionHandlers } from "./_session.ts";
import {
  type AcknowledgeRequest,
  type ConnectRequest,
  type ConnectResponse,
  type ContinueRequest,
  type DeferRequest,
  type DeferResponse,
  type DiscardRequest,
  ensyncServiceDefinition,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type MessageStreamResponse,
  type PauseRequest,
  type PublishMessageRequest,
  type PublishMessageResponse,
  type ReplayRequest,
  type ReplayResponse,
  type StatusResponse,
  type SubscribeRequest,
} from "./proto.ts";

const log = getLogger(["ensync", "grpc"]);

/** Options of {@linkcode openGrpcSession}. */
export interface GrpcSessionOptions {
  requestTimeout: number;
  maxInFlight: number;
  heartbeatInterval: number;
  /** Request deadlines, the heartbeat and the subscribe grace period run on it. */
  clock: Clock;
}

interface PendingCall {
  call: grpc.ClientUnaryCall;
  method: string;
  deadline: number;
  reject: (error: Error) => void;
}

function statusName(code: number): string {
  return grpc.status[code] ?? `STATUS_${code}`;
}

/** Maps a gRPC error to an EnSync error (UNAVAILABLE → connection error). */
function fromGrpcError(method: string, err: grpc.ServiceError): EnSyncError {
  const details = err.details || err.message;
  if (err.code === grpc.status.UNAVAILABLE) {
    return new EnSyncConnectionError(`${method}: the engine is unavailable (${details})`, {
      cause: err,
      code: "UNAVAILABLE",
    });
  }
  const parsed = parseFailBody(details);
  const code = parsed.code !== "FAIL" ? parsed.code : statusName(err.code);
  return new EnSyncError(`${method} failed: ${parsed.message}`, { cause: err, code });
}

/** Maps a `{success:false, message}` response to an EnSync error. */
function fromFailure(method: string, message: string): EnSyncError {
  const { code, message: text } = parseFailBody(message || "the engine reported failure");
  return new EnSyncError(`${method} failed: ${text}`, { code: code === "FAIL" ? "FAILED" : code });
}

type Def = grpc.MethodDefinition<unknown, unknown>;

function unaryOnce<Req, Res>(
  client: grpc.Client,
  def: Def,
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize as (v: Req) => Buffer,
      def.responseDeserialize as (b: Buffer) => Res,
      request,
      // grpc-js enforces this deadline on its own (wall-clock) timer, so it is read off the real clock
      { deadline: Date.now() + timeoutMs },
      (err, res) => err ? reject(err) : resolve(res as Res),
    );
  });
}

class GrpcSession implements Session {
  readonly clientId: string;
  readonly clientHash: string;
  readonly #client: grpc.Client;
  readonly #handlers: SessionHandlers;
  readonly #timeout: number;
  readonly #gate: Gate;
  readonly #timer: DeadlineTimer;
  readonly #calls = new Map<number, PendingCall>();
  readonly #streams = new Map<string, grpc.ClientReadableStream<MessageStreamResponse>>();
  readonly #ending = new WeakSet<grpc.ClientReadableStream<MessageStreamResponse>>();
  readonly #defs = ensyncServiceDefinition();
  #seq = 0;
  #dead: Error | undefined;
  #heartbeat: TimerHandle | undefined;
  readonly #heartbeatInterval: number;
  readonly #clock: Clock;
  #beating = false;

  constructor(
    client: grpc.Client,
    res: ConnectResponse,
    handlers: SessionHandlers,
    options: GrpcSessionOptions,
  ) {
    this.#client = client;
    this.clientId = res.client_id;
    this.clientHash = res.client_hash;
    this.#handlers = handlers;
    this.#timeout = options.requestTimeout;
    this.#clock = options.clock;
    this.#heartbeatInterval = options.heartbeatInterval;
    this.#gate = new Gate(options.maxInFlight);
    this.#timer = new DeadlineTimer(
      this.#clock,
      () => this.#calls.values().next().value?.deadline,
      (now) => {
        for (const [id, p] of this.#calls) {
          if (p.deadline > now) break;
          this.#calls.delete(id);
          p.call.cancel();
          p.reject(new EnSyncTimeoutError(`No reply to ${p.method} within ${this.#timeout} ms`));
        }
      },
    );
    this.#armHeartbeat();
  }

  /** Sets the next heartbeat, one interval from now (the interval is fixed, as `setInterval`'s). */
  #armHeartbeat(): void {
    if (this.#heartbeatInterval <= 0 || this.#dead) return;
    this.#heartbeat = this.#clock.setTimeout(() => {
      this.#armHeartbeat();
      void this.#beat();
    }, this.#heartbeatInterval);
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#dead) return;
    this.#beating = true;
    try {
      const res = await this.#unary<HeartbeatRequest, HeartbeatResponse>("Heartbeat", {
        client_id: this.clientId,
      });
      if (!res.success) {
        this.#die(
          new EnSyncConnectionError("The engine no longer knows this client (heartbeat refused)", {
            code: "CLIENT_NOT_FOUND",
          }),
        );
      }
    } catch (err) {
      if (!this.#dead) {
        this.#die(
          new EnSyncConnectionError(`Heartbeat failed: ${(err as Error).message}`, { cause: err }),
        );
      }
    } finally {
      this.#beating = false;
    }
  }

  #die(error: Error, notify = true): void {
    if (this.#dead) return;
    this.#dead = error;
    this.#timer.stop();
    this.#clock.clearTimeout(this.#heartbeat);
    for (const p of this.#calls.values()) {
      p.call.cancel();
      p.reject(error);
    }
    this.#calls.clear();
    for (const stream of this.#streams.values()) {
      this.#ending.add(stream);
      stream.cancel();
    }
    this.#streams.clear();
    this.#gate.drain();
    if (notify) this.#handlers.onClose(error);
  }

  async #unary<Req, Res>(method: string, request: Req): Promise<Res> {
    const wait = this.#gate.enter();
    if (wait) await wait;
    if (this.#dead) {
      this.#gate.leave();
      throw this.#dead;
    }
    const def = this.#defs[method] as Def;
    const id = ++this.#seq;
    try {
      return await new Promise<Res>((resolve, reject) => {
        const call = this.#client.makeUnaryRequest(
          def.path,
          def.requestSerialize as (v: Req) => Buffer,
          def.responseDeserialize as (b: Buffer) => Res,
          request,
          (err, res) => {
            if (!this.#calls.delete(id)) return; // timed out or session closed: already rejected
            if (err) {
              const mapped = fromGrpcError(method, err);
              if (mapped instanceof EnSyncConnectionError) this.#die(mapped);
              reject(mapped);
            } else resolve(res as Res);
          },
        );
        this.#calls.set(id, { call, method, deadline: this.#clock.now() + this.#timeout, reject });
        this.#timer.arm();
      });
    } finally {
      this.#gate.leave();
    }
  }

  async #status(method: string, request: unknown): Promise<StatusResponse> {
    const res = await this.#unary<unknown, StatusResponse>(method, request);
    if (!res.success) {
      const error = fromFailure(method, res.message);
      if (error.code === "CLIENT_NOT_FOUND") {
        this.#die(new EnSyncConnectionError(error.message, { code: error.code }));
      }
      throw error;
    }
    return res;
  }

  async publish(
    name: string,
    to: string,
    payload: string,
    metadata: string,
    payloadMetadata: string,
  ): Promise<string> {
    const res = await this.#unary<PublishMessageRequest, PublishMessageResponse>("PublishMessage", {
      client_id: this.clientId,
      message_name: name,
      payload,
      delivery_to: to,
      metadata,
      payload_metadata: payloadMetadata,
    });
    if (!res.success) {
      const error = fromFailure("PublishMessage", res.error_message);
      if (error.code === "CLIENT_NOT_FOUND") {
        this.#die(new EnSyncConnectionError(error.message, { code: error.code }));
      }
      throw error;
    }
    return res.message_idem;
  }

  subscribe(name: string): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    const def = this.#defs.Subscribe as Def;
    const request: SubscribeRequest = { "client_id": this.clientId, "message_name": name };
    const stream = this.#client.makeServerStreamRequest(
      def.path,
      def.requestSerialize as (v: SubscribeRequest) => Buffer,
      def.responseDeserialize as (b: Buffer) => MessageStreamResponse,
      request,
    );
    this.#streams.get(name)?.cancel();
    this.#streams.set(name, stream);
    return new Promise((resolve, reject) => {
      let settled = false;
      const established = () => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(grace);
        resolve();
      };
      // Engines that send no response headers until the first message: assume success after a grace period.
      const grace = this.#clock.setTimeout(established, 500);
      stream.on("metadata", established);
      stream.on("data", (msg: MessageStreamResponse) => {
        established();
        let record: WireRecord;
        try {
          record = normaliseRecord(msg as unknown as Record<string, unknown>);
        } catch (err) {
          log.warn("Ignoring a malformed delivery: {error}", { error: (err as Error).message });
          return;
        }
        this.#handlers.onRecord(record);
      });
      let over = false;
      const ended = (err: grpc.ServiceError | undefined) => {
        if (over) return; // grpc-js may emit "end" after "error"
        over = true;
        if (this.#streams.get(name) === stream) this.#streams.delete(name);
        if (this.#ending.has(stream)) {
          if (!settled) {
            settled = true;
            this.#clock.clearTimeout(grace);
            reject(
              this.#dead ?? new EnSyncConnectionError("The subscription stream was cancelled"),
            );
          }
          return;
        }
        const error = err
          ? fromGrpcError(`Subscribe ${name}`, err)
          : new EnSyncConnectionError(`The engine ended the subscription stream for ${name}`);
        if (!settled) {
          settled = true;
          this.#clock.clearTimeout(grace);
          reject(error);
          if (error instanceof EnSyncConnectionError) this.#die(error);
          return;
        }
        this.#die(
          error instanceof EnSyncConnectionError
            ? error
            : new EnSyncConnectionError(error.message, { cause: error, code: error.code }),
        );
      };
      stream.on("error", (err: grpc.ServiceError) => ended(err));
      stream.on("end", () => ended(undefined));
    });
  }

  async unsubscribe(name: string): Promise<void> {
    const stream = this.#streams.get(name);
    if (stream) this.#ending.add(stream);
    try {
      await this.#status(
        "Unsubscribe",
        { client_id: this.clientId, message_name: name } satisfies SubscribeRequest,
      );
    } finally {
      if (stream) {
        this.#streams.delete(name);
        stream.cancel();
      }
    }
  }

  async ack(idem: string, block: number, name: string): Promise<void> {
    await this.#status(
      "AcknowledgeMessage",
      {
        client_id: this.clientId,
        message_idem: idem,
        message_name: name,
        partition_block: String(block),
      } satisfies AcknowledgeRequest,
    );
  }

  async defer(
    idem: string,
    name: string,
    delayMs: number,
    reason: string,
  ): Promise<number | undefined> {
    const res = await this.#unary<DeferRequest, DeferResponse>("DeferMessage", {
      client_id: this.clientId,
      message_idem: idem,
      message_name: name,
      delay_ms: String(delayMs),
      priority: 0,
      reason,
    });
    if (!res.success) throw fromFailure("DeferMessage", res.message);
    const t = Number(res.delivery_time);
    return Number.isFinite(t) && t > 0 ? t : undefined;
  }

  async discard(idem: string, name: string, reason: string): Promise<void> {
    await this.#status(
      "DiscardMessage",
      {
        client_id: this.clientId,
        message_idem: idem,
        message_name: name,
        reason,
      } satisfies DiscardRequest,
    );
  }

  async pause(name: string, reason: string): Promise<void> {
    await this.#status(
      "PauseMessages",
      { client_id: this.clientId, message_name: name, reason } satisfies PauseRequest,
    );
  }

  async continue(name: string): Promise<void> {
    await this.#status(
      "ContinueMessages",
      { client_id: this.clientId, message_name: name } satisfies ContinueRequest,
    );
  }

  async replay(idem: string, name: string): Promise<WireRecord> {
    const res = await this.#unary<ReplayRequest, ReplayResponse>("ReplayMessage", {
      client_id: this.clientId,
      message_idem: idem,
      message_name: name,
    });
    if (!res.success) throw fromFailure("ReplayMessage", res.message);
    const data = res.message_data.trim();
    if (data.startsWith("{")) {
      let raw: Record<string, unknown>;
      try {
        raw = JSON.parse(data);
      } catch (cause) {
        throw new EnSyncError("ReplayMessage returned message_data that is not JSON", {
          cause,
          code: "MALFORMED_RECORD",
        });
      }
      return normaliseRecord({
        message_idem: idem,
        message_name: name,
        partition_block: 0,
        ...raw,
      });
    }
    // The Python SDK's reading: message_data is the base64 envelope itself.
    return normaliseRecord({ idem, name, block: 0, payload: data });
  }

  close(): Promise<void> {
    this.#die(new EnSyncConnectionError("The client was closed", { code: "CLOSED" }), false);
    return Promise.resolve();
  }
}

/**
 * Calls `Connect` with the access key and returns the session.
 *
 * @throws {EnSyncConnectionError} When the engine is unreachable.
 * @throws {EnSyncAuthError} When it refuses the key.
 */
export async function openGrpcSession(
  client: grpc.Client,
  appKey: string,
  handlers: SessionHandlers,
  options: GrpcSessionOptions,
): Promise<Session> {
  let res: ConnectResponse;
  try {
    res = await unaryOnce<ConnectRequest, ConnectResponse>(
      client,
      ensyncServiceDefinition().Connect as Def,
      { access_key: appKey },
      options.requestTimeout,
    );
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code === grpc.status.DEADLINE_EXCEEDED) {
      throw new EnSyncTimeoutError(`No reply to Connect within ${options.requestTimeout} ms`, {
        cause: err,
      });
    }
    const mapped = fromGrpcError("Connect", e);
    if (mapped instanceof EnSyncConnectionError) throw mapped;
    throw new EnSyncAuthError(`Authentication failed: ${mapped.message}`, {
      cause: err,
      code: mapped.code,
    });
  }
  if (!res.success) {
    const { code, message } = parseFailBody(res.error_message || "access key refused");
    throw new EnSyncAuthError(`Authentication failed: ${message}`, {
      code: code === "FAIL" ? "AUTH" : code,
    });
  }
  if (!res.client_id) {
    throw new EnSyncAuthError("Authentication failed: the engine returned no client_id", {
      code: "BAD_CONN_REPLY",
    });
  }
  return new GrpcSession(client, res, handlers, options);
}
