/**
 * The `syft` command: one binary, a subcommand per part.
 *
 * ```sh
 * deno task syft --help
 * deno run -P jsr:@syft/syft/cli up
 * ```
 *
 * Start-up loads the command tree only (commander and the option definitions, `_program.ts`);
 * each command's action, with its part's dependencies, is imported when it runs (see
 * `cli/_lazy.ts`). `syft --version` loads neither.
 *
 * @module
 */
import { VERSION } from "../lib/version.ts";

/**
 * Runs the `syft` command with `args` and returns its exit status. Errors print one line to stderr
 * (`--log-level debug` adds the stack); nothing here calls `Deno.exit`.
 *
 * @param args The arguments after the program name.
 * @returns The exit status: 0 on success, 2 on a usage error, 124 on a timeout, 1 on other errors.
 *
 * @example Print the version
 * ```ts
 * import { main } from "@syft/syft/cli";
 * const status = await main(["--version"]);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  // The most common scripted call answers without building the tree.
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
    Deno.stdout.writeSync(new TextEncoder().encode(`${VERSION}\n`));
    return 0;
  }
  const { run } = await import("./_program.ts");
  return await run(args);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
