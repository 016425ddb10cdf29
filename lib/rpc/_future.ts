/**
 * The implementation of {@linkcode SyftFuture}: one request's resolution state machine. It reads
 * the request's files, asks `_resolve.ts` what they mean, deletes what that names, and settles
 * the waiters. Everything it needs from its client comes through a {@linkcode FutureHost}.
 *
 * @module
 */
import { join, sep } from "node:path";
import { deadline } from "../_async.ts";
import type { Clock, TimerHandle } from "../_clock.ts";
import { getLogger } from "../_log.ts";
import { pathExists as exists, readOrNull, removeQuiet } from "./_io.ts";
import type { Deletions } from "./_deletions.ts";
import {
  type Doomed,
  type Learned,
  readResponse,
  resolveSnapshot,
  undecodedResponse,
} from "./_resolve.ts";
import type { SyftFuture, SyftFutureRecord, WaitOptions } from "./client.ts";
import { RpcTimeoutError } from "./errors.ts";
import type { SyftRequest, SyftResponse } from "./protocol.ts";
import { formatTimestamp, parseDuration } from "./time.ts";
import type { SyftBoxURL } from "./url.ts";

const log = getLogger(["rpc", "client"]);

const DEFAULT_WAIT_MS = 300_000;

/** The timeout of a wait, in ms (default 300 s; `Infinity` waits for ever). */
export function timeoutOf(options: WaitOptions): number {
  if (options.timeout === undefined) return DEFAULT_WAIT_MS;
  if (options.timeout === Infinity) return Infinity;
  return parseDuration(options.timeout, "timeout");
}

/** What a future needs from the client that made it. */
export interface FutureHost {
  /** The clock timeouts and grace periods run on. */
  readonly clock: Clock;
  /** How long a response that does not decode is given to complete, in ms. */
  readonly graceMs: number;
  /** Whether read responses are deleted at once. */
  readonly consumeOnRead: boolean;
  /** Consumed files being deleted. */
  readonly deletions: Deletions;
  /** The future has waiters: the safety-net poll must cover it. */
  waited(future: FutureImpl): void;
  /** The future resolved. */
  settled(future: FutureImpl): void;
  /** Removes a consumed file (recycled when possible). */
  discard(path: string, options: { trusted?: boolean; share?: boolean }): Promise<boolean>;
}

/** What the watcher saw about a request. */
export type FutureEvent = "response" | "request-removed" | "marker";

type Mode = "fast" | "full";

/** One pending request of a client. */
export class FutureImpl implements SyftFuture {
  readonly id: string;
  readonly dir: string;
  readonly requestPath: string;
  readonly responsePath: string;
  /** `<dir>/<id>`: the key of this request in its client. */
  readonly key: string;
  #host: FutureHost;
  #request: SyftRequest | undefined;
  #url: SyftBoxURL | undefined;
  #expires: Temporal.Instant | undefined;
  #response: SyftResponse | undefined;
  #settled = Promise.withResolvers<SyftResponse>();
  #waiters = 0;
  #checking: Promise<SyftResponse | null> | undefined;
  #again: Mode | undefined;
  /** A rejection marker was seen (or the watcher lost events): use the full check. */
  #suspect = false;
  /** The watcher saw the response while nobody was waiting. */
  #hint = false;
  #lastCheck = 0;
  #retryTimer: TimerHandle | undefined;
  /** This client wrote the request file. */
  #sent = false;
  /** A response was read whose files are not deleted yet (`consumeOnRead: false`). */
  #unconsumed = false;

  constructor(
    host: FutureHost,
    init: {
      id: string;
      dir: string;
      request?: SyftRequest | undefined;
      url?: SyftBoxURL | undefined;
      expires?: Temporal.Instant | undefined;
      fresh?: boolean;
    },
  ) {
    this.#host = host;
    this.id = init.id;
    this.dir = init.dir;
    // Plain concatenation: `dir` is already normalised (path.join costs on this hot path).
    this.key = `${init.dir}${sep}${init.id}`;
    this.requestPath = `${this.key}.request`;
    this.responsePath = `${this.key}.response`;
    this.#request = init.request;
    this.#url = init.request?.url ?? init.url;
    this.#expires = init.request?.expires ?? init.expires;
    // A request this client has just written cannot have a response yet: skip the first look.
    if (init.fresh) {
      this.#lastCheck = performance.now();
      this.#sent = true;
    }
    this.#settled.promise.catch(() => {});
  }

