/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * EnSync engine: apps and permissions; per (app, event) queue: pending, in flight, deferred,
 * discarded and the acked rate; connected and paused clients; replay an event by idem; requeue
 * or purge discarded events; recent engine events.
 *
 * @module
 */
import { type Child, useState } from "hono/jsx/dom";
import type { DashboardSnapshot } from "../../core.ts";
import type { EnSyncLiveEvent, EnSyncLiveState } from "../../../../lib/live/mod.ts";
import { act } from "../store.ts";
import { Absent, ActionButton, Chart, clock, duration, num, Section } from "../ui.tsx";

/** Acked counts seen per queue, to turn them into a rate. */
const ackSeen = new Map<string, { t: number; acked: number; rate: number }>();

function ackRate(key: string, acked: number, now: number): number {
  const prev = ackSeen.get(key);
  if (prev === undefined || now <= prev.t) {
    if (prev === undefined) ackSeen.set(key, { t: now, acked, rate: 0 });
    return prev?.rate ?? 0;
  }
  if (now - prev.t < 900) return prev.rate;
  const rate = Math.max(0, (acked - prev.acked) / ((now - prev.t) / 1000));
  ackSeen.set(key, { t: now, acked, rate });
  return rate;
}

function Replay(props: { service: string; apps: string[] }): Child {
  const [result, setResult] = useState<unknown>(undefined);
  const [error, setError] = useState("");
  return (
    <form
      class="inline"
      aria-label="Replay an event by idem"
      data-testid="ensync-replay"
      onSubmit={async (e: Event) => {
        e.preventDefault();
        const f = e.target as HTMLFormElement;
        const get = (n: string) => (f.elements.namedItem(n) as HTMLInputElement).value;
        setError("");
        try {
          setResult(
            await act(props.service, "replay", { app: get("app"), idem: get("idem").trim() }),
          );
        } catch (err) {
          setResult(undefined);
          setError(err instanceof Error ? err.message : String(err));
        }
      }}
    >
      <label for="replay-app">App</label>
      <select id="replay-app" name="app">
        {props.apps.map((a) => <option key={a} value={a}>{a}</option>)}
      </select>
      <label for="replay-idem">Idem</label>
      <input id="replay-idem" name="idem" required size={28} />
      <button type="submit">Replay</button>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {result === undefined
        ? null
        : <pre class="body" data-testid="ensync-replayed">{JSON.stringify(result, null, 2)}</pre>}
    </form>
  );
}

