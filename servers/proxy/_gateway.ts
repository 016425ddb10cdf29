/**
 * The proxy's core, independent of HTTP: writes requests through the file-RPC backend, keeps their
 * status in the store, follows each in-flight request to its response (the backend's one shared
 * watcher) and re-attaches to pending requests after a restart (private).
 *
 * @module
 */
import { getLogger } from "../../lib/_log.ts";
import { type Clock, systemClock } from "../../lib/_clock.ts";
import { deadline, delay } from "../../lib/_async.ts";
import {
  type ProxyApi,
  type RequestRecord,
  type RequestStatus,
  type RequestStore,
  StoreError,
  type SyftRequestJson,
  type SyftResponseJson,
} from "../../lib/proxy/mod.ts";
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
  /**
   * The request files this backend's sender has in the datasites (request, response, rejection
   * markers), by id: what a killed process may have left behind. Optional.
   */
  listFiles?(): Promise<Map<string, string[]>>;
  /**
   * Writes and removes a tiny file in the data dir: rejects (with the OS error) when the data dir
   * does not accept writes (full disk, read-only). Optional.
   */
  checkWritable?(): Promise<void>;
  /** Stops the shared watcher. */
  close(): Promise<void>;
}

/** Returns whether a record is finished. */
export function isFinished(record: RequestRecord): boolean {
  return record.status === "completed" || record.status === "failed";
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
  /** The clock for store retries and leases (default the system clock). */
  clock?: Clock;
}

interface InFlight {
  /** Pending, then finished as soon as the response is known (before the store has it). */
  record: RequestRecord;
  /** Resolves once the response is known (with the pending record if following stops). */
  result: Promise<RequestRecord>;
  /** The store write of the pending record (blocking sends do not wait for it up front). */
  created: Promise<void>;
  /**
   * Resolves with the finished record once the store holds it; rejects with a
   * {@linkcode StoreError} when it could not be stored at the first try (retries go on).
   */
  stored: Promise<RequestRecord>;
}

/** The default "nothing to wait for" of a tracked request's store write. */
const RESOLVED: Promise<void> = Promise.resolve();

