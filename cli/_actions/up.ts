/**
 * What `syft up` and `syft info` do; loaded when one of them runs.
 *
 * @module
 */
import { serveLimitsOf } from "../_limits.ts";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { join } from "node:path";
import {
  chooseWorkspaceConfig,
  claimServer,
  listRunningServers,
  openSyftHome,
  type RunningServerStatus,
  type SyftHome,
} from "../../lib/home.ts";
import { openKv } from "../../lib/kv.ts";
import { VERSION } from "../../lib/version.ts";
import { getLogger } from "../../lib/_log.ts";
import { print, printJson } from "../_output.ts";
import type { RunningService, StartedService, UpContext } from "../_service.ts";
import { isLoopbackHost } from "../../lib/live/http.ts";
import { type GlobalOptions, UsageError, waitForShutdownSignal } from "../_common.ts";
import { asTyped, currentInvocation } from "../_invocation.ts";
import { chooseConfig, workspaceFor } from "../_workspace.ts";
import { type InfoOptions, UP_SERVICES, type UpOptions } from "../up.ts";

const log = getLogger(["cli", "up"]);

const STOP_TIMEOUT_MS = 5_000;

async function stopAll(started: { name: string; running: RunningService }[]): Promise<void> {
  for (const { name, running } of started.toReversed()) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        running.stop(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`did not stop within ${STOP_TIMEOUT_MS} ms`)),
            STOP_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      log.warn("Service {name} did not stop cleanly: {error}", { name, error: String(err) });
    } finally {
      clearTimeout(timer);
    }
  }
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/**
 * `--config <path> ` when a command typed in another shell (without this process's `--config`,
 * `--home`, `$SYFT_HOME` or `$SYFTBOX_CLIENT_CONFIG_PATH`) would choose another config.
 */
async function configArgFor(home: SyftHome): Promise<string> {
  const env: Record<string, string | undefined> = {
    HOME: Deno.env.get("HOME"),
    USERPROFILE: Deno.env.get("USERPROFILE"),
  };
  const plain = await chooseWorkspaceConfig({ env }).catch(() => undefined);
  return plain?.path === home.configPath ? "" : `--config ${quote(home.configPath)} `;
}

/** `syft up`. */
export async function up(opts: UpOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const skip = new Set((opts.skip ?? "").split(",").map((s) => s.trim()).filter(Boolean));
  const known = new Set(UP_SERVICES.map((s) => s.name));
  for (const name of skip) {
    if (!known.has(name)) {
      throw new UsageError(
        `Cannot skip "${name}": no such service (services: ${[...known].join(", ") || "none"})`,
      );
    }
  }
  const dashboardToken = opts.dashboardToken ?? Deno.env.get("SYFT_DASHBOARD_TOKEN");
  if (!skip.has("dashboard") && !isLoopbackHost(opts.host) && dashboardToken === undefined) {
    throw new UsageError(
      `The dashboard cannot serve on ${opts.host} without a token: pass --dashboard-token <secret> ` +
        "(or --skip dashboard)",
    );
  }
  // Listen before anything starts, so a signal during start-up also stops cleanly.
  const shutdown = waitForShutdownSignal();
  const home = await workspaceFor(globals, { home: opts.home, create: true });
  await using claim = await claimServer(home, {
    name: "up",
    command: "syft up",
    holds: [home.kvPath, join(home.root, "state", "ensync.kv")],
  });
  const kv = await openKv(home.kvPath);
  const controller = new AbortController();
  const started: StartedService[] = [];
  try {
    const runs = (await kv.get<number>(["up", "runs"])).value ?? 0;
    await kv.set(["up", "runs"], runs + 1);
    await kv.set(["up", "last_start"], new Date().toISOString());
    const ctx: UpContext = {
      home,
      kv,
      host: opts.host,
      anyPort: opts.anyPort === true,
      limits: serveLimitsOf(opts),
      signal: controller.signal,
      configArg: await configArgFor(home),
      started,
      ...(dashboardToken === undefined ? {} : { dashboardToken }),
    };
    for (const service of UP_SERVICES) {
      if (skip.has(service.name)) continue;
      log.debug("Starting {name}", { name: service.name });
      const startedAt = Date.now();
      started.push({
        name: service.name,
        description: service.description,
        startedAt,
        running: await service.start(ctx),
      });
    }
    const prefix = currentInvocation();
    const services = started.map(({ name, running }) => ({
      name,
      where: running.where,
      ...(running.detail === undefined ? {} : { detail: running.detail }),
      ...(running.hints === undefined
        ? {}
        : { hints: running.hints.map((h) => asTyped(h, prefix)) }),
      ...(running.ports === undefined ? {} : { ports: running.ports }),
      ...(UP_SERVICES.find((s) => s.name === name)?.ports === undefined
        ? {}
        : { default_ports: UP_SERVICES.find((s) => s.name === name)!.ports }),
    }));
    await claim.update(services.map(({ name, where, ports }) => ({
      name,
      where,
      ...(ports === undefined ? {} : { ports }),
    })));
    const report = {
      version: VERSION,
      workspace: home.root,
      created: home.created,
      config: home.configPath,
      reason: home.reason,
      email: home.email,
      datasite: `${home.datasitesDir}/${home.email}`,
      state: home.kvPath,
      services,
    };
    if (globals.json) printJson({ event: "up", ...report });
    else {
      print(`syft ${VERSION} is up${home.created ? " (new workspace)" : ""}`);
      const rows: [string, string][] = [
        ["workspace", home.root],
        ["config", home.configPath],
        ["datasite", `${home.email}  ${report.datasite}`],
        ["state", `Deno KV  ${home.kvPath}`],
        ...started.map(({ name, running }): [string, string] => [
          name,
          running.detail ? `${running.where}  (${running.detail})` : running.where,
        ]),
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) print(`  ${k.padEnd(width)}  ${v}`);
      const hints = services.flatMap((s) => s.hints ?? []);
      if (hints.length > 0) {
        print("Try:");
        for (const hint of hints) print(`  ${hint}`);
      }
      print("Press Ctrl-C to stop.");
    }
    const signal = await shutdown;
    log.info("Received {signal}: stopping", { signal });
  } finally {
    controller.abort();
    await stopAll(started);
    kv.close();
  }
  if (globals.json) printJson({ event: "stopped" });
  else print("syft: stopped");
}

