/**
 * Handler replies with a status and headers (syft-event's `Response`).
 *
 * @module
 */

/**
 * A reply with a status and headers (syft-event's `Response`). Return it from a handler, usually
 * through {@linkcode reply}.
 *
 * @example
 * ```ts
 * import { SyftReply } from "@syft/syft/rpc";
 * const r = new SyftReply({ message: "created" }, { status: 201 });
 * console.log(r.status); // 201
 * ```
 */
export class SyftReply {
  /** The body: bytes, a string (UTF-8) or any JSON value; `null`/`undefined` for none. */
  readonly body: unknown;
  /** The status code (default 200). */
  readonly status: number;
  /** Response headers. */
  readonly headers: Record<string, string>;

  /**
   * Creates a reply.
   *
   * @param body The body.
   * @param options Status and headers.
   */
  constructor(body: unknown, options: ReplyOptions = {}) {
    this.body = body;
    this.status = options.status ?? 200;
    this.headers = options.headers ?? {};
  }
}

/** Options of {@linkcode reply}. */
export interface ReplyOptions {
  /** The status code (default 200); must be one SyftBox accepts. */
  status?: number;
  /** Response headers. */
  headers?: Record<string, string>;
}

/**
 * Builds a reply with a custom status and headers.
 *
 * @param body The body: bytes, a string (UTF-8) or any JSON value.
 * @param options Status and headers.
 * @returns The reply to return from a handler.
 *
 * @example
 * ```ts
 * import { reply, SyftEvents } from "@syft/syft/rpc";
 * const box = new SyftEvents("users");
 * box.onRequest("/create", () => reply({ message: "created" }, { status: 201, headers: { "X-Custom": "v" } }));
 * ```
 */
export function reply(body: unknown, options: ReplyOptions = {}): SyftReply {
  return new SyftReply(body, options);
}
