/**
 * What a hive configuration will do, without connecting: for each connector what it publishes
 * and receives, for each server whether it is created. `syft pubsub check` prints this.
 *
 * @module
 */
import type { HiveConfig } from "./config.ts";
import { redactUrl } from "./_transport.ts";
import { fastapiUrlOf, redisUrlOf } from "./_where.ts";
import { inputSubject } from "./subjects.ts";
import { FROM_BROADCAST_DEFAULT_SECONDS } from "./config.ts";

/** One connector of {@linkcode HiveDescription}. */
export interface ConnectorDescription {
  /** The network name. */
  network: string;
  /** The backend. */
  type: "redis" | "fastapi" | "nats";
  /** Where it connects (credentials redacted), or how it is found (mDNS). */
  where: string;
  /** Its input channel (`""`: publish-only). */
  inputChannel: string;
  /** What it subscribes to (a Redis pattern, NATS subject or fastapi topics), or `null`. */
  subscribes: string | null;
  /** The handlers its messages go to, e.g. `worker/<event>`, or `null`. */
  delivers: string | null;
  /** The events it publishes, e.g. `net/<input_channel>/<event>`. */
  publishes: string;
  /** Whether it signs and encrypts. */
  secret: boolean;
  /** Whether it also accepts eventhive <= 0.3.2 signed plaintext. */
  acceptLegacy: boolean;
}

/** One server of {@linkcode HiveDescription}. */
export interface ServerDescription {
  /** The server name (the network whose connector finds it by mDNS). */
  name: string;
  /** Where it listens. */
  where: string;
  /** `always`, `needed` or `never`. */
  create: "always" | "needed" | "never";
  /** Whether it is advertised by mDNS. */
  broadcast: boolean;
}

/** What {@linkcode describeHive} returns. */
export interface HiveDescription {
  /** Where the configuration came from. */
  source: string;
  /** The metadata key. */
  metadataKey: string;
  /** The connectors. */
  connectors: ConnectorDescription[];
  /** The servers. */
  servers: ServerDescription[];
}

/**
 * Describes what each connector publishes and receives and which servers are created.
 *
 * @param config A configuration from `parseHiveConfig`, `loadHiveConfig` or `resolveHiveConfig`.
 * @returns The description.
 *
 * @example
 * ```ts
 * import { describeHive, parseHiveConfig } from "@syft/syft/pubsub";
 * const config = parseHiveConfig(
 *   "connectors:\n  net:\n    pubsub_type: redis\n    input_channel: worker\n    init: {}\n",
 * );
 * console.log(describeHive(config).connectors[0]?.subscribes); // net/worker/*
 * ```
 */
export function describeHive(config: HiveConfig): HiveDescription {
  const sep = config.separator;
  const connectors = Object.entries(config.connectors).map(
    ([network, c]): ConnectorDescription => {
      const input = c.inputChannel;
      let where: string;
      let subscribes: string | null = null;
      if (c.fromBroadcast !== undefined && c.fromBroadcast !== false) {
        const s = c.fromBroadcast === true ? FROM_BROADCAST_DEFAULT_SECONDS : c.fromBroadcast;
        where = `mDNS ${network}._eventhive._tcp.local. (${s} s)`;
      } else if (c.type === "redis") where = redactUrl(redisUrlOf(c));
      else if (c.type === "fastapi") where = redactUrl(fastapiUrlOf(c));
      else {
        const servers = c.servers ?? "nats://127.0.0.1:4222";
        where = (Array.isArray(servers) ? servers : [servers]).join(",") +
          (c.jetstream ? " (JetStream)" : "");
      }
      if (input !== "") {
        subscribes = c.type === "redis"
          ? `PSUBSCRIBE ${network}${sep}${input}${sep}*`
          : c.type === "nats"
          ? `SUB ${
            inputSubject(network, input, { prefix: c.subjectPrefix ?? "eventhive", separator: sep })
          }`
          : `topics ${network}${sep}${input}${sep}<event> for each defined ${input}${sep}<event>`;
      }
      return {
        network,
        type: c.type,
        where,
        inputChannel: input,
        subscribes,
        delivers: input === "" ? null : `${input}${sep}<event>`,
        publishes: `${network}${sep}<input_channel>${sep}<event>`,
        secret: c.secret !== undefined && c.secret !== "",
        acceptLegacy: c.acceptLegacy === true,
      };
    },
  );
  const servers = Object.entries(config.servers).map(([name, s]): ServerDescription => ({
    name,
    where: `${s.scheme}://${s.host.includes(":") ? `[${s.host}]` : s.host}:${s.port}${s.endpoint}`,
    create: s.create,
    broadcast: s.broadcast,
  }));
  return { source: config.source, metadataKey: config.metadataKey, connectors, servers };
}
