/**
 * File-RPC apps found in a SyftBox data dir: every `datasites/<email>/app_data/<app>/rpc/rpc.schema.json`
 * (syft-event's schema file), for the dashboard's File RPC panel and its "try it" forms.
 *
 * @module
 */
import { join } from "node:path";
import type { EndpointSchema } from "../../lib/rpc/schema.ts";

/** An app and its endpoints as its `rpc.schema.json` describes them. */
export interface RpcAppInfo {
  /** The datasite (owner e-mail). */
  datasite: string;
  /** The app name. */
  app: string;
  /** `syft://<datasite>/app_data/<app>/rpc`. */
  url: string;
  /** Endpoints from the schema file. */
  endpoints: ({ path: string } & EndpointSchema)[];
  /** Set when the schema file could not be read. */
  error?: string;
}

const MAX_DATASITES = 100;
const MAX_APPS = 200;

async function dirs(path: string, limit: number): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) {
      if (e.isDirectory && !e.name.startsWith(".")) out.push(e.name);
      if (out.length >= limit) break;
    }
  } catch {
    // Missing or unreadable: no entries.
  }
  return out.sort();
}

/**
 * Lists the apps with an `rpc.schema.json` in a data dir.
 *
 * @param dataDir The SyftBox data dir.
 * @returns The apps, by datasite then app name.
 */
export async function scanRpcApps(dataDir: string): Promise<RpcAppInfo[]> {
  const out: RpcAppInfo[] = [];
  const datasites = join(dataDir, "datasites");
  for (const site of await dirs(datasites, MAX_DATASITES)) {
    for (const app of await dirs(join(datasites, site, "app_data"), MAX_APPS)) {
      const file = join(datasites, site, "app_data", app, "rpc", "rpc.schema.json");
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch {
        continue;
      }
      const info: RpcAppInfo = {
        datasite: site,
        app,
        url: `syft://${site}/app_data/${app}/rpc`,
        endpoints: [],
      };
      try {
        const schema = JSON.parse(text) as Record<string, EndpointSchema>;
        if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
          throw new TypeError("not an object");
        }
        info.endpoints = Object.entries(schema).map(([path, s]) => ({
          path: path.startsWith("/") ? path : "/" + path,
          description: typeof s?.description === "string" ? s.description : null,
          args: s?.args && typeof s.args === "object" ? s.args : {},
          returns: s?.returns ?? "any",
        })).sort((a, b) => a.path.localeCompare(b.path));
      } catch (err) {
        info.error = `Cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`;
      }
      out.push(info);
    }
  }
  return out;
}
