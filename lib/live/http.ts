/**
 * Serving a live source over HTTP, so a dashboard in another process can read it:
 * `GET <prefix>` (JSON snapshot), `GET <prefix>/events` (Server-Sent Events, one `batch` event per
 * coalesced feed batch) and `POST <prefix>/actions/<name>` (JSON arguments; allowed only when
 * `allowActions` says so). Plain Fetch API: mount it in Hono or `Deno.serve` alike.
 *
 * @module
 */
import {
  LiveActionError,
  type LiveEventBase,
  type LiveSource,
  type LiveStateBase,
} from "./source.ts";

/** The JSON `GET <prefix>` answers. */
export interface LiveSnapshot<S extends LiveStateBase = LiveStateBase> {
  /** Which part. */
  part: string;
  /** The actions `POST <prefix>/actions/<name>` accepts. */
  actions: readonly string[];
  /** The state. */
  state: S;
}

/** Options of {@linkcode liveHandler}. */
export interface LiveHandlerOptions {
  /** The path prefix (default `/live`). */
  prefix?: string;
  /**
   * Whether a request may run actions (default: when the peer is on loopback, see
   * {@linkcode isLoopbackPeer}). The part's own authentication runs before the handler; a part
   * with a token that matched may allow every request.
   */
  allowActions?: (request: Request, info: Deno.ServeHandlerInfo | undefined) => boolean;
  /** SSE keep-alive comment interval in ms (default 15 000). */
  keepAliveMs?: number;
}

/** A handler for the live routes: a `Response`, or `undefined` when the path is not one of them. */
export type LiveHandler = (
  request: Request,
  info?: Deno.ServeHandlerInfo,
) => Promise<Response | undefined>;

/**
 * Whether the peer of a request is on this machine (127.0.0.0/8 or ::1).
 *
 * @param info What `Deno.serve` passed with the request.
 * @returns `true` for a loopback peer; `false` when unknown.
 *
 * @example
 * ```ts
 * import { isLoopbackPeer } from "@syft/syft/live";
 * console.log(isLoopbackPeer({ remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 }, completed: Promise.resolve() }));
 * ```
 */
export function isLoopbackPeer(info: Deno.ServeHandlerInfo | undefined): boolean {
  let host: string | undefined;
  try {
    host = (info?.remoteAddr as Partial<Deno.NetAddr> | undefined)?.hostname;
  } catch {
    return false; // the request is already closed
  }
  if (host === undefined) return false;
  return isLoopbackHost(host);
}

/**
 * Whether a host name or address is loopback (`localhost`, 127.0.0.0/8, `::1`).
 *
 * @param host A host name or address (IPv6 with or without brackets).
 * @returns Whether it is loopback.
 *
 * @example
 * ```ts
 * import { isLoopbackHost } from "@syft/syft/live";
 * console.log(isLoopbackHost("127.0.0.1"), isLoopbackHost("0.0.0.0")); // true false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/**
 * Builds the HTTP handler of a live source.
 *
 * @param source The part's live source.
 * @param options Prefix, who may run actions, keep-alive.
 * @returns The handler.
 *
 * @example Mount it in Deno.serve
 * ```ts
 * import { createLiveFeed, liveHandler, type LiveSource } from "@syft/syft/live";
 * const source: LiveSource = {
 *   part: "hub", feed: createLiveFeed(), actions: [],
 *   state: () => ({ part: "hub", name: "demo", startedAt: 0, counters: {}, gauges: {} }),
 * };
 * const live = liveHandler(source);
 * const res = await live(new Request("http://127.0.0.1/live"));
 * console.log((await res!.json()).part); // hub
 * ```
 */
export function liveHandler(source: LiveSource, options: LiveHandlerOptions = {}): LiveHandler {
  const prefix = (options.prefix ?? "/live").replace(/\/+$/, "");
  const allow = options.allowActions ?? ((_request, info) => isLoopbackPeer(info));
  const keepAlive = options.keepAliveMs ?? 15_000;
  return async (request, info) => {
    const path = new URL(request.url).pathname;
    if (path !== prefix && !path.startsWith(prefix + "/")) return undefined;
    const rest = path.slice(prefix.length);
    if (request.method === "GET" && (rest === "" || rest === "/")) {
      const snapshot: LiveSnapshot = {
        part: source.part,
        actions: source.actions,
        state: await source.state(),
      };
      return json(snapshot);
    }
    if (request.method === "GET" && rest === "/events") return stream(source, request, keepAlive);
    const action = /^\/actions\/([A-Za-z0-9_-]+)$/.exec(rest)?.[1];
    if (request.method === "POST" && action !== undefined) {
      if (!allow(request, info)) {
        return json({ error: "Actions are not allowed for this request", code: "FORBIDDEN" }, 403);
      }
      let args: unknown;
      try {
        const text = await request.text();
        args = text === "" ? {} : JSON.parse(text);
      } catch {
        return json(
          { error: "The body must be a JSON object of arguments", code: "LIVE_BAD_ARGS" },
          400,
        );
      }
      if (args === null || typeof args !== "object" || Array.isArray(args)) {
        return json(
          { error: "The body must be a JSON object of arguments", code: "LIVE_BAD_ARGS" },
          400,
        );
      }
      return await runAction(source, action, args as Record<string, unknown>);
    }
    return json({ error: `No live route ${request.method} ${path}`, code: "NOT_FOUND" }, 404);
  };
}

/**
 * Runs an action of a source and answers as `POST <prefix>/actions/<name>` does: `200 {result}`,
 * or `{error, code}` with 400/404/500.
 *
 * @param source The source.
 * @param action The action's name.
 * @param args Its arguments.
 * @returns The response.
 *
 * @example
 * ```ts
 * import { createLiveFeed, runAction } from "@syft/syft/live";
 * const res = await runAction({
 *   part: "hub", feed: createLiveFeed(), actions: [],
 *   state: () => ({ part: "hub", name: "x", startedAt: 0, counters: {}, gauges: {} }),
 * }, "disconnect", { id: "zpt-1" });
 * console.log(res.status); // 400
 * ```
 */
export async function runAction(
  source: LiveSource,
  action: string,
  args: Readonly<Record<string, unknown>>,
): Promise<Response> {
  if (!source.actions.includes(action) || source.act === undefined) {
    return json({
      error: `Unknown action "${action}" for ${source.part} (actions: ${
        source.actions.join(", ") || "none"
      })`,
      code: "LIVE_UNKNOWN_ACTION",
    }, 400);
  }
  try {
    return json({ result: (await source.act(action, args)) ?? null });
  } catch (err) {
    if (err instanceof LiveActionError) {
      return json({ error: err.message, code: err.code }, err.status);
    }
    return json({
      error: `The ${action} action failed: ${err instanceof Error ? err.message : String(err)}`,
      code: "LIVE_FAILED",
    }, 500);
  }
}

function stream(source: LiveSource, request: Request, keepAliveMs: number): Response {
  const encoder = new TextEncoder();
  let stop = (): void => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string): void => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop();
        }
      };
      send(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ part: source.part })}\n\n`);
      const unsubscribe = source.feed.subscribe((events: readonly LiveEventBase[], dropped) => {
        send(`event: batch\ndata: ${JSON.stringify({ events, dropped })}\n\n`);
      });
      const timer = setInterval(() => send(": keep-alive\n\n"), keepAliveMs);
      stop = () => {
        clearInterval(timer);
        unsubscribe();
        stop = () => {};
        try {
          controller.close();
        } catch { /* already closed */ }
      };
      request.signal.addEventListener("abort", () => stop(), { once: true });
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
