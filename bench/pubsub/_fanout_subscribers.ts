// deno-lint-ignore-file no-console
/**
 * The subscriber side of the fan-out benchmark, in its own process:
 * `deno run _fanout_subscribers.ts <url> <connections> <fastapi|bare> <expected frames>`.
 * Opens the connections (fastapi: each subscribes to `bench/fanout` with the Python-form frame
 * and waits for the answer), prints `ready`, counts the frames that arrive (without parsing
 * them: the same work for both servers), and prints `done` when all expected frames came.
 *
 * @module
 */
const [url, connections, mode, expected] = Deno.args;
const n = Number(connections);
const total = Number(expected);
let received = 0;
let finished = false;

const sockets: WebSocket[] = [];
await Promise.all(
  Array.from({ length: n }, (_, i) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url!);
      sockets.push(ws);
      let subscribed = mode !== "fastapi";
      ws.onopen = () => {
        if (mode === "fastapi") {
          ws.send(
            `{"request": {"method": "subscribe", "arguments": {"topics": ["bench/fanout"]}, "call_id": "s${i}"}, "response": null}`,
          );
        } else resolve();
      };
      ws.onmessage = () => {
        if (!subscribed) {
          subscribed = true;
          resolve();
          return;
        }
        received++;
        if (received === total && !finished) {
          finished = true;
          console.log("done");
        }
      };
      ws.onerror = (evt) => reject(new Error((evt as ErrorEvent).message));
    })),
);
console.log("ready");
// Ends when the benchmark closes stdin.
for await (const _ of Deno.stdin.readable) { /* wait */ }
if (!finished) console.log(`short ${received}`);
for (const ws of sockets) ws.close();
