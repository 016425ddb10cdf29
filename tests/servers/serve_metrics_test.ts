// The serving layer's counts on /metrics (servers/_serve_metrics.ts): registered in a registry
// on a fake clock, then read from each real server's GET /metrics (proxy, hub, pub/sub, EnSync
// engine) after one connection refused at the limit and one closed by the headers timeout.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Registry } from "prom-client";
import { serveHardened } from "../../servers/_serve.ts";
import { registerServeMetrics } from "../../servers/_serve_metrics.ts";
import type { ServeLimits } from "../../servers/_limits.ts";
import { serveHub } from "../../servers/hub/main.ts";
import { startPubSubServer } from "../../servers/pubsub/mod.ts";
import { startEnSyncServer } from "../../servers/ensync/mod.ts";
import { startProxyServer } from "../../servers/proxy/mod.ts";
import { FakeClock } from "../_helpers/clock.ts";
import { tempWorkspace, waitFor } from "../_helpers/workspace.ts";
import { readToEnd } from "../_helpers/tcp.ts";

const encoder = new TextEncoder();

/** Opens a TCP connection and sends the start of a request whose headers never end. */
async function slowHeaders(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n"));
  return conn;
}

/** The value of one sample line (`name{labels} value`) in a Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

Deno.test("registerServeMetrics() prints a hardened server's counts, read at each scrape", async () => {
  const clock = new FakeClock();
  await using server = serveHardened(
    { port: 0, clock, maxConnections: 1, headersTimeoutMs: 1_000 },
    () => new Response("ok"),
  );
  const registry = new Registry();
  registerServeMetrics(registry, { http: () => server.stats, grpc: () => undefined });
  const before = await registry.metrics();
  assert.equal(sample(before, 'syft_serve_connections_accepted_total{listener="http"}'), 0);
  assert.ok(!before.includes('listener="grpc"'), "a listener not listening has no samples");

  const slow = await slowHeaders(server.addr.port);
  await waitFor(() => server.stats.open === 1);
  const refused = await readToEnd(
    await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
  );
  assert.match(refused, /^HTTP\/1.1 503/);
  assert.equal(
    sample(await registry.metrics(), 'syft_serve_connections_open{listener="http"}'),
    1,
  );
  await clock.tick(1_500);
  assert.equal(await readToEnd(slow), "");

  const text = await registry.metrics();
  assert.equal(sample(text, 'syft_serve_connections_refused_total{listener="http"}'), 1);
  assert.equal(sample(text, 'syft_serve_connections_accepted_total{listener="http"}'), 1);
  assert.equal(
    sample(text, 'syft_serve_connections_timed_out_total{listener="http",timeout="headers"}'),
    1,
  );
  assert.equal(
    sample(text, 'syft_serve_connections_timed_out_total{listener="http",timeout="idle"}'),
    0,
  );
  assert.equal(sample(text, 'syft_serve_connections_open{listener="http"}'), 0);
  assert.equal(sample(text, 'syft_serve_accept_errors_total{listener="http"}'), 0);
  assert.match(text, /# TYPE syft_serve_connections_refused_total counter/);
});

/** One connection at a time, and a short headers timeout (awaited as the socket closing). */
const LIMITS: ServeLimits = { maxConnections: 1, headersTimeoutMs: 300 };

/**
 * Against a running server on `port`: one slow-headers client holds the only slot, a second is
 * refused, the first is closed by the timeout; then `GET /metrics` shows both.
 */
async function refusedAndTimedOut(port: number): Promise<void> {
  const slow = await slowHeaders(port);
  const refused = await readToEnd(await Deno.connect({ hostname: "127.0.0.1", port }));
  assert.match(refused, /^HTTP\/1.1 503/);
  assert.equal(await readToEnd(slow), "", "the slow client is closed by the headers timeout");
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: { connection: "close" },
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(sample(text, 'syft_serve_connections_refused_total{listener="http"}'), 1, text);
  assert.equal(
    sample(text, 'syft_serve_connections_timed_out_total{listener="http",timeout="headers"}'),
    1,
    text,
  );
  // The slow client and this scrape.
  assert.equal(sample(text, 'syft_serve_connections_accepted_total{listener="http"}'), 2, text);
  assert.equal(sample(text, 'syft_serve_connections_open{listener="http"}'), 1, text);
}

Deno.test("the proxy's /metrics counts a refused and a timed-out connection", async () => {
  await using ws = await tempWorkspace();
  const dataDir = join(ws.path, "data");
  await using server = await startProxyServer({
    workspace: { email: "me@example.org", dataDir },
    port: 0,
    store: "memory",
    accessLog: false,
    limits: LIMITS,
  });
  await refusedAndTimedOut(server.port);
});

Deno.test("the hub's /metrics counts a refused and a timed-out connection", async () => {
  const hub = await serveHub({ port: 0, limits: LIMITS });
  try {
    await refusedAndTimedOut(hub.port);
  } finally {
    await hub.shutdown();
  }
});

Deno.test("the pub/sub server's /metrics counts a refused and a timed-out connection", async () => {
  await using server = await startPubSubServer({ port: 0, limits: LIMITS });
  await refusedAndTimedOut(server.port);
});

Deno.test("the EnSync engine's /metrics counts a refused and a timed-out connection", async () => {
  await using engine = await startEnSyncServer({
    config: { grpcStreams: "auto", apps: [] },
    wsPort: 0,
    grpcPort: false,
    limits: LIMITS,
  });
  await refusedAndTimedOut(engine.wsPort);
});
