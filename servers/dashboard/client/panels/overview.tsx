/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * Overview: every service (address, state, uptime, rate sparkline) and the workspace.
 *
 * @module
 */
import type { Child } from "hono/jsx/dom";
import type { DashboardSnapshot } from "../../core.ts";
import { duration, last, num, rate, Section, Sparkline } from "../ui.tsx";

/** The overview panel. */
export function Overview(props: { snap: DashboardSnapshot }): Child {
  const { snap } = props;
  const ws = snap.workspace;
  return (
    <div class="panel" data-panel="overview">
      <Section title="Services">
        <table class="grid" data-testid="services">
          <caption class="sr">Every service, its address, state, uptime and rate</caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Address</th>
              <th scope="col">State</th>
              <th scope="col">Uptime</th>
              <th scope="col">Rate (last 5 min)</th>
            </tr>
          </thead>
          <tbody>
            {snap.services.map((s) => {
              const h = snap.history[s.name];
              const values = s.rateKey === null ? [] : rate(h, s.rateKey);
              return (
                <tr data-service={s.name}>
                  <th scope="row">
                    {s.name}
                    {s.description ? <div class="muted small">{s.description}</div> : null}
                  </th>
                  <td class="mono wrap">
                    {s.where}
                    {s.detail ? <div class="muted small">{s.detail}</div> : null}
                  </td>
                  <td>
                    <span class={`badge ${s.state}`} title={s.error ?? ""}>{s.state}</span>
                  </td>
                  <td>{duration(s.uptimeS)}</td>
                  <td>
                    {s.rateKey === null || h === undefined
                      ? <span class="muted">–</span>
                      : (
                        <div class="sparkcell">
                          <Sparkline t={h.t} values={values} label={`${s.name} ${s.rateKey}`} />
                          <span class="small">{num(last(values), 1)}/s {s.rateKey}</span>
                        </div>
                      )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Section>
      <Section title="Workspace">
        {ws === null
          ? <p class="muted">No workspace (this dashboard reads servers by URL).</p>
          : (
            <dl class="facts" data-testid="workspace">
              {ws.root
                ? (
                  <>
                    <dt>Workspace</dt>
                    <dd class="mono">{ws.root}</dd>
                  </>
                )
                : null}
              <dt>Config</dt>
              <dd class="mono">{ws.config}</dd>
              <dt>E-mail</dt>
              <dd class="mono">{ws.email}</dd>
              <dt>Data dir</dt>
              <dd class="mono">{ws.dataDir}</dd>
            </dl>
          )}
      </Section>
    </div>
  );
}
