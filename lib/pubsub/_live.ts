/**
 * The live state of one hive (private): each connector is a network with the channels it
 * received and published on (events per channel, handlers hooked to the local event as its
 * subscribers), the hive's counters and drops by reason, and a feed of events and drops.
 * Recording costs one map update per message; the feed costs nothing without subscribers.
 *
 * @module
 */
import {
  createLiveFeed,
  type LiveFeedWriter,
  type PubSubLiveEvent,
  type PubSubLiveSource,
  type PubSubLiveState,
  type PubSubNetworkState,
} from "../live/mod.ts";
import type { HiveStats } from "./hive.ts";

/** Channels counted per connector (later ones are not listed). */
const CHANNELS_COUNTED = 1_000;
/** Channels listed per connector in a snapshot (the busiest first). */
const CHANNELS_LISTED = 100;

/** What the recorder reads from its hive when a snapshot is taken. */
export interface HiveLiveView {
  /** The hive's counters. */
  stats(): HiveStats;
  /** Handlers hooked to a local event (`<input_channel>/<event>`). */
  handlers(event: string): number;
  /** The local event of a channel on a connector (`undefined` when it is not under its input). */
  localEvent(network: string, channel: string): string | undefined;
}

/** Records a hive's traffic for its live source. */
export class HiveLiveRecorder {
  readonly #view: HiveLiveView;
  readonly #startedAt = Date.now();
  readonly #feed: LiveFeedWriter<PubSubLiveEvent> = createLiveFeed();
  /** network → channel → events. */
  readonly #channels = new Map<string, Map<string, number>>();
  #source: PubSubLiveSource | undefined;

  constructor(view: HiveLiveView) {
    this.#view = view;
  }

  /** An event was accepted from, or published to, `channel` on `network`. */
  event(network: string, channel: string): void {
    let counts = this.#channels.get(network);
    if (counts === undefined) this.#channels.set(network, counts = new Map());
    const seen = counts.get(channel);
    if (seen !== undefined) counts.set(channel, seen + 1);
    else if (counts.size < CHANNELS_COUNTED) counts.set(channel, 1);
    if (this.#feed.active) {
      this.#feed.publish({ type: "event", at: Date.now(), network, topic: channel });
    }
  }

  /** A message on `channel` was dropped for `reason`. */
  dropped(network: string, channel: string, reason: string): void {
    if (this.#feed.active) {
      this.#feed.publish({ type: "dropped", at: Date.now(), network, topic: channel, reason });
    }
  }

  /** Stops the feed. */
  close(): void {
    this.#feed.close();
  }

  /** The live source (the same one on every call). */
  source(): PubSubLiveSource {
    this.#source ??= { part: "pubsub", feed: this.#feed, actions: [], state: () => this.#state() };
    return this.#source;
  }

  #state(): PubSubLiveState {
    const stats = this.#view.stats();
    const networks: PubSubNetworkState[] = [];
    let open = 0;
    let topics = 0;
    for (const [name, c] of Object.entries(stats.connectors)) {
      if (c.state === "open") open++;
      const counts = this.#channels.get(name) ?? new Map<string, number>();
      const list = [...counts].sort((a, b) => b[1] - a[1]).slice(0, CHANNELS_LISTED);
      topics += counts.size;
      networks.push({
        name,
        transport: c.type,
        topics: list.map(([channel, events]) => {
          const local = this.#view.localEvent(name, channel);
          return {
            name: channel,
            subscribers: local === undefined ? 0 : this.#view.handlers(local),
            events,
          };
        }),
      });
    }
    const dropped: Record<string, number> = {};
    let droppedTotal = 0;
    for (const [reason, n] of Object.entries(stats.dropped)) {
      dropped[reason] = n;
      droppedTotal += n;
    }
    let queued = 0;
    for (const c of Object.values(stats.connectors)) queued += c.queued;
    return {
      part: "pubsub",
      name: Object.values(stats.connectors).map((c) => c.where).filter((w) => w !== "").join(
        ", ",
      ) || "hive",
      startedAt: this.#startedAt,
      counters: {
        published: stats.published,
        delivered: stats.handled,
        received: stats.received,
        dropped: droppedTotal,
        handlerErrors: stats.handlerErrors,
        publishErrors: stats.publishErrors,
      },
      gauges: {
        connectors: Object.keys(stats.connectors).length,
        open,
        topics,
        queued,
      },
      networks,
      dropped,
    };
  }
}
