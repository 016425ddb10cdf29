/**
 * mDNS discovery of fastapi_websocket_pubsub servers, as eventhive does it: a server is the
 * instance `<name>._eventhive._tcp.local.` with TXT `host`, `port`, `endpoint` and `scheme`
 * (python-zeroconf writes each as `key=str(value)`, so `port` travels as a string). Off by
 * default; it needs Deno's unstable UDP API (`--unstable-net`, or `"net"` in deno.json's
 * `"unstable"` list) and sends multicast on the machine's interfaces, so use it only on networks
 * where that is wanted. Packets are encoded with the npm `dns-packet` library.
 *
 * Differences from eventhive (same records): the advertised host can be any address (eventhive
 * only advertises with `host: 0.0.0.0` and then puts `0.0.0.0` in the A record); a lookup whose
 * TXT `host` is `0.0.0.0` uses the A record or the answer's source address instead; a TXT key
 * without `=` is read as an empty value instead of crashing.
 *
 * @module
 */
import { getLogger } from "../_log.ts";
import {
  announcement,
  answerQuery,
  checkName,
  lookupQuery,
  type LookupState,
  MDNS_PORT,
  openMdnsSocket,
  readAnswer,
  serverRecords,
} from "./_mdns.ts";
import { PubSubDiscoveryError } from "./fastapi_errors.ts";

export { PubSubDiscoveryError, type PubSubDiscoveryErrorCode } from "./fastapi_errors.ts";

const log = getLogger(["pubsub", "discovery"]);

/**
 * A server found by {@linkcode discoverPubSubServer}.
 *
 * @example Connect to what was found
 * ```ts ignore
 * import { connectFastApiPubSub, discoverPubSubServer } from "@syft/syft/pubsub";
 * const s = await discoverPubSubServer("my-hive");
 * if (s) connectFastApiPubSub(`${s.scheme}://${s.host}:${s.port}${s.endpoint}`);
 * ```
 */
export interface DiscoveredServer {
  /** The address to connect to. */
  host: string;
  /** The port (a number, although Python peers send it as a string). */
  port: number;
  /** The WebSocket path, with a leading `/`. */
  endpoint: string;
  /** `ws` (default) or `wss`. */
  scheme: string;
  /** Every TXT key and value as advertised. */
  txt: Record<string, string>;
}

/** Options of {@linkcode discoverPubSubServer}. */
export interface DiscoverOptions {
  /** How long to look (default 5,000 ms, eventhive's lookup time; `from_broadcast: N` is N s). */
  timeoutMs?: number;
  /** Stops the lookup early (it then resolves `undefined`). */
  signal?: AbortSignal;
}

/**
 * Looks up the server advertised as `<name>._eventhive._tcp.local.` by mDNS (queries at 0, 0.25,
 * 1 and then every 1 s).
 *
 * @param name The server key, which eventhive sets to the network name.
 * @param options Timeout and abort signal.
 * @returns The server, or `undefined` when nothing answered in time.
 * @throws {PubSubDiscoveryError} `DISCOVERY_UNSTABLE_NET` without `--unstable-net`,
 *   `DISCOVERY_SOCKET`, `DISCOVERY_OPTIONS` for a bad name.
 *
 * @example Find the server of network "my-hive" and build its URL
 * ```ts ignore
 * import { discoverPubSubServer } from "@syft/syft/pubsub";
 * const found = await discoverPubSubServer("my-hive", { timeoutMs: 2_000 });
 * if (found) console.log(`${found.scheme}://${found.host}:${found.port}${found.endpoint}`);
 * ```
 */
export async function discoverPubSubServer(
  name: string,
  options: DiscoverOptions = {},
): Promise<DiscoveredServer | undefined> {
  checkName(name);
  const timeoutMs = options.timeoutMs ?? 5_000;
  if (options.signal?.aborted) return undefined;
  const socket = await openMdnsSocket();
  const state: LookupState = { addresses: new Map() };
  const query = lookupQuery(name);
  const timers: ReturnType<typeof setTimeout>[] = [];
  try {
    return await new Promise<DiscoveredServer | undefined>((resolve) => {
      const finish = (found: DiscoveredServer | undefined): void => {
        options.signal?.removeEventListener("abort", onAbort);
        resolve(found);
      };
      const onAbort = (): void => finish(undefined);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      timers.push(setTimeout(() => finish(undefined), timeoutMs));
      const send = (): void => {
        socket.sendMulticast(query).catch((err) =>
          log.warn("Cannot send an mDNS query: {error}", { error: String(err) })
        );
      };
      for (let at = 0; at < timeoutMs; at = at === 0 ? 250 : at === 250 ? 1_000 : at + 1_000) {
        timers.push(setTimeout(send, at));
      }
      socket.listen((bytes, host) => {
        const found = readAnswer(name, bytes, host, state);
        if (found !== undefined) finish(found);
      });
    });
  } finally {
    for (const t of timers) clearTimeout(t);
    socket.close();
  }
}