/** Whether a server address answers HTTP (any status), within a second. */
async function answers(where: string): Promise<boolean> {
  let url: URL;
  try {
    url = new URL(where);
  } catch {
    return false;
  }
  if (!/^(https?|wss?):$/.test(url.protocol)) return false;
  const origin = `${url.protocol.replace(/^ws/, "http")}//${url.host}`;
  try {
    const res = await fetch(`${origin}/health`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** `syft info`. */
export async function info(opts: InfoOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const choice = await chooseConfig(globals, { home: opts.home });
  const home = choice.exists ? await workspaceFor(globals, { home: opts.home }) : undefined;
  const servers: (RunningServerStatus & { answering: Record<string, boolean> })[] = [];
  for (const s of await listRunningServers({ root: choice.syftHome })) {
    if (s.alive === false) continue; // left by a process that died
    const answering: Record<string, boolean> = {};
    await Promise.all(s.services.map(async (svc) => {
      if (/^(https?|wss?):/.test(svc.where)) answering[svc.name] = await answers(svc.where);
    }));
    servers.push({ ...s, answering });
  }
  const fields: Record<string, string | undefined> = {
    config: choice.path,
    email: home?.email,
    "data_dir": home?.dataDir,
    datasite: home === undefined ? undefined : join(home.datasitesDir, home.email),
    home: choice.syftHome,
  };
  if (opts.field !== undefined) {
    if (!(opts.field in fields)) {
      throw new UsageError(
        `Cannot print field "${opts.field}": expected one of ${Object.keys(fields).join(", ")}`,
      );
    }
    const value = fields[opts.field];
    if (value === undefined) {
      await openSyftHome({
        ...(globals.config === undefined ? {} : { configPath: globals.config }),
        ...(opts.home === undefined ? {} : { root: opts.home }),
      }); // throws the error that says what to run
    }
    print(value!);
    return;
  }
  if (globals.json) {
    printJson({
      ...fields,
      exists: choice.exists,
      source: choice.source,
      reason: choice.reason,
      running: servers.map((s) => ({
        name: s.name,
        command: s.command,
        pid: s.pid,
        started: s.started,
        version: s.version,
        services: s.services.map((svc) => ({
          ...svc,
          ...(svc.name in s.answering ? { answers: s.answering[svc.name] } : {}),
        })),
      })),
    });
    return;
  }
  print(`config    ${choice.path}${choice.exists ? "" : "  (does not exist yet)"}`);
  print(`          ${choice.reason}`);
  if (home === undefined) {
    print("          no workspace yet: syft up or syft init creates it");
  } else {
    print(`email     ${home.email}`);
    print(`data dir  ${home.dataDir}`);
    print(`datasite  ${fields.datasite}`);
  }
  print(`home      ${choice.syftHome}  (state)`);
  if (servers.length === 0) {
    print("running   nothing (start the stack with syft up)");
    return;
  }
  print("running");
  for (const s of servers) {
    print(`  ${s.command} (pid ${s.pid}, since ${s.started})`);
    const width = Math.max(0, ...s.services.map((svc) => svc.name.length));
    for (const svc of s.services) {
      const state = svc.name in s.answering
        ? s.answering[svc.name] ? "  answers" : "  does not answer"
        : "";
      print(`    ${svc.name.padEnd(width)}  ${svc.where}${state}`);
    }
  }
}
