/**
 * The sequence that aborts a Deno 2.9.6 `node:http2` server (denoland/deno#36788): a raw
 * @grpc/grpc-js client makes many unary calls on one channel, then closes the channel (an HTTP/2
 * GOAWAY). Run as its own process:
 * `deno run -A _grpc_crasher.ts grpc://host:port [calls] [in flight] [channels] [hold]`; prints
 * `done <calls answered>`. With `hold` the channels stay open instead: it prints `ready`, waits for
 * the end of its stdin and prints `alive` (it is aborted if the server sends it a GOAWAY then).
 */
import * as grpc from "@grpc/grpc-js";
import { ensyncClientConstructor } from "../../../lib/ensync/proto.ts";

const [url, callsArg, inFlightArg, channelsArg, holdArg] = Deno.args;
if (!url) {
  throw new Error("usage: _grpc_crasher.ts grpc://host:port [calls] [in flight] [channels] [hold]");
}
const calls = Number(callsArg ?? 1000);
const inFlight = Number(inFlightArg ?? 10);
const channels = Number(channelsArg ?? 1);
const hold = holdArg === "hold";
const say = (line: string): number => Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
const Client = ensyncClientConstructor();

async function channel(): Promise<number> {
  // A channel option unique to this channel keeps grpc-js from sharing one connection.
  const client = new Client(url!.replace(/^grpc:\/\//, ""), grpc.credentials.createInsecure(), {
    "grpc.channel_id": crypto.randomUUID(),
  });
  const heartbeat = (): Promise<boolean> =>
    new Promise((resolve) =>
      // deno-lint-ignore no-explicit-any
      (client as any).Heartbeat({ client_id: "crasher" }, (err: Error | null) => resolve(!err))
    );
  let ok = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < calls) if (await heartbeat()) ok++;
    }),
  );
  if (hold) {
    say("ready");
    for await (const _ of Deno.stdin.readable) { /* until the end of stdin */ }
    say("alive");
  }
  client.close();
  return ok;
}

const answered = await Promise.all(Array.from({ length: channels }, channel));
// Give the GOAWAYs time to leave before this process ends.
await new Promise((r) => setTimeout(r, 300));
say(`done ${answered.reduce((a, b) => a + b, 0)}`);
