/**
 * mDNS (RFC 6762) for eventhive's `_eventhive._tcp.local.` service: the records a server is
 * advertised with, answers to queries, reading the answers of a lookup, and the multicast
 * socket (Deno's unstable `Deno.listenDatagram` + `joinMulticastV4`; `node:dgram` cannot join
 * groups in Deno). Packets are encoded and decoded with the npm `dns-packet` library.
 *
 * @module
 */
// @ts-types="@types/dns-packet"
import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { PubSubDiscoveryError } from "./fastapi_errors.ts";

/** The service type, without the trailing dot as DNS libraries write names. */
export const SERVICE_TYPE = "_eventhive._tcp.local";
/** The mDNS group and port. */
export const MDNS_GROUP = "224.0.0.251";
/** The mDNS port. */
export const MDNS_PORT = 5353;

/** What a server is advertised with. */
export interface AdvertisedServer {
  /** The address clients connect to (TXT `host`, and the A record when it is IPv4). */
  host: string;
  /** The port (TXT `port`, as a string, and SRV). */
  port: number;
  /** The WebSocket path (TXT `endpoint`). */
  endpoint: string;
  /** `ws` or `wss` (TXT `scheme`). */
  scheme: string;
}

/** A server found by a lookup. */
export interface FoundServer extends AdvertisedServer {
  /** Every TXT key and value, as strings. */
  txt: Record<string, string>;
}

type Answer = dnsPacket.Answer;

/** The instance name of a server key: `<name>._eventhive._tcp.local`. */
export function instanceName(name: string): string {
  return `${name}.${SERVICE_TYPE}`;
}

/**
 * Checks a server key for use as an mDNS instance label.
 *
 * @throws {PubSubDiscoveryError} `DISCOVERY_OPTIONS` when empty, over 63 bytes or with a dot.
 */
