/**
 * Helpers for the file-RPC tests: workspaces, Python-format request files, waiting for responses.
 *
 * @module
 */
import { join } from "node:path";
import { formatTimestamp, SyftBoxWorkspace, SyftResponse } from "../../../lib/rpc/mod.ts";
import type { FsEventSource } from "../../../lib/rpc/watcher.ts";
import { nowInstant } from "../../../lib/rpc/time.ts";
import { type TempWorkspace, tempWorkspace, waitFor } from "../../_helpers/workspace.ts";

export const ME = "bob@example.com";
export const ALICE = "alice@example.com";

export interface RpcWorkspace extends TempWorkspace {
  workspace: SyftBoxWorkspace;
}

export async function rpcWorkspace(email = ME): Promise<RpcWorkspace> {
  const ws = await tempWorkspace("syft_rpc_test_");
  const workspace = new SyftBoxWorkspace({ dataDir: ws.path, email });
  await workspace.ensure();
  return Object.assign(ws, { workspace });
}

/** The request text syft-rpc's pydantic model writes (keys in order, compact, no newline). */
export function pythonRequest(
  options: {
    id?: string;
    sender?: string;
    url: string;
    body?: string | null;
    headers?: Record<string, string>;
    method?: string;
    created?: Temporal.Instant;
    expires?: Temporal.Instant;
  },
): { id: string; text: string } {
  const id = options.id ?? crypto.randomUUID();
  const created = options.created ?? nowInstant();
  const expires = options.expires ?? created.add({ minutes: 15 });
  const body = options.body === undefined || options.body === null
    ? "null"
    : `"${new TextEncoder().encode(options.body).toBase64({ alphabet: "base64url" })}"`;
  const text = `{"id":"${id}","sender":${JSON.stringify(options.sender ?? ALICE)},"url":${
    JSON.stringify(options.url)
  },"body":${body},"headers":${JSON.stringify(options.headers ?? {})},"created":"${
    formatTimestamp(created)
  }","expires":"${formatTimestamp(expires)}","method":"${options.method ?? "GET"}"}`;
  return { id, text };
}

/** The sender folder of an endpoint of `app` on `owner`'s datasite. */
export function senderDir(
  workspace: SyftBoxWorkspace,
  app: string,
  endpoint: string,
  sender = ALICE,
  owner = workspace.email,
): string {
  return join(workspace.appRpcDir(app, owner), ...endpoint.split("/").filter(Boolean), sender);
}

/** Writes a request file the way Python does (plain, non-atomic write), creating folders. */
export async function dropRequest(dir: string, id: string, text: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.request`);
  await Deno.writeTextFile(path, text);
  return path;
}

/** Waits for `<dir>/<id>.response` and decodes it. */
export async function waitResponse(
  dir: string,
  id: string,
  timeoutMs = 10_000,
): Promise<SyftResponse> {
  const path = join(dir, `${id}.response`);
  const bytes = await waitFor(async () => {
    try {
      return await Deno.readFile(path);
    } catch {
      return undefined;
    }
  }, { timeoutMs, what: path });
  return SyftResponse.decode(bytes);
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

export { waitFor };

/** A watcher event source that reports nothing but what the test pushes. */
export interface ScriptedEventSource {
  /** The factory to pass as `watcher.source`. */
  source: () => FsEventSource;
  /** Delivers an event to the source the watcher opened last. */
  push(event: Deno.FsEvent): void;
}

/** An event source for `watcher: { source }`: files written stay invisible until `push()`. */
export function scriptedEventSource(): ScriptedEventSource {
  let push: ((e: Deno.FsEvent) => void) | undefined;
  const source = (): FsEventSource => {
    const queue: Deno.FsEvent[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    push = (e) => {
      queue.push(e);
      wake?.();
    };
    return {
      close() {
        closed = true;
        wake?.();
      },
      async *[Symbol.asyncIterator]() {
        while (!closed) {
          if (queue.length > 0) yield queue.shift()!;
          else await new Promise<void>((r) => (wake = r));
        }
      },
    };
  };
  return {
    source,
    push(event) {
      if (push === undefined) throw new Error("The watcher has not opened the source yet");
      push(event);
    },
  };
}
