/**
 * The pipe between the engine and its gRPC worker process: one JSON object per line, in both
 * directions. The worker owns the HTTP/2 side (it parses and writes protobuf with the shared
 * service definition); the engine owns every decision. Request and response objects are the
 * proto-loader shapes (`keepCase`, int64 as strings), which survive JSON unchanged.
 *
 * @module
 */
import type { ServeLimits } from "../_limits.ts";

/** Engine → worker. */
export type ToWorker =
  /** Bind and serve. */
  | { t: "start"; host: string; port: number; maxMessageBytes: number; limits?: ServeLimits }
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
 * Writes JSON lines to a byte stream, coalescing the lines of one tick into one write. Write
 * errors (the other side died) are swallowed: the supervisor learns that from the exit status.
 */
export class LineWriter<T> {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffer: string[] = [];
  #scheduled = false;
  #closed = false;
  #last: Promise<void> = Promise.resolve();

  /**
   * Wraps a byte stream.
   *
   * @param stream Where lines go.
   */
  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
  }

  /**
   * Queues one message.
   *
   * @param message A JSON-serialisable value.
   */
  send(message: T): void {
    if (this.#closed) return;
    this.#buffer.push(JSON.stringify(message), "\n");
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#closed || this.#buffer.length === 0) return;
    const bytes = encoder.encode(this.#buffer.join(""));
    this.#buffer = [];
    this.#last = this.#writer.write(bytes).catch(() => {
      this.#closed = true;
    });
  }

  /** Flushes what is queued and closes the stream. */
  async close(): Promise<void> {
    this.#flush();
    this.#closed = true;
    await this.#last;
    await this.#writer.close().catch(() => {});
  }
}

/**
 * Reads JSON lines from a byte stream and calls `onMessage` for each; resolves at the end of the
 * stream. A line that is not JSON, or whose handler throws, is reported to `onProblem` and skipped.
 *
 * @param stream The byte stream.
 * @param onMessage Called for each message.
 * @param onProblem Called with a description of a skipped line.
 */
export async function readLines<T>(
  stream: ReadableStream<Uint8Array>,
  onMessage: (message: T) => void,
  onProblem: (problem: string) => void = () => {},
): Promise<void> {
  let rest = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      // Only the new text can hold a line end (a large message spans many chunks).
      let from = rest.length;
      rest += chunk;
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
      rest = rest.slice(start);
    }
  } catch {
    // The other side went away: the same as the end of the stream.
  }
}

/** `host:port`, with an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
