// deno-lint-ignore-file no-console
/**
 * The limits beside `bench:ensync-grpc`, with nothing of syft's serving code in them: a bare
 * @grpc/grpc-js server in Deno on the same service definition, whose PublishMessage answers at
 * once (`direct`), or forwards each call as one JSON line over a loopback TCP connection to a bare
 * echo process and answers when the echoed line comes back (`relay`: the one extra process hop a
 * gRPC worker adds, done the plainest way). `echo` is that echo process.
 *
 * Usage (the bench spawns these): `deno run -A bench/ensync/grpc_bare.ts direct|relay|echo`.
 * Each prints one JSON line with its port when it listens.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { ensyncServiceDefinition } from "../../lib/ensync/proto.ts";
import { firstLine } from "../_first_line.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
const mode = Deno.args[0];

if (mode === "echo") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(JSON.stringify({ port: (listener.addr as Deno.NetAddr).port }));
  for await (const conn of listener) {
    conn.setNoDelay(true);
    (async () => {
      const buf = new Uint8Array(1 << 16);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        await conn.write(buf.subarray(0, n)); // lines come back as they went
      }
      Deno.exit(0); // its one relay is gone (even when killed with SIGKILL)
    })();
  }
} else if (mode === "direct" || mode === "relay") {
  const pending = new Map<number, (line: Any) => void>();
  let send: (line: string) => void = () => {};
  if (mode === "relay") {
    const echo = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "echo"],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const { port } = JSON.parse(await firstLine(echo, "the echo process"));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const enc = new TextEncoder();
    send = (line) => void conn.write(enc.encode(line + "\n"));
    (async () => {
      const dec = new TextDecoder();
      let rest = "";
      for await (const chunk of conn.readable) {
        rest += dec.decode(chunk, { stream: true });
        let nl;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const msg = JSON.parse(rest.slice(0, nl));
          rest = rest.slice(nl + 1);
          pending.get(msg.id)?.(msg);
          pending.delete(msg.id);
        }
      }
    })();
  }
  let nextId = 0;
  let seq = 0;
  const answer = (): Any => ({ success: true, "message_idem": `e${++seq}`, "error_message": "" });
  const connected = { success: true, "client_id": "c", "client_hash": "h", "server_config": {} };
  const service = ensyncServiceDefinition();
  const handlers: Record<string, Any> = {};
  for (const name of Object.keys(service)) {
    handlers[name] = (call: Any, cb: Any) => {
      if (mode === "direct") return cb(null, name === "Connect" ? connected : answer());
      const id = ++nextId;
      pending.set(id, () => cb(null, name === "Connect" ? connected : answer()));
      send(JSON.stringify({ t: "call", id, method: name, req: call.request }));
    };
  }
  const server = new grpc.Server();
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, p) => err ? reject(err) : resolve(p),
    )
  );
  console.log(JSON.stringify({ grpc: `grpc://127.0.0.1:${port}` }));
} else {
  console.error("usage: grpc_bare.ts direct|relay|echo");
  Deno.exit(2);
}
