/**
 * What a workspace's datasites hold: whether an app endpoint exists locally, so that senders can
 * answer at once instead of waiting for a response that cannot come.
 *
 * @module
 */
import { join } from "node:path";

/** What is missing for an endpoint to answer locally. */
export interface MissingEndpoint {
  /** The first missing level: the datasite, the app, or the endpoint folder. */
  missing: "datasite" | "app" | "endpoint";
  /** The folder that does not exist. */
  path: string;
  /** One sentence naming what is missing and what to do. */
  message: string;
}

/**
 * Checks that `<datasites>/<datasite>/app_data/<app>/rpc/<endpoint>` exists: the folder a running
 * app (syft's `SyftEvents`, Python's syft-event) creates for each endpoint at start. A request
 * written where no such folder is would wait for a response until it expires.
 *
 * @param datasitesDir The workspace's `datasites` dir.
 * @param target The datasite e-mail, app and endpoint (`/`-separated; leading `/` optional).
 * @returns `null` when the folder exists, else what is missing.
 *
 * @example
 * ```ts ignore
 * const missing = await findMissingEndpoint("/data/datasites", {
 *   datasite: "bob@example.com",
 *   app: "echo",
 *   endpoint: "echo",
 * });
 * if (missing) console.error(missing.message);
 * ```
 */
export async function findMissingEndpoint(
  datasitesDir: string,
  target: { datasite: string; app: string; endpoint: string },
): Promise<MissingEndpoint | null> {
  const endpoint = target.endpoint.replace(/^\/+|\/+$/g, "");
  const site = join(datasitesDir, target.datasite);
  const rpc = join(site, "app_data", target.app, "rpc");
  const ep = join(rpc, ...endpoint.split("/"));
  const url = `syft://${target.datasite}/app_data/${target.app}/rpc/${endpoint}`;
  const tail = "nothing can answer it here (start the app, or wait until sync brings it)";
  if (!(await isDir(site))) {
    return {
      missing: "datasite",
      path: site,
      message: `No datasite ${target.datasite} in ${datasitesDir}: ${url} cannot answer (is ` +
        `the e-mail right? ${tail})`,
    };
  }
  if (!(await isDir(rpc))) {
    return {
      missing: "app",
      path: rpc,
      message: `No app "${target.app}" on ${target.datasite} (no folder ${rpc}): ${tail}`,
    };
  }
  if (!(await isDir(ep))) {
    return {
      missing: "endpoint",
      path: ep,
      message: `App "${target.app}" on ${target.datasite} has no endpoint "/${endpoint}" ` +
        `(no folder ${ep}): ${tail}`,
    };
  }
  return null;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}
