/**
 * The proxy's core, independent of HTTP: writes requests through the file-RPC backend, keeps their
 * status in the store, follows each in-flight request to its response (the backend's one shared
 * watcher) and re-attaches to pending requests after a restart (private).
 *
 * @module
 */
import { getLogger } from "../_log.ts";
import { isFinished } from "./_store_util.ts";
import type { RequestStore } from "./store.ts";
import type {
  ProxyApi,
  RequestRecord,
  RequestStatus,
  SyftRequestJson,
  SyftResponseJson,
} from "./types.ts";
import { wireBodyText } from "./_body.ts";

const log = getLogger(["proxy", "gateway"]);

/** What the gateway needs to send one request. */
export interface OutgoingRequest {
  /** The endpoint's `syft://` URL (already validated). */
  url: string;
  /** The datasite e-mail (URL host). */
  destination: string;
  /** The app name (from the URL). */
  appName: string;
  /** The endpoint (from the URL). */
  funcName: string;
  /** The request method. */
  method: string;
  /** The body bytes, or `null`. */
  body: Uint8Array | null;
  /** Request headers. */
  headers: Record<string, string>;
  /** When the request expires. */
  expiresAt: Date;
}

/** A request the backend has built but not written yet. */
export interface PreparedRequest {
  /** The request in wire form. */
  readonly request: SyftRequestJson;
  /** Writes the request file and starts following it. */
  write(): Promise<SentRequest>;
}

/** A request the backend has written (or re-attached to). */
export interface SentRequest {
  /**
   * Resolves with the response: the app's, or a synthetic one (403 rejected, 404 vanished, 419
   * expired). Rejects only when the backend closes. The response's files stay on disk until
   * {@linkcode SentRequest.consume}.
   */
  response(): Promise<SyftResponseJson>;
  /** Deletes the request and response files (once the result is stored). */
  consume(): Promise<void>;
}

/** The file-RPC side of the proxy (implemented over `lib/rpc`). */
export interface RpcBackend {
  /** The e-mail requests are sent from. */
  readonly email: string;
  /** The datasites directory. */
  readonly datasitesDir: string;
  /**
   * Builds a request (its id and bytes are known from here on) without writing it.
   *
   * @throws When a field is invalid.
   */
  prepare(request: OutgoingRequest): PreparedRequest;
  /**
   * Follows requests an earlier process stored as pending: attaches to those with a file on disk
   * and writes again (same id, same bytes) those without any (accepted but not written yet).
   *
   * @returns One entry per request, in order: the followed request, or why it cannot be.
   */
  recover(requests: SyftRequestJson[]): Promise<(SentRequest | Error)[]>;
  /**
   * What is missing locally for an endpoint to answer (its datasite, app or endpoint folder), or
   * `null` when it is there. Optional: a backend without it never refuses a send.
   */
  missingEndpoint?(
    target: { datasite: string; app: string; endpoint: string },
  ): Promise<{ missing: string; path: string; message: string } | null>;
  /** Reads `rpc.schema.json` of an app on a datasite; `null` when there is none. */
  readSchema(datasite: string, app: string): Promise<unknown | null>;
  /** Stops the shared watcher. */
  close(): Promise<void>;
}

/** Called once per request this process sees finish. */
export type FinishListener = (record: RequestRecord, durationSeconds: number) => void;

/** Options for {@linkcode ProxyGateway}. */
export interface ProxyGatewayOptions {
  /** The file-RPC backend. */
  backend: RpcBackend;
  /** The request store. */
  store: RequestStore;
  /** This instance's owner id (default: derived from the e-mail and datasites dir). */
  owner?: string;
  /** Refuse sends to endpoints that are not in the local datasites (default false). */
  checkEndpoints?: boolean;
}

interface InFlight {
  /** Pending, then finished as soon as the response is known (before the store has it). */
  record: RequestRecord;
  /** Resolves once the response is known (with the pending record if following stops). */
  result: Promise<RequestRecord>;
  /** The store write of the pending record (blocking sends do not wait for it up front). */
  created: Promise<void>;
}

