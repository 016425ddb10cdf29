import * as grpc from "@grpc/grpc-js";
const t0 = Date.now();
const client = new grpc.Client(`127.0.0.1:18201`, grpc.credentials.createInsecure());
client.makeUnaryRequest("/x.Y/Z", (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), { deadline: Date.now() + 3000 }, (err) => { console.log("code", err?.code, Date.now() - t0); client.close(); Deno.exit(0); });
