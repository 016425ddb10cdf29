/**
 * syft-rpc's `SyftFuture.resolve` check order (§5.3 of the reference) as pure functions over a
 * snapshot of the files: no I/O here. The caller reads the files, asks what they mean, then
 * deletes what the outcome names.
 *
 * @module
 */
import { SyftRequest, SyftResponse } from "./protocol.ts";
import { formatTimestamp } from "./time.ts";

/** The body of a synthetic 403 (syft-rpc's text). */
export const REJECTED_MESSAGE =
  "Request was rejected by the SyftBox cache server due to permissions issue";

/** What the files of one request looked like at one moment. */
export interface FileSnapshot {
  /** The request id. */
  id: string;
  /** `<id>.syftrejected.request` exists (the legacy Python marker). */
  syftRejected: boolean;
  /** `<id>.rejected.request` exists (the Go client's marker). */
  goRejected: boolean;
  /** A rotated Go marker (`<id>.rejected.<time>.request`), looked up only when the request is gone. */
  rotatedMarker?: string | undefined;
  /** The response file's bytes, or `null` when there is none. */
  response: Uint8Array | null;
  /** Whether the request file exists; its bytes when they were read. */
  request: boolean | Uint8Array;
  /** The request's expiry, when known before this snapshot. */
  expires?: Temporal.Instant | undefined;
  /** Now. */
  now: Temporal.Instant;
}

/** Which files an outcome deletes. */
export type Doomed = "request" | "response" | "syftRejected" | "goRejected" | "rotatedMarker";

/** The meaning of a {@linkcode FileSnapshot}. */
export type Resolution =
  /** A rejection marker: a synthetic 403; delete the request and the markers. */
  | { kind: "rejected"; response: SyftResponse; remove: Doomed[] }
  /** A response file: decode it with {@linkcode readResponse}. */
  | { kind: "response"; bytes: Uint8Array }
  /** The request vanished: a synthetic 404. */
  | { kind: "missing"; response: SyftResponse }
  /** The request expired: a synthetic 419; delete both files. */
  | { kind: "expired"; response: SyftResponse; remove: Doomed[] }
  /** Still pending. */
  | { kind: "pending" };

/** What a snapshot also taught about the request (read from its file). */
export interface Learned {
  /** The request, when its bytes were in the snapshot and decoded. */
  request?: SyftRequest;
  /** Why the request bytes did not decode. */
  requestError?: unknown;
}

/**
 * Applies syft-rpc's order: rejection marker → 403; response → consume; request missing → 404
 * (403 when a rotated marker replaced it); request expired → 419; else pending.
 *
 * @param s The snapshot.
 * @param learned Filled with the request when the snapshot carried its bytes.
 * @returns What the files mean.
 */
export function resolveSnapshot(s: FileSnapshot, learned: Learned = {}): Resolution {
  const id = s.id;
  if (s.syftRejected || s.goRejected) {
    const remove: Doomed[] = ["request"];
    if (s.syftRejected) remove.push("syftRejected");
    if (s.goRejected) remove.push("goRejected");
    return {
      kind: "rejected",
      response: SyftResponse.system(403, REJECTED_MESSAGE, { id }),
      remove,
    };
  }
  if (s.response !== null) return { kind: "response", bytes: s.response };
  if (s.request === false) {
    if (s.rotatedMarker !== undefined) {
      return {
        kind: "rejected",
        response: SyftResponse.system(403, REJECTED_MESSAGE, { id }),
        remove: ["rotatedMarker"],
      };
    }
    return {
      kind: "missing",
      response: SyftResponse.system(404, `Request with ${id} not found`, { id }),
    };
  }
  let expires = s.expires;
  if (s.request instanceof Uint8Array) {
    try {
      learned.request = SyftRequest.decode(s.request, { fileId: id });
      expires = learned.request.expires;
    } catch (err) {
      learned.requestError = err;
    }
  }
  if (expires !== undefined && Temporal.Instant.compare(s.now, expires) > 0) {
    return {
      kind: "expired",
      response: SyftResponse.system(
        419,
        `Request with ${id} expired on ${formatTimestamp(expires, " ")}`,
        { id },
      ),
      remove: ["request", "response"],
    };
  }
  return { kind: "pending" };
}

/** What a response file's bytes mean. */
export type ResponseRead =
  /** The response (an expired one has status 419 and keeps its body). */
  | { kind: "response"; response: SyftResponse }
  /** It does not decode: see {@linkcode undecodedResponse}. */
  | { kind: "undecodable"; error: unknown };

/**
 * Decodes a response file; an expired response keeps its body with status 419.
 *
 * @param bytes The file's bytes.
 * @returns The response, or why it does not decode.
 */
export function readResponse(bytes: Uint8Array): ResponseRead {
  let response: SyftResponse;
  try {
    response = SyftResponse.decode(bytes);
  } catch (error) {
    return { kind: "undecodable", error };
  }
  if (response.isExpired() && response.statusCode !== 419) {
    response = new SyftResponse({
      id: response.id,
      sender: response.sender,
      url: response.url,
      body: response.body,
      headers: response.headers,
      created: response.created,
      expires: response.expires,
      statusCode: 419,
    });
  }
  return { kind: "response", response };
}

/**
 * A response file that does not decode is given `graceMs` from its last change to complete
 * (Python writes responses non-atomically), then becomes a synthetic 500, as syft-rpc consumes it.
 *
 * @param error Why it does not decode.
 * @param id The request id.
 * @param ageMs Time since the file last changed (`Infinity` when it is gone).
 * @param graceMs The grace period.
 * @returns The synthetic 500, or how long to wait before looking again.
 */
export function undecodedResponse(
  error: unknown,
  id: string,
  ageMs: number,
  graceMs: number,
): { response: SyftResponse } | { retryInMs: number } {
  if (ageMs < graceMs) return { retryInMs: Math.max(10, graceMs - ageMs + 5) };
  return {
    response: SyftResponse.system(
      500,
      `Error loading response: ${error instanceof Error ? error.message : String(error)}`,
      { id },
    ),
  };
}
