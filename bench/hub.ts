// deno-lint-ignore-file no-console
/**
 * `deno task bench:hub`: the WebSocket hub against its limit (a bare `Deno.upgradeWebSocket`
 * echo) and its peer (Socket.IO 4.8 server and client on Node, installed with npm into a temp dir
 * for this run), all in the same run.
 *
 * Method. The machine has few cores, so load generators would steal CPU from the server under
 * test: every server runs in its own process and every load generator in another one (Deno
 * `WebSocket` clients for syft and the bare echo, `socket.io-client` for Socket.IO). The
 * workloads run in rounds that alternate the systems, and each system's best round counts (other
 * work on the machine only ever slows a round down); all rounds are printed. Server CPU time per
 * message (from /proc) is printed next to the rates, as it does not depend on the load generator.
 *
 * (a) echo: 100 connections x 8 events in flight, 20-byte payloads: replies per second.
 * (b) fan-out: one publisher and 1,000 receivers in one room; the relay sends each event to the
 *     1,000 receivers (not back to the publisher): deliveries per second with 64 events in flight
 *     (enough to saturate each server: with fewer, the slower round trip of a system caps it);
 *     then publish-to-receive latency at 1 event per second (each of the 1,000 clients receives
 *     1 msg/s): p50 / p99.
 *     The limit runs too: a bare Deno relay (sockets in a `Set`, each frame forwarded as is).
 * (c) memory: server RSS growth per idle connection with 2,000 connections (after a full GC),
 *     for the relay hub, Socket.IO and bare Deno sockets.
 *
 * The last line is one JSON object: echo_mps, raw_deno_echo_mps, fanout_dps,
 * socketio_fanout_dps, ratio_fanout_vs_socketio, fanout_p99_ms, kb_per_conn, and more.
 *
 * Environment: BENCH_ROUNDS (default 4), BENCH_SECONDS (default 5), BENCH_LATENCY_SECONDS
 * (default 10).
 *
 * @module
 */
