// deno-lint-ignore-file no-console
/**
 * Redis for tests: `REDIS_URL` or 127.0.0.1:6379, a unique key prefix per test, cleanup afterwards.
 * When Redis is unreachable, Redis tests fail if `SYFT_REQUIRE_REDIS=1` (CI sets it) and are
 * skipped with a visible message otherwise.
 *
 * @module
 */
import { Redis } from "ioredis";

/** The Redis URL tests use. */
export const REDIS_URL: string = Deno.env.get("REDIS_URL") || "redis://127.0.0.1:6379";

const required = Deno.env.get("SYFT_REQUIRE_REDIS") === "1";

async function probe(url: string): Promise<string | null> {
  const u = new URL(url);
  try {
    const conn = await Deno.connect({
      hostname: u.hostname || "127.0.0.1",
      port: Number(u.port || 6379),
    });
    try {
      const auth = u.password
        ? `AUTH ${u.username ? decodeURIComponent(u.username) + " " : ""}${
          decodeURIComponent(u.password)
        }\r\n`
        : "";
      await conn.write(new TextEncoder().encode(`${auth}PING\r\n`));
      const buf = new Uint8Array(256);
      const timer = setTimeout(() => conn.close(), 2_000);
      const n = await conn.read(buf);
      clearTimeout(timer);
      const reply = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      return reply.includes("PONG") || reply.startsWith("+OK") ? null : `unexpected reply ${reply}`;
    } finally {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const unreachable = await probe(REDIS_URL);
if (unreachable !== null && !required) {
  console.warn(
    `%cRedis tests skipped: Redis at ${REDIS_URL} is unreachable (${unreachable}); set REDIS_URL or SYFT_REQUIRE_REDIS=1 to make this an error`,
    "color: yellow",
  );
}

/** What a Redis test receives. */
export interface RedisTestContext {
  /** The server URL. */
  url: string;
  /** A key prefix unique to this test, such as `syft-test:1a2b3c4d:`; keys under it are removed after the test. */
  prefix: string;
  /** A connected client (closed after the test). */
  client: Redis;
}

/** Removes every key starting with `prefix`. */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== "0");
}

/** Registers a Deno test that needs Redis (see the module doc for the unreachable case). */
export function redisTest(name: string, fn: (ctx: RedisTestContext) => Promise<void>): void {
  Deno.test({
    name,
    ignore: unreachable !== null && !required,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (unreachable !== null) {
        throw new Error(
          `Redis is required (SYFT_REQUIRE_REDIS=1) but ${REDIS_URL} is unreachable: ${unreachable}`,
        );
      }
      const prefix = `syft-test:${crypto.randomUUID().slice(0, 8)}:`;
      const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
      await client.connect();
      try {
        await fn({ url: REDIS_URL, prefix, client });
      } finally {
        await deleteKeys(client, prefix);
        await client.quit();
      }
    },
  });
}
