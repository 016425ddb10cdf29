/**
 * The request → response step of an app, as syft-event's `__handle_rpc` (§4.5 of the reference):
 * expired → 419, a body the input schema refuses → 400, a handler that throws → 500 (with the
 * debug JSON body in debug mode), else the handler's reply. No file I/O and no counters here: the
 * caller writes the response and counts the outcome.
 *
 * @module
 */
import { nowMicros } from "./_micros.ts";
import { TRUSTED } from "./_trusted.ts";
import {
  SYFT_STATUS_CODES,
  type SyftRequest,
  SyftResponse,
  type SyftResponseInit,
  toBodyBytes,
} from "./protocol.ts";
import { SyftReply } from "./reply.ts";
import { formatIssues, type StandardSchemaV1 } from "./schema.ts";
import type { SyftBoxURL } from "./url.ts";

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/** The body of a 500 reply in production mode (syft-event's text). */
export const INTERNAL_ERROR_MESSAGE = "Internal server error. Please try again later.";

/** What {@linkcode answer} needs of a route. */
export interface AnswerRoute<C> {
  /** The endpoint, without a leading slash. */
  endpoint: string;
  /** The handler. */
  handler: (body: unknown, ctx: C) => unknown;
  /** The input schema, if any. */
  input?: StandardSchemaV1 | undefined;
}

/** How a request was answered (the caller counts it). */
export type AnswerOutcome = "ok" | "expired" | "bad-request" | "error";

/** The result of {@linkcode answer}. */
export interface Answer {
  /** The response to write. */
  response: SyftResponse;
  /** What happened. */
  outcome: AnswerOutcome;
  /** The handler's error, when the outcome is `"error"`. */
  error?: unknown;
}

/**
 * Answers one decoded request.
 *
 * @param request The request.
 * @param route The route it was sent to.
 * @param ctx What the handler receives besides the body.
 * @param options The responder's e-mail and whether 500s carry the debug body.
 * @returns The response and its outcome.
 */
export async function answer<C>(
  request: SyftRequest,
  route: AnswerRoute<C>,
  ctx: C,
  options: { sender: string; debug: boolean },
): Promise<Answer> {
  // Replies are built from a decoded request and validated values: skip re-validation.
  const base = {
    [TRUSTED]: true,
    id: request.id,
    sender: options.sender,
    url: request.url,
    createdUs: nowMicros(),
    expiresUs: request.expiresMicros,
    headers: {},
    body: null,
  } as unknown as SyftResponseInit;
  const make = (body: Uint8Array | null, statusCode: number, headers?: Record<string, string>) =>
    new SyftResponse(
      headers === undefined ? { ...base, body, statusCode } : {
        ...base,
        body,
        headers,
        statusCode,
      },
    );
  if (request.isExpired()) {
    return { response: make(textEncoder.encode("Request expired"), 419), outcome: "expired" };
  }
  let input: unknown;
  const raw = request.body;
  const schema = route.input;
  if (schema !== undefined) {
    let data: unknown = undefined;
    if (raw !== null && raw.length > 0) {
      try {
        data = JSON.parse(textDecoder.decode(raw));
      } catch (err) {
        return {
          response: make(
            textEncoder.encode(
              `Invalid request schema: the body is not JSON (${(err as Error).message})`,
            ),
            400,
          ),
          outcome: "bad-request",
        };
      }
    }
    const result = await schema["~standard"].validate(data);
    if (result.issues !== undefined) {
      return {
        response: make(
          textEncoder.encode(`Invalid request schema: ${formatIssues(result.issues)}`),
          400,
        ),
        outcome: "bad-request",
      };
    }
    input = result.value;
  } else if (raw !== null && raw.length > 0) {
    const text = textDecoder.decode(raw);
    try {
      input = JSON.parse(text);
    } catch {
      input = text;
    }
  }
  try {
    const result = await route.handler(input, ctx);
    const { body, status, headers } = await toReply(result);
    return { response: make(body, status, headers), outcome: "ok" };
  } catch (err) {
    if (options.debug) {
      const e = err instanceof Error ? err : new Error(String(err));
      const body = JSON.stringify(
        {
          "error_type": e.name,
          "error_message": e.message,
          "function_name": route.handler.name || "/" + route.endpoint,
          traceback: e.stack ?? "",
        },
        null,
        2,
      );
      return {
        response: make(textEncoder.encode(body), 500, { "Content-Type": "application/json" }),
        outcome: "error",
        error: err,
      };
    }
    return {
      response: make(textEncoder.encode(INTERNAL_ERROR_MESSAGE), 500),
      outcome: "error",
      error: err,
    };
  }
}

/**
 * The reply syft-event writes next to a request it cannot load (`write_response`): `url` is the
 * sender folder's URL, `sender` the app owner.
 *
 * @param id The request id (from the file name).
 * @param sender The app owner's e-mail.
 * @param url The `syft://` URL of the folder holding the request.
 * @param message The body.
 * @param status The status (default 400).
 * @returns The response.
 */
export function loadErrorResponse(
  id: string,
  sender: string,
  url: string | SyftBoxURL,
  message: string,
  status = 400,
): SyftResponse {
  return new SyftResponse({ id, sender, url, body: message, statusCode: status });
}

/** The text of a request that did not decode, as syft-event renders `repr(exception)`. */
export function describeLoadError(err: unknown): string {
  const message = err instanceof Error
    ? `${err.name}(${JSON.stringify(err.message)})`
    : String(err);
  return `Error loading request: ${message}`;
}

async function toReply(
  result: unknown,
): Promise<{ body: Uint8Array | null; status: number; headers: Record<string, string> }> {
  let body: unknown = result;
  let status = 200;
  let headers: Record<string, string> = {};
  if (result instanceof SyftReply) {
    body = result.body;
    status = result.status;
    headers = result.headers;
  } else if (result instanceof Response) {
    status = result.status;
    result.headers.forEach((v, k) => (headers[k] = v));
    const bytes = new Uint8Array(await result.arrayBuffer());
    body = bytes.length === 0 ? null : bytes;
  }
  if (!SYFT_STATUS_CODES.has(status)) {
    throw new RangeError(`Invalid reply status ${status}: not an HTTP status SyftBox accepts`);
  }
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== "string") {
      throw new TypeError(`Invalid reply header ${JSON.stringify(k)}: not a string`);
    }
  }
  return { body: toBodyBytes(body), status, headers };
}
