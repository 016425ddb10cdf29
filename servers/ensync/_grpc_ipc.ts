/**
 * The channel between the engine and its gRPC worker process: one JSON object per line, in both
 * directions. It starts on the worker's stdin and stdout, which carry the `start` message; the
 * worker then connects to a loopback TCP port the engine opened for it (`ipc` in `start`, with a
 * one-time token as its first line), and every later message goes over that connection. A pipe
 * is the slow path on the worker's side: Deno reads stdin on a blocking thread (a thread hand-off
 * and a dup/close of the descriptor per read), where a socket is read on the event loop. A worker
 * that cannot connect (no net permission for 127.0.0.1) stays on the pipes. The worker owns the HTTP/2 side (it parses and writes protobuf with the shared
 * service definition); the engine owns every decision. Request and response objects are the
 * proto-loader shapes (`keepCase`, int64 as strings), which survive JSON unchanged.
 *
 * @module
 */
import type { ServeLimits } from "../_limits.ts";

/** Engine → worker. */
export type ToWorker =
  /** Bind and serve. */
  | {
    t: "start";
    host: string;
    port: number;
    maxMessageBytes: number;
    limits?: ServeLimits;
    /** Where the worker connects for the rest of the conversation (127.0.0.1). */
    ipc?: { port: number; token: string };
  }
  /** The answer to a unary call (`err` is a gRPC status). */
  | { t: "reply"; id: number; res?: unknown; err?: { code: number; details: string } }
  /** Send the response headers of a stream now. */
  | { t: "meta"; id: number }
  /** One message on a stream. */
  | { t: "write"; id: number; msg: unknown }
  /** End a stream with status OK. */
  | { t: "end"; id: number }
  /** End a stream with an error status. */
  | { t: "fail"; id: number; code: number; details: string }
  /** Stop serving (after a grace period for open calls) and exit. */
  | { t: "stop" };

/** Worker → engine. */
export type FromWorker =
  /** The first line on the worker's TCP connection. */
  | { t: "hello"; token: string }
  /** Bound: the actual port. */
  | { t: "listening"; port: number }
  /** Could not bind. */
  | { t: "bind-error"; message: string }
  /** A unary call arrived (`md`: the string-valued request metadata). */
  | { t: "call"; id: number; m: string; req: unknown; md: Record<string, string> }
  /** A server-streaming call arrived. */
  | { t: "open"; id: number; m: string; req: unknown; md: Record<string, string> }
  /** The client cancelled a stream, or it closed. */
  | { t: "gone"; id: number };

const encoder = new TextEncoder();

/**
 * Where {@linkcode LineWriter} writes: a byte stream, or a raw sink such as `Deno.stdout` (its
 * `write` may write fewer bytes than given and says how many; no stream machinery per write).
 */
export type LineSink = WritableStream<Uint8Array> | {
  write(bytes: Uint8Array): Promise<number>;
  close?(): void;
};

/**
 * Writes JSON lines to a byte stream. The lines of one tick go out in one write, and while a write
 * is on its way the lines that arrive meanwhile wait and go out together in the next one: one
 * write per round under load instead of one per message. Write errors (the other side died) are
 * swallowed: the supervisor learns that from the exit status.
 */
export class LineWriter<T> {
  readonly #write: (bytes: Uint8Array) => Promise<void>;
  readonly #release: () => Promise<void>;
  #buffer = "";
  #scheduled = false;
  #writing = false;
  #closed = false;
  #last: Promise<void> = Promise.resolve();

  /**
   * Wraps a byte stream or a raw sink.
   *
   * @param sink Where lines go.
   */
  constructor(sink: LineSink) {
    if (sink instanceof WritableStream) {
      const writer = sink.getWriter();
      this.#write = (bytes) => writer.write(bytes);
      this.#release = () => writer.close().catch(() => {});
    } else {
      this.#write = async (bytes) => {
        let at = 0;
        while (at < bytes.length) at += await sink.write(at === 0 ? bytes : bytes.subarray(at));
      };
      this.#release = () => {
        try {
          sink.close?.();
        } catch { /* already closed */ }
        return Promise.resolve();
      };
    }
  }

  /**
   * Queues one message.
   *
   * @param message A JSON-serialisable value.
   */
  send(message: T): void {
    if (this.#closed) return;
    this.#buffer += JSON.stringify(message) + "\n";
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#closed || this.#writing || this.#buffer.length === 0) return;
    const bytes = encoder.encode(this.#buffer);
    this.#buffer = "";
    this.#writing = true;
    this.#last = this.#write(bytes).then(() => {
      this.#writing = false;
      // What queued up during the write goes out now, in one write.
      if (this.#buffer.length > 0) this.#flush();
    }, () => {
      this.#writing = false;
      this.#closed = true;
    });
  }

  /** Flushes what is queued and closes the stream. */
  async close(): Promise<void> {
    this.#flush();
    // Wait until everything queued (also behind a write in progress) is written.
    let last: Promise<void> | undefined;
    while (last !== this.#last) {
      last = this.#last;
      await last;
    }
    this.#closed = true;
    await this.#release();
  }
}

/**
 * Where {@linkcode readLines} reads: a byte stream, or a raw source such as `Deno.stdin` (`read`
 * fills the buffer and says how many bytes, `null` at the end).
 */
export type LineSource = ReadableStream<Uint8Array> | {
  read(buffer: Uint8Array): Promise<number | null>;
};

async function* chunksOf(source: LineSource): AsyncGenerator<Uint8Array> {
  if (source instanceof ReadableStream) {
    const reader = source.getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  const buffer = new Uint8Array(256 * 1024);
  while (true) {
    const n = await source.read(buffer);
    if (n === null) return;
    yield buffer.subarray(0, n);
  }
}

/**
 * Reads JSON lines from a byte stream and calls `onMessage` for each; resolves at the end of the
 * stream. A line that is not JSON, or whose handler throws, is reported to `onProblem` and skipped.
 *
 * @param source The byte stream (or raw source).
 * @param onMessage Called for each message.
 * @param onProblem Called with a description of a skipped line.
 */
export async function readLines<T>(
  source: LineSource,
  onMessage: (message: T) => void,
  onProblem: (problem: string) => void = () => {},
): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  try {
    for await (const bytes of chunksOf(source)) {
      // Decoded at once (the raw source reuses its buffer); a character split between two
      // chunks waits in the decoder.
      const chunk = decoder.decode(bytes, { stream: true });
      // Only the new text can hold a line end (a large message spans many chunks).
      let from = rest.length;
      rest = rest.length === 0 ? chunk : rest + chunk;
      let start = 0;
      let nl: number;
      while ((nl = rest.indexOf("\n", from)) >= 0) {
        from = nl + 1;
        const line = rest.slice(start, nl);
        start = nl + 1;
        if (line.length === 0) continue;
        let message: T;
        try {
          message = JSON.parse(line);
        } catch {
          onProblem(`not JSON: ${line.slice(0, 200)}`);
          continue;
        }
        try {
          onMessage(message);
        } catch (err) {
          onProblem(`${line.slice(0, 200)}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      rest = start === rest.length ? "" : rest.slice(start);
    }
  } catch {
    // The other side went away: the same as the end of the stream.
  }
}

/** `host:port`, with an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