/** The EnSync panel. */
export function EnSyncPanel(props: { snap: DashboardSnapshot }): Child {
  const { snap } = props;
  const parts = Object.values(snap.parts).filter((p) => p.part === "ensync" && p.state !== null);
  if (parts.length === 0) {
    return (
      <div class="panel" data-panel="ensync">
        <Absent what="No EnSync engine in this stack." />
      </div>
    );
  }
  return (
    <div class="panel" data-panel="ensync">
      {parts.map((p) => {
        const s = p.state as EnSyncLiveState;
        const h = snap.history[p.service];
        const events = (snap.recent[p.service] ?? []) as EnSyncLiveEvent[];
        const byApp = new Map<string, number>();
        for (const d of s.discarded) byApp.set(d.app, (byApp.get(d.app) ?? 0) + 1);
        return (
          <>
            <Section title="Apps and permissions">
              {s.apps.length === 0
                ? (
                  <Absent
                    what="No apps configured."
                    hint="Add one with: syft ensync app add <name>"
                  />
                )
                : (
                  <table class="grid" data-testid="ensync-apps">
                    <thead>
                      <tr>
                        <th scope="col">App</th>
                        <th scope="col">App id</th>
                        <th scope="col">May send</th>
                        <th scope="col">May receive</th>
                        <th scope="col" class="n">Clients</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.apps.map((a) => (
                        <tr>
                          <th scope="row">{a.name}</th>
                          <td class="mono small wrap">{a.appId}</td>
                          <td class="mono">{a.send.join(", ")}</td>
                          <td class="mono">{a.receive.join(", ")}</td>
                          <td class="n">{num(a.clients)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
            </Section>
            <Section title="Queues">
              {s.queues.length === 0
                ? <Absent what="No queues yet." />
                : (
                  <table class="grid" data-testid="ensync-queues">
                    <thead>
                      <tr>
                        <th scope="col">App</th>
                        <th scope="col">Event</th>
                        <th scope="col" class="n">Pending</th>
                        <th scope="col" class="n">In flight</th>
                        <th scope="col" class="n">Deferred</th>
                        <th scope="col" class="n">Discarded</th>
                        <th scope="col" class="n">Acked</th>
                        <th scope="col" class="n">Acked/s</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.queues.map((q) => (
                        <tr data-queue={`${q.app}/${q.event}`}>
                          <td>{q.app}</td>
                          <td class="mono">{q.event}</td>
                          <td class="n">{num(q.pending)}</td>
                          <td class="n">{num(q.inflight)}</td>
                          <td class="n">{num(q.deferred)}</td>
                          <td class="n">{num(q.discarded)}</td>
                          <td class="n">{num(q.acked)}</td>
                          <td class="n">
                            {num(
                              ackRate(`${p.service}\n${q.appId}\n${q.event}`, q.acked, snap.now),
                              1,
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              {h === undefined ? null : (
                <div class="charts">
                  <Chart
                    title="Events per second"
                    t={h.t}
                    unit="/s"
                    series={[{ label: "published", values: h.rates.published ?? [] }, {
                      label: "delivered",
                      values: h.rates.delivered ?? [],
                    }, { label: "acked", values: h.rates.acked ?? [] }]}
                  />
                  <Chart
                    title="In flight and clients"
                    t={h.t}
                    series={[{ label: "in flight", values: h.gauges.inflight ?? [] }, {
                      label: "clients",
                      values: h.gauges.clients ?? [],
                    }, { label: "paused", values: h.gauges.paused ?? [] }]}
                  />
                </div>
              )}
            </Section>
            <Section
              title={`Clients (${num(s.gauges.clients)}, ${
                num(s.gauges.paused)
              } paused subscriptions)`}
            >
              {s.clients.length === 0
                ? <Absent what="No clients connected." />
                : (
                  <table class="grid" data-testid="ensync-clients">
                    <thead>
                      <tr>
                        <th scope="col">Client</th>
                        <th scope="col">App</th>
                        <th scope="col">Connected</th>
                        <th scope="col">Subscriptions</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.clients.map((c) => (
                        <tr>
                          <td class="mono small">{c.id}</td>
                          <td>{c.app}</td>
                          <td>{duration((snap.now - c.since) / 1000)} ago</td>
                          <td>
                            {c.subscriptions.length === 0
                              ? <span class="muted">none</span>
                              : c.subscriptions.map((sub) => (
                                <span class={`tag ${sub.paused ? "paused" : ""}`}>
                                  {sub.pattern}
                                  {sub.paused ? " (paused)" : ""}
                                  {sub.inflight ? " ·1 in flight" : ""}
                                </span>
                              ))}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
            </Section>
            <Section title="Discarded events">
              {s.discarded.length === 0 ? <Absent what="No discarded events." /> : (
                <>
                  <table class="grid" data-testid="ensync-discarded">
                    <thead>
                      <tr>
                        <th scope="col">When</th>
                        <th scope="col">App</th>
                        <th scope="col">Event</th>
                        <th scope="col">Idem</th>
                        <th scope="col">Reason</th>
                        <th scope="col">Actions</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.discarded.map((d) => (
                        <tr>
                          <td>{clock(d.at)}</td>
                          <td>{d.app}</td>
                          <td class="mono">{d.event}</td>
                          <td class="mono small">{d.idem}</td>
                          <td>{d.reason}</td>
                          <td>
                            <ActionButton
                              label="Requeue"
                              ariaLabel={`Requeue ${d.idem}`}
                              run={() => act(p.service, "requeue", { app: d.app, idem: d.idem })}
                            />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  <p>
                    {[...byApp.keys()].map((app) => (
                      <ActionButton
                        label={`Purge ${app}'s discarded`}
                        kind="danger"
                        run={() => act(p.service, "purge", { app })}
                      />
                    ))}
                  </p>
                </>
              )}
            </Section>
            <Section title="Replay by idem">
              {s.apps.length === 0
                ? <Absent what="No apps." />
                : <Replay service={p.service} apps={s.apps.map((a) => a.name)} />}
            </Section>
            <Section title="Engine events">
              {events.length === 0
                ? <Absent what="No events since this page opened." />
                : (
                  <ol class="stream" data-testid="ensync-events">
                    {events.slice(0, 100).map((e) => (
                      <li data-type={e.type}>
                        <span class="muted">{clock(e.at)}</span>{" "}
                        <span class={`tag ${e.type}`}>{e.type}</span>{" "}
                        <span class="mono">
                          {[e.app, e.event, e.idem, e.client].filter(Boolean).join(" ")}
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
