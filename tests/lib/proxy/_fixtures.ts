/**
 * Request-store records for the proxy store tests.
 *
 * @module
 */
import type { RequestRecord } from "../../../lib/proxy/mod.ts";

/** A pending seed-API record to bob@example.org's echo app; `body` is the request body (base64). */
export function pendingRecord(
  overrides: Partial<RequestRecord> & { body?: string } = {},
): RequestRecord {
  const { body = "e30=", ...rest } = overrides;
  const id = crypto.randomUUID();
  const now = new Date();
  return {
    id,
    api: "seed",
    owner: "owner-a",
    app_name: "echo",
    func_name: "echo",
    destination: "bob@example.org",
    status: "pending",
    status_code: null,
    error: null,
    created_at: now.toISOString(),
    completed_at: null,
    request: {
      id,
      sender: "me@example.org",
      url: "syft://bob@example.org/app_data/echo/rpc/echo",
      body,
      headers: {},
      created: now.toISOString(),
      expires: new Date(now.getTime() + 60_000).toISOString(),
      method: "POST",
    },
    response: null,
    ...rest,
  };
}

/** The record finished with `code` (failed from 400 on, with the error "boom") and `body`. */
export function finished(
  record: RequestRecord,
  code = 200,
  body = "eyJvayI6dHJ1ZX0=",
): RequestRecord {
  return {
    ...record,
    status: code < 400 ? "completed" : "failed",
    status_code: code,
    error: code < 400 ? null : "boom",
    completed_at: new Date().toISOString(),
    response: {
      id: record.id,
      sender: "bob@example.org",
      url: record.request.url,
      body,
      headers: {},
      created: new Date().toISOString(),
      expires: record.request.expires,
      status_code: code,
    },
  };
}
