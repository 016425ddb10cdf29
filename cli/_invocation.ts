/**
 * How this `syft` was started, so that the commands it prints ("Try:" lines) run where they are
 * printed: an installed or compiled `syft` prints `syft …`; `deno task syft` with `deno` on PATH
 * prints `deno task syft …`; a run through npx without `deno` on PATH prints
 * `npx -y deno@<version> task syft …`; a bundle run by hand prints its `deno run` line.
 *
 * @module
 */
import { delimiter, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The flags a bundle (and the installed command, `deno task install`) runs with. */
export const BUNDLE_RUN_FLAGS: readonly string[] = [
  "-q",
  "--unstable-kv",
  "--unstable-net",
  "-R",
  "-W",
  "-N",
  "-E",
  "--allow-run=deno",
  "--allow-sys=hostname,osRelease,homedir,uid,gid",
];

/** What {@linkcode invocationPrefix} looks at (all of it injectable for tests). */
export interface InvocationContext {
  /** `Deno.execPath()`. */
  execPath: string;
  /** `Deno.mainModule`. */
  mainModule: string;
  /** `Deno.build.standalone` (a `deno compile`d binary). */
  standalone: boolean;
  /** The environment. */
  env: Record<string, string | undefined>;
  /** The working directory. */
  cwd: string;
  /** Reads a small file, or `undefined` when it cannot (for PATH lookups and shims). */
  readFile(path: string): string | undefined;
  /** Whether `path` is an executable file. */
  isExecutable(path: string): boolean;
  /** The Deno version, such as `2.9.6`. */
  denoVersion: string;
}

/**
 * The user's own PATH: without the entries npm and npx add for the duration of a run. Under npx
 * (`npm_lifecycle_event=npx`, `npm_command=exec`) npm puts the package's bin dir (`/usr/bin` for a
 * global deno, `~/.npm/_npx/…/.bin` otherwise), the `node_modules/.bin` dirs and its `node-gyp-bin`
 * in front of the user's PATH: what follows `node-gyp-bin` is the user's.
 */
function userPathEntries(env: Record<string, string | undefined>): string[] {
  let entries = (env.PATH ?? "").split(delimiter).filter((p) => p !== "");
  if (env.npm_lifecycle_event === "npx" || env.npm_command === "exec") {
    const gyp = entries.findLastIndex((p) => /node-gyp-bin[\\/]?$/.test(p));
    if (gyp >= 0) entries = entries.slice(gyp + 1);
  }
  return entries.filter((p) =>
    !/[\\/]_npx[\\/]/.test(p) && !/[\\/]node_modules[\\/]\.bin$/.test(p) && !/node-gyp-bin$/.test(p)
  );
}

function lookPath(ctx: InvocationContext, name: string): string | undefined {
  for (const dir of userPathEntries(ctx.env)) {
    const candidate = join(dir, name);
    if (ctx.isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/**
 * The words to type in place of `syft` to run this same program again from the user's shell.
 *
 * @param ctx What the process knows about how it was started.
 * @returns Such as `syft`, `deno task syft` or `npx -y deno@2.9.6 task syft`.
 */
export function invocationPrefix(ctx: InvocationContext): string {
  if (ctx.standalone) return "syft";
  // An installed `syft` (deno install writes a shell script naming the main module).
  const onPath = lookPath(ctx, "syft");
  if (onPath !== undefined && (ctx.readFile(onPath) ?? "").includes(ctx.mainModule)) {
    return "syft";
  }
  const main = ctx.mainModule.startsWith("file:") ? fileURLToPath(ctx.mainModule) : undefined;
  const denoOnPath = lookPath(ctx, "deno") !== undefined;
  const deno = denoOnPath ? "deno" : `npx -y deno@${ctx.denoVersion}`;
  if (main !== undefined && /[\\/]cli[\\/]main\.ts$/.test(main)) {
    const root = dirname(dirname(main));
    const inside = !relative(root, resolve(ctx.cwd)).startsWith("..");
    return inside
      ? `${deno} task syft`
      : `${deno} task --config ${quote(join(root, "deno.json"))} syft`;
  }
  // A bundle (dist/syft.js) or another entry point: its own `deno run` line.
  const target = main === undefined ? ctx.mainModule : quote(relative(ctx.cwd, main) || main);
  return `${deno} run ${BUNDLE_RUN_FLAGS.join(" ")} ${target}`;
}

/** {@linkcode invocationPrefix} for this process. */
export function currentInvocation(): string {
  return invocationPrefix({
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
    standalone: Deno.build.standalone,
    env: Deno.env.toObject(),
    cwd: Deno.cwd(),
    readFile(path) {
      try {
        const info = Deno.statSync(path);
        if (!info.isFile || info.size > 64 * 1024) return undefined;
        return Deno.readTextFileSync(path);
      } catch {
        return undefined;
      }
    },
    isExecutable(path) {
      try {
        const info = Deno.statSync(path);
        return info.isFile && (Deno.build.os === "windows" || ((info.mode ?? 0) & 0o111) !== 0);
      } catch {
        return false;
      }
    },
    denoVersion: Deno.version.deno,
  });
}

/** Rewrites a printed `syft …` command into the form this process was started with. */
export function asTyped(command: string, prefix: string): string {
  return command.startsWith("syft ") ? `${prefix}${command.slice(4)}` : command;
}
