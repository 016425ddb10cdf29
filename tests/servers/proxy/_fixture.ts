/**
 * Test fixtures for the proxy: a temp SyftBox workspace, a real echo app answering through real
 * files, and a gateway + Hono app (or a real server) over them.
 *
 * @module
 */
import { join } from "node:path";
import { createFileBackend } from "../../../servers/proxy/_file_backend.ts";
import { ProxyGateway } from "../../../servers/proxy/_gateway.ts";
import { MemoryRequestStore, type RequestStore } from "../../../lib/proxy/store.ts";
import { createEchoApp } from "../../../lib/rpc/echo.ts";
import { reply, type SyftEvents } from "../../../lib/rpc/server.ts";
import { createProxyApp, type ProxyAppOptions } from "../../../servers/proxy/app.ts";

export const ME = "me@example.org";

/**
 * The echo app of lib/rpc (`/echo`, `/ping`) plus `/fail` (throws: 500), `/headers` and
 * `/nocontent` (204).
 */
export interface EchoApp extends AsyncDisposable {
  /** The running app. */
  app: SyftEvents;
  close(): Promise<void>;
}

/** Starts lib/rpc's real echo app (a `SyftEvents` over real files) on `owner`'s datasite. */
export async function startEcho(dataDir: string, owner = ME, app = "echo"): Promise<EchoApp> {
  const box = createEchoApp({ app, workspace: { dataDir, email: owner }, cleanupInterval: 0 });
  box.onRequest("/fail", { description: "Always fails" }, () => {
    throw new Error("boom");
  });
  box.onRequest("/headers", () => reply({ ok: true }, { headers: { "X-Custom": "v" } }));
  box.onRequest("/nocontent", () => reply(null, { status: 204 }));
  await box.start();
  const close = (): Promise<void> => box.stop();
  return { app: box, close, [Symbol.asyncDispose]: close };
}

/** A gateway + app over a temp workspace (with an echo app unless `echo: false`). */
export interface AppFixture extends AsyncDisposable {
  dir: string;
  dataDir: string;
  gateway: ProxyGateway;
  store: RequestStore;
  app: ReturnType<typeof createProxyApp>["app"];
  echo: EchoApp | undefined;
  /** `app.request()` with a JSON body. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

export async function appFixture(
  options: Omit<ProxyAppOptions, "gateway"> & { store?: RequestStore; echo?: boolean } = {},
): Promise<AppFixture> {
  const dir = await Deno.makeTempDir({ prefix: "syft_proxy_test_" });
  const dataDir = join(dir, "data");
  await Deno.mkdir(join(dataDir, "datasites", ME), { recursive: true });
  const echo = options.echo === false ? undefined : await startEcho(dataDir);
  const store = options.store ?? new MemoryRequestStore();
  const gateway = new ProxyGateway({
    backend: await createFileBackend({ email: ME, dataDir }),
    store,
  });
  await gateway.start();
  const { app } = createProxyApp({ accessLog: false, ...options, gateway });
  const close = async (): Promise<void> => {
    await gateway.close();
    await store.close();
    await echo?.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    dir,
    dataDir,
    gateway,
    store,
    app,
    echo,
    post: (path, body, headers = {}) =>
      Promise.resolve(app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      })),
    [Symbol.asyncDispose]: close,
  };
}
