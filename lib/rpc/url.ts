/**
 * `syft://` URLs: `syft://<email>/<path>[?query]`, as syft-core's `SyftBoxURL`, with a traversal
 * guard the original lacks.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { posix, relative, resolve, sep } from "node:path";
import { SyftUrlError } from "./errors.ts";

const URL_RE =
  /^syft:\/\/([a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+)(?:(\/[^?#]*)(?:\?([^#]*))?(?:#.*)?)?$/;
const EMAIL_RE = /^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$/;
// Control characters (including NUL), backslashes and percent-encoded dots, slashes, backslashes
// and NUL: anything a later decoding step could turn into a traversal.
// deno-lint-ignore no-control-regex
const BAD_PATH_RE = /[\x00-\x1f\x7f\\]|%(?:2e|2f|5c|00)/i;

const PARSED = new LRUCache<string, SyftBoxURL>({ max: 4096 });

/**
 * Returns whether `email` is an e-mail address SyftBox accepts as a datasite name (the domain must
 * contain a dot: `bob@localhost` is refused, as in Python).
 *
 * @param email The address.
 * @returns Whether it is valid.
 *
 * @example
 * ```ts
 * import { isValidEmail } from "@syft/syft/rpc";
 * console.log(isValidEmail("bob@example.com"), isValidEmail("bob@localhost")); // true false
 * ```
 */
export function isValidEmail(email: string): boolean {
  return EMAIL_RE.test(email);
}

/**
 * A parsed `syft://` URL. The host is the datasite owner's e-mail; the path is relative to the
 * datasite (`/app_data/<app>/rpc/<endpoint>` for RPC endpoints). The original text is kept as
 * {@linkcode SyftBoxURL.href} (files carry it verbatim). Parsing refuses anything that would leave
 * the datasites root: `..` segments, backslashes, NUL and other control characters, and
 * percent-encoded `.`, `/`, `\` or NUL.
 *
 * @example Build, parse and map to a local path
 * ```ts
 * import { SyftBoxURL } from "@syft/syft/rpc";
 * const url = SyftBoxURL.rpc("bob@example.com", "pingpong", "/ping");
 * console.log(url.href); // syft://bob@example.com/app_data/pingpong/rpc/ping
 * console.log(url.appName, url.endpoint); // pingpong ping
 * console.log(url.toLocalPath("/data/datasites"));
 * // /data/datasites/bob@example.com/app_data/pingpong/rpc/ping
 * const q = SyftBoxURL.parse("syft://bob@example.com/app_data/a/rpc/b?x=1&y=2");
 * console.log(q.query); // { x: "1", y: "2" }
 * ```
 */
export class SyftBoxURL {
  /** The URL text, exactly as given. */
  readonly href: string;
  /** The datasite owner's e-mail (the URL host). */
  readonly host: string;
  /** The path with its leading `/` (`""` when the URL has no path). */
  readonly path: string;
  /** The raw query string without `?` (`""` when absent). */
  readonly queryString: string;

  /**
   * Parses and validates a URL; same as {@linkcode SyftBoxURL.parse}.
   *
   * @param url The `syft://` URL.
   * @throws {SyftUrlError} When it is malformed or would leave the datasites root.
   */
  constructor(url: string) {
    if (typeof url !== "string") {
      throw new SyftUrlError(String(url), `Invalid syft URL: expected a string, got ${typeof url}`);
    }
    const m = URL_RE.exec(url);
    if (m === null) {
      throw new SyftUrlError(
        url,
        `Invalid syft URL ${JSON.stringify(url)}: expected syft://<email>/<path> with an e-mail ` +
          "whose domain contains a dot",
      );
    }
    const path = m[2] ?? "";
    if (BAD_PATH_RE.test(path)) {
      throw new SyftUrlError(
        url,
        `Invalid syft URL ${
          JSON.stringify(url)
        }: the path contains a control character, a backslash or a percent-encoded ".", "/", "\\" or NUL`,
      );
    }
    for (const segment of path.split("/")) {
      if (segment === "..") {
        throw new SyftUrlError(
          url,
          `Invalid syft URL ${JSON.stringify(url)}: ".." segments would leave the datasite`,
        );
      }
      if (/^[a-zA-Z]:$/.test(segment)) {
        throw new SyftUrlError(
          url,
          `Invalid syft URL ${JSON.stringify(url)}: the segment "${segment}" is a drive name`,
        );
      }
    }
    this.href = url;
    this.host = m[1]!;
    this.path = path;
    this.queryString = m[3] ?? "";
  }

  /**
   * Parses and validates a URL.
   *
   * @param url The `syft://` URL (a `SyftBoxURL` is returned as is).
   * @returns The parsed URL.
   * @throws {SyftUrlError} When it is malformed or would leave the datasites root.
   *
   * @example
   * ```ts
   * import { SyftBoxURL } from "@syft/syft/rpc";
   * console.log(SyftBoxURL.parse("syft://admin@server.io").path); // ""
   * ```
   */
  static parse(url: string | SyftBoxURL): SyftBoxURL {
    if (url instanceof SyftBoxURL) return url;
    // URLs are immutable, and programs talk to a few endpoints many times: reuse parsed ones.
    let parsed = PARSED.get(url);
    if (parsed === undefined) {
      parsed = new SyftBoxURL(url);
      PARSED.set(url, parsed);
    }
    return parsed;
  }

