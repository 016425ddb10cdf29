/**
 * Tells the serving layer when a request of one of its connections becomes a WebSocket, and
 * hands it the socket: `Deno.upgradeWebSocket` is wrapped once per process (the wrapper calls the
 * original and, for a request the layer registered, reports the socket). Requests the layer did
 * not register pass through untouched.
 *
 * @module
 */

type OnSocket = (socket: WebSocket) => void;

const pending = new WeakMap<Request, OnSocket>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const original = Deno.upgradeWebSocket;
  const wrapped: typeof Deno.upgradeWebSocket = (request, options) => {
    const upgraded = original(request, options);
    const onSocket = pending.get(request);
    if (onSocket !== undefined) {
      pending.delete(request);
      onSocket(upgraded.socket);
    }
    return upgraded;
  };
  Deno.upgradeWebSocket = wrapped;
}

/**
 * Registers a request that asks for a WebSocket upgrade.
 *
 * @param request The request (the object the handler gets).
 * @param onSocket Called with the socket if the handler upgrades it.
 */
export function expectUpgrade(request: Request, onSocket: OnSocket): void {
  install();
  pending.set(request, onSocket);
}
