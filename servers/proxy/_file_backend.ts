/**
 * The proxy's file-RPC backend over `lib/rpc`: one `RpcClient`, whose shared watcher resolves
 * every in-flight request (private). Responses stay on disk until the gateway has stored their
 * result (`consumeOnRead: false`), so a crash in between loses nothing.
 *
 * @module
 */
import { dirname, join } from "node:path";
import {
  RpcClient,
  RpcTimeoutError,
  SyftBoxURL,
  type SyftFuture,
  type SyftMethod,
  SyftRequest,
  SyftResponse,
} from "../../lib/rpc/mod.ts";
import type { SyftRequestJson, SyftResponseJson } from "../../lib/proxy/mod.ts";
import { findMissingEndpoint } from "../../lib/workspace.ts";
import type { OutgoingRequest, PreparedRequest, RpcBackend, SentRequest } from "./_gateway.ts";

/** How long past its expiry a request is followed before it counts as expired here. */
const EXPIRY_SLACK_MS = 5_000;

function follow(future: SyftFuture, expires: string): SentRequest {
  return {
    async response(): Promise<SyftResponseJson> {
      const untilExpiry = Date.parse(expires) - Date.now();
      const timeout = Math.max(
        1_000,
        (Number.isFinite(untilExpiry) ? untilExpiry : 0) + EXPIRY_SLACK_MS,
      );
      let response: SyftResponse;
      try {
        response = await future.wait({ timeout });
      } catch (err) {
        if (!(err instanceof RpcTimeoutError)) throw err;
        // The watcher and the safety-net poll both missed the expiry: answer as syft-rpc would.
        response = SyftResponse.system(419, `Request with ${future.id} expired on ${expires}`, {
          id: future.id,
        });
      }
      return response.toJSON() as unknown as SyftResponseJson;
    },
    consume: () => future.consume(),
  };
}

/** Opens the backend for a workspace (`{ email, dataDir }`). */
export async function createFileBackend(
  workspace: { email: string; dataDir: string },
): Promise<RpcBackend> {
  const client = await RpcClient.open({ workspace, consumeOnRead: false });
  return {
    email: client.email,
    datasitesDir: client.workspace.datasitesDir,
    prepare(req: OutgoingRequest): PreparedRequest {
      const request = new SyftRequest({
        sender: client.email,
        url: req.url,
        method: req.method as SyftMethod,
        body: req.body,
        headers: req.headers,
        expires: req.expiresAt,
      });
      return {
        request: request.toJSON() as unknown as SyftRequestJson,
        async write(): Promise<SentRequest> {
          const future = await client.sendRequest(request);
          return follow(future, req.expiresAt.toISOString());
        },
      };
    },
    async recover(requests: SyftRequestJson[]): Promise<(SentRequest | Error)[]> {
      // Requests may have been accepted (stored) but not written yet when the process stopped:
      // non-blocking sends write after the store. Rewrite the same bytes when no file of the id
      // (request, response or rejection marker) is there; attach to the others.
      const listings = new Map<string, Promise<Set<string>>>();
      const out: (SentRequest | Error)[] = [];
      for (const request of requests) {
        try {
          const dir = join(
            SyftBoxURL.parse(request.url).toLocalPath(client.workspace.datasitesDir),
            request.sender,
          );
          let listing = listings.get(dir);
          if (listing === undefined) listings.set(dir, listing = idsIn(dir));
          let future: SyftFuture;
          if ((await listing).has(request.id)) {
            future = await client.attach({
              url: request.url,
              id: request.id,
              sender: request.sender,
            });
          } else {
            const again = SyftRequest.decode(JSON.stringify(request), { fileId: request.id });
            future = await client.sendRequest(again);
          }
          out.push(follow(future, request.expires));
        } catch (err) {
          out.push(err instanceof Error ? err : new Error(String(err)));
        }
      }
      return out;
    },
    missingEndpoint: (target) => findMissingEndpoint(client.workspace.datasitesDir, target),
    async readSchema(datasite, app) {
      try {
        return await client.readSchema(app, { datasite });
      } catch (err) {
        if ((err as { code?: string }).code === "RPC_NO_SCHEMA") return null;
        throw err;
      }
    },
    listFiles: () => requestFiles(client.workspace.datasitesDir, client.email),
    async checkWritable(): Promise<void> {
      // A file of one byte beside the datasites (Go's client ignores `*.syft.tmp.*` names).
      const dir = join(dirname(client.workspace.datasitesDir), ".syft-tmp");
      const path = join(dir, `proxy-health.${crypto.randomUUID()}.syft.tmp`);
      try {
        await Deno.mkdir(dir, { recursive: true });
        await Deno.writeFile(path, new Uint8Array([0x0a]));
      } catch (err) {
        throw new Error(
          `Cannot write to the data dir ${dirname(client.workspace.datasitesDir)}: ${
            err instanceof Error ? err.message : String(err)
          }`,
          { cause: err },
        );
      } finally {
        await Deno.remove(path).catch(() => {});
      }
    },
    close: () => client.close(),
  };
}

const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\./;

/**
 * The request files `email` has in the datasites: every `<id>.*` file in a folder named `email`
 * under `datasites/<owner>/app_data/<app>/rpc/**`, by id.
 */
async function requestFiles(datasitesDir: string, email: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const list = async (dir: string): Promise<Deno.DirEntry[]> => {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const e of Deno.readDir(dir)) entries.push(e);
    } catch { /* gone or unreadable: nothing there */ }
    return entries;
  };
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const e of await list(dir)) {
      if (!e.isDirectory) continue;
      const sub = join(dir, e.name);
      if (e.name === email) {
        for (const f of await list(sub)) {
          if (!f.isFile || !ID_RE.test(f.name)) continue;
          const id = f.name.slice(0, 36);
          let paths = out.get(id);
          if (paths === undefined) out.set(id, paths = []);
          paths.push(join(sub, f.name));
        }
      } else if (depth < 8) await walk(sub, depth + 1);
    }
  };
  for (const site of await list(datasitesDir)) {
    if (!site.isDirectory) continue;
    for (const app of await list(join(datasitesDir, site.name, "app_data"))) {
      if (app.isDirectory) {
        await walk(join(datasitesDir, site.name, "app_data", app.name, "rpc"), 0);
      }
    }
  }
  return out;
}

/** The ids of the files in `dir` (none when it does not exist). */
async function idsIn(dir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  try {
    for await (const e of Deno.readDir(dir)) ids.add(e.name.slice(0, 36));
  } catch { /* no directory: no files */ }
  return ids;
}