import { join } from "node:path";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 4);
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
const LATENCY_SECONDS = Number(Deno.env.get("BENCH_LATENCY_SECONDS") ?? 10);
const DIR = new URL("./hub/", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const CLK_TCK = 100;
/** Events in flight during the fan-out throughput run: enough to keep every server busy. */
const FANOUT_WINDOW = 64;

type System = "raw" | "syft" | "socketio";
type FanSystem = "raw" | "syft" | "socketio";

interface Server {
  pid: number;
  port: number;
  wsUrl: string;
  stop(): Promise<void>;
}

function log(line: string): void {
  console.log(line);
}

async function readLine(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${pattern}: ${buffer}`);
    buffer += value;
    const line = buffer.split("\n").find((l) => pattern.test(l));
    if (line !== undefined) {
      // Keep draining so the child never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })().catch(() => {});
      return line;
    }
  }
}

async function startServer(
  system: System,
  mode: "echo" | "relay",
  nodeDir: string,
): Promise<Server> {
  const command = system === "socketio"
    ? new Deno.Command("node", {
      args: ["--expose-gc", join(DIR, "socketio_server.mjs")],
      env: { SOCKETIO_DIR: nodeDir },
      stdout: "piped",
      stderr: "inherit",
    })
    : new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-P=bench",
        "--config",
        CONFIG,
        "--v8-flags=--expose-gc",
        join(DIR, "server.ts"),
        system === "raw" ? (mode === "echo" ? "raw" : "rawrelay") : mode,
      ],
      stdout: "piped",
      stderr: "inherit",
    });
  const child = command.spawn();
  const line = await readLine(child.stdout, /^READY \d+/);
  const port = Number(line.split(" ")[1]);
  const wsUrl = system === "socketio" ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/ws`;
  return {
    pid: child.pid,
    port,
    wsUrl,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

function clientCommand(
  system: System,
  args: string[],
  nodeDir: string,
  stdin = false,
): Deno.Command {
  const io = {
    stdout: "piped" as const,
    stderr: "inherit" as const,
    stdin: stdin ? "piped" as const : "null" as const,
  };
  return system === "socketio"
    ? new Deno.Command("node", {
      args: [join(DIR, "socketio_clients.mjs"), ...args],
      env: { SOCKETIO_DIR: nodeDir },
      ...io,
    })
    : new Deno.Command(Deno.execPath(), {
      args: ["run", "-q", "-P=bench", "--config", CONFIG, join(DIR, "clients.ts"), ...args],
      ...io,
    });
}

async function runClient(
  system: System,
  args: string[],
  nodeDir: string,
): Promise<Record<string, number>> {
  const out = await clientCommand(system, args, nodeDir).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0) throw new Error(`${system} client ${args[0]} failed (${out.code}): ${text}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

/** Reads a /proc file through `cat` (Deno asks for --allow-all to read /proc directly). */
async function readProc(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

async function rssKb(pid: number): Promise<number> {
  const status = await readProc(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]);
}

async function gc(server: Server): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`http://127.0.0.1:${server.port}/__gc`);
    await res.body?.cancel();
  }
  await new Promise((r) => setTimeout(r, 300));
}

async function installSocketIo(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "syft_bench_socketio_" });
  log(`installing socket.io@4.8 and socket.io-client@4.8 with npm into ${dir}`);
  const out = await new Deno.Command("npm", {
    args: [
      "install",
      "--no-audit",
      "--no-fund",
      "--silent",
      "socket.io@4.8",
      "socket.io-client@4.8",
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`npm install failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const version = JSON.parse(
    await Deno.readTextFile(join(dir, "node_modules/socket.io/package.json")),
  ).version;
  log(`socket.io ${version} installed`);
  return dir;
}

async function echoRound(
  system: System,
  nodeDir: string,
): Promise<{ mps: number; usPerMsg: number }> {
  const server = await startServer(system, "echo", nodeDir);
  try {
    const before = await cpuTicks(server.pid);
    const r = await runClient(
      system,
      ["echo", server.wsUrl, "100", "8", "1", String(SECONDS)],
      nodeDir,
    );
    const ticks = (await cpuTicks(server.pid)) - before;
    return { mps: r.mps!, usPerMsg: (ticks / CLK_TCK) * 1e6 / r.total! };
  } finally {
    await server.stop();
  }
}

async function fanoutRound(
  system: FanSystem,
  nodeDir: string,
): Promise<{ dps: number; usPerDelivery: number }> {
  const server = await startServer(system, "relay", nodeDir);
  try {
    const before = await cpuTicks(server.pid);
    const r = await runClient(
      system,
      ["fanout", server.wsUrl, "1000", String(FANOUT_WINDOW), "1", String(SECONDS)],
      nodeDir,
    );
    const ticks = (await cpuTicks(server.pid)) - before;
    return { dps: r.dps!, usPerDelivery: (ticks / CLK_TCK) * 1e6 / r.total! };
  } finally {
    await server.stop();
  }
}

async function latencyRun(
  system: FanSystem,
  nodeDir: string,
): Promise<Record<string, number>> {
  const server = await startServer(system, "relay", nodeDir);
  try {
    return await runClient(
      system,
      ["latency", server.wsUrl, "1000", "1", String(LATENCY_SECONDS)],
      nodeDir,
    );
  } finally {
    await server.stop();
  }
}

async function memoryRun(system: System, nodeDir: string): Promise<number> {
  const server = await startServer(system, "relay", nodeDir);
  const conns = 2000;
  try {
    await gc(server);
    const before = await rssKb(server.pid);
    const child = clientCommand(system, ["idle", server.wsUrl, String(conns)], nodeDir, true)
      .spawn();
    await readLine(child.stdout, /^READY \d+/);
    // Let the upgrade garbage go: GC, idle, GC again (V8 returns freed pages lazily).
    await new Promise((r) => setTimeout(r, 1000));
    await gc(server);
    await new Promise((r) => setTimeout(r, 1000));
    await gc(server);
    const after = await rssKb(server.pid);
    await child.stdin.close();
    await child.status;
    return (after - before) / conns;
  } finally {
    await server.stop();
  }
}

function best(values: number[]): number {
  return Math.max(...values);
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

const nodeDir = await installSocketIo();
try {
  const load = Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
  log(`cores: ${navigator.hardwareConcurrency}, load average at start: ${load}`);
  log(`rounds: ${ROUNDS}, ${SECONDS} s each (best round counts)`);

  // (a) echo
  const echo: Record<System, { mps: number; usPerMsg: number }[]> = {
    raw: [],
    syft: [],
    socketio: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order: System[] = round % 2 === 0
      ? ["raw", "syft", "socketio"]
      : ["syft", "raw", "socketio"];
    for (const system of order) {
      const r = await echoRound(system, nodeDir);
      echo[system].push(r);
      log(
        `echo   round ${round + 1} ${system.padEnd(8)} ${Math.round(r.mps)} msg/s, server ${
          r.usPerMsg.toFixed(2)
        } us CPU/msg`,
      );
    }
  }
  // (b) fan-out throughput
  const fanout: Record<FanSystem, number[]> = { raw: [], syft: [], socketio: [] };
  const fanoutUs: Record<FanSystem, number[]> = { raw: [], syft: [], socketio: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: FanSystem[] = round % 2 === 0
      ? ["raw", "syft", "socketio"]
      : ["syft", "raw", "socketio"];
    for (const system of order) {
      const { dps, usPerDelivery } = await fanoutRound(system, nodeDir);
      fanout[system].push(dps);
      fanoutUs[system].push(usPerDelivery);
      log(
        `fanout round ${round + 1} ${system.padEnd(8)} ${Math.round(dps)} deliveries/s, server ${
          usPerDelivery.toFixed(2)
        } us CPU/delivery`,
      );
    }
  }
  // (b) fan-out latency at a fixed rate
  const latency = {} as Record<FanSystem, Record<string, number>>;
  for (const system of ["raw", "syft", "socketio"] as const) {
    const r = await latencyRun(system, nodeDir);
    latency[system] = r;
    log(
      `latency ${system.padEnd(8)} 1000 clients x 1 msg/s: p50 ${r.p50_ms!.toFixed(2)} ms, p99 ${
        r.p99_ms!.toFixed(2)
      } ms, max ${r.max_ms!.toFixed(2)} ms (${r.samples}/${r.expected} deliveries)`,
    );
  }
  // (c) memory per idle connection
  const memory = {
    raw: await memoryRun("raw", nodeDir),
    syft: await memoryRun("syft", nodeDir),
    socketio: await memoryRun("socketio", nodeDir),
  };
  log(
    `memory raw ${memory.raw.toFixed(1)} KB/conn, syft ${
      memory.syft.toFixed(1)
    } KB/conn, socketio ${memory.socketio.toFixed(1)} KB/conn (2000 idle connections)`,
  );

  const echoMps = best(echo.syft.map((r) => r.mps));
  const rawMps = best(echo.raw.map((r) => r.mps));
  const sioEchoMps = best(echo.socketio.map((r) => r.mps));
  const fanoutDps = best(fanout.syft);
  const rawFanoutDps = best(fanout.raw);
  const sioFanoutDps = best(fanout.socketio);
  const minUs = (s: System) => Math.min(...echo[s].map((r) => r.usPerMsg));
  const minFanUs = (s: FanSystem) => Math.min(...fanoutUs[s]);
  const result = {
    "echo_mps": Math.round(echoMps),
    "raw_deno_echo_mps": Math.round(rawMps),
    "ratio_echo_vs_raw": round3(echoMps / rawMps),
    "fanout_dps": Math.round(fanoutDps),
    "socketio_fanout_dps": Math.round(sioFanoutDps),
    "ratio_fanout_vs_socketio": round3(fanoutDps / sioFanoutDps),
    "fanout_p99_ms": round3(latency.syft.p99_ms!),
    "fanout_p50_ms": round3(latency.syft.p50_ms!),
    "ratio_echo_cpu_vs_raw": round3(minUs("raw") / minUs("syft")),
    "raw_deno_fanout_dps": Math.round(rawFanoutDps),
    "raw_deno_fanout_p99_ms": round3(latency.raw.p99_ms!),
    "kb_per_conn": round1(memory.syft),
    "socketio_echo_mps": Math.round(sioEchoMps),
    "socketio_fanout_p99_ms": round3(latency.socketio.p99_ms!),
    "socketio_kb_per_conn": round1(memory.socketio),
    "raw_deno_kb_per_conn": round1(memory.raw),
    "echo_server_us_per_msg": round3(minUs("syft")),
    "raw_server_us_per_msg": round3(minUs("raw")),
    "socketio_server_us_per_msg": round3(minUs("socketio")),
    "fanout_server_us_per_delivery": round3(minFanUs("syft")),
    "raw_fanout_server_us_per_delivery": round3(minFanUs("raw")),
    "socketio_fanout_server_us_per_delivery": round3(minFanUs("socketio")),
    "ratio_fanout_cpu_vs_socketio": round3(minFanUs("socketio") / minFanUs("syft")),
    "rounds": ROUNDS,
    "load_average_at_start": load,
  };
  console.log(JSON.stringify(result));
} finally {
  await Deno.remove(nodeDir, { recursive: true }).catch(() => {});
}
