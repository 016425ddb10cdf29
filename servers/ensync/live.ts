/**
 * The engine's live state ({@linkcode EnSyncLiveSource}): apps and permissions, per (app, event)
 * queue levels (from the store, when it can count them) and settle counters, connected and
 * paused clients, recently discarded events, a feed of publishes, deliveries, settlements and
 * connects, and the admin actions `replay`, `requeue` and `purge`.
 *
 * The broker records into an {@linkcode EnSyncLiveRecorder} (a few increments per event); the
 * source reads it with the broker and the store.
 *
 * @module
 */
import {
  createLiveFeed,
  type EnSyncDiscardedState,
  type EnSyncLiveEvent,
  type EnSyncLiveSource,
  type EnSyncLiveState,
  type EnSyncQueueState,
  LiveActionError,
  type LiveFeedWriter,
  stringArg,
} from "../../lib/live/mod.ts";
import type { EngineSession, EngineSubscription, EnSyncBroker } from "./broker.ts";
import type { EnSyncApp } from "./config.ts";
import type { QueueCounts, Settlement, StoredEvent } from "./store.ts";

const CLIENTS_LISTED = 200;
const DISCARDED_PER_APP = 20;

/** Settle totals of one queue. */
export interface QueueTotals {
  /** The recipient app id. */
  app: string;
  /** The event name. */
  name: string;
  /** Acknowledged since start. */
  acked: number;
  /** Discarded since start. */
  discarded: number;
}

/**
 * Counters and the feed the broker writes to (`broker.live`); {@linkcode createEnSyncLive} reads
 * them.
 *
 * @example
 * ```ts ignore
 * console.log(engine.broker.live.counters.published);
 * ```
 */
export class EnSyncLiveRecorder {
  /** Totals since start. */
  readonly counters = {
    published: 0,
    delivered: 0,
    acked: 0,
    deferred: 0,
    discarded: 0,
    requeued: 0,
    connects: 0,
  };
  /** When the engine started. */
  readonly startedAt: number = Date.now();
  /** The feed. */
  readonly feed: LiveFeedWriter<EnSyncLiveEvent> = createLiveFeed();
  /** Acked and discarded totals per queue (`app id \n name`). */
  readonly queues: Map<string, QueueTotals> = new Map();
  /** When each session connected. */
  readonly since: WeakMap<EngineSession, number> = new WeakMap();
  #names: (appId: string) => string = (id) => id;

  /**
   * Sets how app ids become names (for feed events).
   *
   * @param fn Maps an app id to its name.
   */
  set appName(fn: (appId: string) => string) {
    this.#names = fn;
  }

  #queue(app: string, name: string): QueueTotals {
    const key = `${app}\n${name}`;
    let q = this.queues.get(key);
    if (q === undefined) this.queues.set(key, q = { app, name, acked: 0, discarded: 0 });
    return q;
  }

  #emit(type: EnSyncLiveEvent["type"], fields: Omit<EnSyncLiveEvent, "type" | "at">): void {
    this.feed.publish({ type, at: Date.now(), ...fields });
  }

  /** Records a client that connected. */
  connected(session: EngineSession): void {
    this.counters.connects++;
    this.since.set(session, Date.now());
    if (this.feed.active) this.#emit("connect", { app: session.appName, client: session.id });
  }

  /** Records a client that went. */
  disconnected(session: EngineSession): void {
    if (this.feed.active) this.#emit("disconnect", { app: session.appName, client: session.id });
  }

  /** Records a published event. */
  published(event: StoredEvent): void {
    this.counters.published++;
    if (this.feed.active) {
      this.#emit("publish", {
        app: this.#names(event.sender),
        event: event.name,
        idem: event.idem,
      });
    }
  }

  /** Records a delivery. */
  delivered(sub: EngineSubscription, event: StoredEvent): void {
    this.counters.delivered++;
    if (this.feed.active) {
      this.#emit("deliver", {
        app: sub.session.appName,
        event: event.name,
        idem: event.idem,
        client: sub.session.id,
      });
    }
  }

  /** Records an ack, defer or discard. */
  settled(event: StoredEvent, outcome: Settlement["kind"]): void {
    if (outcome === "ack") {
      this.counters.acked++;
      this.#queue(event.app, event.name).acked++;
    } else if (outcome === "discard") {
      this.counters.discarded++;
      this.#queue(event.app, event.name).discarded++;
    } else this.counters.deferred++;
    if (this.feed.active) {
      this.#emit(outcome, { app: this.#names(event.app), event: event.name, idem: event.idem });
    }
  }

  /** Records an event put back in its queue by an admin. */
  requeued(event: StoredEvent): void {
    this.counters.requeued++;
    if (this.feed.active) {
      this.#emit("requeue", { app: this.#names(event.app), event: event.name, idem: event.idem });
    }
  }
}

function appByName(broker: EnSyncBroker, name: string): EnSyncApp {
  const app = broker.registry.config.apps.find((a) => a.name === name || a.appId === name);
  if (app === undefined) {
    throw new LiveActionError("LIVE_NOT_FOUND", `No app "${name}" in the engine's configuration`);
  }
  return app;
}

/**
 * Builds the engine's live source from its broker.
 *
 * @param broker The broker (its store and recorder).
 * @returns The source.
 *
 * @example
 * ```ts ignore
 * const source = createEnSyncLive(engine.broker);
 * console.log((await source.state()).apps.length);
 * ```
 */
