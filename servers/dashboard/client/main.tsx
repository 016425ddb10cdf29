/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * The dashboard page's script: follows `/api/events` and renders the selected panel. The tabs
 * are the page's own buttons (arrow keys, Home and End move between them, as the WAI-ARIA tabs
 * pattern has it); the panel follows the URL hash.
 *
 * @module
 */
import { type Child, render, useSyncExternalStore } from "hono/jsx/dom";
import { store } from "./store.ts";
import { Overview } from "./panels/overview.tsx";
import { RpcPanel } from "./panels/rpc.tsx";
import { ProxyPanel } from "./panels/proxy.tsx";
import { HubPanel } from "./panels/hub.tsx";
import { EnSyncPanel } from "./panels/ensync.tsx";
import { PubSubPanel } from "./panels/pubsub.tsx";

const PANELS = ["overview", "rpc", "proxy", "hub", "ensync", "pubsub"] as const;
type Panel = typeof PANELS[number];

function current(): Panel {
  const id = location.hash.slice(1) as Panel;
  return PANELS.includes(id) ? id : "overview";
}

let hashVersion = 0;
const hashListeners = new Set<() => void>();
addEventListener("hashchange", () => {
  hashVersion++;
  for (const l of hashListeners) l();
  syncTabs();
});

function syncTabs(): void {
  const panel = current();
  for (const tab of document.querySelectorAll<HTMLButtonElement>('#tabs [role="tab"]')) {
    const on = tab.dataset.panel === panel;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
  }
  document.getElementById("main")?.setAttribute("aria-labelledby", `tab-${panel}`);
}

function select(panel: string, focus: boolean): void {
  if (location.hash.slice(1) !== panel) location.hash = panel;
  if (focus) document.getElementById(`tab-${panel}`)?.focus();
}

function setupTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('#tabs [role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab.dataset.panel!, false));
    tab.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(tab);
      let next = -1;
      if (e.key === "ArrowRight") next = (i + 1) % tabs.length;
      else if (e.key === "ArrowLeft") next = (i - 1 + tabs.length) % tabs.length;
      else if (e.key === "Home") next = 0;
      else if (e.key === "End") next = tabs.length - 1;
      if (next >= 0) {
        e.preventDefault();
        select(tabs[next]!.dataset.panel!, true);
      }
    });
  }
  syncTabs();
}

function App(): Child {
  useSyncExternalStore(store.subscribe, store.getVersion);
  useSyncExternalStore((cb) => {
    hashListeners.add(cb);
    return () => hashListeners.delete(cb);
  }, () => hashVersion);
  const conn = document.getElementById("conn");
  if (conn !== null) {
    conn.textContent = store.connected ? "Live" : "Reconnecting…";
    conn.className = `conn ${store.connected ? "live" : "down"}`;
  }
  const snap = store.snapshot;
  if (snap === undefined) return <p>Loading…</p>;
  switch (current()) {
    case "rpc":
      return <RpcPanel snap={snap} />;
    case "proxy":
      return <ProxyPanel snap={snap} />;
    case "hub":
      return <HubPanel snap={snap} />;
    case "ensync":
      return <EnSyncPanel snap={snap} />;
    case "pubsub":
      return <PubSubPanel snap={snap} />;
    default:
      return <Overview snap={snap} />;
  }
}

setupTabs();
store.connect();
const root = document.getElementById("app")!;
root.textContent = "";
render(<App />, root);
