// deno-lint-ignore-file camelcase -- the YAML keys are eventhive's (snake_case)
/**
 * Hive configuration: eventhive's YAML file (`eventhive:`, `connectors:`, `servers:`) with the
 * same keys and defaults, `EVENTHIVE_CONFIG` and `EVENTHIVE_SECRET`, or a typed options object.
 * Both are validated with zod; every error names the file and the key.
 *
 * Fixed from the original: `EVENTHIVE_SECRET="net1:s1 net2:s2"` sets the secret on the named
 * connector (and `:` may appear in a secret); `from_broadcast: true` means the default lookup
 * time (5 s) and a number means seconds; `broadcast: 'false'` means false; a missing key is an
 * error naming it instead of a `KeyError`; unknown keys are refused with the known ones listed.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { PubSubConfigError } from "./errors.ts";
import { DEFAULT_METADATA_KEY } from "./envelope.ts";

/** Options every connector takes. */
export interface ConnectorCommonOptions {
  /**
   * The input channel: events `<network>/<inputChannel>/<event>` are received and delivered to
   * the handlers of `<inputChannel>/<event>`. `""` makes the connector publish-only.
   */
  inputChannel: string;
  /** Sign and encrypt outgoing events; require it on incoming ones (absent or `""`: plaintext). */
  secret?: string;
  /** Also accept eventhive <= 0.3.2 signed plaintext (needs `secret`). Default false. */
  acceptLegacy?: boolean;
  /**
   * Find the server by mDNS (`<network>._eventhive._tcp.local.`) instead of `host`/`port`:
   * `true` waits the default 5 s, a number that many seconds.
   */
  fromBroadcast?: boolean | number;
  /** Events held while the backend is unreachable (default 10,000); more fail at once. */
  maxQueue?: number;
  /** How long a held event waits for the backend before it fails (default 10,000 ms). */
  publishTimeoutMs?: number;
}

/** A Redis connector (`PUBLISH <event>`, `PSUBSCRIBE <network>/<inputChannel>/*`). */
export interface RedisConnectorOptions extends ConnectorCommonOptions {
  /** The backend. */
  type: "redis";
  /** A `redis://` / `rediss://` URL (instead of host, port, db, username, password, tls). */
  url?: string;
  /** Host (default `localhost`, as redis-py). */
  host?: string;
  /** Port (default 6379). */
  port?: number;
  /** Database number (default 0; pub/sub ignores it). */
  db?: number;
  /** ACL user name. */
  username?: string;
  /** Password. */
  password?: string;
  /** Use TLS (redis-py's `ssl`). */
  tls?: boolean;
  /** Connect timeout (default 5,000 ms). */
  connectTimeoutMs?: number;
}

/** A fastapi_websocket_pubsub connector (a `syft pubsub serve` or Python server). */
export interface FastApiConnectorOptions extends ConnectorCommonOptions {
  /** The backend. */
  type: "fastapi";
  /** The server's URL, such as `ws://127.0.0.1:8085/pubsub` (instead of host, port, ...). */
  url?: string;
  /** Host (default `127.0.0.1`). */
  host?: string;
  /** Port (default 8085). */
  port?: number;
  /** Path (default `/pubsub`; a leading `/` is added when missing). */
  endpoint?: string;
  /** `ws` or `wss` (default `ws`). */
  scheme?: string;
  /** The server's token (`syft pubsub serve --token`). */
  token?: string;
}

/** A NATS connector (syft only: subjects map event names reversibly, see the docs). */
export interface NatsConnectorOptions extends ConnectorCommonOptions {
  /** The backend. */
  type: "nats";
  /** Server URL(s) (default `nats://127.0.0.1:4222`). */
  servers?: string | string[];
  /** User name. */
  user?: string;
  /** Password. */
  pass?: string;
  /** Token. */
  token?: string;
  /** The first subject token (default `eventhive`). */
  subjectPrefix?: string;
  /**
   * Keep events in a JetStream stream so a subscriber that was down gets what it missed:
   * `true` or `{ stream, durable }` (defaults: stream `EVENTHIVE_<network>`, durable consumer
   * `<network>_<inputChannel>`; processes sharing a durable name share its events).
   */
  jetstream?: boolean | { stream?: string; durable?: string };
}

