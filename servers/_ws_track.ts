/**
 * Tells the serving layer which socket a request that became a WebSocket got: `Deno.upgradeWebSocket`
 * is wrapped once per process (the wrapper calls the original and notes the socket against its
 * request, weakly). The layer asks once a response has been sent (a weak-map look-up), so a plain
 * request costs next to nothing here (reading each request's `upgrade` header cost more).
 *
 * @module
 */

const sockets = new WeakMap<Request, WebSocket>();
let installed = false;

/** Wraps `Deno.upgradeWebSocket` (once per process) so that {@linkcode takeUpgrade} can answer. */
export function trackUpgrades(): void {
  if (installed) return;
  installed = true;
  const original = Deno.upgradeWebSocket;
  const wrapped: typeof Deno.upgradeWebSocket = (request, options) => {
    const upgraded = original(request, options);
    sockets.set(request, upgraded.socket);
    return upgraded;
  };
  Deno.upgradeWebSocket = wrapped;
}

/**
 * The socket `request` was upgraded to, once.
 *
 * @param request The request (the object the handler got).
 * @returns The socket, or `undefined` when the request was not upgraded (or was asked already).
 */
export function takeUpgrade(request: Request): WebSocket | undefined {
  const socket = sockets.get(request);
  if (socket !== undefined) sockets.delete(request);
  return socket;
}
