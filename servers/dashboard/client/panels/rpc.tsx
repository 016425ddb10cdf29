/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * File RPC: apps and endpoints (from `rpc.schema.json` and the running apps), requests per second
 * and p50/p99 per endpoint, recent requests (each opens its request and response), and a "try it"
 * form built from the endpoint's schema.
 *
 * @module
 */
import { type Child, useEffect, useState } from "hono/jsx/dom";
import type { DashboardSnapshot } from "../../core.ts";
import type { RpcAppInfo } from "../../rpc_apps.ts";
import type { RpcCallResult } from "../../app.ts";
import type {
  RpcLiveEvent,
  RpcLiveState,
  RpcMessageDetail,
  RpcRequestDetail,
  RpcRequestSummary,
} from "../../../../lib/live/mod.ts";
import type { TypeDescriptor } from "../../../../lib/rpc/schema.ts";
import { get, post } from "../store.ts";
import { Absent, Chart, clock, last, ms, num, Section } from "../ui.tsx";

interface Running {
  service: string;
  state: RpcLiveState;
}

function running(snap: DashboardSnapshot): Running[] {
  return Object.values(snap.parts)
    .filter((p) => p.part === "rpc" && p.state !== null)
    .map((p) => ({ service: p.service, state: p.state as RpcLiveState }));
}

type Row = RpcRequestSummary & { service: string; app: string };

function recentRows(snap: DashboardSnapshot, apps: Running[]): Row[] {
  const seen = new Set<string>();
  const rows: Row[] = [];
  for (const { service, state } of apps) {
    const events = (snap.recent[service] ?? []) as RpcLiveEvent[];
    for (const r of [...events, ...state.recent]) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      rows.push({ ...r, service, app: state.app });
    }
  }
  return rows.sort((a, b) => b.at - a.at).slice(0, 50);
}

function Message(props: { title: string; m: RpcMessageDetail }): Child {
  const { m } = props;
  let body = m.bodyText ?? `(binary, base64) ${m.bodyBase64 ?? ""}`;
  if (m.bodyText) {
    try {
      body = JSON.stringify(JSON.parse(m.bodyText), null, 2);
    } catch { /* not JSON: as is */ }
  }
  return (
    <div class="message">
      <h4>{props.title}</h4>
      <table class="grid small">
        <tbody>
          {Object.entries(m.headers).length === 0
            ? (
              <tr>
                <td class="muted">no headers</td>
              </tr>
            )
            : Object.entries(m.headers).map(([k, v]) => (
              <tr>
                <th scope="row" class="mono">{k}</th>
                <td class="mono wrap">{v}</td>
              </tr>
            ))}
        </tbody>
      </table>
      <pre
        class="body"
        data-testid={`${props.title.toLowerCase()}-body`}
      >{body === "" ? "(empty body)" : body}</pre>
      <p class="muted small">{num(m.bytes)} bytes{m.truncated ? " (first 64 KiB shown)" : ""}</p>
    </div>
  );
}

function Detail(props: { row: Row; onClose: () => void }): Child {
  const [detail, setDetail] = useState<RpcRequestDetail | string | undefined>(undefined);
  const key = `${props.row.service}/${props.row.id}`;
  useEffect(() => {
    setDetail(undefined);
    get<{ result: RpcRequestDetail }>(
      `/api/rpc/requests/${encodeURIComponent(props.row.service)}/${props.row.id}`,
    )
      .then((r) => setDetail(r.result), (err) => setDetail(String(err.message ?? err)));
  }, [key]);
  return (
    <section class="card detail" aria-label={`Request ${props.row.id}`} data-testid="rpc-detail">
      <h3>
        {props.row.method} {props.row.endpoint} <span class="muted mono small">{props.row.id}</span>
      </h3>
      <button type="button" onClick={props.onClose}>Close</button>
      {detail === undefined
        ? <p>Loading…</p>
        : typeof detail === "string"
        ? <p class="error" role="alert">{detail}</p>
        : (
          <div class="two">
            <Message title="Request" m={detail.request} />
            <Message title="Response" m={detail.response} />
          </div>
        )}
    </section>
  );
}

