/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * Pub/sub: networks, topics and subscribers, events per second, dropped messages by reason, and
 * recent events.
 *
 * @module
 */
import type { Child } from "hono/jsx/dom";
import type { DashboardSnapshot } from "../../core.ts";
import type { PubSubLiveEvent, PubSubLiveState } from "../../../../lib/live/mod.ts";
import { Absent, Chart, clock, num, Section } from "../ui.tsx";

/** The pub/sub panel. */
export function PubSubPanel(props: { snap: DashboardSnapshot }): Child {
  const { snap } = props;
  const parts = Object.values(snap.parts).filter((p) => p.part === "pubsub" && p.state !== null);
  if (parts.length === 0) {
    return (
      <div class="panel" data-panel="pubsub">
        <Absent what="No pub/sub server in this stack." />
      </div>
    );
  }
  return (
    <div class="panel" data-panel="pubsub">
      {parts.map((p) => {
        const s = p.state as PubSubLiveState;
        const h = snap.history[p.service];
        const events = (snap.recent[p.service] ?? []) as PubSubLiveEvent[];
        return (
          <>
            <Section title={`Pub/sub ${s.name}`}>
              <dl class="stats" data-testid="pubsub-stats">
                {(
                  [
                    ["Connections", s.gauges.connections],
                    ["Subscribers", s.gauges.subscribers],
                    ["Topics", s.gauges.topics],
                    ["Published", s.counters.published],
                    ["Delivered", s.counters.delivered],
                    ["Dropped", s.counters.dropped],
                  ] as const
                ).filter(([, v]) => v !== undefined).map(([label, v]) => (
                  <div>
                    <dt>{label}</dt>
                    <dd data-stat={label.toLowerCase()}>{num(v)}</dd>
                  </div>
                ))}
              </dl>
            </Section>
            <Section title="Networks and topics">
              {s.networks.length === 0
                ? <Absent what="No networks." />
                : (
                  <table class="grid" data-testid="pubsub-topics">
                    <thead>
                      <tr>
                        <th scope="col">Network</th>
                        <th scope="col">Transport</th>
                        <th scope="col">Topic</th>
                        <th scope="col" class="n">Subscribers</th>
                        <th scope="col" class="n">Events</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.networks.flatMap((n) =>
                        (n.topics.length === 0
                          ? [{ name: "–", subscribers: 0, events: 0 }]
                          : n.topics).map((t) => (
                            <tr data-topic={t.name}>
                              <th scope="row">{n.name}</th>
                              <td>{n.transport}</td>
                              <td class="mono">{t.name}</td>
                              <td class="n">{num(t.subscribers)}</td>
                              <td class="n">{num(t.events)}</td>
                            </tr>
                          ))
                      )}
                    </tbody>
                  </table>
                )}
            </Section>
            <Section title="Dropped messages by reason">
              <table class="grid" data-testid="pubsub-dropped">
                <tbody>
                  {Object.keys(s.dropped).length === 0
                    ? (
                      <tr>
                        <td class="muted">none</td>
                      </tr>
                    )
                    : Object.entries(s.dropped).map(([reason, n]) => (
                      <tr>
                        <th scope="row">{reason}</th>
                        <td class="n">{num(n)}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
              {h === undefined ? null : (
                <div class="charts">
                  <Chart
                    title="Events per second"
                    t={h.t}
                    unit="/s"
                    series={[{ label: "published", values: h.rates.published ?? [] }, {
                      label: "delivered",
                      values: h.rates.delivered ?? [],
                    }, { label: "dropped", values: h.rates.dropped ?? [] }]}
                  />
                </div>
              )}
            </Section>
            <Section title="Recent events">
              {events.length === 0
                ? <Absent what="No events since this page opened." />
                : (
                  <ol class="stream" data-testid="pubsub-events">
                    {events.slice(0, 100).map((e) => (
                      <li data-type={e.type}>
                        <span class="muted">{clock(e.at)}</span>{" "}
                        <span class={`tag ${e.type}`}>{e.type}</span>{" "}
                        <span class="mono">
                          {e.network} {e.topic} {e.reason ?? ""} {e.sender ?? ""}
                        </span>
                      </li>
                    ))}
                  </ol>
                )}
            </Section>
          </>
        );
      })}
    </div>
  );
}