export function checkName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (typeof name !== "string" || bytes === 0 || bytes > 63 || name.includes(".")) {
    throw new PubSubDiscoveryError(
      "DISCOVERY_OPTIONS",
      `Cannot use ${
        JSON.stringify(name)
      } as an mDNS name: use 1 to 63 bytes without dots (the network name, such as "my-hive")`,
    );
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/**
 * The records of an advertised server: PTR (service → instance), SRV, TXT (`host`, `port`,
 * `endpoint`, `scheme`, each `key=str(value)` as python-zeroconf writes them) and an A record
 * for the host when it is IPv4.
 *
 * @param name The server key (the network name).
 * @param info Host, port, endpoint and scheme.
 * @param ttl Seconds the records live (0 for a goodbye).
 */
export function serverRecords(name: string, info: AdvertisedServer, ttl = 120): Answer[] {
  const instance = instanceName(name);
  const target = `${name}-eventhive.local`;
  const records: Answer[] = [
    { type: "PTR", name: SERVICE_TYPE, ttl: ttl === 0 ? 0 : 4500, data: instance },
    {
      type: "SRV",
      name: instance,
      ttl,
      flush: true,
      data: { priority: 0, weight: 0, port: info.port, target },
    },
    {
      type: "TXT",
      name: instance,
      ttl: ttl === 0 ? 0 : 4500,
      flush: true,
      data: [
        `host=${info.host}`,
        `port=${info.port}`,
        `endpoint=${info.endpoint}`,
        `scheme=${info.scheme}`,
      ],
    },
  ];
  if (IPV4.test(info.host)) {
    records.push({ type: "A", name: target, ttl, flush: true, data: info.host });
  }
  return records;
}

/** An unsolicited announcement (or goodbye, with TTL 0 records). */
export function announcement(records: Answer[]): Uint8Array {
  return dnsPacket.encode({
    type: "response",
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers: records,
  });
}

/**
 * Answers a query packet from our records: the matching records as answers, the others as
 * additionals. Legacy unicast queries (source port not 5353) are answered with the query's id
 * and questions and TTLs capped at 10 s (RFC 6762 §6.7).
 *
 * @returns The response bytes, or undefined when nothing matches.
 */
export function answerQuery(
  query: Uint8Array,
  records: Answer[],
  legacyUnicast: boolean,
): Uint8Array | undefined {
  let packet: dnsPacket.Packet;
  try {
    packet = dnsPacket.decode(toBuffer(query));
  } catch {
    return undefined;
  }
  if (packet.type !== "query" || !packet.questions?.length) return undefined;
  const answers: Answer[] = [];
  for (const q of packet.questions) {
    for (const r of records) {
      if (
        r.name.toLowerCase() === q.name.toLowerCase() &&
        ((q.type as string) === "ANY" || q.type === r.type) &&
        !answers.includes(r)
      ) {
        answers.push(r);
      }
    }
  }
  if (answers.length === 0) return undefined;
  const cap = (
    r: Answer,
  ): Answer => (legacyUnicast
    ? { ...r, ttl: Math.min((r as { ttl?: number }).ttl ?? 10, 10), flush: false } as Answer
    : r);
  return dnsPacket.encode({
    type: "response",
    id: legacyUnicast ? packet.id ?? 0 : 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    ...(legacyUnicast ? { questions: packet.questions } : {}),
    answers: answers.map(cap),
    additionals: records.filter((r) => !answers.includes(r)).map(cap),
  });
}

/** A lookup query for a server's SRV and TXT records (QM, id 0). */
export function lookupQuery(name: string): Uint8Array {
  const instance = instanceName(name);
  return dnsPacket.encode({
    type: "query",
    id: 0,
    questions: [{ type: "SRV", name: instance }, { type: "TXT", name: instance }],
  });
}

/** What a lookup has gathered so far. */
export interface LookupState {
  txt?: Record<string, string>;
  srvPort?: number;
  srvTarget?: string;
  addresses: Map<string, string>;
  source?: string;
}

function decodeTxt(data: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const items = Array.isArray(data) ? data : [data];
  for (const item of items) {
    const text = typeof item === "string" ? item : new TextDecoder().decode(item as Uint8Array);
    if (text === "") continue;
    const eq = text.indexOf("=");
    // A bare key (no "=") has the empty value (python-zeroconf crashes on it).
    if (eq < 0) out[text] = "";
    else out[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return out;
}

/**
 * Reads one packet into the lookup state and returns the server once TXT (and a port) is known.
 * `host` is TXT `host`; when that is missing or `0.0.0.0` (eventhive advertises the A record
 * 0.0.0.0), the A record of the SRV target, else the packet's source address.
 */
export function readAnswer(
  name: string,
  bytes: Uint8Array,
  source: string,
  state: LookupState,
): FoundServer | undefined {
  let packet: dnsPacket.Packet;
  try {
    packet = dnsPacket.decode(toBuffer(bytes));
  } catch {
    return undefined;
  }
  if (packet.type !== "response") return undefined;
  const instance = instanceName(name).toLowerCase();
  let relevant = false;
  for (const r of [...(packet.answers ?? []), ...(packet.additionals ?? [])]) {
    const owner = r.name.toLowerCase();
    if (r.type === "TXT" && owner === instance) {
      state.txt = decodeTxt(r.data);
      relevant = true;
    } else if (r.type === "SRV" && owner === instance) {
      state.srvPort = r.data.port;
      state.srvTarget = r.data.target.toLowerCase();
      relevant = true;
    } else if (r.type === "A") {
      state.addresses.set(owner, r.data);
    }
  }
  if (relevant) state.source = source;
  const txt = state.txt;
  if (txt === undefined) return undefined;
  const port = Number(txt.port ?? state.srvPort);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  const fromA = state.srvTarget === undefined ? undefined : state.addresses.get(state.srvTarget);
  const usable = (h: string | undefined): h is string =>
    h !== undefined && h !== "" && h !== "0.0.0.0";
  const host = usable(txt.host) ? txt.host : usable(fromA) ? fromA : state.source ?? source;
  const rawEndpoint = txt.endpoint ?? "/pubsub";
  return {
    host,
    port,
    endpoint: rawEndpoint.startsWith("/") ? rawEndpoint : `/${rawEndpoint}`,
    scheme: txt.scheme || "ws",
    txt: { ...txt },
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  // dns-packet reads Node Buffers; this is a view on the same memory.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// -- the socket ---------------------------------------------------------------------------------

/** The parts of Deno's unstable `DatagramConn` used here. */
interface DatagramConn {
  joinMulticastV4(address: string, networkInterface: string): Promise<{ leave(): Promise<void> }>;
  send(p: Uint8Array, addr: { transport: "udp"; hostname: string; port: number }): Promise<number>;
  receive(
    p?: Uint8Array,
  ): Promise<[Uint8Array, { transport: string; hostname: string; port: number }]>;
  close(): void;
}

type ListenDatagram = (options: {
  transport: "udp";
  hostname: string;
  port: number;
  reuseAddress?: boolean;
  loopback?: boolean;
}) => DatagramConn;

/** A joined mDNS socket. */
export interface MdnsSocket {
  /** Sends to the group. */
  sendMulticast(bytes: Uint8Array): Promise<void>;
  /** Sends to one address. */
  sendTo(bytes: Uint8Array, hostname: string, port: number): Promise<void>;
  /** Calls `onPacket` for each datagram until closed. */
  listen(onPacket: (bytes: Uint8Array, hostname: string, port: number) => void): Promise<void>;
  /** Leaves the group and closes. */
  close(): void;
}

/**
 * Opens 0.0.0.0:5353 (shared with other mDNS sockets) and joins 224.0.0.251.
 *
 * @throws {PubSubDiscoveryError} `DISCOVERY_UNSTABLE_NET` without `--unstable-net`,
 *   `DISCOVERY_SOCKET` when the socket cannot be opened or the group joined.
 */
export async function openMdnsSocket(): Promise<MdnsSocket> {
  const listen = (Deno as unknown as { listenDatagram?: ListenDatagram }).listenDatagram;
  if (typeof listen !== "function") {
    throw new PubSubDiscoveryError(
      "DISCOVERY_UNSTABLE_NET",
      'mDNS discovery needs Deno\'s UDP multicast API: run deno with --unstable-net (or add "net" to "unstable" in deno.json)',
    );
  }
  let conn: DatagramConn;
  try {
    conn = listen({
      transport: "udp",
      hostname: "0.0.0.0",
      port: MDNS_PORT,
      reuseAddress: true,
      loopback: true,
    });
  } catch (err) {
    throw new PubSubDiscoveryError(
      "DISCOVERY_SOCKET",
      `Cannot open the mDNS socket 0.0.0.0:${MDNS_PORT}: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
  try {
    await conn.joinMulticastV4(MDNS_GROUP, "0.0.0.0");
  } catch (err) {
    conn.close();
    throw new PubSubDiscoveryError(
      "DISCOVERY_SOCKET",
      `Cannot join the mDNS group ${MDNS_GROUP}: ${
        err instanceof Error ? err.message : String(err)
      } (is there a multicast route?)`,
      { cause: err },
    );
  }
  let closed = false;
  return {
    async sendMulticast(bytes) {
      if (!closed) {
        await conn.send(bytes, { transport: "udp", hostname: MDNS_GROUP, port: MDNS_PORT });
      }
    },
    async sendTo(bytes, hostname, port) {
      if (!closed) await conn.send(bytes, { transport: "udp", hostname, port });
    },
    async listen(onPacket) {
      while (!closed) {
        let datagram: Awaited<ReturnType<DatagramConn["receive"]>>;
        try {
          datagram = await conn.receive();
        } catch {
          return; // closed
        }
        onPacket(datagram[0], datagram[1].hostname, datagram[1].port);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch {
        // already closed
      }
    },
  };
}