/** One connector (network) of a hive. */
export type ConnectorOptions =
  | RedisConnectorOptions
  | FastApiConnectorOptions
  | NatsConnectorOptions;

/** Where a server the hive creates listens (eventhive's `servers.<name>.init`). */
export interface ServerInit {
  /** Bind host. */
  host: string;
  /** Port. */
  port: number;
  /** WebSocket path. */
  endpoint: string;
  /** `ws` or `wss` (only advertised). */
  scheme: string;
}

/** A fastapi_websocket_pubsub server the hive creates (eventhive's `servers:`). */
export interface ServerOptions extends ServerInit {
  /** Only fastapi servers exist. */
  type: "fastapi";
  /** `always`; `needed` (only when mDNS finds none within 5 s); `never`. */
  create: "always" | "needed" | "never";
  /** Advertise it by mDNS (`<name>._eventhive._tcp.local.`). Default false. */
  broadcast: boolean;
}

/** The settings of a hive (YAML or typed), after defaults. */
export interface HiveConfig {
  /** Key metadata goes under (default `__eventhive__`). */
  metadataKey: string;
  /** Do not add metadata to outgoing events (default false). */
  removeMetadata: boolean;
  /** Separator of name segments (default `/`). */
  separator: string;
  /** Deliver this hive's own events back to it when they come in (default true, as eventhive). */
  receiveOwn: boolean;
  /** How many recent message ids are remembered to reject duplicates (default 10,000; 0: off). */
  dedupeSize: number;
  /** Drop messages whose `time` is older (or further ahead) than this many seconds (default off). */
  maxAgeSeconds: number | undefined;
  /** Default time a request waits for its reply (default 10,000 ms). */
  requestTimeoutMs: number;
  /** The connectors, by network name. */
  connectors: Record<string, ConnectorOptions>;
  /** The servers to create, by name (the connector of the same name finds them by mDNS). */
  servers: Record<string, ServerOptions>;
  /** Where this configuration came from (a file path or `options`). */
  source: string;
}

/** The typed form of {@linkcode HiveConfig} as a caller writes it (everything optional). */
export type HiveConfigInput = Partial<Omit<HiveConfig, "source" | "servers">> & {
  /** The servers to create, by name. */
  servers?: Record<
    string,
    Partial<ServerInit> & Pick<ServerInit, "host" | "port"> & {
      type?: "fastapi";
      create: ServerOptions["create"];
      broadcast?: boolean;
    }
  >;
};

const FROM_BROADCAST_DEFAULT_S = 5;
export { FROM_BROADCAST_DEFAULT_S as FROM_BROADCAST_DEFAULT_SECONDS };

// --- YAML (eventhive's snake_case keys) ---------------------------------------------------

const str = z.string();
const num = z.number().finite();
const port = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).pipe(
  z.number().int().min(0).max(65535),
);
const seconds = z.number().finite().positive();
const boolish = z.union([
  z.boolean(),
  z.enum(["true", "false", "yes", "no", "1", "0"]).transform((v) =>
    v === "true" || v === "yes" || v === "1"
  ),
]);

const redisInit = z.strictObject({
  url: str.optional(),
  host: str.optional(),
  port: port.optional(),
  db: z.number().int().min(0).optional(),
  username: str.optional(),
  password: str.optional(),
  ssl: boolish.optional(),
  socket_connect_timeout: seconds.optional(),
  // redis-py options syft accepts and does not need.
  socket_timeout: z.unknown().optional(),
  decode_responses: z.unknown().optional(),
  health_check_interval: z.unknown().optional(),
  retry_on_timeout: z.unknown().optional(),
  client_name: z.unknown().optional(),
});

const fastapiInit = z.strictObject({
  url: str.optional(),
  host: str.optional(),
  port: port.optional(),
  endpoint: str.optional(),
  scheme: z.enum(["ws", "wss"]).optional(),
  token: str.optional(),
});

const natsInit = z.strictObject({
  servers: z.union([str, z.array(str).min(1)]).optional(),
  user: str.optional(),
  pass: str.optional(),
  token: str.optional(),
  subject_prefix: str.regex(/^[^\s.*>]+$/, "a NATS subject token (no spaces, '.', '*', '>')")
    .optional(),
  jetstream: z.union([
    z.boolean(),
    z.strictObject({ stream: str.optional(), durable: str.optional() }),
  ]).optional(),
});

