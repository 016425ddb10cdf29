/**
 * Listing requests that wait for an answer in a datasite (`syft rpc requests`).
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import { readOrNull } from "./_io.ts";
import type { SyftBoxWorkspace } from "./config.ts";
import { canonicalUuid, type SyftMethod, SyftRequest } from "./protocol.ts";

/** A request file without a response. */
export interface PendingRequest {
  /** The app (`app_data/<app>`). */
  app: string;
  /** The endpoint, with a leading slash. */
  endpoint: string;
  /** The sender folder the file is in (`""` for the legacy flat layout). */
  folder: string;
  /** The request id (the file stem). */
  id: string;
  /** The request file. */
  path: string;
  /** The sender, method, URL and times, when the file parses. */
  sender?: string;
  /** The method, when the file parses. */
  method?: SyftMethod;
  /** The URL, when the file parses. */
  url?: string;
  /** The creation time (ISO), when the file parses. */
  created?: string;
  /** The expiry (ISO), when the file parses. */
  expires?: string;
  /** Whether it has expired (false when unknown). */
  expired: boolean;
  /** Why the file does not parse, if it does not. */
  error?: string;
}

async function listDir(dir: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(dir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return [];
    throw err;
  }
}

/**
 * Lists the requests without a response under `app_data/*\/rpc/` of a datasite (default: the
 * workspace owner's), in both the per-sender and the legacy flat layout.
 *
 * @param workspace The workspace.
 * @param options Restrict to one app; another datasite.
 * @returns The pending requests, oldest first (unparsable files last).
 *
 * @example
 * ```ts
 * import { listPendingRequests, SyftBoxWorkspace } from "@syft/syft/rpc";
 * const workspace = new SyftBoxWorkspace({ dataDir: await Deno.makeTempDir(), email: "me@example.com" });
 * console.log(await listPendingRequests(workspace, { app: "echo" })); // []
 * ```
 */
export async function listPendingRequests(
  workspace: SyftBoxWorkspace,
  options: { app?: string; datasite?: string } = {},
): Promise<PendingRequest[]> {
  const datasite = options.datasite ?? workspace.email;
  const appDataDir = join(workspace.datasitesDir, datasite, "app_data");
  const apps = options.app !== undefined
    ? [options.app]
    : (await listDir(appDataDir)).filter((e) => e.isDirectory).map((e) => e.name);
  const out: PendingRequest[] = [];
  for (const app of apps) {
    const rpcDir = join(appDataDir, app, "rpc");
    const stack = [rpcDir];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      const entries = await listDir(dir);
      const names = new Set(entries.map((e) => e.name));
      for (const entry of entries) {
        if (entry.isDirectory) {
          stack.push(join(dir, entry.name));
          continue;
        }
        if (!entry.isFile || !entry.name.endsWith(".request")) continue;
        const stem = entry.name.slice(0, -".request".length);
        const id = canonicalUuid(stem);
        if (id === undefined || names.has(`${stem}.response`)) continue;
        const path = join(dir, entry.name);
        const rel = relative(rpcDir, dir).split(sep).filter(Boolean);
        // <endpoint...>/<sender>/<id>.request, or legacy <endpoint...>/<id>.request
        const looksLikeSender = rel.length >= 2 && rel[rel.length - 1]!.includes("@");
        const item: PendingRequest = {
          app,
          endpoint: "/" + (looksLikeSender ? rel.slice(0, -1) : rel).join("/"),
          folder: looksLikeSender ? rel[rel.length - 1]! : "",
          id,
          path,
          expired: false,
        };
        const bytes = await readOrNull(path);
        if (bytes === null) continue;
        try {
          const req = SyftRequest.decode(bytes, { fileId: stem });
          item.sender = req.sender;
          item.method = req.method;
          item.url = req.url.href;
          item.created = req.created.toString();
          item.expires = req.expires.toString();
          item.expired = req.isExpired();
        } catch (err) {
          item.error = (err as Error).message;
        }
        out.push(item);
      }
    }
  }
  return out.sort((a, b) =>
    a.created === undefined
      ? 1
      : b.created === undefined
      ? -1
      : Temporal.Instant.compare(Temporal.Instant.from(a.created), Temporal.Instant.from(b.created))
  );
}
