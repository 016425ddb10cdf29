/**
 * The NATS backend (syft only): the same eventhive envelope on subjects mapped from event names
 * (see `subjects.ts`). Core NATS is at-most-once; with `jetstream` events are stored in a stream
 * and a durable consumer delivers what a subscriber missed while it was down.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  jetstreamManager,
} from "@nats-io/jetstream";
import { getLogger } from "../_log.ts";
import { PublishError, PubSubError } from "./errors.ts";
import type { NatsConnectorOptions } from "./config.ts";
import { eventToSubject, inputSubject, subjectToEvent } from "./subjects.ts";
import type { Transport, TransportInput, TransportSink, TransportState } from "./_transport.ts";

const log = getLogger(["pubsub", "nats"]);
const encoder = new TextEncoder();
const NAME_CACHE = 1_000;
/** What the name cache holds for a subject that is no event name (lru-cache keeps no `undefined`). */
const NOT_AN_EVENT = "\u0000";

/** @internal */
export class NatsTransport implements Transport {
  readonly kind = "nats" as const;
  readonly echoesOwn = true;
  readonly where: string;
  readonly #servers: string[];
  readonly #network: string;
  readonly #options: NatsConnectorOptions;
  readonly #separator: string;
  readonly #prefix: string;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #sub: Subscription | undefined;
  #consumer: ConsumerMessages | undefined;
  #state: TransportState = "connecting";
  #pending = 0;
  #closed = false;

  constructor(network: string, options: NatsConnectorOptions, separator: string) {
    const servers = options.servers ?? "nats://127.0.0.1:4222";
    this.#servers = Array.isArray(servers) ? servers : [servers];
    this.where = this.#servers.join(",");
    this.#network = network;
    this.#options = options;
    this.#separator = separator;
    this.#prefix = options.subjectPrefix ?? "eventhive";
  }

  get state(): TransportState {
    return this.#state;
  }

  get queued(): number {
    return this.#pending;
  }

  // Names repeat: map each once (bounded caches).
  readonly #subjects = new LRUCache<string, string>({ max: NAME_CACHE });
  /** A subject outside the connector's prefix maps to `NOT_AN_EVENT`. */
  readonly #names = new LRUCache<string, string>({ max: NAME_CACHE });

  #subject(name: string): string {
    let subject = this.#subjects.get(name);
    if (subject === undefined) {
      subject = eventToSubject(name, { prefix: this.#prefix, separator: this.#separator });
      this.#subjects.set(name, subject);
    }
    return subject;
  }

  #name(subject: string): string {
    let name = this.#names.get(subject);
    if (name === undefined) {
      name = subjectToEvent(subject, { prefix: this.#prefix, separator: this.#separator }) ??
        NOT_AN_EVENT;
      this.#names.set(subject, name);
    }
    return name === NOT_AN_EVENT ? subject : name;
  }

  #jetstreamNames(inputChannel: string): { stream: string; durable: string } {
    const js = typeof this.#options.jetstream === "object" ? this.#options.jetstream : {};
    const safe = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, "_");
    return {
      stream: js.stream ?? `EVENTHIVE_${safe(this.#network)}`,
      durable: js.durable ?? `${safe(this.#network)}_${safe(inputChannel)}`,
    };
  }

  async start(sink: TransportSink, input: TransportInput | undefined): Promise<void> {
    const o = this.#options;
    try {
      this.#nc = await connect({
        servers: this.#servers,
        name: `syft-pubsub-${this.#network}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        ...(o.user === undefined ? {} : { user: o.user }),
        ...(o.pass === undefined ? {} : { pass: o.pass }),
        ...(o.token === undefined ? {} : { token: o.token }),
      });
    } catch (err) {
      throw new PubSubError(
        `Cannot connect connector ${this.#network} to NATS at ${this.where}: ${
          err instanceof Error ? err.message : String(err)
        } (is nats-server running?)`,
        { code: "PUBSUB_CONNECT", cause: err },
      );
    }
    const nc = this.#nc;
    this.#state = "open";
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnecting") {
          if (this.#state !== "reconnecting") {
            this.#state = "reconnecting";
            log.warn("NATS at {where} lost; reconnecting", { where: this.where });
            sink.state("reconnecting");
          }
        } else if (s.type === "reconnect") {
          this.#state = "open";
          sink.state("open");
        }
      }
    })().catch(() => {});
    try {
      if (o.jetstream) await this.#startJetStream(sink, input);
      else if (input !== undefined) {
        const subject = inputSubject(this.#network, input.inputChannel, {
          prefix: this.#prefix,
          separator: this.#separator,
        });
        this.#sub = nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err !== null) return;
            sink.message(this.#name(msg.subject), msg.string());
          },
        });
        await nc.flush();
      }
    } catch (err) {
      await this.close();
      throw new PubSubError(
        `Cannot subscribe connector ${this.#network} on NATS at ${this.where}: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { code: "PUBSUB_CONNECT", cause: err },
      );
    }
  }

  async #startJetStream(sink: TransportSink, input: TransportInput | undefined): Promise<void> {
    const nc = this.#nc!;
    const inputChannel = input?.inputChannel ?? "";
    const { stream, durable } = this.#jetstreamNames(inputChannel);
    const jsm = await jetstreamManager(nc);
    const subjects = [`${this.#subject(this.#network)}.>`];
    try {
      await jsm.streams.info(stream);
    } catch {
      await jsm.streams.add({ name: stream, subjects });
    }
    this.#js = jetstream(nc);
    if (input === undefined) return;
    const filter = inputSubject(this.#network, inputChannel, {
      prefix: this.#prefix,
      separator: this.#separator,
    });
    try {
      await jsm.consumers.info(stream, durable);
    } catch {
      await jsm.consumers.add(stream, {
        durable_name: durable,
        filter_subject: filter,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
      });
    }
    const consumer = await this.#js.consumers.get(stream, durable);
    const messages = await consumer.consume();
    this.#consumer = messages;
    (async () => {
      for await (const m of messages) {
        try {
          sink.message(this.#name(m.subject), m.string());
        } finally {
          m.ack();
        }
      }
    })().catch((err) => {
      if (!this.#closed) log.warn("JetStream consumer stopped: {error}", { error: String(err) });
    });
  }

  addTopics(): Promise<void> {
    return Promise.resolve();
  }

  async publish(channel: string, data: string): Promise<void> {
    const nc = this.#nc;
    if (nc === undefined || this.#closed) {
      throw new PublishError(`Cannot publish ${channel}: the NATS connector is closed`, {
        code: "PUBSUB_CLOSED",
        event: channel,
        network: this.#network,
      });
    }
    const subject = this.#subject(channel);
    try {
      if (this.#js !== undefined) {
        this.#pending++;
        try {
          await this.#js.publish(subject, encoder.encode(data), {
            timeout: this.#options.publishTimeoutMs ?? 10_000,
          });
        } finally {
          this.#pending--;
        }
      } else nc.publish(subject, data);
    } catch (err) {
      throw new PublishError(
        `Cannot publish ${channel} on ${this.#network} (NATS ${this.where}): ${
          err instanceof Error ? err.message : String(err)
        }`,
        { code: "PUBSUB_PUBLISH", event: channel, network: this.#network, cause: err },
      );
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = "closed";
    const nc = this.#nc;
    if (nc === undefined) return;
    try {
      await this.#consumer?.close();
      this.#sub?.unsubscribe();
      await nc.drain();
    } catch {
      await nc.close().catch(() => {});
    }
  }
}
