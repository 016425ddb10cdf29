/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * Proxy: requests by status, pending requests with their age, latency (what a blocking call
 * waits), rate-limit rejections, and recently finished requests.
 *
 * @module
 */
import type { Child } from "hono/jsx/dom";
import type { DashboardSnapshot } from "../../core.ts";
import type { ProxyLiveEvent, ProxyLiveState } from "../../../../lib/live/mod.ts";
import { Absent, Chart, clock, last, ms, num, Section } from "../ui.tsx";

/** The proxy panel. */
export function ProxyPanel(props: { snap: DashboardSnapshot }): Child {
  const { snap } = props;
  const parts = Object.values(snap.parts).filter((p) => p.part === "proxy" && p.state !== null);
  if (parts.length === 0) {
    return (
      <div class="panel" data-panel="proxy">
        <Absent what="No proxy in this stack." />
      </div>
    );
  }
  return (
    <div class="panel" data-panel="proxy">
      {parts.map((p) => {
        const s = p.state as ProxyLiveState;
        const h = snap.history[p.service];
        const lat = h?.latency.all;
        const events = (snap.recent[p.service] ?? []) as ProxyLiveEvent[];
        return (
          <>
            <Section title={`Proxy ${s.name}`}>
              <dl class="stats" data-testid="proxy-stats">
                <div>
                  <dt>Accepted</dt>
                  <dd>{num(s.counters.requests)}</dd>
                </div>
                <div>
                  <dt>Pending</dt>
                  <dd>{num(s.pendingTotal)}</dd>
                </div>
                <div>
                  <dt>Rate-limited</dt>
                  <dd>{num(s.counters.rateLimited)}</dd>
                </div>
                <div>
                  <dt>p50 / p99</dt>
                  <dd>{ms(last(lat?.p50))} / {ms(last(lat?.p99))}</dd>
                </div>
              </dl>
              <div class="two">
                <table class="grid" data-testid="proxy-status">
                  <caption>Finished requests by status</caption>
                  <tbody>
                    {Object.keys(s.byStatus).length === 0
                      ? (
                        <tr>
                          <td class="muted">none yet</td>
                        </tr>
                      )
                      : Object.entries(s.byStatus).map(([k, v]) => (
                        <tr>
                          <th scope="row">{k}</th>
                          <td class="n">{num(v)}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
                <table class="grid">
                  <caption>HTTP responses by status code</caption>
                  <tbody>
                    {Object.entries(s.byHttpStatus).sort().map(([k, v]) => (
                      <tr>
                        <th scope="row">{k}</th>
                        <td class="n">{num(v)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {h === undefined ? null : (
                <div class="charts">
                  <Chart
                    title="Requests per second"
                    t={h.t}
                    unit="/s"
                    series={[{ label: "accepted", values: h.rates.requests ?? [] }, {
                      label: "rate-limited",
                      values: h.rates.rateLimited ?? [],
                    }]}
                  />
                  <Chart
                    title="Latency, accepted to response (10 s window)"
                    t={h.t}
                    unit=" ms"
                    series={[{ label: "p50", values: lat?.p50 ?? [] }, {
                      label: "p99",
                      values: lat?.p99 ?? [],
                    }]}
                  />
                </div>
              )}
            </Section>
            <Section title="Pending requests">
              {s.pending.length === 0
                ? <Absent what="Nothing pending." />
                : (
                  <table class="grid" data-testid="proxy-pending">
                    <thead>
                      <tr>
                        <th scope="col">Id</th>
                        <th scope="col">Endpoint</th>
                        <th scope="col">Destination</th>
                        <th scope="col" class="n">Age</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.pending.map((r) => (
                        <tr>
                          <td class="mono small">{r.id}</td>
                          <td class="mono">{r.app}/{r.func}</td>
                          <td class="mono">{r.destination}</td>
                          <td class="n">{ms(r.ageMs)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
            </Section>
            <Section title="Recently finished">
              {events.length === 0
                ? <Absent what="No requests since this page opened." />
                : (
                  <table class="grid" data-testid="proxy-recent">
                    <thead>
                      <tr>
                        <th scope="col">Time</th>
                        <th scope="col">Event</th>
                        <th scope="col">Endpoint</th>
                        <th scope="col" class="n">Status</th>
                        <th scope="col" class="n">Took</th>
                      </tr>
                    </thead>
                    <tbody>
                      {events.slice(0, 50).map((e) => (
                        <tr>
                          <td>{clock(e.at)}</td>
                          <td>
                            {e.type === "finished" ? e.status : `rate-limited ${e.client ?? ""}`}
                          </td>
                          <td class="mono">{e.endpoint ?? ""}</td>
                          <td class="n">{e.statusCode ?? ""}</td>
                          <td class="n">{e.seconds === undefined ? "" : ms(e.seconds * 1000)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
            </Section>
          </>
        );
      })}
    </div>
  );
}
