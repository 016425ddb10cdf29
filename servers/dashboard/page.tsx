/**
 * The dashboard page shell (Hono JSX): the header, the panel tabs and the mount point of the
 * client script, which renders the panels from `/api/events`.
 *
 * @module
 */
import type { HtmlEscapedString } from "hono/utils/html";

/** The tabs, in order: id and label. */
export const PANELS: readonly { id: string; label: string }[] = [
  { id: "overview", label: "Overview" },
  { id: "rpc", label: "File RPC" },
  { id: "proxy", label: "Proxy" },
  { id: "hub", label: "Hub" },
  { id: "ensync", label: "EnSync" },
  { id: "pubsub", label: "Pub/sub" },
];

/**
 * Renders the page.
 *
 * @param props The CSRF token (in a meta tag for the script) and syft's version.
 * @returns The HTML.
 */
export function renderPage(
  props: { csrf: string; version: string },
): HtmlEscapedString | Promise<HtmlEscapedString> {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="csrf-token" content={props.csrf} />
        <title>syft dashboard</title>
        <link rel="stylesheet" href="/static/app.css" />
      </head>
      <body>
        <a class="skip" href="#main">Skip to the panel</a>
        <header class="top">
          <h1>
            syft <span class="muted">{props.version}</span>
          </h1>
          <p id="conn" class="conn" role="status" aria-live="polite">Connecting…</p>
        </header>
        <nav aria-label="Panels">
          <div role="tablist" aria-label="Panels" id="tabs">
            {PANELS.map((p, i) => (
              <button
                type="button"
                role="tab"
                id={`tab-${p.id}`}
                aria-controls="main"
                aria-selected={i === 0 ? "true" : "false"}
                tabindex={i === 0 ? 0 : -1}
                data-panel={p.id}
              >
                {p.label}
              </button>
            ))}
          </div>
        </nav>
        <main id="main" role="tabpanel" aria-labelledby="tab-overview" tabindex={-1}>
          <div id="app">
            <p>
              Loading… (the same data is at <a href="/api/state">/api/state</a>)
            </p>
          </div>
          <noscript>This page needs JavaScript; the same data is at /api/state.</noscript>
        </main>
        <script type="module" src="/static/app.js"></script>
      </body>
    </html>
  ) as unknown as HtmlEscapedString;
}
