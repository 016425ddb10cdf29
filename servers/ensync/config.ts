/**
 * The engine's app configuration: a YAML file listing the apps that may connect, their access keys,
 * their public keys (app ids) and the event names each may send and receive.
 *
 * ```yaml
 * apps:
 *   - name: shop
 *     access_key: 3f9c...        # what the app passes to createClient()
 *     app_id: MCowBQYDK2Vw...=   # base64 Ed25519 public key; what senders address
 *     send: ["orders/*"]
 *     receive: ["payments/*"]
 * grpc_streams: auto            # auto | multiplexed | per-subscription
 * ```
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { Document, isMap, isSeq, parse, parseDocument, YAMLSeq } from "yaml";
import { z } from "zod";
import { writeFileAtomic } from "../../lib/_fs.ts";
import { SyftError } from "../../lib/errors.ts";
import { isWildcard, matchesEventName } from "../../lib/ensync/protocol.ts";

/**
 * How the gRPC `Subscribe` streams of one client carry events: `multiplexed` sends every
 * subscription's events on the client's oldest open stream (what the Node SDK expects);
 * `per-subscription` sends each subscription's events on the stream opened for it (Go and Python);
 * `auto` chooses by the client's `user-agent` (starting with `grpc-node-js/` → multiplexed, else
 * per-subscription).
 */
export type GrpcStreamMode = "auto" | "multiplexed" | "per-subscription";

/** One app of the engine configuration. */
export interface EnSyncApp {
  /** A unique, human-readable name. */
  name: string;
  /** The secret access key the app's clients connect with. */
  accessKey: string;
  /** The app id: the standard base64 of its 32-byte Ed25519 public key. */
  appId: string;
  /** Event-name patterns the app may publish (`*` = any; `orders/*` = one level below `orders/`). */
  send: string[];
  /** Event-name patterns the app may receive and subscribe to. */
  receive: string[];
}

/** The engine configuration. */
export interface EnSyncConfig {
  /** The apps that may connect. */
  apps: EnSyncApp[];
  /** How gRPC subscription streams are used (default `auto`). */
  grpcStreams: GrpcStreamMode;
}

/**
 * The configuration file cannot be read, parsed or used; the message names the file and the field.
 *
 * @example Report a broken config
 * ```ts
 * import { EnSyncConfigError, parseEnSyncConfig } from "@syft/syft/ensync/engine";
 * try {
 *   parseEnSyncConfig("apps: 3", "inline");
 * } catch (err) {
 *   if (err instanceof EnSyncConfigError) console.error(err.message);
 * }
 * ```
 */
export class EnSyncConfigError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the file and field.
   * @param options The underlying error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "ENSYNC_CONFIG" });
    this.name = "EnSyncConfigError";
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_RE = /^[A-Za-z0-9._~+/-]{8,256}={0,2}$/;

function isAppId(value: string): boolean {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(value)) return false;
  try {
    return Uint8Array.fromBase64(value).length === 32;
  } catch {
    return false;
  }
}

const patternSchema = z.string().min(1).max(256).refine(
  (p) => !/[;\s]/.test(p),
  "patterns cannot contain ';' or whitespace",
);

const appSchema = z.object({
  name: z.string().regex(NAME_RE, "use letters, digits, '.', '_' or '-' (at most 64)"),
  "access_key": z.string().regex(KEY_RE, "use 8-256 characters of [A-Za-z0-9._~+/-]"),
  "app_id": z.string().refine(isAppId, "expected the standard base64 of a 32-byte public key"),
  send: z.array(patternSchema).default([]),
  receive: z.array(patternSchema).default([]),
});

const configSchema = z.object({
  apps: z.array(appSchema).default([]),
  "grpc_streams": z.enum(["auto", "multiplexed", "per-subscription"]).default("auto"),
}).strict();

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.join(".") : "(root)";
  return `${path}: ${issue.message}`;
}

/**
 * Parses and validates an engine configuration (YAML text). Names, access keys and app ids must be
 * unique.
 *
 * @param text The YAML text.
 * @param source Where it came from, used in error messages.
 * @returns The configuration.
 * @throws {EnSyncConfigError} When the YAML is malformed or a field is invalid.
 *
 * @example
 * ```ts
 * import { parseEnSyncConfig } from "@syft/syft/ensync/engine";
 * const config = parseEnSyncConfig("apps: []\n", "inline");
 * console.log(config.grpcStreams); // "auto"
 * ```
 */