export function createEnSyncLive(broker: EnSyncBroker): EnSyncLiveSource {
  const rec = broker.live;
  const names = (): Map<string, string> =>
    new Map(broker.registry.config.apps.map((a) => [a.appId, a.name]));
  rec.appName = (id) => broker.registry.byAppId(id)?.name ?? id;

  const state = async (): Promise<EnSyncLiveState> => {
    const apps = broker.registry.config.apps;
    const appNames = names();
    const sessions = [...broker.sessions()];
    const clientsByApp = new Map<string, number>();
    let paused = 0;
    for (const s of sessions) {
      clientsByApp.set(s.appId, (clientsByApp.get(s.appId) ?? 0) + 1);
      for (const sub of s.subs.values()) if (sub.paused) paused++;
    }
    // Queue levels from the store when it counts them; in-flight from the broker otherwise.
    const levels: QueueCounts[] | undefined = await broker.store.queueCounts?.();
    const queues = new Map<string, EnSyncQueueState>();
    const queue = (appId: string, event: string): EnSyncQueueState => {
      const key = `${appId}\n${event}`;
      let q = queues.get(key);
      if (q === undefined) {
        q = {
          app: appNames.get(appId) ?? appId,
          appId,
          event,
          pending: levels === undefined ? null : 0,
          inflight: 0,
          deferred: levels === undefined ? null : 0,
          discarded: 0,
          acked: 0,
        };
        queues.set(key, q);
      }
      return q;
    };
    for (const l of levels ?? []) {
      const q = queue(l.app, l.name);
      q.pending = l.ready;
      q.inflight = l.inflight;
      q.deferred = l.deferred;
    }
    let inflight = 0;
    for (const s of sessions) {
      for (const sub of s.subs.values()) {
        if (sub.inflight === undefined) continue;
        inflight++;
        if (levels === undefined) queue(s.appId, sub.inflight.event.name).inflight!++;
      }
    }
    for (const t of rec.queues.values()) {
      const q = queue(t.app, t.name);
      q.acked = t.acked;
      q.discarded = t.discarded;
    }
    const discarded: EnSyncDiscardedState[] = [];
    for (const app of apps) {
      try {
        for (const d of await broker.store.discarded(app.appId, DISCARDED_PER_APP)) {
          discarded.push({
            app: app.name,
            idem: d.idem,
            event: d.name,
            reason: d.reason,
            at: d.discardedAt,
          });
        }
      } catch {
        // A store outage shows as an empty list; the engine logs it.
      }
    }
    discarded.sort((a, b) => b.at - a.at);
    return {
      part: "ensync",
      name: broker.store.description,
      startedAt: rec.startedAt,
      store: broker.store.description,
      counters: { ...rec.counters },
      gauges: { clients: sessions.length, paused, inflight },
      apps: apps.map((a) => ({
        name: a.name,
        appId: a.appId,
        send: [...a.send],
        receive: [...a.receive],
        clients: clientsByApp.get(a.appId) ?? 0,
      })),
      queues: [...queues.values()].sort((a, b) =>
        a.app.localeCompare(b.app) || a.event.localeCompare(b.event)
      ),
      clients: sessions.slice(0, CLIENTS_LISTED).map((s) => ({
        id: s.id,
        app: s.appName,
        since: rec.since.get(s) ?? rec.startedAt,
        subscriptions: [...s.subs.values()].map((sub) => ({
          pattern: sub.pattern,
          paused: sub.paused,
          inflight: sub.inflight?.event.idem ?? null,
        })),
      })),
      discarded,
    };
  };

  const lookup = async (args: Readonly<Record<string, unknown>>) => {
    const app = appByName(broker, stringArg(args, "app"));
    const idem = stringArg(args, "idem");
    const found = await broker.store.lookup(idem);
    if (found === undefined || found.event.app !== app.appId) {
      throw new LiveActionError(
        "LIVE_NOT_FOUND",
        `No event ${idem} for app "${app.name}" (unknown, or past retention)`,
      );
    }
    return { app, found };
  };

  const act = async (action: string, args: Readonly<Record<string, unknown>>): Promise<unknown> => {
    switch (action) {
      case "replay": {
        const { app, found } = await lookup(args);
        const e = found.event;
        return {
          app: app.name,
          idem: e.idem,
          event: e.name,
          block: e.block,
          state: found.state,
          sender: names().get(e.sender) ?? e.sender,
          loggedAt: e.loggedAt,
          metadata: e.metadata,
          payloadMetadata: e.payloadMetadata ?? null,
          payloadBytes: e.payload.length,
          persist: e.persist,
          ...(found.dueAt === undefined ? {} : { dueAt: found.dueAt }),
        };
      }
      case "requeue": {
        const { app, found } = await lookup(args);
        if (found.state !== "discarded" && found.state !== "acked") {
          throw new LiveActionError(
            "LIVE_BAD_ARGS",
            `Event ${found.event.idem} is ${found.state}: only discarded or acknowledged events can be requeued`,
          );
        }
        if (!(await broker.store.requeue(found.event))) {
          throw new LiveActionError("LIVE_FAILED", `The store did not requeue ${found.event.idem}`);
        }
        await broker.store.purgeDiscarded?.(app.appId, [found.event.idem]);
        rec.requeued(found.event);
        return { app: app.name, idem: found.event.idem, event: found.event.name, state: "ready" };
      }
      case "purge": {
        const app = appByName(broker, stringArg(args, "app"));
        if (broker.store.purgeDiscarded === undefined) {
          throw new LiveActionError(
            "LIVE_FAILED",
            `The ${broker.store.description} store cannot purge discarded events`,
          );
        }
        const purged = await broker.store.purgeDiscarded(app.appId);
        return { app: app.name, purged };
      }
      default:
        throw new LiveActionError("LIVE_UNKNOWN_ACTION", `Unknown engine action "${action}"`);
    }
  };

  return { part: "ensync", feed: rec.feed, actions: ["replay", "requeue", "purge"], state, act };
}