const common = {
  input_channel: str,
  secret: z.union([str, z.null()]).optional(),
  accept_legacy: z.boolean().optional(),
  from_broadcast: z.union([z.boolean(), seconds]).optional(),
  max_queue: z.number().int().positive().optional(),
  publish_timeout: seconds.optional(),
  // Removed in eventhive 0.3.2; still accepted (and ignored) so old files load.
  channels: z.unknown().optional(),
};

const yamlConnector = z.discriminatedUnion("pubsub_type", [
  z.strictObject({ pubsub_type: z.literal("redis"), init: redisInit.optional(), ...common }),
  z.strictObject({ pubsub_type: z.literal("fastapi"), init: fastapiInit.optional(), ...common }),
  z.strictObject({ pubsub_type: z.literal("nats"), init: natsInit.optional(), ...common }),
]);

const yamlServer = z.strictObject({
  pubsub_type: z.literal("fastapi").optional(),
  init: z.strictObject({
    host: str,
    port,
    endpoint: str.optional(),
    scheme: z.enum(["ws", "wss"]).optional(),
  }),
  create: z.enum(["always", "needed", "never"]),
  broadcast: boolish.optional(),
});

const yamlFile = z.strictObject({
  eventhive: z.strictObject({
    metadata_key: str.min(1).optional(),
    remove_metadata: z.boolean().optional(),
    channel_separator: str.min(1).optional(),
    receive_own: z.boolean().optional(),
    dedupe_size: z.number().int().min(0).optional(),
    max_age: seconds.optional(),
    request_timeout: seconds.optional(),
  }).optional().nullable(),
  connectors: z.record(str, yamlConnector).optional().nullable(),
  servers: z.record(str, yamlServer).optional().nullable(),
});

type YamlFile = z.infer<typeof yamlFile>;

function describeIssue(
  issue: z.core.$ZodIssue,
  typed: boolean,
): { key: string; message: string } {
  const path = issue.path.map(String);
  let key = path.join(".");
  let message = issue.message;
  const got = (issue as { input?: unknown }).input;
  if (issue.code === "unrecognized_keys") {
    const known = typed ? knownTypedKeys(path) : knownKeys(path);
    key = [...path, issue.keys[0]!].join(".");
    message = `unknown key${issue.keys.length > 1 ? "s" : ""} ${
      issue.keys.map((k) => `"${k}"`).join(", ")
    }${known ? ` (known: ${known})` : ""}`;
    return { key, message };
  }
  if (path.at(-1) === "pubsub_type" || path.at(-1) === "type") {
    message = path[0] === "servers"
      ? 'expected "fastapi"'
      : 'expected "redis", "fastapi" or "nats"';
  } else if (path.at(-1) === "port") message = "expected a port number (0-65535)";
  if (got === undefined && (issue.code === "invalid_type" || issue.code === "invalid_value")) {
    message = "missing (required)";
  } else if (got !== undefined && (typeof got !== "object" || got === null)) {
    message += ` (got ${JSON.stringify(got)})`;
  }
  return { key: key || "(top level)", message };
}

function knownTypedKeys(path: string[]): string {
  if (path.length === 0) {
    return "metadataKey, removeMetadata, separator, receiveOwn, dedupeSize, maxAgeSeconds, requestTimeoutMs, connectors, servers";
  }
  if (path[0] === "connectors" && path.length === 2) {
    return "type, inputChannel, secret, acceptLegacy, fromBroadcast, maxQueue, publishTimeoutMs and the backend's own";
  }
  if (path[0] === "servers" && path.length === 2) {
    return "type, host, port, endpoint, scheme, create, broadcast";
  }
  return "";
}

function knownKeys(path: string[]): string {
  if (path.length === 0) return "eventhive, connectors, servers";
  if (path[0] === "eventhive") {
    return "metadata_key, remove_metadata, channel_separator, receive_own, dedupe_size, max_age, request_timeout";
  }
  if (path[0] === "connectors" && path.length === 2) {
    return "pubsub_type, input_channel, init, secret, from_broadcast, accept_legacy, max_queue, publish_timeout";
  }
  if (path[0] === "servers" && path.length === 2) {
    return "pubsub_type, init, create, broadcast";
  }
  if (path[0] === "servers" && path[2] === "init") return "host, port, endpoint, scheme";
  return "";
}