/** The first retry of a finish the store refused, then doubling up to the longest. */
const STORE_RETRY_MS = 1_000;
const STORE_RETRY_MAX_MS = 30_000;

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

  async write(prepared: PreparedRequest): Promise<SentRequest> {
    this.#backlog++;
    try {
      if (this.#active < WRITE_CONCURRENCY) this.#active++;
      else await this.#slot();
      return await prepared.write();
    } finally {
      this.#active--;
      this.#queue.shift()?.();
      this.#backlog--;
      if (this.#backlog < MAX_BACKLOG) { for (const wake of this.#roomWaiters.splice(0)) wake(); }
      if (this.#backlog === 0) { for (const wake of this.#drained.splice(0)) wake(); }
    }
  }

  /** Waits for a free write slot (taken on return). */
  #slot(): Promise<void> {
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
  #clock: Clock;
  #writer = new BackgroundWriter();
  #listeners: FinishListener[] = [];
  #inflight = new Map<string, InFlight>();
  /** In-flight requests whose response is not known yet. */
  #waiting = 0;
  #counts = { total: 0, completed: 0, failed: 0 };
  #closing = new AbortController();
  #leaseLoop: Promise<void> | undefined;
  #cleaned = 0;

  constructor(options: ProxyGatewayOptions) {
    this.backend = options.backend;
    this.store = options.store;
    this.#owner = options.owner;
    this.#checkEndpoints = options.checkEndpoints ?? false;
    this.#clock = options.clock ?? systemClock;
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

  /** How many leftover request/response file pairs `start()` removed. */
  get cleaned(): number {
    return this.#cleaned;
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
   * Computes the owner id, follows the pending requests this instance owns again (writing the
   * request files of those accepted but not written yet), removes the files of requests whose
   * result is already stored (a killed process left them) and, on a store with leases, starts
   * renewing this instance's lease and claiming the requests of proxies whose lease ran out.
   *
   * @returns How many requests are followed again.
   */
  async start(): Promise<number> {
    const stable = await ownerId(this.backend.email, this.backend.datasitesDir);
    // On a shared store each process is its own owner (several may share a data dir); a restart
    // claims its predecessor's requests once their lease has run out.
    this.#owner ??= this.store.leases ? `${stable}-${crypto.randomUUID().slice(0, 8)}` : stable;
    const leases = this.store.leases;
    if (leases) await leases.renew(this.#owner);
    const pending = (await this.store.listPending(this.#owner)).filter((r) =>
      !this.#inflight.has(r.id)
    );
    let resumed = await this.#follow(pending);
    if (leases) resumed += await this.#claim();
    await this.#cleanLeftovers();
    if (resumed > 0) log.info("Re-attached to {count} pending request(s)", { count: resumed });
    if (leases) this.#leaseLoop = this.#renewLoop(leases.ttlMs);
    return resumed;
  }

  /** Follows stored pending records (re-attaching to their files or writing them). */
  async #follow(pending: RequestRecord[]): Promise<number> {
    if (pending.length === 0) return 0;
    const sent = await this.backend.recover(pending.map((r) => r.request));
    let followed = 0;
    pending.forEach((record, i) => {
      const result = sent[i]!;
      if (result instanceof Error) {
        log.warn("Cannot re-attach to request {id}: {error}", { id: record.id, error: result });
      } else if (!this.#inflight.has(record.id)) {
        this.#counts.total++;
        this.#track(record, Promise.resolve(result));
        followed++;
      }
    });
    return followed;
  }

  /** Claims the pending requests of proxies whose lease ran out and follows them. */
  async #claim(): Promise<number> {
    const claimed = await this.store.leases!.claim(this.owner);
    if (claimed.length === 0) return 0;
    const followed = await this.#follow(claimed.filter((r) => !this.#inflight.has(r.id)));
    log.info("Took over {count} pending request(s) of a proxy whose lease ran out", {
      count: followed,
    });
    return followed;
  }

  /** Renews the lease every third of its time and claims expired ones, until close. */
  async #renewLoop(ttlMs: number): Promise<void> {
    const signal = this.#closing.signal;
    const leases = this.store.leases!;
    while (!signal.aborted) {
      try {
        await delay(Math.max(1, Math.floor(ttlMs / 3)), { signal, clock: this.#clock });
      } catch {
        return;
      }
      try {
        await leases.renew(this.owner);
        await this.#claim();
      } catch (err) {
        log.warn("Cannot renew the lease or claim requests: {error}", { error: err });
      }
    }
  }

  /** Deletes the files of requests whose result the store already has. */
  async #cleanLeftovers(): Promise<void> {
    const files = await this.backend.listFiles?.().catch((err) => {
      log.warn("Cannot list leftover request files: {error}", { error: err });
      return undefined;
    });
    if (!files || files.size === 0) return;
    const ids = [...files.keys()].filter((id) => !this.#inflight.has(id));
    for (let i = 0; i < ids.length; i += 256) {
      const chunk = ids.slice(i, i + 256);
      const records = await Promise.all(chunk.map((id) => this.store.get(id).catch(() => null)));
      await Promise.all(chunk.map(async (id, j) => {
        const record = records[j];
        if (!record || !isFinished(record) || this.#inflight.has(id)) return;
        for (const path of files.get(id)!) {
          await Deno.remove(path).catch((err) => {
            if (!(err instanceof Deno.errors.NotFound)) {
              log.warn("Cannot remove leftover {path}: {error}", { path, error: err });
            }
          });
        }
        this.#cleaned++;
      }));
    }
    if (this.#cleaned > 0) {
      log.info("Removed the files of {count} answered request(s) left behind", {
        count: this.#cleaned,
      });
    }
  }

  /**
   * Checks that the store and the data dir accept writes (a tiny write each).
   *
   * @returns The reasons, by part (`store`, `data`), `"ok"` for each that accepts writes.
   */
  async checkWritable(): Promise<{ store: string; data: string }> {
    const reason = async (check: (() => Promise<void>) | undefined): Promise<string> => {
      try {
        await check?.();
        return "ok";
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    };
    const [store, data] = await Promise.all([
      reason(this.store.checkWritable?.bind(this.store)),
      reason(this.backend.checkWritable?.bind(this.backend)),
    ]);
    return { store, data };
  }

  /**
   * Accepts a request. Non-blocking (`wait: false`): the pending record is stored (durably, for a
   * durable store) before this returns, and the request file is written just after in the
   * background (a restart writes it if the process stopped first). Blocking (`wait: true`): the
   * file is written before this returns (the app can start) while the record is stored; a caller
   * that ends up answering "pending" must first wait for {@linkcode ProxyGateway.accepted}, and
   * one that answers with the result for {@linkcode ProxyGateway.waitFor}'s `stored` option.
   *
   * @returns The record: `pending`, or `failed` when the file could not be written.
   * @throws {StoreError} When a non-blocking send cannot be stored, or a blocking send's file
   *   could not be written and its failure not stored either.
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
      "created_at": new Date(this.#clock.now()).toISOString(),
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
    // Handled below (by accepted() or the answer); never an unhandled rejection meanwhile.
    created.catch(() => {});
    let sent: SentRequest;
    try {
      sent = await prepared.write();
    } catch (err) {
      // The store write may have succeeded while the file write failed: record the failure.
      await created;
      const failed = this.#writeFailed(record, err);
      this.#finished(failed, record);
      const stored = await this.store.finish(failed);
      if (stored === null) throw notStored(record.id);
      return stored;
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
      created: new Date(this.#clock.now()).toISOString(),
      expires: record.request.expires,
      status_code: 500,
    });
  }

  /** Stores a finished record (after its pending one); `null` from the store is an error. */
  async #store(finished: RequestRecord, created: Promise<void>): Promise<RequestRecord> {
    await created;
    const stored = await this.store.finish(finished);
    if (stored === null) throw notStored(finished.id);
    return stored;
  }

  #track(
    record: RequestRecord,
    written: Promise<SentRequest>,
    created: Promise<void> = RESOLVED,
  ): void {
    const results = Promise.withResolvers<RequestRecord>();
    const stored = Promise.withResolvers<RequestRecord>();
    const entry: InFlight = { record, result: results.promise, created, stored: stored.promise };
    if (created !== RESOLVED) created.catch(() => {/* reported by accepted() */});
    entry.stored.catch(() => {/* reported by waitFor({ stored: true }) */});
    this.#waiting++;
    this.#inflight.set(record.id, entry);
    // One async function per request (not a chain of closures and promises): every in-flight
    // request holds its frame until its response comes.
    void this.#run(record, entry, written, results.resolve, stored);
  }

  /** Follows one tracked request to its response, then stores the result. */
  async #run(
    record: RequestRecord,
    entry: InFlight,
    written: Promise<SentRequest>,
    resolve: (record: RequestRecord) => void,
    stored: PromiseWithResolvers<RequestRecord>,
  ): Promise<void> {
    let waiting = true;
    try {
      let sent: SentRequest | undefined;
      let finished: RequestRecord;
      try {
        sent = await written;
      } catch (err) {
        finished = this.#writeFailed(record, err);
      }
      if (sent !== undefined) finished = finishedRecord(record, await sent.response());
      // Known from here on (waiters, `get`, metrics), while the store write runs.
      entry.record = finished!;
      this.#waiting--;
      waiting = false;
      this.#finished(finished!, record);
      resolve(finished!);
      // The pending record first: a finish of an id the store does not know is dropped.
      let result: RequestRecord | undefined;
      let retryMs = STORE_RETRY_MS;
      while (result === undefined) {
        try {
          result = await this.#store(finished!, entry.created);
        } catch (err) {
          const error = err instanceof StoreError
            ? err
            : new StoreError(`Cannot store the result of ${record.id}: ${String(err)}`, {
              cause: err,
            });
          stored.reject(error);
          // The pending record is not stored: nothing to finish (the files stay for a look).
          if (await entry.created.then(() => false, () => true)) {
            log.error("Cannot store {id}: {error}", { id: record.id, error });
            return;
          }
          log.error("Cannot store the result of {id} (retrying in {ms} ms): {error}", {
            id: record.id,
            ms: retryMs,
            error,
          });
          // Kept in memory and on disk (a restart finds the response file) and retried.
          try {
            await delay(retryMs, { signal: this.#closing.signal, clock: this.#clock });
          } catch {
            return;
          }
          retryMs = Math.min(retryMs * 2, STORE_RETRY_MAX_MS);
        }
      }
      stored.resolve(result);
      // Stored: the response's files can go (kept on a store failure, for a restart to read).
      await sent?.consume().catch((err) =>
        log.warn("Cannot remove the files of {id}: {error}", { id: record.id, error: err })
      );
    } catch {
      // The backend closed: the request stays pending in the store.
    } finally {
      if (waiting) this.#waiting--;
      resolve(record);
      stored.reject(new StoreError(`The proxy stopped before ${record.id} was stored`));
      if (this.#inflight.get(record.id) === entry) this.#inflight.delete(record.id);
    }
  }

  #finished(record: RequestRecord, original: RequestRecord): void {
    if (record.status === "completed") this.#counts.completed++;
    else this.#counts.failed++;
    const seconds = Math.max(0, (this.#clock.now() - Date.parse(original.created_at)) / 1000);
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
   * @param options `stored`: a finished in-flight request is returned only once the store holds
   *   its result (a {@linkcode StoreError} when the store refused it).
   * @returns The record as it stands then, or `null` when unknown.
   */
  async waitFor(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
    options: { stored?: boolean } = {},
  ): Promise<RequestRecord | null> {
    const inflight = this.#inflight.get(id);
    if (!inflight) return await this.store.waitForFinish(id, timeoutMs, signal);
    const done = (finished: RequestRecord): Promise<RequestRecord> | RequestRecord =>
      options.stored ? inflight.stored : finished;
    if (isFinished(inflight.record)) return await done(inflight.record);
    if (timeoutMs <= 0) return inflight.record;
    const finished = await deadlineOrNull(inflight.result, timeoutMs, signal, this.#clock);
    if (finished && isFinished(finished)) return await done(finished);
    return this.#inflight.get(id)?.record ?? await this.store.get(id);
  }

  /**
   * Writes the request files of accepted requests, then stops following requests (they stay
   * pending in the store) and closes the backend.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.#leaseLoop;
    await this.#writer.drain();
    // Closing the backend rejects every wait at once (one shared abort signal per request would
    // cost an O(n) listener insertion each: Deno's EventTarget checks for duplicates).
    await this.backend.close();
    await Promise.allSettled([...this.#inflight.values()].map((f) => f.result));
  }

  /** {@linkcode ProxyGateway.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function notStored(id: string): StoreError {
  return new StoreError(
    `Cannot store the result of ${id}: the store does not hold its pending record`,
  );
}

/** `promise`'s value, or `null` once `ms` pass or `signal` aborts. */
async function deadlineOrNull<T>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
  clock: Clock,
): Promise<T | null> {
  try {
    return await deadline(promise, ms, { ...(signal ? { signal } : {}), clock });
  } catch (err) {
    if (err instanceof DOMException) return null;
    throw err;
  }
}