/** Non-blocking sends whose file is not written yet, at most (then sends wait for room). */
const MAX_BACKLOG = 1024;
/** Request files written at once in the background. */
const WRITE_CONCURRENCY = 64;

/**
 * Writes request files of accepted (stored) requests in the background, a bounded number at a
 * time; {@linkcode BackgroundWriter.room} holds new sends back while the backlog is full.
 */
class BackgroundWriter {
  #active = 0;
  #queue: (() => void)[] = [];
  #backlog = 0;
  #roomWaiters: (() => void)[] = [];
  #drained: (() => void)[] = [];

  write(prepared: PreparedRequest): Promise<SentRequest> {
    this.#backlog++;
    return this.#slot().then(() => prepared.write()).finally(() => {
      this.#active--;
      this.#queue.shift()?.();
      this.#backlog--;
      if (this.#backlog < MAX_BACKLOG) { for (const wake of this.#roomWaiters.splice(0)) wake(); }
      if (this.#backlog === 0) { for (const wake of this.#drained.splice(0)) wake(); }
    });
  }

  #slot(): Promise<void> {
    if (this.#active < WRITE_CONCURRENCY) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.#queue.push(() => {
        this.#active++;
        resolve();
      })
    );
  }

  /** Resolves once every queued write has been done (or has failed). */
  async drain(): Promise<void> {
    while (this.#backlog > 0) {
      await new Promise<void>((resolve) => this.#drained.push(resolve));
    }
  }

  /** Resolves when the backlog has room. */
  room(): Promise<void> {
    if (this.#backlog < MAX_BACKLOG) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }
}

/** Derives a stable owner id from where responses arrive (e-mail + datasites directory). */
export async function ownerId(email: string, datasitesDir: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${email}\n${datasitesDir}`),
  );
  return new Uint8Array(digest).subarray(0, 8).toHex();
}

/** Splits `syft://<email>/app_data/<app>/rpc/<endpoint>` into its parts (empty when not RPC). */
export function rpcUrlParts(url: string): { destination: string; app: string; func: string } {
  const m = /^syft:\/\/([^/?#]+)\/app_data\/([^/?#]+)\/rpc\/([^?#]*)/.exec(url);
  if (!m) {
    const host = /^syft:\/\/([^/?#]+)/.exec(url)?.[1] ?? "";
    return { destination: host, app: "", func: "" };
  }
  return { destination: m[1]!, app: m[2]!, func: m[3]!.replace(/\/+$/, "") };
}

/** The finished form of `record` given its response. */
export function finishedRecord(record: RequestRecord, response: SyftResponseJson): RequestRecord {
  const code = response.status_code;
  const failed = code >= 400;
  const status: RequestStatus = failed ? "failed" : "completed";
  return {
    ...record,
    status,
    status_code: code,
    error: failed ? (wireBodyText(response.body) || `Request failed with status ${code}`) : null,
    completed_at: new Date().toISOString(),
    response,
  };
}

/**
 * Sends requests, follows them to their responses and keeps the store up to date.
 */
export class ProxyGateway {
  readonly backend: RpcBackend;
  readonly store: RequestStore;
  #owner: string | undefined;
  #checkEndpoints: boolean;
  #writer = new BackgroundWriter();
  #listeners: FinishListener[] = [];
  #inflight = new Map<string, InFlight>();
  /** In-flight requests whose response is not known yet. */
  #waiting = 0;
  #counts = { total: 0, completed: 0, failed: 0 };

  constructor(options: ProxyGatewayOptions) {
    this.backend = options.backend;
    this.store = options.store;
    this.#owner = options.owner;
    this.#checkEndpoints = options.checkEndpoints ?? false;
  }

  /**
   * Why a send to this endpoint cannot be answered here (its datasite, app or endpoint folder is
   * not in the local datasites), or `null` when it can, or when endpoint checks are off.
   */
  async missingEndpoint(
    req: Pick<OutgoingRequest, "destination" | "appName" | "funcName">,
  ): Promise<{ missing: string; path: string; message: string } | null> {
    if (!this.#checkEndpoints || this.backend.missingEndpoint === undefined) return null;
    return await this.backend.missingEndpoint({
      datasite: req.destination,
      app: req.appName,
      endpoint: req.funcName,
    });
  }

  /** Calls `listener` for every request this process sees finish. */
  addFinishListener(listener: FinishListener): void {
    this.#listeners.push(listener);
  }

  /** This instance's owner id (after `start()`). */
  get owner(): string {
    if (this.#owner === undefined) throw new Error("ProxyGateway.start() was not called");
    return this.#owner;
  }

  /** Request counts of this process. */
  get counts(): { total: number; pending: number; completed: number; failed: number } {
    return { ...this.#counts, pending: this.#waiting };
  }

  /**
   * Requests this process waits on (no response yet), oldest first.
   *
   * @param limit At most this many.
   */
  pendingRecords(limit: number): RequestRecord[] {
    const out: RequestRecord[] = [];
    for (const { record } of this.#inflight.values()) {
      if (out.length >= limit) break;
      if (record.status === "pending") out.push(record);
    }
    return out;
  }

  /**
   * Computes the owner id and follows the pending requests this instance owns again (writing the
   * request files of those accepted but not written yet).
   *
   * @returns How many requests are followed again.
   */
  async start(): Promise<number> {
    this.#owner ??= await ownerId(this.backend.email, this.backend.datasitesDir);
    const pending = (await this.store.listPending(this.#owner)).filter((r) =>
      !this.#inflight.has(r.id)
    );
    const sent = await this.backend.recover(pending.map((r) => r.request));
    let resumed = 0;
    pending.forEach((record, i) => {
      const followed = sent[i]!;
      if (followed instanceof Error) {
        log.warn("Cannot re-attach to request {id}: {error}", { id: record.id, error: followed });
      } else {
        this.#track(record, Promise.resolve(followed));
        resumed++;
      }
    });
    if (resumed > 0) log.info("Re-attached to {count} pending request(s)", { count: resumed });
    return resumed;
  }

  /**
   * Accepts a request. Non-blocking (`wait: false`): the pending record is stored (durably, for a
   * durable store) before this returns, and the request file is written just after in the
   * background (a restart writes it if the process stopped first). Blocking (`wait: true`): the
   * file is written before this returns (the app can start) while the record is stored; a caller
   * that ends up answering "pending" must first wait for {@linkcode ProxyGateway.accepted}.
   *
   * @returns The record: `pending`, or `failed` when the file could not be written.
   * @throws {StoreError} When a non-blocking send cannot be stored.
   */
  async send(
    api: ProxyApi,
    req: OutgoingRequest,
    options: { wait?: boolean } = {},
  ): Promise<RequestRecord> {
    const prepared = this.backend.prepare(req);
    const record: RequestRecord = {
      id: prepared.request.id,
      api,
      owner: this.owner,
      "app_name": req.appName,
      "func_name": req.funcName,
      destination: req.destination,
      status: "pending",
      "status_code": null,
      error: null,
      "created_at": new Date().toISOString(),
      "completed_at": null,
      request: prepared.request,
      response: null,
    };
    this.#counts.total++;
    if (!options.wait) {
      await this.store.create(record);
      this.#track(record, this.#writer.write(prepared));
      await this.#writer.room();
      return record;
    }
    const created = this.store.create(record);
    let sent: SentRequest;
    try {
      sent = await prepared.write();
    } catch (err) {
      // The store write may have succeeded while the file write failed: record the failure.
      await created.catch(() => {});
      const failed = this.#writeFailed(record, err);
      this.#finished(failed, record);
      return (await this.store.finish(failed).catch(() => null)) ?? failed;
    }
    this.#track(record, Promise.resolve(sent), created);
    return record;
  }

  /**
   * Resolves once the pending record of an in-flight request is stored; rejects (a
   * {@linkcode StoreError}) when that failed. Resolves at once for other ids.
   */
  async accepted(id: string): Promise<void> {
    await this.#inflight.get(id)?.created;
  }

  #writeFailed(record: RequestRecord, err: unknown): RequestRecord {
    const message = `Cannot write the request file: ${
      err instanceof Error ? err.message : String(err)
    }`;
    log.warn("{message}", { message, id: record.id });
    return finishedRecord(record, {
      id: record.id,
      sender: "system@syftbox.localhost",
      url: "syft://system@syftbox.localhost",
      body: new TextEncoder().encode(message).toBase64({ alphabet: "base64url" }),
      headers: {},
      created: new Date().toISOString(),
      expires: record.request.expires,
      status_code: 500,
    });
  }

  #track(
    record: RequestRecord,
    written: Promise<SentRequest>,
    created: Promise<void> = Promise.resolve(),
  ): void {
    const { promise: result, resolve } = Promise.withResolvers<RequestRecord>();
    const entry: InFlight = { record, result, created };
    created.catch(() => {/* reported by accepted() */});
    let waiting = true;
    const stopWaiting = (): void => {
      if (waiting) this.#waiting--;
      waiting = false;
    };
    const finish = async (finished: RequestRecord, sent?: SentRequest): Promise<void> => {
      // Known from here on (waiters, `get`, metrics), while the store write runs.
      entry.record = finished;
      stopWaiting();
      this.#finished(finished, record);
      resolve(finished);
      try {
        // The pending record first: a finish of an id the store does not know is dropped.
        await created.catch(() => {});
        await this.store.finish(finished);
        // Stored: the response's files can go (kept on a store failure, for a restart to read).
        await sent?.consume();
      } catch (err) {
        log.error("Cannot store the result of {id}: {error}", { id: record.id, error: err });
      }
    };
    (async () => {
      let sent: SentRequest;
      try {
        sent = await written;
      } catch (err) {
        await finish(this.#writeFailed(record, err));
        return;
      }
      await finish(finishedRecord(record, await sent.response()), sent);
    })().catch(() => {/* the backend closed: the request stays pending in the store */})
      .finally(() => {
        stopWaiting();
        resolve(record);
        if (this.#inflight.get(record.id) === entry) this.#inflight.delete(record.id);
      });
    this.#waiting++;
    this.#inflight.set(record.id, entry);
  }

  #finished(record: RequestRecord, original: RequestRecord): void {
    if (record.status === "completed") this.#counts.completed++;
    else this.#counts.failed++;
    const seconds = Math.max(0, (Date.now() - Date.parse(original.created_at)) / 1000);
    for (const listener of this.#listeners) {
      try {
        listener(record, seconds);
      } catch (err) {
        log.warn("Finish listener failed: {error}", { error: err });
      }
    }
  }

  /** Looks a request up: in-flight ones from memory, others from the store. */
  async get(id: string): Promise<RequestRecord | null> {
    const inflight = this.#inflight.get(id);
    if (inflight) return inflight.record;
    return await this.store.get(id);
  }

  /**
   * Waits until the request finishes, `timeoutMs` passes or `signal` aborts.
   *
   * @returns The record as it stands then, or `null` when unknown.
   */
  async waitFor(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<RequestRecord | null> {
    const inflight = this.#inflight.get(id);
    if (!inflight) return await this.store.waitForFinish(id, timeoutMs, signal);
    if (timeoutMs <= 0 || isFinished(inflight.record)) return inflight.record;
    const { promise: stop, resolve } = Promise.withResolvers<null>();
    const timer = setTimeout(() => resolve(null), timeoutMs);
    const onAbort = (): void => resolve(null);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const finished = await Promise.race([inflight.result, stop]);
      if (finished && isFinished(finished)) return finished;
      return this.#inflight.get(id)?.record ?? await this.store.get(id);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Writes the request files of accepted requests, then stops following requests (they stay
   * pending in the store) and closes the backend.
   */
  async close(): Promise<void> {
    await this.#writer.drain();
    // Closing the backend rejects every wait at once (one shared abort signal per request would
    // cost an O(n) listener insertion each: Deno's EventTarget checks for duplicates).
    await this.backend.close();
    await Promise.allSettled([...this.#inflight.values()].map((f) => f.result));
  }
}
