/**
 * A live source in another process, read over its `/live` routes (`syft dashboard --url`):
 * `GET /live` for each sample, `GET /live/events` (Server-Sent Events) while the feed has
 * subscribers, `POST /live/actions/<name>` for actions.
 *
 * @module
 */
import {
  createLiveFeed,
  LiveActionError,
  type LiveActionErrorCode,
  type LiveEventBase,
  type LivePart,
  type LiveSnapshot,
  type LiveSource,
  type LiveStateBase,
} from "../../lib/live/mod.ts";
import { getLogger } from "../../lib/_log.ts";
import type { DashboardService } from "./core.ts";

const log = getLogger(["dashboard", "remote"]);

/** Options of {@linkcode connectRemote}. */
export interface RemoteOptions {
  /** Sent as `Authorization: Bearer` (a hub token, a proxy API key). */
  token?: string;
  /** Per-request timeout in ms (default 3000). */
  timeoutMs?: number;
}

/** The HTTP origin of a server URL (`ws://h:p/ws` → `http://h:p`). */
export function liveBase(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(
      `Cannot use "${url}": not a URL (expected http://host:port or ws://host:port/path)`,
    );
  }
  const protocol = u.protocol === "ws:" ? "http:" : u.protocol === "wss:" ? "https:" : u.protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    throw new TypeError(`Cannot use "${url}": expected an http(s):// or ws(s):// URL`);
  }
  return `${protocol}//${u.host}`;
}

/**
 * Connects to a server's `/live` routes and returns it as a dashboard service.
 *
 * @param url The server (any of its URLs: only the origin is used).
 * @param options Token and timeout.
 * @returns The service; its name is the part's (`hub`, `proxy`, `ensync`, ...).
 * @throws {Error} When the server does not answer `/live` with a live snapshot.
 */
export async function connectRemote(
  url: string,
  options: RemoteOptions = {},
): Promise<DashboardService> {
  const base = liveBase(url);
  const timeoutMs = options.timeoutMs ?? 3000;
  const headers: Record<string, string> = options.token === undefined
    ? {}
    : { authorization: `Bearer ${options.token}` };
  const get = async (): Promise<LiveSnapshot> => {
    const res = await fetch(`${base}/live`, { headers, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      const text = await res.text();
      throw new Error(`${base}/live answered ${res.status}: ${text.slice(0, 200)}`);
    }
    const body = await res.json() as LiveSnapshot;
    if (typeof body?.part !== "string" || typeof body.state !== "object") {
      throw new Error(`${base}/live did not answer with a live snapshot`);
    }
    return body;
  };
  let first: LiveSnapshot;
  try {
    first = await get();
  } catch (err) {
    throw new Error(
      `Cannot read the live state of ${url}: ${err instanceof Error ? err.message : String(err)} ` +
        "(is the server running, and is it a syft proxy, hub or EnSync engine?)",
      { cause: err },
    );
  }
  const part = first.part as LivePart;
  const feed = createLiveFeed<LiveEventBase>({ intervalMs: 0 });
  let stream: AbortController | undefined;
  const follow = async (signal: AbortSignal): Promise<void> => {
    while (!signal.aborted) {
      try {
        const res = await fetch(`${base}/live/events`, { headers, signal });
        if (!res.ok || res.body === null) throw new Error(`answered ${res.status}`);
        let buf = "";
        for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
          buf += chunk;
          let end;
          while ((end = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const lines = block.split("\n");
            const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
            const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join(
              "\n",
            );
            if (event !== "batch" || data === "") continue;
            const batch = JSON.parse(data) as { events: LiveEventBase[] };
            for (const e of batch.events) feed.publish(e);
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        log.debug("Live events of {base} stopped: {error}", { base, error: String(err) });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const live: LiveSource = {
    part,
    actions: first.actions,
    feed: {
      get active() {
        return feed.active;
      },
      subscribe(listener) {
        const stop = feed.subscribe(listener);
        if (stream === undefined) {
          stream = new AbortController();
          void follow(stream.signal);
        }
        return () => {
          stop();
          if (!feed.active) {
            stream?.abort();
            stream = undefined;
          }
        };
      },
    },
    state: async (): Promise<LiveStateBase> => (await get()).state,
    act: async (action, args) => {
      const res = await fetch(`${base}/live/actions/${encodeURIComponent(action)}`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify(args),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await res.json().catch(() => ({})) as {
        result?: unknown;
        error?: string;
        code?: string;
      };
      if (!res.ok) {
        const code =
          (body.code?.startsWith("LIVE_") ? body.code : "LIVE_FAILED") as LiveActionErrorCode;
        throw new LiveActionError(code, body.error ?? `${base} answered ${res.status}`);
      }
      return body.result ?? null;
    },
  };
  return { name: part, where: url, detail: `live state from ${base}/live`, live };
}
