/**
 * A private `redis-server` on a spare port, for outage tests: the test stops (SIGKILL) and
 * restarts it at will. The shared Redis on 6379 is never touched.
 *
 * ```ts ignore
 * await using redis = new PrivateRedis(sparePort());
 * await redis.start();
 * await redis.stop(); // an outage
 * await redis.start(); // the same port again
 * ```
 *
 * @module
 */
import { Redis } from "ioredis";
import { waitFor } from "./workspace.ts";

/** Whether `redis-server` can be run here (tests that need it are skipped otherwise). */
export const HAVE_REDIS_SERVER: boolean = await new Deno.Command("redis-server", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
}).output().then((o) => o.success, () => false);

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after). */
export function sparePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A `redis-server` child process without persistence, stopped by its PID. */
export class PrivateRedis implements AsyncDisposable {
  readonly port: number;
  readonly #args: string[];
  #child: Deno.ChildProcess | undefined;

  /**
   * @param port The port (a spare one by default).
   * @param args More `redis-server` arguments, after the defaults (a later one wins), such as
   *   `["--appendonly", "yes", "--appendfsync", "always", "--dir", dir]` for a server whose data
   *   survives a kill.
   */
  constructor(port: number = sparePort(), args: string[] = []) {
    this.port = port;
    this.#args = args;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Whether the server runs now. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server and waits until it answers PING. */
  async start(): Promise<void> {
    if (this.#child !== undefined) return;
    this.#child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        ...this.#args,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(async () => {
      const c = new Redis(this.url, {
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      });
      c.on("error", () => {});
      try {
        await c.connect();
        return (await c.ping()) === "PONG";
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    }, { timeoutMs: 10_000, intervalMs: 50, what: `redis-server on ${this.port}` });
  }

  /** Kills the server (SIGKILL: an outage, not a shutdown) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    child.kill("SIGKILL");
    await child.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
