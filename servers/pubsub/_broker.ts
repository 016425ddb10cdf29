/**
 * Topics and fan-out of the pub/sub server (private): which sessions hold which topics, and the
 * delivery of one publish to each of them through their own queues, so no subscriber waits for
 * another. Semantics of fastapi_websocket_pubsub's `EventNotifier`:
 * - `ALL_TOPICS` subscribers get every topic, with the real topic in the notification;
 * - the notifier is skipped: a session whose id equals the publish's `notifier_id` (by default
 *   the publisher's own id) is not notified;
 * - improvement: one notification per subscriber and topic, even when it subscribed to the topic
 *   twice or to the topic and `ALL_TOPICS` (the original sends one per subscription).
 *
 * @module
 */
import { ALL_TOPICS, pyString, randomHexId } from "../../lib/pubsub/rpc_frames.ts";
import { DeliveryWait, type PublishOutcome, type Session, type SessionHost } from "./_session.ts";
import type { PubSubStats } from "./_stats.ts";
import { type Clock, systemClock } from "../../lib/_clock.ts";

const NOBODY: PublishOutcome = Object.freeze({ receivers: 0, ok: true });

/** Distinct topics whose events are counted one by one (the dashboard's per-topic counts). */
export const MAX_COUNTED_TOPICS = 1_000;

/** Forwards publishes to other instances (the Redis bridge). */
export interface Forwarder {
  /**
   * Sends a local publish to the other instances; resolves when handed over, with how many
   * other instances got it (-1: it could not be forwarded).
   */
  forward(topics: readonly string[], dataJson: string, notifierId: string): Promise<number>;
}

/** The fan-out core shared by every session of one server. */
export class Broker implements SessionHost {
  readonly sessions = new Set<Session>();
  /** topic → subscribed sessions. */
  readonly #topics = new Map<string, Set<Session>>();
  readonly #stats: PubSubStats;
  readonly #notifyTimeoutMs: number;
  readonly #clock: Clock;
  forwarder: Forwarder | undefined;
  /** Events delivered per topic (local and remote publishes), for at most `MAX_COUNTED_TOPICS`. */
  readonly topicEvents = new Map<string, number>();
  /** Called for each topic of each publish delivered here (the live feed); unset: nothing. */
  onEvent: ((topic: string, subscribers: number) => void) | undefined = undefined;

  constructor(stats: PubSubStats, notifyTimeoutMs: number, clock: Clock = systemClock) {
    this.#stats = stats;
    this.#notifyTimeoutMs = notifyTimeoutMs;
    this.#clock = clock;
  }

  /** Distinct topics with at least one subscriber (`ALL_TOPICS` included). */
  get topicCount(): number {
    return this.#topics.size;
  }

  /** Subscriptions over all sessions. */
  get subscriptionCount(): number {
    let n = 0;
    for (const session of this.sessions) n += session.topics.size;
    return n;
  }

  /** Subscribers of `topic` on this instance (`ALL_TOPICS` subscribers not included). */
  subscribers(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** The topics with subscribers now. */
  topics(): IterableIterator<string> {
    return this.#topics.keys();
  }

  /** Registers a session. */
  add(session: Session): void {
    this.sessions.add(session);
  }

  subscribe(session: Session, topics: readonly string[]): void {
    if (session.closed) return;
    for (const topic of topics) {
      if (session.topics.has(topic)) continue;
      session.topics.set(topic, randomHexId());
      let set = this.#topics.get(topic);
      if (set === undefined) this.#topics.set(topic, set = new Set());
      set.add(session);
    }
  }

  unsubscribe(session: Session, topics: readonly string[] | null): void {
    for (const topic of topics ?? [...session.topics.keys()]) {
      if (!session.topics.delete(topic)) continue;
      const set = this.#topics.get(topic);
      set?.delete(session);
      if (set?.size === 0) this.#topics.delete(topic);
    }
  }

  closed(session: Session): void {
    this.unsubscribe(session, null);
    this.sessions.delete(session);
  }

  publish(
    _session: Session,
    topics: readonly string[],
    dataJson: string,
    notifierId: string,
    sync: boolean,
  ): Promise<PublishOutcome> | PublishOutcome | undefined {
    this.#stats.published++;
    const local = this.deliver(topics, dataJson, notifierId, sync);
    const remote = this.forwarder?.forward(topics, dataJson, notifierId);
    if (!sync) return undefined;
    // Nothing to wait for: answered at once (in frame order), as before.
    if (local === undefined && remote === undefined) return NOBODY;
    return Promise.all([local, remote]).then(([here, there]) => ({
      receivers: (here ?? 0) + Math.max(0, there ?? 0),
      ok: there === undefined || there >= 0,
    }));
  }

  /**
   * Notifies this instance's subscribers of `topics`.
   *
   * @param topics The topics published.
   * @param dataJson The data as JSON.
   * @param notifierId Sessions with this id are skipped.
   * @param sync Whether to wait for the notify answers.
   * @returns With `sync` and subscribers notified, a promise that resolves (with how many were
   *   notified) when each answered, left, or `notifyTimeoutMs` passed; otherwise `undefined`.
   */
  deliver(
    topics: readonly string[],
    dataJson: string,
    notifierId: string,
    sync: boolean,
  ): Promise<number> | undefined {
    const wait = sync ? new DeliveryWait() : undefined;
    const all = this.#topics.get(ALL_TOPICS);
    for (const topic of topics) {
      const direct = this.#topics.get(topic);
      const seen = this.topicEvents.get(topic);
      if (seen !== undefined) this.topicEvents.set(topic, seen + 1);
      else if (this.topicEvents.size < MAX_COUNTED_TOPICS) this.topicEvents.set(topic, 1);
      this.onEvent?.(topic, (direct?.size ?? 0) + (all?.size ?? 0));
      if (direct === undefined && all === undefined) continue;
      const topicJson = pyString(topic);
      if (direct !== undefined) {
        for (const session of direct) {
          if (session.id !== notifierId) {
            session.notify(topicJson, dataJson, session.topics.get(topic)!, wait);
          }
        }
      }
      if (all !== undefined && topic !== ALL_TOPICS) {
        for (const session of all) {
          if (session.id !== notifierId && !direct?.has(session)) {
            session.notify(topicJson, dataJson, session.topics.get(ALL_TOPICS)!, wait);
          }
        }
      }
    }
    if (wait === undefined || wait.outstanding === 0) return undefined;
    wait.seal();
    const timer = this.#clock.setTimeout(() => wait.finish(), this.#notifyTimeoutMs);
    return wait.promise.finally(() => this.#clock.clearTimeout(timer)).then(() => wait.notified);
  }
}
