/**
 * Where a connector connects, without loading its client library.
 *
 * @module
 */
import type { FastApiConnectorOptions, RedisConnectorOptions } from "./config.ts";

/** The URL a Redis connector connects to. */
export function redisUrlOf(c: RedisConnectorOptions): string {
  if (c.url !== undefined) return c.url;
  const u = new URL(`${c.tls ? "rediss" : "redis"}://localhost`);
  u.hostname = c.host ?? "localhost";
  u.port = String(c.port ?? 6379);
  if (c.username !== undefined) u.username = encodeURIComponent(c.username);
  if (c.password !== undefined) u.password = encodeURIComponent(c.password);
  if (c.db !== undefined && c.db !== 0) u.pathname = `/${c.db}`;
  return u.toString().replace(/\/$/, "");
}

/** The URL a fastapi connector connects to (eventhive: `{scheme}://{host}:{port}{endpoint}`). */
export function fastapiUrlOf(c: FastApiConnectorOptions): string {
  if (c.url !== undefined) return c.url;
  const endpoint = c.endpoint ?? "/pubsub";
  const host = c.host ?? "127.0.0.1";
  return `${c.scheme ?? "ws"}://${host.includes(":") ? `[${host}]` : host}:${c.port ?? 8085}${
    endpoint.startsWith("/") ? endpoint : `/${endpoint}`
  }`;
}
