/**
 * The first line a benchmark's child process prints on stdout (its address, as JSON or `READY
 * url`), read without holding the rest: the stream is cancelled after it unless `keep` is set.
 *
 * @module
 */

/**
 * Reads up to the first newline of `child.stdout`.
 *
 * @param child A process spawned with `stdout: "piped"`.
 * @param what Named in the error when the process exits first.
 * @param options `keep`: leave the rest of stdout unread instead of cancelling it.
 * @returns The line, without its newline.
 */
export async function firstLine(
  child: Deno.ChildProcess,
  what: string,
  options: { keep?: boolean } = {},
): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} exited before it was ready`);
    buf += value;
  }
  reader.releaseLock();
  if (!options.keep) child.stdout.cancel().catch(() => {});
  return buf.slice(0, buf.indexOf("\n"));
}
