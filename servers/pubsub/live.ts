/**
 * The pub/sub server's live state ({@linkcode PubSubLiveSource}) for the dashboard and `/live`:
 * connections, topics with their subscribers and event counts grouped by network (the first
 * segment of an eventhive channel, `<network>/<input_channel>/<event>`), published, delivered and
 * dropped counts (the dashboard turns them into rates) and dropped messages by reason. Its feed
 * carries each event (`event`, per topic) and each drop (`dropped`, with the reason); it costs
 * nothing while nobody watches.
 *
 * @module
 */
import { ALL_TOPICS } from "../../lib/pubsub/rpc_frames.ts";
import {
  createLiveFeed,
  type LiveFeedWriter,
  type PubSubLiveEvent,
  type PubSubLiveSource,
  type PubSubLiveState,
  type PubSubNetworkState,
  type PubSubTopicState,
} from "../../lib/live/mod.ts";
import type { Broker } from "./_broker.ts";
import { DROP_REASONS, type PubSubStats } from "./_stats.ts";

/** Topics listed in a snapshot at most (the busiest first). */
export const LIVE_TOPICS_LISTED = 200;

/** The network of a topic: its first `/` segment (`(all topics)` for the all-topics topic). */
function networkOf(topic: string): string {
  if (topic === ALL_TOPICS) return "(all topics)";
  const slash = topic.indexOf("/");
  return slash <= 0 ? topic : topic.slice(0, slash);
}

/**
 * Builds the live source of one server (private to servers/pubsub: `createPubSubApp` makes it).
 *
 * @param options The broker and counters of the server, its name (URL) and start time.
 * @returns The live source.
 */
export function createPubSubLive(
  options: { broker: Broker; stats: PubSubStats; name: () => string; startedAt: number },
): PubSubLiveSource {
  const { broker, stats } = options;
  const feed: LiveFeedWriter<PubSubLiveEvent> = createLiveFeed();
  broker.onEvent = (topic) => {
    if (!feed.active) return;
    feed.publish({ type: "event", at: Date.now(), network: networkOf(topic), topic });
  };
  stats.onDrop = (reason) => {
    if (!feed.active) return;
    feed.publish({ type: "dropped", at: Date.now(), network: "", topic: "", reason });
  };
  const state = (): PubSubLiveState => {
    const names = new Set<string>(broker.topics());
    for (const topic of broker.topicEvents.keys()) names.add(topic);
    const topics: (PubSubTopicState & { network: string })[] = [...names].map((name) => ({
      network: networkOf(name),
      name,
      subscribers: broker.subscribers(name),
      events: broker.topicEvents.get(name) ?? 0,
    }));
    topics.sort((a, b) => b.events - a.events || b.subscribers - a.subscribers);
    const networks = new Map<string, PubSubNetworkState>();
    for (const { network, ...topic } of topics.slice(0, LIVE_TOPICS_LISTED)) {
      let net = networks.get(network);
      if (net === undefined) {
        networks.set(network, net = { name: network, transport: "websocket", topics: [] });
      }
      net.topics.push(topic);
    }
    let subscribers = 0;
    for (const session of broker.sessions) if (session.topics.size > 0) subscribers++;
    const dropped: Record<string, number> = {};
    let droppedTotal = 0;
    for (const reason of DROP_REASONS) {
      dropped[reason] = stats.dropped[reason];
      droppedTotal += stats.dropped[reason];
    }
    return {
      part: "pubsub",
      name: options.name(),
      startedAt: options.startedAt,
      counters: {
        published: stats.published + stats.publishedRemote,
        publishedLocal: stats.published,
        publishedRemote: stats.publishedRemote,
        delivered: stats.delivered,
        dropped: droppedTotal,
        connectionsTotal: stats.connectionsTotal,
        slowDisconnects: stats.slowDisconnects,
        authRefused: stats.authRefused,
        unknownMethods: stats.unknownMethods,
      },
      gauges: {
        connections: broker.sessions.size,
        subscribers,
        topics: broker.topicCount,
        subscriptions: broker.subscriptionCount,
      },
      networks: [...networks.values()],
      dropped,
    };
  };
  return { part: "pubsub", feed, actions: [], state };
}
