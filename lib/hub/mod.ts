/**
 * Named events over WebSocket, wire-compatible with zaptools (Python, Dart, Go, Swift peers):
 * each text frame is one JSON object `{"eventName", "payload", "headers"}`.
 *
 * - {@linkcode EventRegister}: handlers per event name plus `connected`, `disconnected`, `error`;
 * - {@linkcode ZapHub}: serves a register behind `Deno.serve` (`hub.fetch`) or Hono
 *   (`hub.hono()`), with per-connection ordering, frame and send-buffer limits, heartbeats and an
 *   `authenticate` hook;
 * - {@linkcode ConnectionRouter}: connections, rooms and broadcasts encoded once, across
 *   instances with {@linkcode RedisAdapter};
 * - {@linkcode ZapClient}: a reconnecting client on the standard `WebSocket` (Deno and browsers).
 *
 * @example An echo hub and a client
 * ```ts
 * import { EventRegister, ZapClient, ZapHub } from "@syft/syft/hub";
 *
 * const register = new EventRegister()
 *   .on("echo", ({ connection, payload, headers }) => connection.send("echo", payload, headers));
 * const hub = new ZapHub(register);
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hub.fetch);
 *
 * const client = new ZapClient();
 * await client.connect(`ws://127.0.0.1:${server.addr.port}/`);
 * const replies = client.events();
 * client.send("echo", { hello: "world" });
 * console.log((await replies.next()).value); // { eventName: "echo", payload: { hello: "world" }, headers: {} }
 * await client.close();
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */
export { SyftError, type SyftErrorOptions } from "../errors.ts";
export * from "./errors.ts";
export * from "./frame.ts";
export * from "./connection.ts";
export * from "./register.ts";
export * from "./router.ts";
export * from "./hub.ts";
export * from "./client.ts";
export * from "./redis.ts";
export * from "./scaleout.ts";
