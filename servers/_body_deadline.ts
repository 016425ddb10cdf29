/**
 * The body timeout's view of a request, read only by the sweep and only once a request's body
 * deadline has passed (so a request pays nothing for it on the way in): whether the app has not
 * started to read the body, is reading it, or has read it to its end (or dropped it).
 *
 * "Read to its end" is the state of the request's body stream (`[[state]]`, an internal slot of
 * Deno's `ReadableStream`, found once by its description): the readers `text()`, `json()`,
 * `arrayBuffer()`, `bytes()`, `blob()` and `formData()` all drain that stream, and an app reading
 * `body` itself drains it too. A Deno whose streams have no such slot is refused at start
 * ({@linkcode BODY_PROBE}).
 *
 * @module
 */

/** Where a request's body is, as the body timeout sees it. */
export type BodyState = "untouched" | "reading" | "done";

const STATE: symbol | undefined = Object.getOwnPropertySymbols(new ReadableStream()).find((s) =>
  s.description === "[[state]]"
);

/** Whether this Deno's streams expose the slot {@linkcode bodyState} reads. */
export const BODY_PROBE: boolean = STATE !== undefined;

/**
 * Where the body of `request` is.
 *
 * @param request A request being served.
 * @returns "untouched" (no body, or the app has not read from it), "reading" (started, not at its
 *   end) or "done" (read to its end, cancelled or failed).
 *
 * @example
 * ```ts ignore
 * import { bodyState } from "./_body_deadline.ts";
 * const request = new Request("http://127.0.0.1/", { method: "POST", body: "hi" });
 * bodyState(request); // "untouched"
 * await request.text();
 * bodyState(request); // "done"
 * ```
 */
export function bodyState(request: Request): BodyState {
  if (!request.bodyUsed) return "untouched";
  const stream = request.body as unknown as Record<symbol, unknown> | null;
  if (stream === null || STATE === undefined) return "done";
  return stream[STATE] === "readable" ? "reading" : "done";
}
