/**
 * Proxies as real processes (`syft proxy serve`), for kill -9 tests and the fault suite; and the
 * HTTP calls those tests make.
 *
 * @module
 */
import { dirname } from "node:path";
import { spawnSyft, type SyftProcess } from "../../_helpers/cli.ts";

/** A running `syft proxy serve`. */
export interface ProxyProcess extends AsyncDisposable {
  proc: SyftProcess;
  url: string;
  email: string;
  dataDir: string;
  /** `kill -9`. */
  kill(): Promise<void>;
}

/** Starts `syft --json proxy serve --port 0 --home HOME ARGS...` and waits until it listens. */
export async function spawnProxy(home: string, args: string[] = []): Promise<ProxyProcess> {
  const proc = spawnSyft([
    "--json",
    "--log-level",
    "error",
    "proxy",
    "serve",
    "--port",
    "0",
    "--home",
    home,
    "--no-endpoint-check",
    ...args,
  ]);
  const line = await proc.waitForLine(/"event":"listening"/, 60_000);
  const info = JSON.parse(line) as { url: string; email: string; datasites: string };
  const kill = async (): Promise<void> => {
    await proc.stop("SIGKILL");
  };
  return {
    proc,
    url: info.url,
    email: info.email,
    dataDir: dirname(info.datasites),
    kill,
    [Symbol.asyncDispose]: async () => {
      await proc.stop("SIGINT");
    },
  };
}

/** POSTs JSON; resolves with the status and decoded body (`null` when the connection failed). */
export async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> } | null> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  } catch {
    return null;
  }
}

/** GETs JSON; `null` when the connection failed. */
export async function getJson(
  url: string,
): Promise<{ status: number; body: Record<string, unknown> } | null> {
  try {
    const res = await fetch(url);
    return { status: res.status, body: await res.json() };
  } catch {
    return null;
  }
}
