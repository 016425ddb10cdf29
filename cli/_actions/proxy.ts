/**
 * What the `syft proxy` commands do, and the proxy service of `syft up`; loaded when one runs.
 *
 * @module
 */
import { serveLimitsOf } from "../_limits.ts";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { join } from "node:path";
import { SyftError } from "../../lib/errors.ts";
import { claimServer } from "../../lib/home.ts";
import {
  ProxyClient,
  ProxyTimeoutError,
  RpcError,
  RpcExecutionError,
} from "../../lib/proxy/mod.ts";
import { startProxyServer } from "../../servers/proxy/mod.ts";
import { configureLogging, parseLogLevel } from "../_logging.ts";
import { listening } from "../_listen.ts";
import { print, printJson, printResult } from "../_output.ts";
import type { RunningService, UpContext } from "../_service.ts";
import { type GlobalOptions, UsageError, waitForShutdownSignal } from "../_common.ts";
import { workspaceFor } from "../_workspace.ts";
import { PROXY_PORT } from "../_defaults.ts";
import type {
  CallOptions,
  HealthOptions,
  InfoOptions,
  ServeOptions,
  StatusOptions,
  TestRequestOptions,
} from "../proxy.ts";

function clientFor(opts: { url: string; apiKey?: string | undefined }): ProxyClient {
  return new ProxyClient(opts.url, opts.apiKey === undefined ? {} : { apiKey: opts.apiKey });
}

/** `syft proxy serve`. */
export async function serve(opts: ServeOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const root = cmd.parent?.parent;
  const proxyLevel = Deno.env.get("PROXY_LOG_LEVEL");
  if (proxyLevel && root?.getOptionValueSource("logLevel") === "default") {
    configureLogging(parseLogLevel(proxyLevel));
  }
  if (opts.timeout > 3600) throw new UsageError("--timeout must be at most 3600 seconds");
  const shutdown = waitForShutdownSignal();
  const home = await workspaceFor(globals, { home: opts.home, create: true });
  const kvPath = join(home.root, "state", "proxy.kv");
  const ownKv = opts.store === "kv";
  await using claim = await claimServer(home, {
    name: ownKv ? "proxy" : `proxy-${Deno.pid}`,
    command: "syft proxy serve",
    holds: ownKv ? [kvPath] : [],
  });
  const server = await listening(
    { service: "proxy", host: opts.host, ports: [opts.port], hint: "--port (0 picks a free one)" },
    () =>
      startProxyServer({
        workspace: { email: home.email, dataDir: home.dataDir },
        hostname: opts.host,
        port: opts.port,
        limits: serveLimitsOf(opts),
        store: opts.store,
        kvPath,
        storeTtlMs: opts.ttl * 1000,
        redisPrefix: opts.redisPrefix,
        leaseMs: opts.lease * 1000,
        maxBodyBytes: opts.maxBody,
        maxTimeoutS: opts.timeout,
        checkEndpoints: opts.endpointCheck,
        ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
        ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
        ...(opts.cors ? { cors: opts.cors } : {}),
      }),
  );
  try {
    await claim.update([{ name: "proxy", where: server.url, ports: { http: server.port } }]);
    const report = {
      url: server.url,
      store: server.store.description,
      email: home.email,
      datasites: home.datasitesDir,
      config: home.configPath,
      resumed: server.resumed,
      auth: opts.apiKey ? "api-key" : "none",
    };
    if (globals.json) printJson({ event: "listening", ...report });
    else {
      print(`syft proxy listening on ${server.url}`);
      print(
        `  store     ${report.store}${server.resumed ? ` (${server.resumed} resumed)` : ""}`,
      );
      print(`  datasite  ${home.email}  ${home.datasitesDir}`);
      print(`  config    ${home.configPath}`);
      print(`  auth      ${report.auth}`);
      print("Press Ctrl-C to stop.");
    }
    await shutdown;
  } finally {
    await server.close();
  }
  if (globals.json) printJson({ event: "stopped" });
  else print("syft proxy: stopped");
}

/** `syft proxy health`. */
export async function health(opts: HealthOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  let healthy = false;
  let detail = "";
  try {
    healthy = await clientFor(opts).health();
    if (!healthy) detail = "the proxy reports unhealthy";
  } catch (err) {
    detail = err instanceof Error ? err.message : String(err);
  }
  printResult(
    globals.json === true,
    { url: opts.url, healthy, ...(detail ? { detail } : {}) },
    () => [
      healthy ? `healthy: ${opts.url}` : `unhealthy: ${opts.url}${detail ? ` (${detail})` : ""}`,
    ],
  );
  if (!healthy) {
    throw new SyftError(`Proxy at ${opts.url} is not healthy`, { code: "UNHEALTHY" });
  }
}

/** `syft proxy info`. */
export async function info(opts: InfoOptions, cmd: CommandUnknownOpts): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const info = await clientFor(opts).info();
  printResult(globals.json === true, info, () => [
    `${info.name} ${info.version} at ${opts.url}`,
    `  uptime    ${info.uptime_s} s`,
    `  store     ${info.store}`,
    `  datasite  ${info.email}`,
    `  requests  ${info.requests.total} total, ${info.requests.pending} pending, ${info.requests.completed} completed, ${info.requests.failed} failed`,
  ]);
}

