/**
 * The proxy's file-RPC backend over `lib/rpc`: one `RpcClient`, whose shared watcher resolves
 * every in-flight request (private).
 *
 * @module
 */
import { RpcClient } from "../rpc/client.ts";
import { RpcTimeoutError } from "../rpc/errors.ts";
import type { SyftFuture } from "../rpc/client.ts";
import { type SyftMethod, SyftRequest, SyftResponse } from "../rpc/protocol.ts";
import type { RpcBackend, SentRequest } from "./_gateway.ts";
import type { SyftRequestJson, SyftResponseJson } from "./types.ts";

/** How long past its expiry a request is followed before it counts as expired here. */
const EXPIRY_SLACK_MS = 5_000;

function toWire<T>(message: { toJSON(): Record<string, unknown> }): T {
  return message.toJSON() as T;
}

function follow(future: SyftFuture, expires: string): SentRequest["response"] {
  return async () => {
    const untilExpiry = Date.parse(expires) - Date.now();
    const timeout = Math.max(
      1_000,
      (Number.isFinite(untilExpiry) ? untilExpiry : 0) +
        EXPIRY_SLACK_MS,
    );
    let response: SyftResponse;
    try {
      response = await future.wait({ timeout });
    } catch (err) {
      if (!(err instanceof RpcTimeoutError)) throw err;
      // The watcher and the safety-net poll both missed the expiry: answer as syft-rpc would.
      response = SyftResponse.system(419, `Request with ${future.id} expired on ${expires}`, {
        id: future.id,
      });
    }
    return toWire<SyftResponseJson>(response);
  };
}

/** Opens the backend for a workspace (`{ email, dataDir }`). */
export async function createFileBackend(
  workspace: { email: string; dataDir: string },
): Promise<RpcBackend> {
  const client = await RpcClient.open({ workspace });
  return {
    email: client.email,
    datasitesDir: client.workspace.datasitesDir,
    async send(req, stored) {
      // The request (and so its id) exists before the file is written: the store write runs
      // while the file is written, not after it.
      const request = new SyftRequest({
        sender: client.email,
        url: req.url,
        method: req.method as SyftMethod,
        body: req.body,
        headers: req.headers,
        expires: req.expiresAt,
      });
      const wire = toWire<SyftRequestJson>(request);
      const storing = stored(wire).catch(() => {}); // the gateway reports store failures
      const future = await client.sendRequest(request).finally(() => storing);
      await storing;
      return { request: wire, response: follow(future, wire.expires) };
    },
    async attach(request) {
      const future = await client.attach({
        url: request.url,
        id: request.id,
        sender: request.sender,
      });
      return { request, response: follow(future, request.expires) };
    },
    async readSchema(datasite, app) {
      try {
        return await client.readSchema(app, { datasite });
      } catch (err) {
        if ((err as { code?: string }).code === "RPC_NO_SCHEMA") return null;
        throw err;
      }
    },
    close: () => client.close(),
  };
}