export function parseEnSyncConfig(text: string, source: string): EnSyncConfig {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
    throw new EnSyncConfigError(
      `Cannot parse EnSync config "${source}": ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new EnSyncConfigError(
      `Cannot use EnSync config "${source}": ${result.error.issues.map(describeIssue).join("; ")}`,
      { cause: result.error },
    );
  }
  const apps: EnSyncApp[] = result.data.apps.map((a) => ({
    name: a.name,
    accessKey: a.access_key,
    appId: a.app_id,
    send: a.send,
    receive: a.receive,
  }));
  for (const field of ["name", "accessKey", "appId"] as const) {
    const seen = new Set<string>();
    for (const app of apps) {
      if (seen.has(app[field])) {
        const label = field === "name" ? `name "${app.name}"` : `${field} of app "${app.name}"`;
        throw new EnSyncConfigError(
          `Cannot use EnSync config "${source}": duplicate ${label}`,
        );
      }
      seen.add(app[field]);
    }
  }
  return { apps, grpcStreams: result.data.grpc_streams };
}

/**
 * Reads and validates the configuration file at `path`.
 *
 * @param path The YAML file.
 * @returns The configuration.
 * @throws {EnSyncConfigError} When the file is missing, malformed or invalid.
 *
 * @example
 * ```ts
 * import { loadEnSyncConfig, writeEnSyncConfig } from "@syft/syft/ensync/engine";
 * const path = `${await Deno.makeTempDir()}/ensync.yaml`;
 * await writeEnSyncConfig(path, { apps: [], grpcStreams: "auto" });
 * console.log((await loadEnSyncConfig(path)).apps.length);
 * ```
 */
export async function loadEnSyncConfig(path: string): Promise<EnSyncConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new EnSyncConfigError(
      `Cannot read EnSync config "${path}": ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return parseEnSyncConfig(text, path);
}

function appToYaml(app: EnSyncApp): Record<string, unknown> {
  return {
    name: app.name,
    "access_key": app.accessKey,
    "app_id": app.appId,
    send: app.send,
    receive: app.receive,
  };
}

const HEADER =
  "# EnSync engine apps: access keys, app ids (Ed25519 public keys) and permissions.\n" +
  "# Patterns: '*' is any name; 'orders/*' is one level below orders/; 'orders/**' any depth.\n";

/**
 * Writes a whole configuration to `path` (atomically, mode 0600 since it holds access keys).
 *
 * @param path The YAML file.
 * @param config The configuration.
 * @returns Resolves when written.
 *
 * @example
 * ```ts
 * import { writeEnSyncConfig } from "@syft/syft/ensync/engine";
 * await writeEnSyncConfig(`${await Deno.makeTempDir()}/ensync.yaml`, { apps: [], grpcStreams: "auto" });
 * ```
 */
export async function writeEnSyncConfig(path: string, config: EnSyncConfig): Promise<void> {
  const doc = new Document({
    apps: config.apps.map(appToYaml),
    "grpc_streams": config.grpcStreams,
  });
  await writeFileAtomic(path, HEADER + doc.toString(), { mode: 0o600, createDir: true });
}

/**
 * Adds an app to the configuration file at `path`, keeping its comments and layout; creates the
 * file when it does not exist.
 *
 * @param path The YAML file.
 * @param app The app to add.
 * @returns The configuration after the change.
 * @throws {EnSyncConfigError} When the file is invalid or the name, key or id is already used.
 *
 * @example
 * ```ts
 * import { addEnSyncApp } from "@syft/syft/ensync/engine";
 * const path = `${await Deno.makeTempDir()}/ensync.yaml`;
 * await addEnSyncApp(path, {
 *   name: "shop",
 *   accessKey: "shop-access-key-1",
 *   appId: btoa(String.fromCharCode(...new Uint8Array(32))),
 *   send: ["orders/*"],
 *   receive: ["*"],
 * });
 * ```
 */
export async function addEnSyncApp(path: string, app: EnSyncApp): Promise<EnSyncConfig> {
  let text = HEADER + "apps: []\n";
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new EnSyncConfigError(
        `Cannot read EnSync config "${path}": ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }
  const before = parseEnSyncConfig(text, path);
  let doc = parseDocument(text);
  if (!isMap(doc.contents)) doc = parseDocument(HEADER + "apps: []\n");
  const apps = doc.get("apps");
  const node = doc.createNode(appToYaml(app));
  // One block mapping per app, with its pattern lists inline.
  node.flow = false;
  for (const item of node.items) if (isSeq(item.value)) item.value.flow = true;
  if (isSeq(apps)) {
    if (apps.items.length === 0) apps.flow = false;
    apps.add(node);
  } else {
    const seq = new YAMLSeq<unknown>();
    seq.add(node);
    doc.set("apps", seq);
  }
  const updated = doc.toString();
  const after = parseEnSyncConfig(updated, path);
  if (after.apps.length !== before.apps.length + 1) {
    throw new EnSyncConfigError(`Cannot add app "${app.name}" to "${path}"`);
  }
  await writeFileAtomic(path, updated, { mode: 0o600, createDir: true });
  return after;
}

/**
 * Returns whether `pattern` is a wildcard (contains `*`); then it is a wildcard subscription.
 *
 * @param pattern An event name or pattern.
 * @returns True for a wildcard.
 *
 * @example
 * ```ts
 * import { isEventPattern } from "@syft/syft/ensync/engine";
 * console.log(isEventPattern("orders/*")); // true
 * ```
 */
export function isEventPattern(pattern: string): boolean {
  return isWildcard(pattern);
}

/**
 * Returns a matcher for an event-name pattern, with the client's rules (`matchesEventName` of
 * `@syft/syft/ensync`): `*` alone matches every name; otherwise `*` matches within one
 * `/`-separated segment and `**` across segments (`orders/*` matches `orders/created`, not
 * `orders/a/b`).
 *
 * @param pattern The pattern.
 * @returns A function telling whether a name matches.
 *
 * @example
 * ```ts
 * import { eventMatcher } from "@syft/syft/ensync/engine";
 * console.log(eventMatcher("orders/*")("orders/created")); // true
 * ```
 */
export function eventMatcher(pattern: string): (name: string) => boolean {
  return (name) => matchesEventName(pattern, name);
}

function allows(patterns: readonly string[], name: string): boolean {
  for (const p of patterns) if (matchesEventName(p, name)) return true;
  return false;
}

/**
 * Fast lookups over a configuration: by access key, by app id and permission checks (cached per
 * app and name, so the hot path does no glob matching).
 *
 * @example
 * ```ts
 * import { AppRegistry } from "@syft/syft/ensync/engine";
 * const registry = new AppRegistry({ apps: [], grpcStreams: "auto" });
 * console.log(registry.byAccessKey("nope")); // undefined
 * ```
 */
export class AppRegistry {
  #config: EnSyncConfig;
  #byKey = new Map<string, EnSyncApp>();
  #byId = new Map<string, EnSyncApp>();
  #sendCache = new LRUCache<string, boolean>({ max: 100_000 });
  #receiveCache = new LRUCache<string, boolean>({ max: 100_000 });

  /**
   * Builds the registry.
   *
   * @param config The configuration.
   */
  constructor(config: EnSyncConfig) {
    this.#config = config;
    for (const app of config.apps) {
      this.#byKey.set(app.accessKey, app);
      this.#byId.set(app.appId, app);
    }
  }

  /** The configuration this registry was built from. */
  get config(): EnSyncConfig {
    return this.#config;
  }

  /**
   * Finds an app by access key.
   *
   * @param accessKey The key a client connected with.
   * @returns The app, or `undefined`.
   */
  byAccessKey(accessKey: string): EnSyncApp | undefined {
    return this.#byKey.get(accessKey);
  }

  /**
   * Finds an app by app id (base64 public key).
   *
   * @param appId The app id.
   * @returns The app, or `undefined`.
   */
  byAppId(appId: string): EnSyncApp | undefined {
    return this.#byId.get(appId);
  }

  /**
   * Whether `app` may publish `name`.
   *
   * @param app The app.
   * @param name A concrete event name.
   * @returns True when one of its send patterns matches.
   */
  canSend(app: EnSyncApp, name: string): boolean {
    const key = `${app.appId}\n${name}`;
    let ok = this.#sendCache.get(key);
    if (ok === undefined) {
      ok = allows(app.send, name);
      this.#sendCache.set(key, ok);
    }
    return ok;
  }

  /**
   * Whether `app` may receive `name` (a concrete name) or subscribe to it (a name or pattern: a
   * pattern is allowed when a receive pattern matches the pattern text itself, such as `orders/*`
   * under `orders/*`, `orders/**` or `*`).
   *
   * @param app The app.
   * @param name The event name or subscription pattern.
   * @returns True when allowed.
   */
  canReceive(app: EnSyncApp, name: string): boolean {
    const key = `${app.appId}\n${name}`;
    let ok = this.#receiveCache.get(key);
    if (ok === undefined) {
      ok = allows(app.receive, name);
      this.#receiveCache.set(key, ok);
    }
    return ok;
  }
}