  get request(): SyftRequest | undefined {
    return this.#request;
  }

  get url(): SyftBoxURL | undefined {
    return this.#url;
  }

  get expires(): Temporal.Instant | undefined {
    return this.#expires;
  }

  get response(): SyftResponse | undefined {
    return this.#response;
  }

  get done(): boolean {
    return this.#response !== undefined;
  }

  /** Whether someone waits (events then consume the response at once). */
  get waited(): boolean {
    return this.#waiters > 0;
  }

  /** When this future was last checked (`performance.now()`). */
  get lastCheck(): number {
    return this.#lastCheck;
  }

  async resolve(): Promise<SyftResponse | null> {
    if (this.#response !== undefined) {
      // Resolved by wait(): the consumed files may still be going (async file ops).
      await this.#host.deletions.of(this.key);
      return this.#response;
    }
    const result = await this.#check("full");
    // resolve() returns once the consumed files are gone, as syft-rpc's does.
    await this.#host.deletions.of(this.key);
    return result;
  }

  async wait(options: WaitOptions = {}): Promise<SyftResponse> {
    if (this.#response !== undefined) return this.#response;
    const timeoutMs = timeoutOf(options);
    options.signal?.throwIfAborted();
    this.#waiters++;
    this.#host.waited(this);
    try {
      // A response may already be there (attach, cache hit, restart): look once now.
      if (this.#lastCheck === 0 || this.#hint) {
        const mode = this.#hint && !this.#suspect ? "fast" : "full";
        this.#hint = false;
        void this.#check(mode).catch(() => {});
      }
      const waitOptions: Parameters<typeof deadline>[2] = {
        clock: this.#host.clock,
        onTimeout: () => new RpcTimeoutError(this.id, timeoutMs),
      };
      if (options.signal !== undefined) waitOptions.signal = options.signal;
      return await deadline(this.#settled.promise, timeoutMs, waitOptions);
    } finally {
      this.#waiters--;
    }
  }

  toJSON(): SyftFutureRecord {
    const record: SyftFutureRecord = { id: this.id, path: this.dir };
    if (this.#expires !== undefined) record.expires = formatTimestamp(this.#expires);
    if (this.#url !== undefined) record.url = this.#url.href;
    return record;
  }

  async consume(): Promise<void> {
    if (!this.#unconsumed) return await this.#host.deletions.of(this.key);
    this.#unconsumed = false;
    await this.#deleteFiles();
  }

  /** The watcher saw something about this request. */
  notify(what: FutureEvent): void {
    if (this.#response !== undefined) return;
    if (what === "marker") this.#suspect = true;
    if (what === "response" && !this.#waiters) {
      // Consumed on resolve() or wait(), as syft-rpc consumes on resolve(). The event can beat the
      // return of send() to its caller, so remember it for the wait() that follows.
      this.#hint = true;
      return;
    }
    void this.#check(what === "response" && !this.#suspect ? "fast" : "full").catch((err) =>
      log.warn("Cannot check request {id}: {error}", { id: this.id, error: String(err) })
    );
  }

  /** Events may have been lost: the next check must be a full one. */
  suspect(): void {
    this.#suspect = true;
  }

  /** Settles every wait with `err` (the client is closing). */
  fail(err: Error): void {
    this.#settled.reject(err);
  }

  #check(mode: Mode): Promise<SyftResponse | null> {
    if (this.#checking !== undefined) {
      if (this.#again !== "full") this.#again = mode;
      return this.#checking;
    }
    const run = async (): Promise<SyftResponse | null> => {
      let result: SyftResponse | null = null;
      let next: Mode | undefined = mode;
      while (next !== undefined && this.#response === undefined) {
        this.#again = undefined;
        this.#lastCheck = performance.now();
        result = next === "fast" ? await this.#fastCheck() : await this.#fullCheck();
        if (result !== null) {
          this.#settle(result);
          break;
        }
        next = this.#again;
      }
      return this.#response ?? result;
    };
    this.#checking = run().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  #settle(response: SyftResponse): void {
    if (this.#response !== undefined) return;
    this.#response = response;
    this.#host.clock.clearTimeout(this.#retryTimer);
    this.#host.settled(this);
    this.#settled.resolve(response);
  }

  /** The response file appeared and no rejection marker was seen: read it directly. */
  async #fastCheck(): Promise<SyftResponse | null> {
    const bytes = await readOrNull(this.responsePath);
    if (bytes === null) return null;
    return await this.#consume(bytes);
  }

  async #fullCheck(): Promise<SyftResponse | null> {
    const syftRejected = join(this.dir, `${this.id}.syftrejected.request`);
    const goRejected = join(this.dir, `${this.id}.rejected.request`);
    const [m1, m2, response, request] = await Promise.all([
      exists(syftRejected),
      exists(goRejected),
      readOrNull(this.responsePath),
      this.#request === undefined ? readOrNull(this.requestPath) : exists(this.requestPath),
    ]);
    const present = request === null ? false : request;
    const rotatedMarker = present === false && !m1 && !m2 && response === null
      ? await this.#findRotatedMarker()
      : undefined;
    const learned: Learned = {};
    const outcome = resolveSnapshot({
      id: this.id,
      syftRejected: m1,
      goRejected: m2,
      rotatedMarker,
      response,
      request: present,
      expires: this.#expires,
      now: Temporal.Instant.fromEpochMilliseconds(this.#host.clock.now()),
    }, learned);
    if (learned.request !== undefined) {
      this.#request = learned.request;
      this.#url ??= learned.request.url;
      this.#expires = learned.request.expires;
    } else if (learned.requestError !== undefined) {
      log.debug("Cannot read request {path}: {error}", {
        path: this.requestPath,
        error: String(learned.requestError),
      });
    }
    switch (outcome.kind) {
      case "response":
        return await this.#consume(outcome.bytes);
      case "pending":
        return null;
      case "missing":
        return outcome.response;
      case "rejected":
      case "expired": {
        const paths: Record<Doomed, string | undefined> = {
          request: this.requestPath,
          response: this.responsePath,
          syftRejected,
          goRejected,
          rotatedMarker,
        };
        await Promise.all(outcome.remove.map((which) => {
          const path = paths[which]!;
          if (outcome.kind === "rejected") return removeQuiet(path);
          return which === "request"
            ? this.#host.discard(path, { trusted: this.#sent })
            : this.#host.discard(path, { share: true });
        }));
        return outcome.response;
      }
    }
  }

  async #findRotatedMarker(): Promise<string | undefined> {
    const prefix = `${this.id}.rejected.`;
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        if (entry.name.startsWith(prefix) && entry.name.endsWith(".request")) {
          return join(this.dir, entry.name);
        }
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return undefined;
  }

  async #consume(bytes: Uint8Array): Promise<SyftResponse | null> {
    const read = readResponse(bytes);
    let response: SyftResponse;
    if (read.kind === "response") response = read.response;
    else {
      // A writer that is not atomic (Python) may still be writing: give it a grace period.
      let age = Infinity;
      try {
        const info = await Deno.stat(this.responsePath);
        age = this.#host.clock.now() - (info.mtime?.getTime() ?? 0);
      } catch { /* gone: consume as is */ }
      const next = undecodedResponse(read.error, this.id, age, this.#host.graceMs);
      if ("retryInMs" in next) {
        const clock = this.#host.clock;
        clock.clearTimeout(this.#retryTimer);
        this.#retryTimer = clock.setTimeout(() => {
          if (this.#waiters > 0) void this.#check("full").catch(() => {});
        }, next.retryInMs);
        return null;
      }
      response = next.response;
    }
    // Consumed: both files are deleted (syft-rpc deletes them before returning). The deletion runs
    // while the caller gets the response; a new send of the same id, resolve() and close() wait
    // for it. (Deferring it to the next turn of the event loop, so that a one-at-a-time caller
    // writes its next request first, showed no gain in interleaved A/B runs: on two cores the
    // deletion then competes with the server's answer for the CPUs and the directory.)
    if (this.#host.consumeOnRead) void this.#deleteFiles();
    else this.#unconsumed = true;
    return response;
  }

  #deleteFiles(): Promise<void> {
    const deletion = Promise.all([
      this.#host.discard(this.requestPath, { trusted: this.#sent }),
      this.#host.discard(this.responsePath, { share: true }),
    ]);
    this.#host.deletions.track(this.key, deletion);
    return this.#host.deletions.of(this.key);
  }
}