/** What {@linkcode advertisePubSubServer} announces. */
export interface AdvertisedPubSubServer {
  /** The address clients should connect to (TXT `host`; an IPv4 address also goes in the A record). */
  host: string;
  /** The port. */
  port: number;
  /** The WebSocket path, such as `/pubsub`. */
  endpoint: string;
  /** `ws` (default) or `wss`. */
  scheme?: string;
}

/**
 * Advertises a server as `<name>._eventhive._tcp.local.` (announced twice, then answering
 * queries) until disposed or `signal` aborts; disposing sends a goodbye (TTL 0).
 *
 * @param name The server key: eventhive connectors look up their network name.
 * @param info Host, port, endpoint and scheme.
 * @param options An abort signal that ends the advertisement.
 * @returns A handle; `await using` it or call `[Symbol.asyncDispose]()`.
 * @throws {PubSubDiscoveryError} `DISCOVERY_UNSTABLE_NET` without `--unstable-net`,
 *   `DISCOVERY_SOCKET`, `DISCOVERY_OPTIONS` for a bad name, host or port.
 *
 * @example Advertise a running server on the LAN
 * ```ts ignore
 * import { advertisePubSubServer } from "@syft/syft/pubsub";
 * await using ad = await advertisePubSubServer("my-hive", { host: "192.0.2.10", port: 8085, endpoint: "/pubsub" });
 * ```
 */
export async function advertisePubSubServer(
  name: string,
  info: AdvertisedPubSubServer,
  options: { signal?: AbortSignal } = {},
): Promise<AsyncDisposable> {
  checkName(name);
  if (typeof info.host !== "string" || info.host === "" || /[\s=]/.test(info.host)) {
    throw new PubSubDiscoveryError(
      "DISCOVERY_OPTIONS",
      `Cannot advertise host ${JSON.stringify(info.host)}`,
    );
  }
  if (!Number.isInteger(info.port) || info.port <= 0 || info.port > 65535) {
    throw new PubSubDiscoveryError(
      "DISCOVERY_OPTIONS",
      `Cannot advertise port ${info.port}: expected 1 to 65535`,
    );
  }
  const server = {
    host: info.host,
    port: info.port,
    endpoint: info.endpoint.startsWith("/") ? info.endpoint : `/${info.endpoint}`,
    scheme: info.scheme ?? "ws",
  };
  const records = serverRecords(name, server);
  const socket = await openMdnsSocket();
  const listening = socket.listen((bytes, host, port) => {
    const legacy = port !== MDNS_PORT;
    const reply = answerQuery(bytes, records, legacy);
    if (reply === undefined) return;
    const sent = legacy ? socket.sendTo(reply, host, port) : socket.sendMulticast(reply);
    sent.catch((err) => log.warn("Cannot answer an mDNS query: {error}", { error: String(err) }));
  });
  const announce = (): void => {
    socket.sendMulticast(announcement(records)).catch((err) =>
      log.warn("Cannot announce {name} by mDNS: {error}", { name, error: String(err) })
    );
  };
  announce();
  const again = setTimeout(announce, 1_000);
  let disposed: Promise<void> | undefined;
  const dispose = (): Promise<void> => {
    disposed ??= (async () => {
      clearTimeout(again);
      options.signal?.removeEventListener("abort", onAbort);
      try {
        await socket.sendMulticast(announcement(serverRecords(name, server, 0)));
      } catch {
        // best effort
      }
      socket.close();
      await listening;
    })();
    return disposed;
  };
  const onAbort = (): void => void dispose();
  if (options.signal?.aborted) await dispose();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  return { [Symbol.asyncDispose]: dispose };
}