function argInput(name: string, type: TypeDescriptor, required: boolean): Child {
  const t = typeof type === "string" ? type : type.type;
  const id = `try-arg-${name}`;
  const label = (
    <label for={id}>
      {name} <span class="muted small">({t}{required ? ", required" : ""})</span>
    </label>
  );
  if (t === "bool") {
    return (
      <div class="field">
        {label}
        <input id={id} name={name} type="checkbox" data-kind="bool" />
      </div>
    );
  }
  if (t === "int" || t === "float") {
    return (
      <div class="field">
        {label}
        <input
          id={id}
          name={name}
          type="number"
          step={t === "int" ? "1" : "any"}
          required={required}
          data-kind="number"
        />
      </div>
    );
  }
  if (t === "str") {
    return (
      <div class="field">
        {label}
        <input id={id} name={name} type="text" required={required} data-kind="string" />
      </div>
    );
  }
  return (
    <div class="field">
      {label}
      <textarea
        id={id}
        name={name}
        rows={2}
        required={required}
        data-kind="json"
        placeholder="JSON"
      />
    </div>
  );
}

function TryIt(props: { apps: RpcAppInfo[] }): Child {
  const options = props.apps.flatMap((a) =>
    a.endpoints.map((e) => ({ app: a, e, value: `${a.url}${e.path}` }))
  );
  const [choice, setChoice] = useState("");
  const [result, setResult] = useState<RpcCallResult | string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  if (options.length === 0) {
    return (
      <Absent
        what="No endpoints to try yet."
        hint="Apps appear here once they publish rpc.schema.json."
      />
    );
  }
  const selected = options.find((o) => o.value === choice) ?? options[0]!;
  const args = Object.entries(selected.e.args);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    setBusy(true);
    setResult(undefined);
    try {
      let body: string | null;
      if (args.length === 0) {
        const raw = (form.elements.namedItem("raw") as HTMLTextAreaElement).value;
        body = raw === "" ? null : raw;
      } else {
        const value: Record<string, unknown> = {};
        for (const [name] of args) {
          const input = form.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement;
          const kind = input.dataset.kind;
          if (kind === "bool") value[name] = (input as HTMLInputElement).checked;
          else if (input.value === "") continue;
          else if (kind === "number") value[name] = Number(input.value);
          else if (kind === "json") {
            try {
              value[name] = JSON.parse(input.value);
            } catch {
              throw new Error(`${name}: not JSON`);
            }
          } else value[name] = input.value;
        }
        body = JSON.stringify(value);
      }
      const method = (form.elements.namedItem("method") as HTMLSelectElement).value;
      setResult(
        await post<RpcCallResult>("/api/rpc/call", {
          url: selected.value,
          method,
          body,
          headers: body === null ? {} : { "Content-Type": "application/json" },
          timeoutS: 10,
        }),
      );
    } catch (err) {
      setResult(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  let shown = "";
  if (result !== undefined && typeof result !== "string") {
    shown = result.bodyText ?? `(binary, base64) ${result.bodyBase64}`;
    try {
      shown = JSON.stringify(JSON.parse(shown), null, 2);
    } catch { /* as is */ }
  }
  return (
    <form class="tryit" onSubmit={submit} data-testid="tryit" aria-label="Try an endpoint">
      <div class="field">
        <label for="try-endpoint">Endpoint</label>
        <select
          id="try-endpoint"
          name="endpoint"
          value={selected.value}
          onChange={(e: Event) => setChoice((e.target as HTMLSelectElement).value)}
        >
          {options.map((o) => (
            <option value={o.value} selected={o.value === selected.value}>
              {`${o.app.app}${o.e.path} (${o.app.datasite})`}
            </option>
          ))}
        </select>
      </div>
      {selected.e.description ? <p class="muted">{selected.e.description}</p> : null}
      <div class="field">
        <label for="try-method">Method</label>
        <select id="try-method" name="method">
          {["POST", "GET", "PUT", "PATCH", "DELETE"].map((m) => (
            <option key={m} value={m}>{m}</option>
          ))}
        </select>
      </div>
      {args.length === 0
        ? (
          <div class="field">
            <label for="try-raw">
              Body <span class="muted small">(no arguments in the schema: sent as written)</span>
            </label>
            <textarea id="try-raw" name="raw" rows={3} placeholder='{"hello": "world"}' />
          </div>
        )
        : args.map(([name, a]) => argInput(name, a.type, a.required))}
      <button type="submit" disabled={busy}>{busy ? "Sending…" : "Send"}</button>
      {result === undefined
        ? null
        : typeof result === "string"
        ? <p class="error" role="alert">{result}</p>
        : (
          <div class="result" role="status" data-testid="tryit-result">
            <p>
              <span class={`badge ${result.status < 400 ? "running" : "unreachable"}`}>
                {result.status}
              </span>{" "}
              in {ms(result.durationMs)} <span class="muted mono small">{result.id}</span>
            </p>
            <pre class="body">{shown === "" ? "(empty body)" : shown}</pre>
          </div>
        )}
    </form>
  );
}

/** The File RPC panel. */
export function RpcPanel(props: { snap: DashboardSnapshot }): Child {
  const { snap } = props;
  const apps = running(snap);
  const [open, setOpen] = useState<Row | undefined>(undefined);
  const rows = recentRows(snap, apps);
  // Endpoints: every schema'd endpoint, plus running ones without a schema file.
  const endpointRows: {
    app: string;
    datasite: string;
    path: string;
    description: string | null;
    service?: string;
    runningState?: RpcLiveState;
  }[] = [];
  for (const info of snap.rpcApps) {
    for (const e of info.endpoints) {
      const r = apps.find((a) => a.state.app === info.app && a.state.email === info.datasite);
      endpointRows.push({
        app: info.app,
        datasite: info.datasite,
        path: e.path,
        description: e.description,
        ...(r ? { service: r.service, runningState: r.state } : {}),
      });
    }
  }
  for (const a of apps) {
    for (const e of a.state.endpoints) {
      if (
        !endpointRows.some((r) =>
          r.app === a.state.app && r.datasite === a.state.email && r.path === e.path
        )
      ) {
        endpointRows.push({
          app: a.state.app,
          datasite: a.state.email,
          path: e.path,
          description: e.description,
          service: a.service,
          runningState: a.state,
        });
      }
    }
  }
  return (
    <div class="panel" data-panel="rpc">
      <Section title="Apps and endpoints">
        {endpointRows.length === 0
          ? <Absent what="No file-RPC apps found in the datasites." />
          : (
            <table class="grid" data-testid="rpc-endpoints">
              <thead>
                <tr>
                  <th scope="col">App</th>
                  <th scope="col">Endpoint</th>
                  <th scope="col">Description</th>
                  <th scope="col" class="n">Requests</th>
                  <th scope="col" class="n">req/s</th>
                  <th scope="col" class="n">p50</th>
                  <th scope="col" class="n">p99</th>
                </tr>
              </thead>
              <tbody>
                {endpointRows.map((r) => {
                  const h = r.service === undefined
                    ? undefined
                    : snap.history[r.service]?.latency[r.path];
                  const count = r.runningState?.endpoints.find((e) => e.path === r.path)?.requests;
                  return (
                    <tr>
                      <td>
                        {r.app} <span class="muted small">{r.datasite}</span>
                        {r.service === undefined
                          ? <span class="muted small">(not in this process)</span>
                          : null}
                      </td>
                      <td class="mono">{r.path}</td>
                      <td>{r.description ?? ""}</td>
                      <td class="n">{num(count)}</td>
                      <td class="n">{num(last(h?.rate), 1)}</td>
                      <td class="n">{ms(last(h?.p50))}</td>
                      <td class="n">{ms(last(h?.p99))}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        {apps.map(({ service, state }) => {
          const h = snap.history[service];
          if (h === undefined) return null;
          const eps = state.endpoints.map((e) => e.path);
          return (
            <div class="charts">
              <Chart
                title={`${state.app}: requests per second`}
                t={h.t}
                unit="/s"
                series={eps.map((p) => ({ label: p, values: h.latency[p]?.rate ?? [] }))}
              />
              <Chart
                title={`${state.app}: p99 latency (10 s window)`}
                t={h.t}
                unit=" ms"
                series={eps.map((p) => ({ label: p, values: h.latency[p]?.p99 ?? [] }))}
              />
            </div>
          );
        })}
      </Section>
      <Section title="Recent requests">
        {rows.length === 0
          ? <Absent what="No requests yet." />
          : (
            <table class="grid" data-testid="rpc-recent">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Sender</th>
                  <th scope="col">Endpoint</th>
                  <th scope="col" class="n">Status</th>
                  <th scope="col" class="n">Duration</th>
                  <th scope="col">
                    <span class="sr">Open</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr data-id={r.id} class={open?.id === r.id ? "selected" : ""}>
                    <td>{clock(r.at)}</td>
                    <td class="mono">{r.sender}</td>
                    <td class="mono">{r.app}{r.endpoint}</td>
                    <td class="n">
                      <span class={`badge ${r.status < 400 ? "running" : "unreachable"}`}>
                        {r.status}
                      </span>
                    </td>
                    <td class="n">{ms(r.durationMs)}</td>
                    <td>
                      <button
                        type="button"
                        aria-label={`Open request ${r.id}`}
                        onClick={() => setOpen(r)}
                      >
                        Open
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        {open === undefined ? null : <Detail row={open} onClose={() => setOpen(undefined)} />}
      </Section>
      <Section title="Try it">
        <TryIt apps={snap.rpcApps} />
      </Section>
    </div>
  );
}
