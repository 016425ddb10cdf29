import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import {
  ENSYNC_METHODS,
  ENSYNC_PROTO,
  ensyncClientConstructor,
  ensyncServiceDefinition,
  EVENT_METHOD_ALIASES,
  PROTO_LOADER_OPTIONS,
} from "../../../lib/ensync/proto.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";

Deno.test("ensyncServiceDefinition() matches the ENSYNC_PROTO text byte for byte", async () => {
  await using ws = await tempWorkspace();
  const file = join(ws.path, "ensync.proto");
  await Deno.writeTextFile(file, ENSYNC_PROTO);
  const fromText = loadSync(
    file,
    PROTO_LOADER_OPTIONS,
  )["ensync.EnSyncService"] as unknown as grpc.ServiceDefinition;
  const fromMemory = ensyncServiceDefinition();
  assert.deepEqual(Object.keys(fromMemory).sort(), Object.keys(fromText).sort());
  assert.equal(Object.keys(fromMemory).length, 18);
  const samples: Record<string, unknown> = {
    PublishMessage: {
      client_id: "c1",
      message_name: "a/b",
      payload: "eyJ9",
      delivery_to: "pk",
      metadata: "{}",
      payload_metadata: '{"byte_size":2}',
    },
    AcknowledgeMessage: {
      client_id: "c1",
      message_idem: "i",
      message_name: "a/b",
      partition_block: "9007199254740993",
    },
    DeferEvent: { client_id: "c", message_idem: "i", delay_ms: "1000", priority: 2, reason: "x" },
  };
  for (const name of ENSYNC_METHODS) {
    const a = fromMemory[name]!;
    const b = fromText[name]!;
    assert.equal(a.path, `/ensync.EnSyncService/${name}`);
    assert.equal(a.path, b.path);
    assert.equal(a.requestStream, b.requestStream);
    assert.equal(a.responseStream, b.responseStream, name);
    const sample = samples[name] ?? { client_id: "c1" };
    const bytes = a.requestSerialize(sample);
    assert.ok(
      bytes instanceof Uint8Array && "readUInt8" in bytes,
      `${name} serializes to a Buffer`,
    );
    assert.deepEqual([...bytes], [...b.requestSerialize(sample)], name);
    assert.deepEqual(a.requestDeserialize(bytes), b.requestDeserialize(bytes));
  }
  assert.equal(fromMemory.Subscribe!.responseStream, true);
  const ack = fromMemory.AcknowledgeMessage!;
  const decoded = ack.requestDeserialize(ack.requestSerialize(samples.AcknowledgeMessage)) as {
    partition_block: string;
  };
  assert.equal(decoded.partition_block, "9007199254740993");
  assert.equal(EVENT_METHOD_ALIASES.PublishEvent, "PublishMessage");
  assert.equal(EVENT_METHOD_ALIASES.ContinueEvents, "ContinueMessages");
});

Deno.test("ensyncServiceDefinition() serves both method-name sets over real gRPC", async () => {
  const server = new grpc.Server();
  const seen: string[] = [];
  const publish: grpc.handleUnaryCall<{ message_name: string }, unknown> = (call, cb) => {
    seen.push(call.request.message_name);
    cb(null, { success: true, message_idem: `idem-${seen.length}`, error_message: "" });
  };
  const impl: grpc.UntypedServiceImplementation = {
    PublishMessage: publish,
    PublishEvent: publish,
    Subscribe: (call: grpc.ServerWritableStream<{ message_name: string }, unknown>) => {
      call.write({
        message_idem: "e1",
        message_name: call.request.message_name,
        payload: "cA==",
        partition_block: "7",
        metadata: "{}",
        sender: "s",
      });
      call.end();
    },
  };
  server.addService(ensyncServiceDefinition(), impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, p) => err ? reject(err) : resolve(p),
    )
  );
  const Client = ensyncClientConstructor();
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as
    & grpc.Client
    & Record<string, (...args: unknown[]) => unknown>;
  try {
    for (const method of ["PublishMessage", "PublishEvent"]) {
      const res = await new Promise<{ message_idem: string }>((resolve, reject) =>
        client[method]!(
          {
            client_id: "c",
            message_name: `via/${method}`,
            payload: "",
            delivery_to: "",
            metadata: "",
          },
          (err: Error | null, r: { message_idem: string }) => err ? reject(err) : resolve(r),
        )
      );
      assert.match(res.message_idem, /^idem-/);
    }
    assert.deepEqual(seen, ["via/PublishMessage", "via/PublishEvent"]);
    const stream = client.Subscribe!({
      client_id: "c",
      message_name: "x/y",
    }) as grpc.ClientReadableStream<
      { message_name: string; partition_block: string }
    >;
    const got: { message_name: string; partition_block: string }[] = [];
    for await (const m of stream) got.push(m);
    assert.deepEqual(got.map((m) => [m.message_name, m.partition_block]), [["x/y", "7"]]);
  } finally {
    client.close();
    server.forceShutdown();
  }
});
