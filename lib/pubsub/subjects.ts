/**
 * The reversible mapping between event names and NATS subjects used by the NATS backend.
 *
 * An event name is split on the separator (`/`); each segment becomes one subject token, and the
 * subject is `<prefix>.<token>.<token>...`. A token keeps letters, digits and `-_~!$&'()+,;=:@/`
 * as they are and percent-encodes every other character as UTF-8 bytes (`.` → `%2E`, `*` →
 * `%2A`, `>` → `%3E`, a space → `%20`, `%` → `%25`); an empty segment is the token `%`. So
 * `net/worker-bee/work` is `eventhive.net.worker-bee.work`, `net/w/a.b` is
 * `eventhive.net.w.a%2Eb`, and a connector with input channel `w` subscribes to
 * `eventhive.net.w.>`.
 *
 * @module
 */

const SAFE = /^[A-Za-z0-9\-_~!$&'()+,;=:@/]*$/;
const UNSAFE = /[^A-Za-z0-9\-_~!$&'()+,;=:@/]/gu;

function encodeToken(segment: string): string {
  if (segment === "") return "%";
  if (SAFE.test(segment)) return segment;
  return segment.replace(UNSAFE, (c) => {
    let out = "";
    for (const b of new TextEncoder().encode(c)) {
      out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
    }
    return out;
  });
}

function decodeToken(token: string): string {
  if (token === "%") return "";
  return token.includes("%") ? decodeURIComponent(token) : token;
}

/**
 * The NATS subject of an event name.
 *
 * @param name The full event name, such as `net/worker/work`.
 * @param options The subject prefix (default `eventhive`) and the name separator (default `/`).
 * @returns The subject, such as `eventhive.net.worker.work`.
 *
 * @example
 * ```ts
 * import { eventToSubject } from "@syft/syft/pubsub";
 * console.log(eventToSubject("net/worker/a.b")); // eventhive.net.worker.a%2Eb
 * ```
 */
export function eventToSubject(
  name: string,
  options: { prefix?: string; separator?: string } = {},
): string {
  const prefix = options.prefix ?? "eventhive";
  return `${prefix}.${name.split(options.separator ?? "/").map(encodeToken).join(".")}`;
}

/**
 * The event name of a NATS subject written by {@linkcode eventToSubject}.
 *
 * @param subject The subject.
 * @param options The subject prefix and the name separator.
 * @returns The event name, or `undefined` when the subject is not under the prefix or a token
 *   is not a valid encoding.
 *
 * @example
 * ```ts
 * import { subjectToEvent } from "@syft/syft/pubsub";
 * console.log(subjectToEvent("eventhive.net.worker.a%2Eb")); // net/worker/a.b
 * ```
 */
export function subjectToEvent(
  subject: string,
  options: { prefix?: string; separator?: string } = {},
): string | undefined {
  const prefix = `${options.prefix ?? "eventhive"}.`;
  if (!subject.startsWith(prefix)) return undefined;
  try {
    return subject.slice(prefix.length).split(".").map(decodeToken).join(options.separator ?? "/");
  } catch {
    return undefined;
  }
}

/**
 * The subject a connector subscribes to: every event under `<network>/<inputChannel>/`.
 *
 * @param network The network name.
 * @param inputChannel The input channel.
 * @param options The subject prefix and the name separator.
 * @returns A subject ending in `.>`.
 *
 * @example
 * ```ts
 * import { inputSubject } from "@syft/syft/pubsub";
 * console.log(inputSubject("net", "worker")); // eventhive.net.worker.>
 * ```
 */
export function inputSubject(
  network: string,
  inputChannel: string,
  options: { prefix?: string; separator?: string } = {},
): string {
  const sep = options.separator ?? "/";
  return `${eventToSubject(`${network}${sep}${inputChannel}`, options)}.>`;
}
