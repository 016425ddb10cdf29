// deno-lint-ignore-file no-console
/**
 * Load generator for `bench/hub.ts` (Deno, standard `WebSocket`), run in its own process so the
 * server under test keeps a core to itself. Prints one JSON line with its figures.
 *
 * - `echo <url> <connections> <inflight> <warmupS> <seconds>`: each connection keeps `inflight`
 *   20-byte-payload `echo` events outstanding; counts replies per second.
 * - `fanout <url> <receivers> <window> <warmupS> <seconds>`: one publisher, `receivers` clients in
 *   the relay's lobby; the publisher keeps `window` events whose delivery to every receiver is not
 *   complete; counts deliveries per second.
 * - `latency <url> <receivers> <rate> <seconds>`: the publisher sends `rate` events per second;
 *   every receiver records publish-to-receive time; prints p50 / p99 / max.
 * - `idle <url> <connections>`: opens the connections, prints `READY`, holds them until stdin
 *   closes.
 *
 * Frames are pre-encoded zaptools frames; receivers read the sequence number and send time from
 * the payload string `"<seq>|<ms>"` without a full JSON parse, so the client stays cheap.
 *
 * @module
 */

const [mode, url, ...rest] = Deno.args;
const num = (i: number, fallback: number): number => Number(rest[i] ?? fallback);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function open(target: string): Promise<WebSocket> {
  const ws = new WebSocket(target);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`connect ${target}: ${(e as ErrorEvent).message}`));
  });
  ws.onerror = null;
  return ws;
}

async function openMany(target: string, n: number, batch = 100): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(
      ...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => open(target))),
    );
  }
  return out;
}

/** Reads `<seq>|<ms>` from a frame whose payload is that string. */
function parsePayload(frame: string): [number, number] {
  const start = frame.indexOf('"payload":"') + 11;
  const bar = frame.indexOf("|", start);
  const end = frame.indexOf('"', bar);
  return [Number(frame.slice(start, bar)), Number(frame.slice(bar + 1, end))];
}

function frameOf(eventName: string, payload: string): string {
  return JSON.stringify({ eventName, payload, headers: {} });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

if (mode === "echo") {
  const conns = num(0, 100);
  const inflight = num(1, 8);
  const warmup = num(2, 1);
  const seconds = num(3, 5);
  const frame = frameOf("echo", "abcdefghijklmnopqrst"); // a 20-byte payload
  const sockets = await openMany(url!, conns);
  let count = 0;
  let total = 0;
  let measuring = false;
  for (const ws of sockets) {
    ws.onmessage = () => {
      total++;
      if (measuring) count++;
      ws.send(frame);
    };
    for (let i = 0; i < inflight; i++) ws.send(frame);
  }
  await sleep(warmup * 1000);
  measuring = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  for (const ws of sockets) {
    ws.onmessage = null;
    ws.close();
  }
  console.log(JSON.stringify({ messages: count, total, seconds: elapsed, mps: count / elapsed }));
  Deno.exit(0);
} else if (mode === "fanout" || mode === "latency") {
  const receivers = num(0, 1000);
  const sockets = await openMany(url!, receivers);
  const publisher = await open(url!);
  await sleep(500); // let the hub run every connected handler (lobby joins)
  const RING = 1 << 16;
  const got = new Uint32Array(RING);
  let deliveries = 0;
  if (mode === "fanout") {
    const window = num(1, 8);
    const warmup = num(2, 1);
    const seconds = num(3, 5);
    let seq = 0;
    let measuring = false;
    let counted = 0;
    let all = 0;
    const publish = (): void => {
      got[seq % RING] = 0;
      publisher.send(frameOf("f", `${seq++}|0`));
    };
    for (const ws of sockets) {
      ws.onmessage = (e) => {
        const [s] = parsePayload(e.data as string);
        all++;
        if (measuring) counted++;
        if (++got[s % RING]! === receivers) publish();
      };
    }
    for (let i = 0; i < window; i++) publish();
    await sleep(warmup * 1000);
    measuring = true;
    const t0 = performance.now();
    await sleep(seconds * 1000);
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    deliveries = counted;
    console.log(
      JSON.stringify({ deliveries, total: all, seconds: elapsed, dps: deliveries / elapsed }),
    );
  } else {
    const rate = num(1, 1);
    const seconds = num(2, 10);
    const samples = new Float64Array(receivers * Math.ceil(rate * seconds + 2));
    let n = 0;
    let recording = false;
    for (const ws of sockets) {
      ws.onmessage = (e) => {
        const now = performance.now();
        const [, sent] = parsePayload(e.data as string);
        if (recording) samples[n++] = now - sent;
      };
    }
    // Warm up (JIT, buffers) with 20 events at 20/s; they are not recorded.
    for (let i = 0; i < 20; i++) {
      publisher.send(frameOf("f", `${-1}|${performance.now()}`));
      await sleep(50);
    }
    await sleep(500);
    recording = true;
    const total = Math.round(rate * seconds);
    for (let i = 0; i < total; i++) {
      publisher.send(frameOf("f", `${i}|${performance.now()}`));
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
  Deno.exit(0);
} else if (mode === "idle") {
  const conns = num(0, 2000);
  const sockets = await openMany(url!, conns);
  console.log(`READY ${sockets.length}`);
  await new Response(Deno.stdin.readable).text();
  Deno.exit(0);
} else {
  console.error("usage: clients.ts echo|fanout|latency|idle <url> ...");
  Deno.exit(2);
}
