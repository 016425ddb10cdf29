/**
 * "Port in use" errors that say what to do: every server a command starts is started through
 * {@linkcode listening}, which turns `Deno.errors.AddrInUse` (thrown, or the `cause` of a typed
 * error) into one line naming the service, the address and the option to use instead.
 *
 * @module
 */
import { SyftError } from "../lib/errors.ts";

/** Whether `err`, or an error in its `cause` chain, is `Deno.errors.AddrInUse`. */
export function isAddrInUse(err: unknown): boolean {
  let e = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (e instanceof Deno.errors.AddrInUse) return true;
    if (e instanceof Error && /address already in use|os error 98|EADDRINUSE/i.test(e.message)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** A server cannot bind its address. */
export class ListenError extends SyftError {
  /**
   * Creates the error.
   *
   * @param message The whole line.
   * @param options The underlying error.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: "ADDR_IN_USE" });
    this.name = "ListenError";
  }
}

function hostPort(host: string, port: number | string): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function inUse(host: string, port: number | string): boolean {
  if (typeof port !== "number" || port === 0) return false;
  try {
    Deno.listen({ hostname: host, port }).close();
    return false;
  } catch (err) {
    return err instanceof Deno.errors.AddrInUse;
  }
}

/**
 * Runs `start`; when it fails because an address is in use, throws a {@linkcode ListenError}
 * `the <service> cannot listen on <host>:<port> (in use); use <hint>`.
 *
 * @param what The service (`the proxy`), its host and port(s), and what to use instead.
 * @param start Starts the server.
 * @returns What `start` returns.
 */
export async function listening<T>(
  what: { service: string; host: string; ports: (number | string)[]; hint: string },
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (!isAddrInUse(err)) throw err;
    // Name the port that is taken when there are several (probe each; 0 is never taken).
    const busy = what.ports.length > 1 ? what.ports.filter((p) => inUse(what.host, p)) : [];
    const ports = busy.length > 0 ? busy : what.ports;
    const where = ports.map((p) => hostPort(what.host, p)).join(" and ");
    throw new ListenError(
      `the ${what.service} cannot listen on ${where} (in use); use ${what.hint}`,
      { cause: err },
    );
  }
}
