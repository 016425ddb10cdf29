/**
 * The durable-write floor beside `bench:ensync`'s publish figure: bare Deno KV, in this process,
 * nothing of syft's. It writes the bytes the engine's KV store writes for the same events (each
 * event's stored form packed into values of up to 60 KB, one small state value per value, atomic
 * operations of up to ~700 KB, one after another, as a group commit does at full load), so the
 * engine's durable publish rate cannot pass it.
 *
 * @module
 */

const VALUE_BYTES = 60_000;
const ATOMIC_BYTES = 700_000;

/** What {@linkcode kvWriteFloor} measured. */
export interface KvFloor {
  /** Events made durable per second. */
  eventsPerSecond: number;
  /** Atomic operations committed. */
  commits: number;
}

/**
 * Writes `events` events of `eventBytes` bytes each into a new Deno KV database at `path`.
 *
 * @param path A database file that does not exist yet.
 * @param events How many events.
 * @param eventBytes The stored size of one event (its JSON form in the engine's store).
 * @returns The rate.
 */
export async function kvWriteFloor(
  path: string,
  events: number,
  eventBytes: number,
): Promise<KvFloor> {
  const kv = await Deno.openKv(path);
  try {
    const perValue = Math.max(1, Math.floor(VALUE_BYTES / (eventBytes + 1)));
    const valuesPerAtomic = Math.max(1, Math.floor(ATOMIC_BYTES / (perValue * (eventBytes + 1))));
    const text = `"${"x".repeat(Math.max(0, eventBytes - 2))}"`;
    const expireIn = 7 * 86_400_000;
    let written = 0;
    let value = 0;
    let commits = 0;
    const t0 = performance.now();
    while (written < events) {
      const atomic = kv.atomic();
      for (let v = 0; v < valuesPerAtomic && written < events; v++) {
        const n = Math.min(perValue, events - written);
        // A fresh buffer each time, as the engine encodes each segment anew.
        const bytes = new TextEncoder().encode(`[${Array(n).fill(text).join(",")}]`);
        atomic.set(["floor", "seg", ++value, 0], bytes, { expireIn });
        atomic.set(["floor", "st", value], { s: new Uint8Array(n), d: {}, p: 1, c: Date.now() }, {
          expireIn,
        });
        written += n;
      }
      const result = await atomic.commit();
      if (!result.ok) throw new Error("The KV floor's commit was refused");
      commits++;
    }
    return { eventsPerSecond: events / ((performance.now() - t0) / 1000), commits };
  } finally {
    kv.close();
  }
}
