// deno-lint-ignore-file no-console
// Fault suite: one client cannot take a server down (issue 13, item 1). Every syft server runs
// as `syft <part> serve` in its own process:
//
// - fd_exhaustion: under `ulimit -n 1024`, 1,100 idle TCP connections are opened to it; it must
//   stay alive (answer, if only with 503 at its limit), and once they close, a normal request
//   must succeed within a second (measured against a deadline);
// - slowloris: 2,000 clients send half a request head and stop; the headers timeout (2 s here)
//   must close every one of them while other clients are served.
//
// Each case prints `FAULT <case> server=<name> key=value …`.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { syftEnv } from "../_helpers/cli.ts";
import { waitFor } from "../_helpers/workspace.ts";

const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Target {
  kind: "http" | "grpc";
  /** host:port to open connections to. */
  host: string;
  port: number;
  /** Sends one normal request; resolves with its status (HTTP status, or "grpc:<code>"). */
  request(): Promise<string>;
}

interface Started extends AsyncDisposable {
  child: Deno.ChildProcess;
  info: Record<string, unknown>;
  exited: () => boolean;
}

/** Starts `syft <args> --json`, under `ulimit -n <fds>` when given; resolves with its JSON line. */
async function start(args: string[], fds?: number): Promise<Started> {
  const deno = [Deno.execPath(), "run", "-q", "-P", "--config", CONFIG, MAIN, ...args, "--json"];
  const cmd = fds === undefined
    ? new Deno.Command(deno[0]!, {
      args: deno.slice(1),
      env: syftEnv(),
      stdout: "piped",
      stderr: "piped",
    })
    : new Deno.Command("bash", {
      args: ["-c", `ulimit -n ${fds} && exec "$@"`, "bash", ...deno],
      env: syftEnv(),
      stdout: "piped",
      stderr: "piped",
    });
  const child = cmd.spawn();
  let done = false;
  const status = child.status.then((s) => {
    done = true;
    return s;
  });
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let info: Record<string, unknown> | undefined;
  while (info === undefined) {
    const { value, done: eof } = await reader.read();
    if (eof) throw new Error(`syft ${args.join(" ")} exited: ${await stderr}`);
    buf += value;
    for (const line of buf.split("\n")) {
      if (line.startsWith("{")) {
        try {
          info = JSON.parse(line);
        } catch { /* partial */ }
      }
    }
  }
  // Keep draining stdout so that the server never blocks on it.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return {
    child,
    info,
    exited: () => done,
    async [Symbol.asyncDispose](): Promise<void> {
      if (!done) child.kill("SIGTERM");
      await status;
      await stderr;
    },
  };
}

/** One HTTP/1.1 request on a fresh connection; resolves with the status line's code. */
async function httpStatus(port: number, path: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      encoder.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    const buf = new Uint8Array(512);
    const n = await conn.read(buf);
    if (n === null) return "closed";
    return /^HTTP\/1\.1 (\d{3})/.exec(decoder.decode(buf.subarray(0, n)))?.[1] ?? "garbage";
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

function grpcStatus(port: number): Promise<string> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<string>((resolve) => {
    client.makeUnaryRequest(
      "/syft.fault.Probe/Nothing",
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.alloc(0),
      { deadline: Date.now() + 900 },
      (err) => {
        client.close();
        // UNIMPLEMENTED is an answer: the server read the call and replied.
        resolve(`grpc:${err?.code ?? 0}`);
      },
    );
  });
}

const served = (status: string): boolean => status === "200" || status === "grpc:12";

function httpTarget(url: string, path: string): Target {
  const u = new URL(url.replace(/^ws/, "http"));
  const port = Number(u.port);
  return { kind: "http", host: u.hostname, port, request: () => httpStatus(port, path) };
}

function grpcTarget(url: string): Target {
  const port = Number(new URL(url.replace(/^grpc/, "http")).port);
  return { kind: "grpc", host: "127.0.0.1", port, request: () => grpcStatus(port) };
}

/** A held connection: `ended` resolves when the server closes it (or sent a refusal). */
interface Held {
  conn: Deno.TcpConn;
  ended: boolean;
  answered: string;
}

function hold(conn: Deno.TcpConn): Held {
  const held: Held = { conn, ended: false, answered: "" };
  (async () => {
    const buf = new Uint8Array(512);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        held.answered += decoder.decode(buf.subarray(0, n));
      }
    } catch { /* reset or closed by us */ }
    held.ended = true;
  })();
  return held;
}

async function openMany(target: Target, count: number, prefix = ""): Promise<Held[]> {
  const out: Held[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
        if (prefix !== "") await conn.write(encoder.encode(prefix)).catch(() => 0);
        return hold(conn);
      }),
    );
    out.push(...batch);
  }
  return out;
}

function closeAll(held: Held[]): void {
  for (const h of held) {
    try {
      h.conn.close();
    } catch { /* closed */ }
  }
}