/** An answer of the proxy naming an endpoint it does not have locally (404 endpoint_not_found). */
function missingEndpoint(err: unknown): string | undefined {
  if (!(err instanceof RpcError) || err.httpStatus !== 404) return undefined;
  const body = err.body as { error?: string; message?: string } | undefined;
  return body?.error === "endpoint_not_found" ? body.message : undefined;
}

/** `syft proxy test-request`. */
export async function testRequest(
  opts: TestRequestOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const client = clientFor(opts);
  const to = opts.to ?? (await client.info()).email;
  const params = { msg: "hello from syft proxy test-request", ts: new Date().toISOString() };
  const start = performance.now();
  let result: unknown;
  try {
    result = await client.call(opts.app, "echo", { to, params, timeout: opts.timeout });
  } catch (err) {
    const missing = missingEndpoint(err);
    if (missing !== undefined) {
      throw new SyftError(
        `No echo app "${opts.app}" answers on ${to} through ${opts.url}: ${missing}. Start one ` +
          "with `syft rpc echo` (syft up runs one), or pick the datasite with --to",
        { code: "ENDPOINT_NOT_FOUND", cause: err },
      );
    }
    if (err instanceof ProxyTimeoutError) {
      throw new SyftError(
        `No answer from the echo app "${opts.app}" on ${to} within ${opts.timeout} s: its folder ` +
          "exists, but no app answered (is `syft rpc echo` or `syft up` running on that workspace?)",
        { code: "PROXY_TIMEOUT", cause: err },
      );
    }
    throw err;
  }
  const rttMs = Math.round((performance.now() - start) * 100) / 100;
  printResult(globals.json === true, { to, app: opts.app, result, rtt_ms: rttMs }, () => [
    `echo from ${opts.app} on ${to}: ${JSON.stringify(result)}`,
    `round trip: ${rttMs} ms`,
  ]);
}

/** `syft proxy call <app> <func>`. */
export async function call(
  app: string,
  func: string,
  opts: CallOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const client = clientFor(opts);
  const to = opts.to ?? (await client.info()).email;
  const call = {
    to,
    timeout: opts.timeout,
    ...(opts.params === undefined ? {} : { params: opts.params }),
  };
  try {
    if (!opts.wait) {
      const id = await client.callAsync(app, func, call);
      printResult(globals.json === true, { id, status: "pending" }, () => [id]);
      return;
    }
    const result = await client.call(app, func, call);
    if (globals.json) printJson({ status: "completed", result });
    else print(typeof result === "string" ? result : JSON.stringify(result, null, 2));
  } catch (err) {
    if (err instanceof RpcExecutionError && globals.json) {
      printJson({
        id: err.id,
        status: "failed",
        status_code: err.statusCode,
        error: err.error,
      });
    }
    const missing = missingEndpoint(err);
    if (missing !== undefined) {
      throw new SyftError(missing, { code: "ENDPOINT_NOT_FOUND", cause: err });
    }
    throw err;
  }
}

/** `syft proxy status <id>`. */
export async function status(
  id: string,
  opts: StatusOptions,
  cmd: CommandUnknownOpts,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const client = clientFor(opts);
  const status = opts.wait === undefined
    ? await client.status(id)
    : await client.waitFor(id, { timeout: opts.wait }).catch(async (err) => {
      if (err instanceof ProxyTimeoutError) return await client.status(id);
      throw err;
    });
  printResult(globals.json === true, status, () => [
    `${status.id}: ${status.status}${
      status.status_code === null ? "" : ` (${status.status_code})`
    }`,
    ...(status.status === "completed" ? [`result: ${JSON.stringify(status.result)}`] : []),
    ...(status.error ? [`error: ${status.error}`] : []),
    `app: ${status.app_name}/${status.func_name} on ${status.destination}`,
    `created: ${status.created_at}${
      status.completed_at ? `, completed: ${status.completed_at}` : ""
    }`,
  ]);
}

/** The proxy service of `syft up`. */
export async function startProxyService(ctx: UpContext): Promise<RunningService> {
  const port = ctx.anyPort ? 0 : PROXY_PORT;
  const server = await listening(
    { service: "proxy", host: ctx.host, ports: [port], hint: "--any-port, or --skip proxy" },
    () =>
      startProxyServer({
        workspace: { email: ctx.home.email, dataDir: ctx.home.dataDir },
        hostname: ctx.host,
        port,
        limits: ctx.limits ?? {},
        store: "kv",
        kv: ctx.kv,
        signal: ctx.signal,
        checkEndpoints: true,
      }),
  );
  const body = JSON.stringify({
    app_name: "echo",
    func_name: "echo",
    destination: ctx.home.email,
    params: { hi: 1 },
  });
  return {
    where: server.url,
    detail: `store ${ctx.home.kvPath}${server.resumed ? `, ${server.resumed} resumed` : ""}`,
    hints: [
      `curl -s -w '\\n' ${server.url}/rpc/send -H 'content-type: application/json' -d '${body}'`,
      `syft proxy test-request${server.port === PROXY_PORT ? "" : ` --url ${server.url}`}`,
    ],
    ports: { http: server.port },
    stop: () => server.close(),
    live: server.live,
  };
}
