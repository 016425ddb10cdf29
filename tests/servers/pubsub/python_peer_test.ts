// deno-lint-ignore-file no-console
// A fastapi_websocket_pubsub peer written here in Python (Debian's python3-websockets, run with
// /usr/bin/python3) speaking the frames of sections 6 and 13, against our server and our client.
import assert from "node:assert/strict";
import { TextLineStream } from "../../../lib/_lines.ts";
import { connectFastApiPubSub } from "../../../lib/pubsub/fastapi_client.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { testServer } from "./_helpers.ts";

const PYTHON = "/usr/bin/python3";

const PEER = String.raw`
import asyncio, json, sys, uuid
import websockets

URL, SUB_TOPIC, PUB_TOPIC, EXPECT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def out(obj):
    print(json.dumps(obj), flush=True)

async def main():
    async with websockets.connect(URL) as ws:
        pending = {}
        received = []
        done = asyncio.Event()

        async def reader():
            async for raw in ws:
                out({"raw": raw})
                msg = json.loads(raw)
                req, res = msg.get("request"), msg.get("response")
                if res is not None and res.get("call_id") in pending:
                    pending.pop(res["call_id"]).set_result(res)
                if req is not None:
                    if req["method"] == "notify":
                        # Python's notify returns None, stringified: the answer of section 6.2.
                        await ws.send(json.dumps({"request": None, "response": {"result": "None", "result_type": "str", "call_id": req["call_id"]}}))
                        sub = req["arguments"]["subscription"]
                        received.append({"topic": sub["topic"], "data": req["arguments"]["data"]})
                        out({"notify": received[-1]})
                        if len(received) >= EXPECT:
                            done.set()
                    elif req["method"] == "_ping_":
                        await ws.send(json.dumps({"request": None, "response": {"result": "pong", "result_type": "str", "call_id": req["call_id"]}}))

        task = asyncio.create_task(reader())

        async def call(method, arguments, timeout=None):
            call_id = uuid.uuid4().hex
            fut = asyncio.get_running_loop().create_future()
            pending[call_id] = fut
            await ws.send(json.dumps({"request": {"method": method, "arguments": arguments, "call_id": call_id}, "response": None}))
            return await asyncio.wait_for(fut, timeout)

        # Readiness as WebSocketRpcClient.wait_on_rpc_ready: up to 5 pings, 1 s each.
        for _ in range(5):
            try:
                pong = await call("_ping_", {}, 1)
                break
            except asyncio.TimeoutError:
                continue
        out({"pong": pong})
        out({"subscribed": await call("subscribe", {"topics": [SUB_TOPIC]})})
        await asyncio.wait_for(done.wait(), 20)
        out({"published": await call("publish", {"topics": [PUB_TOPIC], "data": "from python", "sync": True, "notifier_id": None})})
        task.cancel()

asyncio.run(main())
`;

async function pythonHasWebsockets(): Promise<boolean> {
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", "import websockets"],
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

const available = await pythonHasWebsockets();
if (!available) {
  console.warn(
    "%cPython peer tests skipped: /usr/bin/python3 with python3-websockets is missing (apt-get install -y python3-websockets)",
    "color: yellow",
  );
}

Deno.test({
  name:
    "pub/sub server: a Python websockets peer subscribes, is notified by our client, and publishes back",
  ignore: !available,
  async fn() {
    await using server = await testServer();
    await using ws = await tempWorkspace();
    const script = `${ws.path}/peer.py`;
    await Deno.writeTextFile(script, PEER);
    await using client = connectFastApiPubSub(server.url);
    const back: [string, unknown][] = [];
    client.onNotify((topic, data) => back.push([topic, data]));
    await client.subscribe(["net/queen/done"]);

    const child = new Deno.Command(PYTHON, {
      args: [script, server.url, "net/worker-bee/work", "net/queen/done", "3"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    const seen: Record<string, unknown>[] = [];
    const raws: string[] = [];
    let publishedSent = false;
    for await (const line of lines) {
      const obj = JSON.parse(line) as Record<string, unknown>;
      if ("raw" in obj) {
        raws.push(obj.raw as string);
        continue;
      }
      seen.push(obj);
      if ("subscribed" in obj && !publishedSent) {
        publishedSent = true;
        for (let i = 0; i < 3; i++) {
          assert.equal(await client.publish(["net/worker-bee/work"], `{"seq": ${i}}`), true);
        }
      }
    }
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assert.equal(status.code, 0, stderr);

    assert.deepEqual(seen[0], {
      pong: {
        result: "pong",
        result_type: "str",
        call_id: (seen[0] as { pong: { call_id: string } }).pong.call_id,
      },
    });
    assert.deepEqual((seen[1] as { subscribed: { result: unknown } }).subscribed.result, true);
    assert.deepEqual(
      seen.filter((o) => "notify" in o).map((o) => o.notify),
      [0, 1, 2].map((i) => ({ topic: "net/worker-bee/work", data: `{"seq": ${i}}` })),
    );
    assert.equal((seen.at(-1) as { published: { result: unknown } }).published.result, true);
    // Every frame our server wrote uses Python's separators.
    assert.ok(raws.length >= 6);
    for (const raw of raws) assert.match(raw, /^\{"request": (null|\{"method": ")/, raw);
    assert.ok(
      raws.some((r) =>
        r.startsWith(
          '{"request": null, "response": {"result": "pong", "result_type": "str", "call_id": "',
        )
      ),
    );
    // The Python publish reached our client (sync: the server answered after our client answered).
    assert.deepEqual(back, [["net/queen/done", "from python"]]);
  },
});
