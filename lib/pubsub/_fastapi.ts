/**
 * The fastapi_websocket_pubsub backend: one persistent {@linkcode FastApiPubSubClient} per
 * connector for publishing and subscribing (eventhive opens one connection per publish). The
 * wire text is the publish's `data` (a JSON string inside the RPC frame, as eventhive sends it);
 * topics are exact channels, added as events are defined.
 *
 * @module
 */
import { getLogger } from "../_log.ts";
import { PublishError, PubSubError } from "./errors.ts";
import type { FastApiConnectorOptions } from "./config.ts";
import {
  ALL_TOPICS,
  connectFastApiPubSub,
  type FastApiPubSubClient,
  FastApiPubSubError,
} from "./fastapi_client.ts";
import { pyDumps } from "./_pyjson.ts";
import { fastapiUrlOf } from "./_where.ts";
import {
  redactUrl,
  type Transport,
  type TransportInput,
  type TransportSink,
  type TransportState,
} from "./_transport.ts";

const log = getLogger(["pubsub", "fastapi"]);

/** @internal */
export class FastApiTransport implements Transport {
  readonly kind = "fastapi" as const;
  // Publishing with notifier_id null: the server does not notify the publishing connection.
  readonly echoesOwn = false;
  readonly where: string;
  readonly #url: string;
  readonly #network: string;
  readonly #options: FastApiConnectorOptions;
  #client: FastApiPubSubClient | undefined;
  #state: TransportState = "connecting";
  #pending = 0;
  #subscribing = false;

  constructor(network: string, options: FastApiConnectorOptions) {
    this.#url = fastapiUrlOf(options);
    this.where = redactUrl(this.#url);
    this.#network = network;
    this.#options = options;
  }

  get state(): TransportState {
    return this.#state;
  }

  get queued(): number {
    return this.#pending;
  }

  async start(sink: TransportSink, input: TransportInput | undefined): Promise<void> {
    const client = connectFastApiPubSub(this.#url, {
      ...(this.#options.token === undefined ? {} : { token: this.#options.token }),
      readyTimeoutMs: 5_000,
    });
    this.#client = client;
    client.onState((state, error) => {
      this.#state = state;
      if (state === "reconnecting") {
        log.warn("fastapi server {where} lost: {error}; reconnecting", {
          where: this.where,
          error: error?.message ?? "closed",
        });
      }
      sink.state(state, error);
    });
    client.onNotify((topic, data) => {
      sink.message(topic, typeof data === "string" ? data : pyDumps(data));
    });
    try {
      await client.ready();
      this.#state = client.state;
      if (input !== undefined) {
        this.#subscribing = true;
        await client.subscribe(input.all ? [ALL_TOPICS] : input.topics);
      }
    } catch (err) {
      await client.close();
      throw new PubSubError(
        `Cannot connect connector ${this.#network} to the pub/sub server at ${this.where}: ${
          err instanceof Error ? err.message : String(err)
        } (is it running? syft pubsub serve starts one)`,
        { code: "PUBSUB_CONNECT", cause: err },
      );
    }
  }

  async addTopics(topics: readonly string[]): Promise<void> {
    if (this.#client === undefined || topics.length === 0) return;
    if (!this.#subscribing) this.#subscribing = true;
    await this.#client.subscribe(topics);
  }

  async publish(channel: string, data: string): Promise<void> {
    const client = this.#client;
    if (client === undefined) {
      throw new PublishError(`Cannot publish ${channel}: the connector is not started`, {
        code: "PUBSUB_CLOSED",
        event: channel,
        network: this.#network,
      });
    }
    this.#pending++;
    try {
      const ok = await client.publish([channel], data, {
        sync: true,
        timeoutMs: this.#options.publishTimeoutMs ?? 10_000,
        retryUnheard: true,
      });
      if (!ok) {
        throw new PublishError(
          `Cannot publish ${channel} on ${this.#network}: the server at ${this.where} refused it`,
          { code: "PUBSUB_PUBLISH", event: channel, network: this.#network },
        );
      }
    } catch (err) {
      if (err instanceof PublishError) throw err;
      const code = err instanceof FastApiPubSubError
        ? err.code === "FASTAPI_QUEUE_FULL"
          ? "PUBSUB_QUEUE_FULL"
          : err.code === "FASTAPI_CLOSED"
          ? "PUBSUB_CLOSED"
          : err.code === "FASTAPI_TIMEOUT"
          ? "PUBSUB_PUBLISH_TIMEOUT"
          : err.code === "FASTAPI_NO_SUBSCRIBER"
          ? "PUBSUB_NO_SUBSCRIBER"
          : "PUBSUB_PUBLISH"
        : "PUBSUB_PUBLISH";
      throw new PublishError(
        `Cannot publish ${channel} on ${this.#network} (${this.where}): ${
          err instanceof Error ? err.message : String(err)
        }`,
        { code, event: channel, network: this.#network, cause: err },
      );
    } finally {
      this.#pending--;
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#state = "closed";
    await client?.close();
  }
}
