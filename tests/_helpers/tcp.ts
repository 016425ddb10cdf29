/**
 * Raw TCP helpers for tests that speak to a server below HTTP (slow clients, refusals).
 *
 * @module
 */

const decoder = new TextDecoder();

/**
 * Reads until the server closes the connection (or resets it); returns what it sent.
 *
 * @param conn The connection; closed afterwards.
 * @returns The text the server sent.
 */
export async function readToEnd(conn: Deno.Conn): Promise<string> {
  let out = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      break; // reset
    }
    if (n === null) break;
    out += decoder.decode(buf.subarray(0, n));
  }
  try {
    conn.close();
  } catch { /* closed */ }
  return out;
}
