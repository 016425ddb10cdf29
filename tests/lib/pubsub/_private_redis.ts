/**
 * A private `redis-server` on a spare port for outage tests (never the shared one): started and
 * killed (SIGKILL) by the test, restartable on the same port.
 *
 * @module
 */
import { Redis } from "ioredis";
import { waitFor } from "../../_helpers/workspace.ts";

/** A private redis-server on a spare port (never the shared one), stopped by PID. */
export class PrivateRedis implements AsyncDisposable {
  readonly port: number;
  #child: Deno.ChildProcess | undefined;

  constructor(port: number) {
    this.port = port;
  }

  /** Its URL. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
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

/** A free TCP port on 127.0.0.1 (free when asked). */
export function sparePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Whether `redis-server` is installed. */
export const haveRedisServer = await new Deno.Command("redis-server", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);