function configError(source: string, key: string, message: string, cause?: unknown): never {
  throw new PubSubConfigError(`${source}: ${key}: ${message}`, {
    file: source,
    key,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Options of {@linkcode parseHiveConfig} and {@linkcode loadHiveConfig}. */
export interface ParseHiveConfigOptions {
  /** The file name used in error messages (default `<string>`). */
  file?: string;
  /**
   * The environment to read `EVENTHIVE_SECRET` from (default: none for `parseHiveConfig`,
   * `Deno.env` for `loadHiveConfig`). Pass `{}` to ignore the environment.
   */
  env?: Record<string, string | undefined>;
}

/**
 * Parses eventhive YAML into a validated {@linkcode HiveConfig}. Keys and defaults are
 * eventhive 0.5.0's, plus syft's: `pubsub_type: nats`, `accept_legacy`, `max_queue`,
 * `publish_timeout`, and under `eventhive:` `receive_own`, `dedupe_size`, `max_age`,
 * `request_timeout`.
 *
 * @param text The YAML text.
 * @param options The file name for messages and the environment for `EVENTHIVE_SECRET`.
 * @returns The configuration.
 * @throws {PubSubConfigError} Naming the file and the key that is wrong.
 *
 * @example
 * ```ts
 * import { parseHiveConfig } from "@syft/syft/pubsub";
 * const config = parseHiveConfig(`
 * connectors:
 *   my-hive:
 *     pubsub_type: redis
 *     input_channel: worker
 *     init: { host: 127.0.0.1, port: 6379 }
 * `);
 * console.log(config.connectors["my-hive"]);
 * ```
 */
export function parseHiveConfig(text: string, options: ParseHiveConfigOptions = {}): HiveConfig {
  const source = options.file ?? "<string>";
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    configError(
      source,
      line === undefined ? "(YAML)" : `line ${line}`,
      `not valid YAML: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`,
      err,
    );
  }
  if (raw === null || raw === undefined) raw = {};
  const parsed = yamlFile.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const { key, message } = describeIssue(parsed.error.issues[0]!, false);
    configError(source, key, message, parsed.error);
  }
  return resolve(fromYaml(parsed.data, source), source, options.env ?? {});
}

/**
 * Reads and parses a hive YAML file: `path`, else `$EVENTHIVE_CONFIG`, else `eventhive.yaml` in
 * the working directory. `EVENTHIVE_SECRET` (`"net1:secret1 net2:secret2"`) sets secrets on the
 * named connectors and wins over the file.
 *
 * @param path The file (default `$EVENTHIVE_CONFIG` or `eventhive.yaml`).
 * @param options The environment (default `Deno.env`).
 * @returns The configuration.
 * @throws {PubSubConfigError} When the file is missing or invalid (the message names it).
 *
 * @example
 * ```ts ignore
 * import { loadHiveConfig } from "@syft/syft/pubsub";
 * const config = await loadHiveConfig("hive.yaml");
 * ```
 */
export async function loadHiveConfig(
  path?: string,
  options: { env?: Record<string, string | undefined> } = {},
): Promise<HiveConfig> {
  const env = options.env ?? Deno.env.toObject();
  const file = path ?? env.EVENTHIVE_CONFIG ?? "eventhive.yaml";
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    const hint = err instanceof Deno.errors.NotFound
      ? path === undefined ? " (pass a path or set EVENTHIVE_CONFIG)" : ""
      : "";
    throw new PubSubConfigError(
      `Cannot read hive config ${file}: ${err instanceof Error ? err.message : String(err)}${hint}`,
      { file, cause: err },
    );
  }
  return parseHiveConfig(text, { file, env });
}

