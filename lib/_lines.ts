/**
 * A line-splitting `TransformStream` (what `@std/streams`' `TextLineStream` does; JSR is
 * unreachable here). Splits on `\n`, drops a trailing `\r`, flushes the last partial line.
 *
 * @module
 */
export class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let buf = "";
    super({
      transform(chunk, controller) {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          controller.enqueue(line.endsWith("\r") ? line.slice(0, -1) : line);
        }
      },
      flush(controller) {
        if (buf !== "") controller.enqueue(buf.endsWith("\r") ? buf.slice(0, -1) : buf);
      },
    });
  }
}