/** Retries `target.request()` until it is served; returns how long that took, in ms. */
async function servedWithin(target: Target, deadlineMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const status = await target.request().catch(() => "error");
    const elapsed = performance.now() - t0;
    if (served(status)) return elapsed;
    if (elapsed > deadlineMs) return Infinity;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Prints the case's line; `deno test -q` swallows console output, so it goes to the terminal. */
function fault(name: string, fields: Record<string, unknown>): void {
  const line = `FAULT ${name} ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(" ")}`;
  try {
    const out = Deno.openSync("/dev/stdout", { write: true, append: true });
    out.writeSync(encoder.encode(`\n${line}\n`));
    out.close();
  } catch {
    console.log(line);
  }
}

async function fdCase(server: string, started: Started, target: Target): Promise<void> {
  const held = await openMany(target, 1_100);
  // At its limit the server answers 503 (HTTP) or closes at once (gRPC): both say it is alive.
  await waitFor(() => held.some((h) => h.ended), { timeoutMs: 10_000, what: "refusals" });
  assert.equal(started.exited(), false, `${server} exited with 1,100 connections open`);
  const alive = await target.request().catch((e) => `error ${e}`);
  assert.equal(started.exited(), false, `${server} exited`);
  const refused = held.filter((h) => h.ended).length;
  closeAll(held);
  const ms = await servedWithin(target, 1_000);
  fault("fd_exhaustion", {
    server,
    ulimit: 1024,
    opened: held.length,
    refused,
    held: held.length - refused,
    alive_answer: alive,
    served_after_close_ms: Number.isFinite(ms) ? Math.round(ms) : "never",
  });
  assert.ok(refused > 0, `${server} refused none of 1,100 connections under ulimit -n 1024`);
  assert.ok(ms <= 1_000, `${server}: no request served within 1 s of the connections closing`);
}

async function slowlorisCase(server: string, started: Started, target: Target): Promise<void> {
  const prefix = target.kind === "grpc"
    ? "PRI * HTTP/2.0\r\n"
    : "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  const slow = await openMany(target, 2_000, prefix);
  let servedCount = 0;
  let asked = 0;
  while (slow.some((h) => !h.ended) && asked < 200) {
    asked++;
    if (served(await target.request().catch(() => "error"))) servedCount++;
    if (asked >= 20) await new Promise((r) => setTimeout(r, 50));
  }
  await waitFor(() => slow.every((h) => h.ended), { timeoutMs: 30_000, what: "timeouts" });
  // An HTTP server closed by its headers timeout sends nothing; an HTTP/2 server sends its
  // SETTINGS first, so for gRPC every connection the server ended counts.
  const closed = slow.filter((h) => h.ended && (target.kind === "grpc" || h.answered === ""))
    .length;
  closeAll(slow);
  fault("slowloris", {
    server,
    opened: slow.length,
    closed_by_timeout: closed,
    answered: slow.length - closed,
    served: servedCount,
    of: asked,
  });
  assert.equal(started.exited(), false);
  assert.equal(closed, 2_000, `${server}: not every slow client was closed by the headers timeout`);
  assert.equal(servedCount, asked, `${server}: other clients were not all served`);
}

type Servers = Record<string, (started: Started) => Target>;

async function withServer(
  args: string[],
  fds: number | undefined,
  run: (started: Started) => Promise<void>,
): Promise<void> {
  await using started = await start(args, fds);
  await run(started);
}

const ENSYNC_APPS = await Deno.makeTempFile({ suffix: ".yaml" });
await Deno.writeTextFile(ENSYNC_APPS, "apps: []\n");
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(ENSYNC_APPS);
  } catch { /* gone */ }
});

const PARTS: { name: string; args: string[]; targets: Servers }[] = [
  {
    name: "proxy",
    args: ["proxy", "serve", "--port", "0", "--store", "memory"],
    targets: { proxy: (s) => httpTarget(String(s.info.url), "/health") },
  },
  {
    name: "hub",
    args: ["hub", "serve", "--port", "0"],
    targets: { hub: (s) => httpTarget(String(s.info.http), "/") },
  },
  {
    name: "pubsub",
    args: ["pubsub", "serve", "--port", "0"],
    targets: { pubsub: (s) => httpTarget(String(s.info.url), "/health") },
  },
  {
    name: "ensync",
    args: [
      "ensync",
      "serve",
      "--store",
      "memory",
      "--ws-port",
      "0",
      "--grpc-port",
      "0",
      "--apps",
      ENSYNC_APPS,
    ],
    targets: {
      "ensync-ws": (s) => httpTarget(String(s.info.ws), "/health"),
      "ensync-grpc": (s) => grpcTarget(String(s.info.grpc)),
    },
  },
];

const LIMIT_FLAGS = { fd: ["--headers-timeout", "120"], slow: ["--headers-timeout", "2"] };

for (const part of PARTS) {
  Deno.test(`fault: ${part.name} survives 1,100 idle connections under ulimit -n 1024`, async () => {
    await withServer([...part.args, ...LIMIT_FLAGS.fd], 1024, async (started) => {
      for (const [server, target] of Object.entries(part.targets)) {
        await fdCase(server, started, target(started));
      }
    });
  });
  Deno.test(`fault: ${part.name} closes 2,000 slow-header clients and serves the others`, async () => {
    await withServer([...part.args, ...LIMIT_FLAGS.slow], undefined, async (started) => {
      for (const [server, target] of Object.entries(part.targets)) {
        await slowlorisCase(server, started, target(started));
      }
    });
  });
}

// The dashboard reads a running server; it is started beside a proxy.
for (const [kase, fds] of [["fd", 1024], ["slow", undefined]] as const) {
  Deno.test(`fault: dashboard ${kase === "fd" ? "survives 1,100 idle connections under ulimit -n 1024" : "closes 2,000 slow-header clients"}`, async () => {
    await using proxy = await start(["proxy", "serve", "--port", "0", "--store", "memory"]);
    await withServer(
      [
        "dashboard",
        "--url",
        String(proxy.info.url),
        "--port",
        "0",
        "--no-workspace",
        ...LIMIT_FLAGS[kase],
      ],
      fds,
      async (started) => {
        const target = httpTarget(String(started.info.url), "/");
        if (kase === "fd") await fdCase("dashboard", started, target);
        else await slowlorisCase("dashboard", started, target);
      },
    );
  });
}
