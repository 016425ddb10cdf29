// deno-lint-ignore-file no-console
/**
 * The processes `bench/proxy.ts` measures, one per mode, each printing `READY <url>` once it
 * listens:
 *
 * - `raw`: a bare `Deno.serve` hello (the limit);
 * - `hono`: a bare Hono hello;
 * - `honopost`: a bare Hono app that reads the same JSON send body and answers a small JSON object
 *   (what any Hono app accepting this POST pays, before validation or work of its own);
 * - `rawfile <dir>`: a bare `Deno.serve` that only writes each body atomically (temp file +
 *   rename), the floor of any proxy that writes one request file per call;
 * - `proxy <dataDir> <store>`: the syft proxy with its default middleware (no access log);
 * - `nowrite <dataDir>`: the same proxy server (`startProxyServer`: routes, validation, middleware,
 *   gateway, memory store) over a backend (its `backend` option) that writes no file: the ceiling
 *   of the send path on this machine;
 * - `echo <dataDir>`: lib/rpc's echo app (`SyftEvents`) answering through real files;
 * - `rpcload <dataDir> <connections> <seconds>`: not a server: lib/rpc's client alone (no proxy)
 *   calling the echo app with `<connections>` calls in flight for `<seconds>` (after a second of
 *   warm-up), printing `RESULT {"rps","p50Ms","p99Ms","errors"}`: the limit of the blocking proxy
 *   run at the same concurrency.
 *
 * @module
 */
import { Hono } from "hono";
import { type RpcBackend, startProxyServer } from "../../servers/proxy/mod.ts";
import type { SyftRequestJson } from "../../lib/proxy/mod.ts";
import { createEchoApp, RpcClient, SyftRequest } from "../../lib/rpc/mod.ts";

const [mode, dataDir, store] = Deno.args;
const ready = (url: string): void => console.log(`READY ${url}`);

if (mode === "raw") {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (a) => ready(`http://127.0.0.1:${a.port}`),
  }, () => new Response("hello"));
} else if (mode === "rawfile") {
  let n = 0;
  await Deno.mkdir(`${dataDir}/out`, { recursive: true });
  Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (a) => ready(`http://127.0.0.1:${a.port}`) },
    async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      const id = `${n++}`;
      await Deno.writeFile(`${dataDir}/out/.${id}.tmp`, body);
      await Deno.rename(`${dataDir}/out/.${id}.tmp`, `${dataDir}/out/${id}.request`);
      return Response.json({ id, status: "pending" });
    },
  );
} else if (mode === "hono") {
  const app = new Hono();
  app.get("/", (c) => c.text("hello"));
  Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (a) => ready(`http://127.0.0.1:${a.port}`) },
    app.fetch,
  );
} else if (mode === "honopost") {
  const app = new Hono();
  app.post("/rpc/send", async (c) => {
    const body = await c.req.json() as { app_name?: unknown };
    return c.json({ id: crypto.randomUUID(), status: "pending", app: body.app_name });
  });
  Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (a) => ready(`http://127.0.0.1:${a.port}`) },
    app.fetch,
  );
} else if (mode === "proxy") {
  const server = await startProxyServer({
    workspace: { email: "me@example.org", dataDir: dataDir! },
    port: 0,
    store: store!,
    kvPath: `${dataDir}/proxy.kv`,
    redisPrefix: `syft-bench:${crypto.randomUUID().slice(0, 8)}:`,
    accessLog: false,
  });
  ready(server.url);
  Deno.addSignalListener("SIGTERM", async () => {
    await server.close();
    Deno.exit(0);
  });
} else if (mode === "nowrite") {
  const email = "me@example.org";
  // Builds each request as the file backend does, but never writes or follows it.
  const backend: RpcBackend = {
    email,
    datasitesDir: `${dataDir}/datasites`,
    prepare(req) {
      const request = new SyftRequest({
        sender: email,
        url: req.url,
        method: req.method as "POST",
        body: req.body,
        headers: req.headers,
        expires: req.expiresAt,
      });
      return {
        request: request.toJSON() as unknown as SyftRequestJson,
        write: () =>
          Promise.resolve({ response: () => new Promise(() => {}), consume: async () => {} }),
      };
    },
    recover: () => Promise.resolve([]),
    readSchema: () => Promise.resolve(null),
    close: async () => {},
  };
  // The proxy server as shipped (hardened serving layer, memory store), on that backend.
  const server = await startProxyServer({
    workspace: { email, dataDir: dataDir! },
    port: 0,
    store: "memory",
    accessLog: false,
    backend,
  });
  ready(server.url);
  // Exit (not die) on SIGTERM, so that `--cpu-prof` writes its profile.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
} else if (mode === "echo") {
  const app = createEchoApp({ workspace: { dataDir: dataDir!, email: "me@example.org" } });
  await app.start();
  ready("echo");
  Deno.addSignalListener("SIGTERM", async () => {
    await app.stop();
    Deno.exit(0);
  });
} else if (mode === "rpcload") {
  const connections = Number(Deno.args[2] ?? 16);
  const seconds = Number(Deno.args[3] ?? 5);
  await using client = await RpcClient.open({
    workspace: { dataDir: dataDir!, email: "me@example.org" },
  });
  const url = "syft://me@example.org/app_data/echo/rpc/echo";
  const latencies: number[] = [];
  let errors = 0;
  const warmEnd = performance.now() + 1000;
  const end = warmEnd + seconds * 1000;
  let seq = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const res = await client.call(url, {
        method: "POST",
        // Random ids as the proxy sends (no cache mode), and a body of its own.
        body: { hello: "world", n: seq++ },
        timeout: "30s",
        cache: false,
      });
      if (t < warmEnd) continue;
      if (res.statusCode === 200) latencies.push(performance.now() - t);
      else errors++;
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  console.log(`RESULT ${
    JSON.stringify({
      rps: latencies.length / seconds,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      errors,
    })
  }`);
} else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
