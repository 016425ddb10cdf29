/**
 * The live state of one `SyftEvents` app (private): counters from its stats, per-endpoint counts
 * and latency, a ring of recent requests (with their messages, for the `request` action) and the
 * event feed. Recording costs a few increments and one small object per request.
 *
 * @module
 */
import {
  createLatency,
  createLiveFeed,
  createRing,
  type Latency,
  type LatencySnapshot,
  LiveActionError,
  type LiveFeedWriter,
  type RpcLiveEvent,
  type RpcLiveSource,
  type RpcLiveState,
  type RpcMessageDetail,
  type RpcRequestDetail,
  stringArg,
} from "../live/mod.ts";
import type { SyftRequest, SyftResponse } from "./protocol.ts";

/** Bodies kept per recent request (the rest is cut). */
const BODY_KEEP_BYTES = 64 * 1024;
const RECENT = 200;
const RECENT_LISTED = 50;

interface Recent {
  /** The summary, also the feed event (one object per request). */
  summary: RpcLiveEvent;
  request: SyftRequest;
  response: SyftResponse;
}

interface EndpointCounts {
  requests: number;
  errors: number;
  latency: Latency;
}

/** What the recorder reads from its app when a snapshot is taken. */
export interface RpcLiveView {
  appName: string;
  email: string;
  rpcDir: string;
  stats: Readonly<Record<string, number>>;
  inFlight: number;
  queued: number;
  endpoints: { path: string; description: string | null }[];
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function detail(headers: Record<string, string>, body: Uint8Array | null): RpcMessageDetail {
  const bytes = body?.length ?? 0;
  const kept = body === null ? null : body.subarray(0, BODY_KEEP_BYTES);
  let text: string | null = null;
  if (kept !== null) {
    try {
      text = decoder.decode(kept);
    } catch {
      text = null;
    }
  }
  return {
    headers: { ...headers },
    bodyText: kept === null ? "" : text,
    bodyBase64: kept !== null && text === null ? kept.toBase64() : null,
    bytes,
    truncated: bytes > BODY_KEEP_BYTES,
  };
}

/** Records one app's requests and serves them as an {@linkcode RpcLiveSource}. */
export class RpcLiveRecorder {
  readonly #view: () => RpcLiveView;
  readonly #appName: string;
  readonly #startedAt = Date.now();
  readonly #recent = createRing<Recent>(RECENT);
  readonly #endpoints = new Map<string, EndpointCounts>();
  readonly #feed: LiveFeedWriter<RpcLiveEvent> = createLiveFeed();
  #requests = 0;
  #source: RpcLiveSource | undefined;

  constructor(appName: string, view: () => RpcLiveView) {
    this.#appName = appName;
    this.#view = view;
  }

  /** Records an answered request; `ms` from reading it to writing the response. */
  record(request: SyftRequest, response: SyftResponse, endpoint: string, ms: number): void {
    this.#requests++;
    let counts = this.#endpoints.get(endpoint);
    if (counts === undefined) {
      counts = { requests: 0, errors: 0, latency: createLatency() };
      this.#endpoints.set(endpoint, counts);
    }
    counts.requests++;
    if (response.statusCode >= 400) counts.errors++;
    counts.latency.record(ms);
    const summary: RpcLiveEvent = {
      type: "request",
      app: this.#appName,
      id: request.id,
      at: Date.now(),
      sender: request.sender,
      endpoint,
      method: request.method,
      status: response.statusCode,
      durationMs: Math.round(ms * 1000) / 1000,
      url: request.url.href,
    };
    this.#recent.push({ summary, request, response });
    if (this.#feed.active) this.#feed.publish(summary);
  }

  /** The app's live source (one per app). */
  source(): RpcLiveSource {
    return this.#source ??= {
      part: "rpc",
      feed: this.#feed,
      actions: ["request"],
      state: () => this.#state(),
      act: (action, args) => {
        if (action !== "request") {
          return Promise.reject(
            new LiveActionError(
              "LIVE_UNKNOWN_ACTION",
              `Unknown action "${action}" (actions: request)`,
            ),
          );
        }
        return Promise.resolve().then(() => this.#detail(stringArg(args, "id")));
      },
    };
  }

  #detail(id: string): RpcRequestDetail {
    const found = this.#recent.find((r) => r.summary.id === id);
    if (found === undefined) {
      throw new LiveActionError(
        "LIVE_NOT_FOUND",
        `Request ${id} is not among the last ${RECENT} requests of ${this.#appName}`,
      );
    }
    return {
      summary: found.summary,
      request: detail(found.request.headers, found.request.body),
      response: detail(found.response.headers, found.response.body),
    };
  }

  #state(): RpcLiveState {
    const app = this.#view();
    const latency: Record<string, LatencySnapshot> = {};
    const endpoints = app.endpoints.map(({ path, description }) => {
      const counts = this.#endpoints.get(path);
      if (counts !== undefined) latency[path] = counts.latency.snapshot();
      return { path, description, requests: counts?.requests ?? 0, errors: counts?.errors ?? 0 };
    });
    return {
      part: "rpc",
      name: app.appName,
      startedAt: this.#startedAt,
      app: app.appName,
      email: app.email,
      rpcDir: app.rpcDir,
      counters: { requests: this.#requests, ...app.stats },
      gauges: { inFlight: app.inFlight, queued: app.queued },
      latency,
      endpoints,
      recent: this.#recent.newest(RECENT_LISTED).map((r) => r.summary),
    };
  }
}
