/**
 * Directory scans of an app: listing an endpoint for requests without a response (at start, after
 * a watcher overflow, on reconcile), moving legacy flat-layout requests into sender folders as
 * syft-event does, and the periodic cleanup of old requests.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { clearSpecialFile, isSpecialEntry, readOrNull, removeQuiet, writeAtomic } from "./_io.ts";
import { SyftRequest } from "./protocol.ts";
import { walkFiles } from "./watcher.ts";

const LEGACY_SKIP = new Set(["rpc.schema.json", "syft.pub.yaml", ".syftkeep"]);

/** What a scan of one endpoint reports. */
export interface ScanSink {
  /** A request file without a response (or a legacy flat-layout request, migrated when handled). */
  pending(path: string): void;
  /** A request file that already has a response. */
  answered(path: string): void;
  /** A FIFO, socket or device was removed from the folder. */
  special(path: string): void;
}

/** Removes a FIFO, socket or device; tells the sink when it did. */
function clear(path: string, sink: ScanSink): void {
  if (clearSpecialFile(path)) sink.special(path);
}

/**
 * Lists an endpoint directory and its sender folders (not the folders of nested endpoints).
 *
 * @param dir The endpoint directory.
 * @param childEndpoints Names of sub-directories that are endpoints of their own.
 * @param sink Gets what was found.
 */
export async function scanEndpoint(
  dir: string,
  childEndpoints: ReadonlySet<string>,
  sink: ScanSink,
): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (isSpecialEntry(entry)) clear(path, sink);
    else if (entry.isFile && entry.name.endsWith(".request") && !LEGACY_SKIP.has(entry.name)) {
      sink.pending(path); // legacy flat layout: migrated when processed
    } else if (entry.isDirectory && !childEndpoints.has(entry.name)) {
      let names: string[];
      try {
        const inner = await Array.fromAsync(Deno.readDir(path));
        for (const e of inner) if (isSpecialEntry(e)) clear(join(path, e.name), sink);
        names = inner.map((e) => e.name);
      } catch {
        continue;
      }
      const present = new Set(names);
      for (const name of names) {
        if (name.length !== 44 || !name.endsWith(".request")) continue;
        const request = join(path, name);
        if (present.has(name.slice(0, 36) + ".response")) sink.answered(request);
        else sink.pending(request);
      }
    }
  }
}

/**
 * Moves a legacy flat-layout request into its sender folder (syft-event's
 * `__move_legacy_requests`).
 *
 * @returns The new path.
 */
export async function migrateLegacy(
  path: string,
  bytes: Uint8Array,
  request: SyftRequest,
  tmpDir: string,
): Promise<string> {
  const target = join(dirname(path), request.sender, basename(path));
  await writeAtomic(target, bytes, tmpDir);
  await removeQuiet(path);
  return target;
}

/**
 * Deletes requests (and their responses) under `rpcDir` created before `cutoffMs` (by their
 * `created` time, or the file time when they do not parse).
 *
 * @param onRemoved Called for each request deleted.
 */
export async function removeOldRequests(
  rpcDir: string,
  cutoffMs: number,
  onRemoved: () => void,
): Promise<void> {
  for await (const file of walkFiles(rpcDir)) {
    if (!file.endsWith(".request")) continue;
    let created: number | undefined;
    const bytes = await readOrNull(file);
    if (bytes === null) continue;
    try {
      created = SyftRequest.decode(bytes).createdMicros / 1000;
    } catch {
      created = (await Deno.stat(file).catch(() => undefined))?.mtime?.getTime();
    }
    if (created !== undefined && created < cutoffMs) {
      await removeQuiet(file);
      await removeQuiet(file.slice(0, -".request".length) + ".response");
      onRemoved();
    }
  }
}