  /**
   * Returns whether `url` parses.
   *
   * @param url The text to test.
   * @returns Whether it is a valid, safe `syft://` URL.
   *
   * @example
   * ```ts
   * import { SyftBoxURL } from "@syft/syft/rpc";
   * console.log(SyftBoxURL.canParse("syft://bob@localhost/x")); // false
   * ```
   */
  static canParse(url: string): boolean {
    try {
      new SyftBoxURL(url);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Builds the URL of an RPC endpoint, as syft-rpc's `make_url`:
   * `syft://<datasite>/app_data/<app>/rpc/<endpoint without leading slashes>`.
   *
   * @param datasite The owner's e-mail.
   * @param appName The app name.
   * @param endpoint The endpoint, such as `"/ping"` or `"user_code/create"`.
   * @returns The URL.
   *
   * @example
   * ```ts
   * import { SyftBoxURL } from "@syft/syft/rpc";
   * console.log(SyftBoxURL.rpc("bob@example.com", "echo", "/echo").href);
   * // syft://bob@example.com/app_data/echo/rpc/echo
   * ```
   */
  static rpc(datasite: string, appName: string, endpoint: string): SyftBoxURL {
    return new SyftBoxURL(
      `syft://${datasite}/app_data/${appName}/rpc/${endpoint.replace(/^\/+/, "")}`,
    );
  }

  /**
   * Builds the URL of a local path inside the datasites directory, as syft-core's `from_path`.
   *
   * @param path A path inside `datasitesDir`.
   * @param datasitesDir The local datasites directory.
   * @returns The URL.
   * @throws {SyftUrlError} When the path is not inside `datasitesDir`.
   *
   * @example
   * ```ts
   * import { SyftBoxURL } from "@syft/syft/rpc";
   * const url = SyftBoxURL.fromPath("/d/datasites/bob@x.io/app_data/a/rpc/b", "/d/datasites");
   * console.log(url.href); // syft://bob@x.io/app_data/a/rpc/b
   * ```
   */
  static fromPath(path: string, datasitesDir: string): SyftBoxURL {
    const rel = relative(resolve(datasitesDir), resolve(path));
    if (rel === "" || rel.startsWith("..") || resolve(rel) === rel) {
      throw new SyftUrlError(
        path,
        `Cannot make a syft URL of "${path}": it is not inside "${datasitesDir}"`,
      );
    }
    return new SyftBoxURL(`syft://${rel.split(sep).join("/")}`);
  }

  /** The datasite owner's e-mail (same as {@linkcode SyftBoxURL.host}). */
  get datasite(): string {
    return this.host;
  }

  /**
   * The query as an object, with syft-core's rules: no percent-decoding, parameters without `=`
   * are dropped, the last duplicate wins.
   */
  get query(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.queryString === "") return out;
    for (const part of this.queryString.split("&")) {
      const at = part.indexOf("=");
      if (at < 0) continue;
      out[part.slice(0, at)] = part.slice(at + 1);
    }
    return out;
  }

  /** The path segments, without empty ones. */
  get segments(): string[] {
    return this.path.split("/").filter((s) => s !== "" && s !== ".");
  }

  /**
   * The app name when the path is `app_data/<app>/rpc/...` (everything between `app_data` and the
   * first `rpc`, as the Go client reads it), else `undefined`.
   */
  get appName(): string | undefined {
    const s = this.segments;
    const rpc = s.indexOf("rpc", 2);
    return s[0] === "app_data" && rpc >= 2 ? s.slice(1, rpc).join("/") : undefined;
  }

  /** The endpoint (the path after `.../rpc/`, no leading slash) when this is an RPC URL. */
  get endpoint(): string | undefined {
    const s = this.segments;
    const rpc = s.indexOf("rpc", 2);
    return s[0] === "app_data" && rpc >= 2 && rpc < s.length - 1
      ? s.slice(rpc + 1).join("/")
      : undefined;
  }

  /**
   * The local directory this URL names: `<datasitesDir>/<host>/<path>` (the query is ignored).
   *
   * @param datasitesDir The local datasites directory.
   * @returns An absolute path inside `datasitesDir/<host>`.
   * @throws {SyftUrlError} When the result would leave the datasite (never for a parsed URL).
   *
   * @example
   * ```ts
   * import { SyftBoxURL } from "@syft/syft/rpc";
   * const url = SyftBoxURL.parse("syft://bob@example.com/app_data/echo/rpc/echo");
   * console.log(url.toLocalPath("/data/datasites"));
   * ```
   */
  toLocalPath(datasitesDir: string): string {
    const base = resolve(datasitesDir, this.host);
    const full = resolve(base, ...this.segments);
    if (full !== base && !full.startsWith(base + sep)) {
      throw new SyftUrlError(
        this.href,
        `Invalid syft URL ${JSON.stringify(this.href)}: it leaves the datasite`,
      );
    }
    return full;
  }

  /**
   * Returns a URL for a sub-path of this one.
   *
   * @param path The relative path to append.
   * @returns The joined URL (without this URL's query).
   *
   * @example
   * ```ts
   * import { SyftBoxURL } from "@syft/syft/rpc";
   * const app = SyftBoxURL.parse("syft://bob@example.com/app_data/echo/rpc");
   * console.log(app.join("echo").href); // syft://bob@example.com/app_data/echo/rpc/echo
   * ```
   */
  join(path: string): SyftBoxURL {
    const joined = posix.join("/", this.path, path);
    return new SyftBoxURL(`syft://${this.host}${joined === "/" ? "" : joined}`);
  }

  /** Returns {@linkcode SyftBoxURL.href}. */
  toString(): string {
    return this.href;
  }

  /** Returns {@linkcode SyftBoxURL.href} (URLs serialise as plain strings). */
  toJSON(): string {
    return this.href;
  }
}
