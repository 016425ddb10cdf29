/**
 * The body timeout's view of a request: for a request that announces a body (`content-length`
 * above 0, or `transfer-encoding`), the guard's body timer starts, and the request's body readers
 * (`text()`, `json()`, `arrayBuffer()`, `bytes()`, `blob()`, `formData()` and the `body` stream)
 * are wrapped on the instance so that the timer stops when the body has been read to its end.
 * Copying the request instead (`new Request(request, { body })`) costs three quarters of the
 * throughput of a small POST; this costs a few property writes. Requests without a body (GET,
 * HEAD, WebSocket upgrades) are handed on untouched.
 *
 * @module
 */
import type { ConnectionGuard } from "./_conn_guard.ts";

const READERS = ["text", "json", "arrayBuffer", "bytes", "blob", "formData"] as const;
const proto = Request.prototype as unknown as Record<string, (this: Request) => Promise<unknown>>;
const bodyGetter = Object.getOwnPropertyDescriptor(Request.prototype, "body")!.get!;

/**
 * Starts the body timer of `request` when it has a body.
 *
 * @param request The request as the engine got it (changed in place).
 * @param guard The connection's timers.
 * @returns Call it when the request is over (stops the timer if the body was never read).
 */
export function watchBody(request: Request, guard: ConnectionGuard): (() => void) | undefined {
  const method = request.method;
  if (method === "GET" || method === "HEAD") return undefined;
  const headers = request.headers;
  const length = headers.get("content-length");
  if ((length === null || length === "0") && !headers.has("transfer-encoding")) return undefined;
  let touched = false;
  let stream: ReadableStream<Uint8Array> | null | undefined;
  const done = guard.bodyStarted(() => touched || request.bodyUsed);
  const target = request as unknown as Record<string, unknown>;
  for (const name of READERS) {
    const read = proto[name]!;
    target[name] = function (this: Request): Promise<unknown> {
      touched = true;
      // After `body` was asked for, the body is that stream's to give.
      const reading = stream === undefined ? read.call(this) : (new Response(stream, {
        headers: { "content-type": headers.get("content-type") ?? "" },
      }) as unknown as Record<string, () => Promise<unknown>>)[name]!();
      reading.then(done, done);
      return reading;
    };
  }
  Object.defineProperty(request, "body", {
    configurable: true,
    get(): ReadableStream<Uint8Array> | null {
      if (stream !== undefined) return stream;
      const source = bodyGetter.call(request) as ReadableStream<Uint8Array> | null;
      if (source === null) return stream = null;
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      // The source is locked at the first read, not before: asking whether there is a body
      // (`if (request.body)`) leaves it as it was.
      return stream = new ReadableStream<Uint8Array>({
        async pull(controller): Promise<void> {
          touched = true;
          reader ??= source.getReader();
          try {
            const chunk = await reader.read();
            if (chunk.done) {
              done();
              controller.close();
            } else {
              controller.enqueue(chunk.value);
            }
          } catch (err) {
            done();
            controller.error(err);
          }
        },
        cancel(reason): Promise<void> {
          done();
          return reader === undefined ? source.cancel(reason) : reader.cancel(reason);
        },
      }, { highWaterMark: 0 });
    },
  });
  return done;
}
