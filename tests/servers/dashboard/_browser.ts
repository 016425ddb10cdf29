/**
 * Headless Chromium for the dashboard's browser tests: Debian's `chromium` driven by npm
 * `playwright-core`, with a fresh profile directory per launch.
 *
 * @module
 */
import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";

/** Debian's chromium binary (`apt-get install -y chromium`). */
export const CHROMIUM = Deno.env.get("SYFT_CHROMIUM") ?? "/usr/bin/chromium";

/** The flags the project runs Chromium with. */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/** Whether the chromium binary is installed (tests skip with a message when not). */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** A browser with its own profile; dispose to close it and remove the profile. */
export interface TestBrowser extends AsyncDisposable {
  context: BrowserContext;
  /** Its profile directory (on every process's command line). */
  profile: string;
}

/** Launches Chromium with a fresh `--user-data-dir`. */
export async function launchBrowser(
  options: { width?: number; height?: number } = {},
): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "syft_chromium_" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS],
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
  });
  return {
    context,
    profile,
    async [Symbol.asyncDispose]() {
      await context.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
