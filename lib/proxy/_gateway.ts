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

/** A request the backend has written (or re-attached to). */
export interface SentRequest {
  /** The request in wire form. */
  readonly request: SyftRequestJson;
  /**
   * Resolves with the response: the app's, or a synthetic one (403 rejected, 404 vanished, 419
   * expired). Rejects only when the backend closes.
   */
  response(): Promise<SyftResponseJson>;
}

/** The file-RPC side of the proxy (implemented over `lib/rpc`). */
export interface RpcBackend {
  /** The e-mail requests are sent from. */
  readonly email: string;
  /** The datasites directory. */
  readonly datasitesDir: string;
  /**
   * Writes a new request file. `stored(request)` is called with the request's wire form as soon
   * as it is known, and may run while the file is written; `send` settles after both.
   *
   * @throws When the file cannot be written (after `stored` settled, if it was called).
   */
  send(
    request: OutgoingRequest,
    stored: (request: SyftRequestJson) => Promise<void>,
  ): Promise<SentRequest>;
  /** Re-attaches to a request an earlier process wrote. */
  attach(request: SyftRequestJson): Promise<SentRequest>;
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
}

interface InFlight {
  record: RequestRecord;
  done: Promise<RequestRecord>;
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
  #listeners: FinishListener[] = [];
  #inflight = new Map<string, InFlight>();
  #counts = { total: 0, completed: 0, failed: 0 };

  constructor(options: ProxyGatewayOptions) {
    this.backend = options.backend;
    this.store = options.store;
    this.#owner = options.owner;
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
    return { ...this.#counts, pending: this.#inflight.size };
  }

  /**
   * Computes the owner id and re-attaches to the pending requests this instance owns.
   *
   * @returns How many requests were re-attached.
   */
  async start(): Promise<number> {
    this.#owner ??= await ownerId(this.backend.email, this.backend.datasitesDir);
    const pending = await this.store.listPending(this.#owner);
    for (const record of pending) {
      if (this.#inflight.has(record.id)) continue;
      try {
        this.#track(record, await this.backend.attach(record.request));
      } catch (err) {
        log.warn("Cannot re-attach to request {id}: {error}", { id: record.id, error: err });
      }
    }
    if (pending.length > 0) {
      log.info("Re-attached to {count} pending request(s)", { count: pending.length });
    }
    return pending.length;
  }

  /**
   * Writes a request file and stores its pending status (both at once), then follows it.
   *
   * @returns The stored record: `pending`, or `failed` when the file could not be written.
   */
  async send(api: ProxyApi, req: OutgoingRequest): Promise<RequestRecord> {
    let record: RequestRecord | undefined;
    let created: Promise<void> | undefined;
    const stored = (request: SyftRequestJson): Promise<void> => {
      record = {
        id: request.id,
        api,
        owner: this.owner,
        app_name: req.appName,
        func_name: req.funcName,
        destination: req.destination,
        status: "pending",
        status_code: null,
        error: null,
        created_at: new Date().toISOString(),
        completed_at: null,
        request,
        response: null,
      };
      created = this.store.create(record);
      return created;
    };
    this.#counts.total++;
    let sent: SentRequest;
    try {
      sent = await this.backend.send(req, stored);
    } catch (err) {
      // The store write may have succeeded while the file write failed: record the failure.
      await created?.catch(() => {});
      if (record === undefined) throw err;
      const message = `Cannot write the request file: ${
        err instanceof Error ? err.message : String(err)
      }`;
      log.warn("{message}", { message, id: record.id });
      const failed = finishedRecord(record, {
        id: record.id,
        sender: "system@syftbox.localhost",
        url: "syft://system@syftbox.localhost",
        body: new TextEncoder().encode(message).toBase64({ alphabet: "base64url" }),
        headers: {},
        created: new Date().toISOString(),
        expires: record.request.expires,
        status_code: 500,
      });
      this.#finished(failed, record);
      return (await this.store.finish(failed).catch(() => null)) ?? failed;
    }
    const pending = record!;
    this.#track(pending, sent);
    // A failed store write is reported (503); the request was written and is still followed.
    await created;
    return pending;
  }

  #track(record: RequestRecord, sent: SentRequest): void {
    const done = (async (): Promise<RequestRecord> => {
      try {
        const response = await sent.response();
        const finished = finishedRecord(record, response);
        let stored: RequestRecord = finished;
        try {
          stored = (await this.store.finish(finished)) ?? finished;
        } catch (err) {
          log.error("Cannot store the result of {id}: {error}", { id: record.id, error: err });
        }
        this.#finished(stored, record);
        return stored;
      } finally {
        this.#inflight.delete(record.id);
      }
    })();
    // A rejected `done` (shutdown) is expected; waiters see the pending record instead.
    done.catch(() => {});
    this.#inflight.set(record.id, { record, done });
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
    if (timeoutMs <= 0) return inflight.record;
    const { promise: stop, resolve } = Promise.withResolvers<null>();
    const timer = setTimeout(() => resolve(null), timeoutMs);
    const onAbort = (): void => resolve(null);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const finished = await Promise.race([inflight.done.catch(() => null), stop]);
      if (finished && isFinished(finished)) return finished;
      return this.#inflight.get(id)?.record ?? await this.store.get(id);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Stops following requests (they stay pending in the store) and closes the backend. */
  async close(): Promise<void> {
    // Closing the backend rejects every wait at once (one shared abort signal per request would
    // cost an O(n) listener insertion each: Deno's EventTarget checks for duplicates).
    await this.backend.close();
    await Promise.allSettled([...this.#inflight.values()].map((f) => f.done));
  }
}
