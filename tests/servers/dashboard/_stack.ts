/**
 * `syft up` as a subprocess on a temp workspace (`--any-port`), with two EnSync apps configured,
 * for the dashboard's browser tests and its screenshot task.
 *
 * @module
 */
import { join } from "node:path";
import { generateKeyPair } from "../../../lib/ensync/mod.ts";
import { writeEnSyncConfig } from "../../../servers/ensync/mod.ts";
import { spawnSyft, type SyftProcess } from "../../_helpers/cli.ts";

/** An app of the engine with its secret key. */
export interface StackApp {
  name: string;
  accessKey: string;
  appId: string;
  secretKey: string;
}

/** A running stack. */
export interface Stack extends AsyncDisposable {
  home: string;
  proc: SyftProcess;
  email: string;
  configPath: string;
  dashboard: string;
  proxy: string;
  hub: string;
  ensync: string;
  /** The pub/sub server's WebSocket URL. */
  pubsub: string;
  shop: StackApp;
  mail: StackApp;
  /** Stops `syft up` (Ctrl-C) and removes the workspace. */
  close(): Promise<void>;
}

function app(name: string): StackApp {
  const keys = generateKeyPair();
  return {
    name,
    accessKey: `${name}-access-key-0123456789`,
    appId: keys.publicKey,
    secretKey: keys.secretKey,
  };
}

/** Starts `syft up --any-port` on a fresh workspace and reads where everything runs. */
export async function startStack(): Promise<Stack> {
  const home = await Deno.makeTempDir({ prefix: "syft_dashboard_" });
  const shop = app("shop");
  const mail = app("mail");
  await writeEnSyncConfig(join(home, "ensync.yaml"), {
    grpcStreams: "auto",
    apps: [
      { ...shop, send: ["*"], receive: ["*"] },
      { ...mail, send: [], receive: ["orders/*"] },
    ].map(({ name, accessKey, appId, send, receive }) => ({
      name,
      accessKey,
      appId,
      send,
      receive,
    })),
  });
  const proc = spawnSyft(["up", "--any-port"], {
    env: { SYFT_HOME: home, SYFT_LOG_LEVEL: "warning", USER: "dash" },
  });
  try {
    await proc.waitForLine(/^Press Ctrl-C to stop\./, 60_000);
  } catch (err) {
    await Deno.remove(home, { recursive: true }).catch(() => {});
    throw err;
  }
  const value = (name: string): string => {
    const line = proc.lines.find((l) => new RegExp(`^  ${name}\\s`).test(l));
    if (line === undefined) {
      throw new Error(`syft up printed no ${name} line:\n${proc.lines.join("\n")}`);
    }
    return line.trim().split(/\s+/)[1]!;
  };
  const close = async (): Promise<void> => {
    await proc.stop("SIGINT");
    await Deno.remove(home, { recursive: true }).catch(() => {});
  };
  return {
    home,
    proc,
    email: value("datasite"),
    configPath: value("config"),
    dashboard: value("dashboard"),
    proxy: value("proxy"),
    hub: value("hub"),
    ensync: value("ensync"),
    pubsub: value("pubsub"),
    shop,
    mail,
    close,
    [Symbol.asyncDispose]: close,
  };
}
