// deno-lint-ignore-file no-console
// The Socket.IO 4.8 load generator of `bench/hub.ts` (Node, socket.io-client over WebSocket
// only), with the same modes and output as bench/hub/clients.ts:
//   echo <url> <connections> <inflight> <warmupS> <seconds>
//   fanout <url> <receivers> <window> <warmupS> <seconds>
//   latency <url> <receivers> <rate> <seconds>
//   idle <url> <connections>
import { createRequire } from "node:module";

const require = createRequire(`${process.env.SOCKETIO_DIR}/package.json`);
const { io } = require("socket.io-client");

const [mode, url, ...rest] = process.argv.slice(2);
const num = (i, fallback) => Number(rest[i] ?? fallback);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open(target) {
  return new Promise((resolve, reject) => {
    const socket = io(target, { transports: ["websocket"], reconnection: false, forceNew: true });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
}

async function openMany(target, n, batch = 100) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    out.push(
      ...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => open(target))),
    );
  }
  return out;
}

function percentile(sorted, p) {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

if (mode === "echo") {
  const [conns, inflight, warmup, seconds] = [num(0, 100), num(1, 8), num(2, 1), num(3, 5)];
  const payload = "abcdefghijklmnopqrst";
  const sockets = await openMany(url, conns);
  let count = 0;
  let total = 0;
  let measuring = false;
  for (const s of sockets) {
    s.on("echo", () => {
      total++;
      if (measuring) count++;
      s.emit("echo", payload);
    });
    for (let i = 0; i < inflight; i++) s.emit("echo", payload);
  }
  await sleep(warmup * 1000);
  measuring = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ messages: count, total, seconds: elapsed, mps: count / elapsed }));
  process.exit(0);
} else if (mode === "fanout" || mode === "latency") {
  const receivers = num(0, 1000);
  const sockets = await openMany(url, receivers);
  const publisher = await open(url);
  await sleep(500);
  if (mode === "fanout") {
    const [window, warmup, seconds] = [num(1, 8), num(2, 1), num(3, 5)];
    const RING = 1 << 16;
    const got = new Uint32Array(RING);
    let seq = 0;
    let measuring = false;
    let counted = 0;
    let all = 0;
    const publish = () => {
      got[seq % RING] = 0;
      publisher.emit("f", `${seq++}|0`);
    };
    for (const s of sockets) {
      s.on("f", (p) => {
        const n = Number(p.slice(0, p.indexOf("|")));
        all++;
        if (measuring) counted++;
        if (++got[n % RING] === receivers) publish();
      });
    }
    for (let i = 0; i < window; i++) publish();
    await sleep(warmup * 1000);
    measuring = true;
    const t0 = performance.now();
    await sleep(seconds * 1000);
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    console.log(
      JSON.stringify({ deliveries: counted, total: all, seconds: elapsed, dps: counted / elapsed }),
    );
  } else {
    const [rate, seconds] = [num(1, 1), num(2, 10)];
    const samples = new Float64Array(receivers * Math.ceil(rate * seconds + 2));
    let n = 0;
    for (const s of sockets) {
      s.on("f", (p) => {
        const now = performance.now();
        samples[n++] = now - Number(p.slice(p.indexOf("|") + 1));
      });
    }
    const total = Math.round(rate * seconds);
    for (let i = 0; i < total; i++) {
      publisher.emit("f", `${i}|${performance.now()}`);
      await sleep(1000 / rate);
    }
    await sleep(500);
    const sorted = samples.slice(0, n).sort();
    console.log(JSON.stringify({
      samples: n,
      expected: total * receivers,
      "p50_ms": percentile(sorted, 0.5),
      "p99_ms": percentile(sorted, 0.99),
      "max_ms": sorted[sorted.length - 1] ?? NaN,
    }));
  }
  process.exit(0);
} else if (mode === "idle") {
  const sockets = await openMany(url, num(0, 2000));
  console.log(`READY ${sockets.length}`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
} else {
  console.error("usage: socketio_clients.mjs echo|fanout|latency|idle <url> ...");
  process.exit(2);
}