function fromYaml(data: YamlFile, source: string): HiveConfigInput & { source: string } {
  const g = data.eventhive ?? {};
  const connectors: Record<string, ConnectorOptions> = {};
  for (const [name, c] of Object.entries(data.connectors ?? {})) {
    const base: ConnectorCommonOptions = { inputChannel: c.input_channel };
    if (c.secret) base.secret = c.secret;
    if (c.accept_legacy !== undefined) base.acceptLegacy = c.accept_legacy;
    if (c.from_broadcast !== undefined) base.fromBroadcast = c.from_broadcast;
    if (c.max_queue !== undefined) base.maxQueue = c.max_queue;
    if (c.publish_timeout !== undefined) base.publishTimeoutMs = c.publish_timeout * 1000;
    if (c.init === undefined && !c.from_broadcast) {
      configError(source, `connectors.${name}.init`, "missing (required unless from_broadcast)");
    }
    if (c.pubsub_type === "redis") {
      const i = c.init ?? {};
      connectors[name] = strip({
        ...base,
        type: "redis",
        url: i.url,
        host: i.host,
        port: i.port,
        db: i.db,
        username: i.username,
        password: i.password,
        tls: i.ssl,
        connectTimeoutMs: i.socket_connect_timeout === undefined
          ? undefined
          : i.socket_connect_timeout * 1000,
      });
    } else if (c.pubsub_type === "fastapi") {
      const i = c.init ?? {};
      connectors[name] = strip({
        ...base,
        type: "fastapi",
        url: i.url,
        host: i.host,
        port: i.port,
        endpoint: i.endpoint,
        scheme: i.scheme,
        token: i.token,
      });
    } else {
      const i = c.init ?? {};
      connectors[name] = strip({
        ...base,
        type: "nats",
        servers: i.servers,
        user: i.user,
        pass: i.pass,
        token: i.token,
        subjectPrefix: i.subject_prefix,
        jetstream: typeof i.jetstream === "object" ? strip(i.jetstream) : i.jetstream,
      });
    }
  }
  const servers: NonNullable<HiveConfigInput["servers"]> = {};
  for (const [name, s] of Object.entries(data.servers ?? {})) {
    servers[name] = strip({
      type: "fastapi" as const,
      host: s.init.host,
      port: s.init.port,
      endpoint: s.init.endpoint,
      scheme: s.init.scheme,
      create: s.create,
      broadcast: s.broadcast,
    });
  }
  return strip({
    source,
    metadataKey: g.metadata_key,
    removeMetadata: g.remove_metadata,
    separator: g.channel_separator,
    receiveOwn: g.receive_own,
    dedupeSize: g.dedupe_size,
    maxAgeSeconds: g.max_age,
    requestTimeoutMs: g.request_timeout === undefined ? undefined : g.request_timeout * 1000,
    connectors,
    servers,
  });
}

/** Drops `undefined` members (exactOptionalPropertyTypes). */
function strip<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

// --- the typed form -----------------------------------------------------------------------

const commonTyped = {
  inputChannel: str,
  secret: str.optional(),
  acceptLegacy: z.boolean().optional(),
  fromBroadcast: z.union([z.boolean(), seconds]).optional(),
  maxQueue: z.number().int().positive().optional(),
  publishTimeoutMs: num.positive().optional(),
};

const typedConnector = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("redis"),
    url: str.optional(),
    host: str.optional(),
    port: port.optional(),
    db: z.number().int().min(0).optional(),
    username: str.optional(),
    password: str.optional(),
    tls: z.boolean().optional(),
    connectTimeoutMs: num.positive().optional(),
    ...commonTyped,
  }),
  z.strictObject({
    type: z.literal("fastapi"),
    url: str.optional(),
    host: str.optional(),
    port: port.optional(),
    endpoint: str.optional(),
    scheme: z.enum(["ws", "wss"]).optional(),
    token: str.optional(),
    ...commonTyped,
  }),
  z.strictObject({
    type: z.literal("nats"),
    servers: z.union([str, z.array(str).min(1)]).optional(),
    user: str.optional(),
    pass: str.optional(),
    token: str.optional(),
    subjectPrefix: str.regex(/^[^\s.*>]+$/, "a NATS subject token (no spaces, '.', '*', '>')")
      .optional(),
    jetstream: z.union([
      z.boolean(),
      z.strictObject({ stream: str.optional(), durable: str.optional() }),
    ]).optional(),
    ...commonTyped,
  }),
]);

