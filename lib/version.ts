/**
 * The package version, read from `deno.json` so there is one source of truth.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/**
 * The version of `@syft/syft` (the `version` field of `deno.json`).
 *
 * @example Print the version
 * ```ts
 * import { VERSION } from "@syft/syft";
 * console.log(`syft ${VERSION}`);
 * ```
 */
export const VERSION: string = denoJson.version;
