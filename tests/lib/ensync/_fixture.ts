/**
 * Test fixture: the real engine from servers/ensync on free ports with three apps, and our client
 * over either transport.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../../lib/_clock.ts";
import { FakeClock } from "../../_helpers/clock.ts";
import {
  type ClientOptions,
  type EnSyncClient,
  EnSyncEngine,
  type EnSyncEvent,
  type EnSyncKeyPair,
  EnSyncWebSocketEngine,
  generateKeyPair,
  type GrpcEngineOptions,
  type Subscription,
} from "../../../lib/ensync/mod.ts";
import {
  type EnSyncConfig,
  type EnSyncServer,
  type GrpcStreamMode,
  startEnSyncServer,
} from "../../../servers/ensync/mod.ts";

export const TRANSPORTS = ["ws", "grpc"] as const;
export type Transport = typeof TRANSPORTS[number];

export interface TestApp extends EnSyncKeyPair {
  name: string;
  accessKey: string;
}

function app(name: string): TestApp {
  return { name, accessKey: `key-${name}-${crypto.randomUUID()}`, ...generateKeyPair() };
}

export interface Fixture extends AsyncDisposable {
  server: EnSyncServer;
  /** a: sends and receives everything; b: likewise; c: only `orders/*` both ways. */
  apps: { a: TestApp; b: TestApp; c: TestApp };
  /** A connected client of `app` over `transport` (closed by the fixture). */
  client(
    transport: Transport,
    app: TestApp,
    options?: ClientOptions & GrpcEngineOptions,
  ): Promise<EnSyncClient>;
  /** The engine URL for a transport. */
  url(transport: Transport): string;
  /** Stops the engine and starts a new one on the same ports (a fresh memory store). */
  restart(): Promise<void>;
}

export interface FixtureOptions {
  ackTimeoutMs?: number;
  /** The engine's clock (ack timeouts); default the system clock. */
  clock?: Clock;
  /** How the engine uses gRPC subscription streams (default `auto`: per-subscription for this client). */
  grpcStreams?: GrpcStreamMode;
}

export async function startFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const apps = { a: app("a"), b: app("b"), c: app("c") };
  const config: EnSyncConfig = {
    grpcStreams: options.grpcStreams ?? "auto",
    apps: [
      {
        name: "a",
        accessKey: apps.a.accessKey,
        appId: apps.a.publicKey,
        send: ["*"],
        receive: ["*"],
      },
      {
        name: "b",
        accessKey: apps.b.accessKey,
        appId: apps.b.publicKey,
        send: ["*"],
        receive: ["*"],
      },
      {
        name: "c",
        accessKey: apps.c.accessKey,
        appId: apps.c.publicKey,
        send: ["orders/*"],
        receive: ["orders/*"],
      },
    ],
  };
  const start = (wsPort = 0, grpcPort = 0) =>
    startEnSyncServer({
      config,
      wsPort,
      grpcPort,
      ...(options.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: options.ackTimeoutMs }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  let server = await start();
  const engines: Array<EnSyncEngine | EnSyncWebSocketEngine> = [];
  const fixture: Fixture = {
    get server() {
      return server;
    },
    apps,
    url: (t) => t === "ws" ? server.wsUrl! : server.grpcUrl!,
    async client(transport, who, opts = {}) {
      const engineOptions: GrpcEngineOptions = {
        reconnectInterval: opts.reconnectInterval ?? 100,
        maxReconnectAttempts: opts.maxReconnectAttempts ?? 20,
        requestTimeout: opts.requestTimeout ?? 5_000,
        ...(opts.clock === undefined ? {} : { clock: opts.clock }),
        ...(opts.heartbeatInterval === undefined
          ? {}
          : { heartbeatInterval: opts.heartbeatInterval }),
      };
      const engine = transport === "ws"
        ? new EnSyncWebSocketEngine(server.wsUrl!, engineOptions)
        : new EnSyncEngine(server.grpcUrl!, engineOptions);
      engines.push(engine);
      return await engine.createClient(who.accessKey, { appSecretKey: who.secretKey, ...opts });
    },
    async restart() {
      const { wsPort, grpcPort } = server;
      await server.close();
      server = await start(wsPort, grpcPort);
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(engines.map((e) => e.close()));
      await server.close();
    },
  };
  return fixture;
}

/** Collects a subscription's events through `on()`. */
export class Collector {
  readonly events: EnSyncEvent[] = [];
  #waiters: Array<{ count: number; resolve: () => void }> = [];
  readonly off: () => void;

  constructor(sub: Subscription, handler?: (e: EnSyncEvent) => void | Promise<void>) {
    this.off = sub.on(async (e) => {
      this.events.push(e);
      for (const w of this.#waiters.splice(0)) {
        if (this.events.length >= w.count) w.resolve();
        else this.#waiters.push(w);
      }
      await handler?.(e);
    });
  }

  /** Resolves once `count` events have arrived (rejects after `timeoutMs`). */
  async waitFor(count: number, timeoutMs = 5_000): Promise<EnSyncEvent[]> {
    if (this.events.length < count) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push({ count, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`Got ${this.events.length} of ${count} events in ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    }
    return this.events.slice(0, count);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A timer set on a {@linkcode RecordingClock}. */
export interface TimerRecord {
  /** The delay it was set with. */
  ms: number;
  /** When it falls due (the clock's time when it was set, plus `ms`). */
  due: number;
  fired: boolean;
  cleared: boolean;
}

/**
 * A {@linkcode FakeClock} that also records every timer set on it, so a test can see the delays a
 * unit asked for and wait until it sets one (a real event) before advancing time.
 */
export class RecordingClock extends FakeClock {
  readonly timers: TimerRecord[] = [];
  readonly #byHandle = new Map<TimerHandle, TimerRecord>();
  #waiters: Array<{ match: (ms: number) => boolean; resolve: (t: TimerRecord) => void }> = [];

  override setTimeout(fn: () => void, ms: number): TimerHandle {
    const record: TimerRecord = { ms, due: this.now() + ms, fired: false, cleared: false };
    const handle = super.setTimeout(() => {
      record.fired = true;
      this.#byHandle.delete(handle);
      fn();
    }, ms);
    this.#byHandle.set(handle, record);
    this.timers.push(record);
    this.#waiters = this.#waiters.filter((w) => !(w.match(ms) && (w.resolve(record), true)));
    return handle;
  }

  override clearTimeout(handle: TimerHandle | undefined): void {
    const record = handle === undefined ? undefined : this.#byHandle.get(handle);
    if (record) record.cleared = true;
    if (handle !== undefined) this.#byHandle.delete(handle);
    super.clearTimeout(handle);
  }

  /** The first live (not fired, not cleared) timer whose delay matches, now or once one is set. */
  timer(match: (ms: number) => boolean, timeoutMs = 5_000): Promise<TimerRecord> {
    const live = this.timers.find((t) => !t.fired && !t.cleared && match(t.ms));
    if (live) return Promise.resolve(live);
    return new Promise((resolve, reject) => {
      const guard = setTimeout(
        () => reject(new Error(`No timer matching ${match} was set within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (t) => {
          clearTimeout(guard);
          resolve(t);
        },
      });
    });
  }
}
