/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * Small building blocks of the panels: number and time formatting, a chart (uPlot), a
 * sparkline, tables and an action button that reports its outcome.
 *
 * @module
 */
import { type Child, useEffect, useRef, useState } from "hono/jsx/dom";
import uPlot from "uplot";
import type { HistoryColumns } from "../history.ts";

/** Formats a number for a table cell (`–` for none). */
export function num(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Formats milliseconds (`–` for none). */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (v < 1) return `${(v * 1000).toFixed(0)} µs`;
  if (v < 1000) return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}

/** Formats a duration in seconds as `1h 2m`, `3m 4s`, `5s`. */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

/** A wall-clock time (HH:MM:SS). */
export function clock(t: number): string {
  return new Date(t).toLocaleTimeString("en-GB", { hour12: false });
}

/** The last value of a column. */
export function last(col: (number | null)[] | undefined): number | null {
  if (col === undefined) return null;
  for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null) return col[i]!;
  return null;
}

const COLORS = ["#1f5fbf", "#b3261e", "#1b7f3b", "#8a4baf", "#b35c00", "#00707a"];

/** One series of a chart. */
export interface Series {
  /** Legend label. */
  label: string;
  /** Values, one per time. */
  values: (number | null)[];
}

/** A time-series chart (uPlot) that follows its data. */
export function Chart(
  props: {
    title: string;
    t: number[];
    series: Series[];
    unit?: string;
    height?: number;
    id?: string;
  },
): Child {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = props.series.map((s) => s.label).join("\n");
  const data = [props.t, ...props.series.map((s) => s.values)] as uPlot.AlignedData;
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    plot.current?.destroy();
    el.textContent = "";
    const unit = props.unit ?? "";
    const u = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: props.height ?? 160,
        series: [
          {},
          ...props.series.map((s, i) => ({
            label: s.label,
            stroke: COLORS[i % COLORS.length]!,
            width: 1.5,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => v === null ? "–" : `${num(v, 2)}${unit}`,
          })),
        ],
        axes: [{}, {
          size: 60,
          values: (_u: uPlot, vals: number[]) => vals.map((v) => `${num(v, 2)}${unit}`),
        }],
        scales: { x: { time: true } },
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() =>
      u.setSize({ width: Math.max(200, el.clientWidth), height: props.height ?? 160 })
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape]);
  useEffect(() => {
    plot.current?.setData(data);
  });
  return (
    <figure class="chart" id={props.id}>
      <figcaption>{props.title}</figcaption>
      <div
        ref={box}
        role="img"
        aria-label={`${props.title}: ${
          props.series.map((s) => `${s.label} ${num(last(s.values), 2)}${props.unit ?? ""}`).join(
            ", ",
          )
        }`}
      />
    </figure>
  );
}

/** A small line of one series (the overview's rates). */
export function Sparkline(props: { t: number[]; values: (number | null)[]; label: string }): Child {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = [props.t, props.values] as uPlot.AlignedData;
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    plot.current?.destroy();
    el.textContent = "";
    const u = new uPlot(
      {
        width: 140,
        height: 32,
        pxAlign: false,
        cursor: { show: false },
        legend: { show: false },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        series: [{}, { stroke: COLORS[0]!, width: 1.5, fill: "rgba(31,95,191,0.12)" }],
      },
      data,
      el,
    );
    plot.current = u;
    return () => u.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(data);
  });
  return (
    <div
      class="spark"
      ref={box}
      role="img"
      aria-label={`${props.label}: ${num(last(props.values), 2)} per second`}
    />
  );
}

/** Reads the rate column of a counter from a history. */
export function rate(h: HistoryColumns | undefined, counter: string): (number | null)[] {
  return h?.rates[counter] ?? [];
}

/** A button that runs an async action and shows its result or error next to it. */
export function ActionButton(
  props: {
    label: string;
    run: () => Promise<unknown>;
    ariaLabel?: string;
    kind?: "danger" | "plain";
    testid?: string;
  },
): Child {
  const [status, setStatus] = useState<"" | "busy" | "ok" | string>("");
  return (
    <span class="action">
      <button
        type="button"
        class={props.kind === "danger" ? "danger" : ""}
        aria-label={props.ariaLabel ?? props.label}
        data-testid={props.testid}
        disabled={status === "busy"}
        onClick={async () => {
          setStatus("busy");
          try {
            await props.run();
            setStatus("ok");
          } catch (err) {
            setStatus(err instanceof Error ? err.message : String(err));
          }
        }}
      >
        {props.label}
      </button>
      {status !== "" && status !== "busy" && status !== "ok"
        ? <span class="error" role="alert">{status}</span>
        : null}
    </span>
  );
}

/** A section with a heading. */
export function Section(props: { title: string; children?: Child; id?: string }): Child {
  return (
    <section class="card" id={props.id} aria-label={props.title}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** A message for a part that is not running. */
export function Absent(props: { what: string; hint?: string }): Child {
  return (
    <p class="absent">
      {props.what} {props.hint ? <span class="muted">{props.hint}</span> : null}
    </p>
  );
}