const typedConfig = z.object({
  metadataKey: str.min(1).optional(),
  removeMetadata: z.boolean().optional(),
  separator: str.min(1).optional(),
  receiveOwn: z.boolean().optional(),
  dedupeSize: z.number().int().min(0).optional(),
  maxAgeSeconds: seconds.optional(),
  requestTimeoutMs: num.positive().optional(),
  connectors: z.record(str, typedConnector).optional(),
  servers: z.record(
    str,
    z.strictObject({
      type: z.literal("fastapi").optional(),
      host: str,
      port,
      endpoint: str.optional(),
      scheme: z.enum(["ws", "wss"]).optional(),
      create: z.enum(["always", "needed", "never"]),
      broadcast: z.boolean().optional(),
    }),
  ).optional(),
  source: str.optional(),
});

/**
 * Validates a typed configuration and fills in the defaults. `EVENTHIVE_SECRET` in `env` (when
 * given) sets secrets on the named connectors.
 *
 * @param input The configuration as a caller writes it.
 * @param options The environment (default none).
 * @returns The configuration with defaults.
 * @throws {PubSubConfigError} Naming the key that is wrong.
 *
 * @example
 * ```ts
 * import { resolveHiveConfig } from "@syft/syft/pubsub";
 * const config = resolveHiveConfig({
 *   connectors: { net: { type: "redis", url: "redis://127.0.0.1:6379", inputChannel: "queen" } },
 * });
 * console.log(config.separator); // "/"
 * ```
 */
export function resolveHiveConfig(
  input: HiveConfigInput & { source?: string },
  options: { env?: Record<string, string | undefined> } = {},
): HiveConfig {
  const source = input.source ?? "options";
  const parsed = typedConfig.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const { key, message } = describeIssue(parsed.error.issues[0]!, true);
    configError(source, key, message, parsed.error);
  }
  return resolve(input, source, options.env ?? {});
}

function resolve(
  input: HiveConfigInput,
  source: string,
  env: Record<string, string | undefined>,
): HiveConfig {
  const separator = input.separator ?? "/";
  const connectors: Record<string, ConnectorOptions> = {};
  for (const [name, c] of Object.entries(input.connectors ?? {})) {
    if (name === "" || name.includes(separator) || /\s/.test(name)) {
      configError(
        source,
        `connectors.${name}`,
        `a network name must be non-empty, without spaces or "${separator}"`,
      );
    }
    if (c.acceptLegacy && !c.secret) {
      configError(source, `connectors.${name}.accept_legacy`, "needs a secret on the connector");
    }
    if (c.type === "fastapi" && c.endpoint !== undefined && !c.endpoint.startsWith("/")) {
      connectors[name] = { ...c, endpoint: `/${c.endpoint}` };
    } else connectors[name] = { ...c };
  }
  const secrets = env.EVENTHIVE_SECRET;
  if (secrets !== undefined && secrets.trim() !== "") {
    for (const entry of secrets.trim().split(/\s+/)) {
      const at = entry.indexOf(":");
      if (at <= 0) {
        configError(
          "EVENTHIVE_SECRET",
          entry,
          'expected "<connector>:<secret>" entries separated by spaces',
        );
      }
      const name = entry.slice(0, at);
      const connector = connectors[name];
      if (connector === undefined) {
        configError(
          "EVENTHIVE_SECRET",
          name,
          `no connector "${name}" in ${source} (connectors: ${
            Object.keys(connectors).join(", ") || "none"
          })`,
        );
      }
      connector.secret = entry.slice(at + 1);
    }
  }
  const servers: Record<string, ServerOptions> = {};
  for (const [name, s] of Object.entries(input.servers ?? {})) {
    const endpoint = s.endpoint ?? "/pubsub";
    servers[name] = {
      type: "fastapi",
      host: s.host,
      port: s.port,
      endpoint: endpoint.startsWith("/") ? endpoint : `/${endpoint}`,
      scheme: s.scheme ?? "ws",
      create: s.create,
      broadcast: s.broadcast ?? false,
    };
  }
  return {
    metadataKey: input.metadataKey ?? DEFAULT_METADATA_KEY,
    removeMetadata: input.removeMetadata ?? false,
    separator,
    receiveOwn: input.receiveOwn ?? true,
    dedupeSize: input.dedupeSize ?? 10_000,
    maxAgeSeconds: input.maxAgeSeconds,
    requestTimeoutMs: input.requestTimeoutMs ?? 10_000,
    connectors,
    servers,
    source,
  };
}
