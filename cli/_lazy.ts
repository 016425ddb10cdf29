/**
 * Lazy command actions. `syft` builds its whole command tree at start (names, options, help text:
 * cheap modules only), and loads what a command does, with its heavy dependencies (Hono, gRPC,
 * ioredis, libsodium's WASM, ...), when that command runs. `syft --help` then costs what commander
 * costs, not what every part costs.
 *
 * ```ts ignore
 * new Command("serve")
 *   .option("--port <port>", "port", port, 8000)
 *   .action(lazy(() => import("./_actions/proxy.ts"), "serve"));
 * ```
 *
 * The import must be a literal `import("./...")` so that `deno bundle` includes the module (it
 * stays lazily evaluated in the bundle too).
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => unknown;

/**
 * Returns a function with the signature of `module[name]` that loads `module` on its first call
 * and runs `module[name]`. Type checking sees through it: the export must accept what commander
 * passes to the action (arguments, options, the command).
 *
 * @param load Loads the module (a literal `() => import("./_actions/x.ts")`).
 * @param name The export to run.
 * @returns The lazy function.
 */
export function lazy<M extends { [P in K]: AnyFn }, K extends keyof M & string>(
  load: () => Promise<M>,
  name: K,
): (...args: Parameters<M[K]>) => Promise<Awaited<ReturnType<M[K]>>> {
  return async (...args: Parameters<M[K]>): Promise<Awaited<ReturnType<M[K]>>> => {
    const mod = await load();
    const result: unknown = await (mod[name] as AnyFn)(...args);
    return result as Awaited<ReturnType<M[K]>>;
  };
}
