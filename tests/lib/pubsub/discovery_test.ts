// deno-lint-ignore-file no-console -- visible skip messages
// mDNS discovery. Multicast runs ONLY inside a network namespace this test creates (ip netns,
// loopback only, multicast route on lo); the packet logic is tested without any network.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// @ts-types="@types/dns-packet"
import * as dnsPacket from "dns-packet";
import { TextLineStream } from "../../../lib/_lines.ts";
import { syftArgs } from "../../_helpers/cli.ts";
import {
  answerQuery,
  lookupQuery,
  type LookupState,
  readAnswer,
  serverRecords,
} from "../../../lib/pubsub/_mdns.ts";
import { discoverPubSubServer, PubSubDiscoveryError } from "../../../lib/pubsub/discovery.ts";

const PEER = new URL("./discovery_peer.ts", import.meta.url).pathname;
const INFO = { host: "127.0.0.1", port: 19521, endpoint: "/pubsub", scheme: "ws" };

function response(answers: dnsPacket.Answer[], additionals: dnsPacket.Answer[] = []): Uint8Array {
  return dnsPacket.encode({
    type: "response",
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers,
    additionals,
  });
}

Deno.test("readAnswer() reads eventhive's TXT record, port as a string, as section 7 describes", () => {
  // What python-zeroconf sends for eventhive: TXT host/port/endpoint/scheme, A record 0.0.0.0.
  const packet = response([
    {
      type: "TXT",
      name: "my-hive._eventhive._tcp.local",
      data: ["host=192.0.2.7", "port=19521", "endpoint=/pubsub", "scheme=ws"],
    },
    {
      type: "SRV",
      name: "my-hive._eventhive._tcp.local",
      data: { port: 19521, target: "box.local" },
    },
    { type: "A", name: "box.local", data: "0.0.0.0" },
  ]);
  const found = readAnswer("my-hive", packet, "192.0.2.99", { addresses: new Map() });
  assert.deepEqual(found, {
    host: "192.0.2.7",
    port: 19521,
    endpoint: "/pubsub",
    scheme: "ws",
    txt: { host: "192.0.2.7", port: "19521", endpoint: "/pubsub", scheme: "ws" },
  });
  // Another instance's records are not taken.
  assert.equal(readAnswer("other", packet, "192.0.2.99", { addresses: new Map() }), undefined);
});

Deno.test("readAnswer() falls back from TXT host 0.0.0.0 to the A record, then the source; tolerates bare keys", () => {
  const state: LookupState = { addresses: new Map() };
  const packet = response([
    {
      type: "TXT",
      name: "n._eventhive._tcp.local",
      data: ["host=0.0.0.0", "port=8085", "endpoint=ps", "flag"],
    },
    { type: "SRV", name: "n._eventhive._tcp.local", data: { port: 8085, target: "h.local" } },
  ], [{ type: "A", name: "h.local", data: "198.51.100.4" }]);
  const found = readAnswer("n", packet, "203.0.113.9", state)!;
  assert.equal(found.host, "198.51.100.4");
  assert.equal(found.endpoint, "/ps");
  assert.equal(found.txt.flag, "");
  const noA = readAnswer(
    "n",
    response([{
      type: "TXT",
      name: "n._eventhive._tcp.local",
      data: ["host=0.0.0.0", "port=8085"],
    }]),
    "203.0.113.9",
    { addresses: new Map() },
  )!;
  assert.equal(noA.host, "203.0.113.9");
  assert.equal(noA.scheme, "ws");
  // No port anywhere: not usable yet.
  assert.equal(
    readAnswer(
      "n",
      response([{ type: "TXT", name: "n._eventhive._tcp.local", data: ["host=x"] }]),
      "s",
      {
        addresses: new Map(),
      },
    ),
    undefined,
  );
});

Deno.test("answerQuery() answers queries for the service, SRV and TXT; legacy unicast gets the id and short TTLs", () => {
  const records = serverRecords("my-hive", INFO);
  const reply = answerQuery(lookupQuery("my-hive"), records, false)!;
  const decoded = dnsPacket.decode(Buffer.from(reply));
  assert.deepEqual(decoded.answers!.map((a) => a.type).sort(), ["SRV", "TXT"]);
  assert.deepEqual(decoded.additionals!.map((a) => a.type).sort(), ["A", "PTR"]);
  const txt = decoded.answers!.find((a) => a.type === "TXT")!;
  assert.deepEqual(
    (txt.data as Uint8Array[]).map((b) => new TextDecoder().decode(b)),
    ["host=127.0.0.1", "port=19521", "endpoint=/pubsub", "scheme=ws"],
  );
  assert.deepEqual(readAnswer("my-hive", reply, "x", { addresses: new Map() }), {
    ...INFO,
    txt: { host: "127.0.0.1", port: "19521", endpoint: "/pubsub", scheme: "ws" },
  });

  const ptr = dnsPacket.encode({
    type: "query",
    id: 42,
    questions: [{ type: "PTR", name: "_eventhive._tcp.local" }],
  });
  const legacy = dnsPacket.decode(Buffer.from(answerQuery(ptr, records, true)!));
  assert.equal(legacy.id, 42);
  assert.equal(legacy.questions!.length, 1);
  assert.ok(
    [...legacy.answers!, ...legacy.additionals!].every((r) => (r as { ttl: number }).ttl <= 10),
  );
  const unrelated = dnsPacket.encode({
    type: "query",
    id: 0,
    questions: [{ type: "A", name: "printer.local" }],
  });
  assert.equal(answerQuery(unrelated, records, false), undefined);
  assert.equal(answerQuery(new Uint8Array([1, 2, 3]), records, false), undefined);
});

Deno.test("discoverPubSubServer() refuses bad names, and says how to enable Deno's UDP API when it is off", async () => {
  await assert.rejects(() => discoverPubSubServer("a.b"), PubSubDiscoveryError);
  await assert.rejects(() => discoverPubSubServer(""), PubSubDiscoveryError);
  // This project's deno.json turns --unstable-net on, so look from a process without it: the same
  // imports (the import map of deno.json), no config, so no "unstable" list.
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/no_net.ts`;
    await Deno.writeTextFile(
      script,
      `import { discoverPubSubServer } from ${
        JSON.stringify(import.meta.resolve("../../../lib/pubsub/discovery.ts"))
      };
const has = typeof (Deno as unknown as { listenDatagram?: unknown }).listenDatagram === "function";
if (has) { console.log(JSON.stringify({ has })); Deno.exit(0); } // never multicast outside a namespace
try {
  await discoverPubSubServer("my-hive", { timeoutMs: 10 });
  console.log(JSON.stringify({ has, found: true }));
} catch (err) {
  console.log(JSON.stringify({ has, name: (err as Error).name, code: (err as { code?: string }).code, message: (err as Error).message }));
}
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "--no-config",
        "--import-map",
        new URL("../../../deno.json", import.meta.url).pathname,
        "-A",
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const got = JSON.parse(text.split("\n").at(-1)!);
    assert.equal(got.has, false, "a process without --unstable-net has Deno.listenDatagram");
    assert.equal(got.name, "PubSubDiscoveryError");
    assert.equal(got.code, "DISCOVERY_UNSTABLE_NET");
    assert.match(got.message, /--unstable-net/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("this project's deno.json, the installed command and the bundle's run line turn on --unstable-net", async () => {
  assert.equal(typeof (Deno as unknown as { listenDatagram?: unknown }).listenDatagram, "function");
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../../deno.json", import.meta.url)),
  );
  assert.ok(config.unstable.includes("net"));
  assert.match(config.tasks.install.command ?? config.tasks.install, /--unstable-net/);
  const { BUNDLE_RUN_FLAGS } = await import("../../../cli/_invocation.ts");
  assert.ok(BUNDLE_RUN_FLAGS.includes("--unstable-net"));
});

// ---- inside a network namespace ----------------------------------------------------------------

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return {
      ok: out.success,
      text: new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout),
    };
  } catch (err) {
    return { ok: false, text: String(err) };
  }
}

/** Creates a namespace with only lo (up, multicast, 224.0.0.0/4 routed to it), or says why not. */
async function makeNamespace(): Promise<{ name: string } | { skip: string }> {
  if (Deno.build.os !== "linux") return { skip: "network namespaces need Linux" };
  const name = `syft-mdns-${crypto.randomUUID().slice(0, 8)}`;
  const add = await run("ip", ["netns", "add", name]);
  if (!add.ok) {
    return {
      skip:
        `cannot create a network namespace (ip netns add: ${add.text.trim()}); needs root and iproute2`,
    };
  }
  for (
    const args of [
      ["link", "set", "lo", "up"],
      ["link", "set", "lo", "multicast", "on"],
      ["route", "add", "224.0.0.0/4", "dev", "lo"],
    ]
  ) {
    const step = await run("ip", ["netns", "exec", name, "ip", ...args]);
    if (!step.ok) {
      await run("ip", ["netns", "del", name]);
      return { skip: `cannot set up the namespace (ip ${args.join(" ")}: ${step.text.trim()})` };
    }
  }
  return { name };
}

const probe = await makeNamespace();
const netnsSkip = "skip" in probe ? probe.skip : undefined;
if ("name" in probe) await run("ip", ["netns", "del", probe.name]);
if (netnsSkip) console.warn(`%cmDNS namespace tests skipped: ${netnsSkip}`, "color: yellow");
const zeroconf = (await run("/usr/bin/python3", ["-c", "import zeroconf"])).ok;
if (!netnsSkip && !zeroconf) {
  console.warn(
    "%cpython-zeroconf interop skipped: /usr/bin/python3 lacks zeroconf (apt-get install -y python3-zeroconf)",
    "color: yellow",
  );
}

const DENO = Deno.execPath();

/** A child in the namespace; `lines` yields its stdout lines. */
function spawnIn(ns: string, cmd: string, args: string[]) {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, cmd, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())[
    Symbol.asyncIterator
  ]();
  return {
    child,
    async line(): Promise<string> {
      const next = await lines.next();
      if (next.done) throw new Error(`${cmd} ended: ${await new Response(child.stderr).text()}`);
      return next.value;
    },
    async stop(): Promise<void> {
      await child.stdin.close().catch(() => {});
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await lines.return?.();
    },
  };
}

const denoPeer = (...args: string[]) => ["run", "--unstable-net", "-A", PEER, ...args];

async function discoverIn(ns: string, name: string, timeoutMs: number) {
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", ns, DENO, ...denoPeer("discover", name, String(timeoutMs))],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!) as {
    found: Record<string, unknown> | null;
    ms: number;
  };
}

const ZC = String.raw`
import sys, json, socket
from zeroconf import Zeroconf, ServiceInfo, IPVersion
mode, name = sys.argv[1], sys.argv[2]
T = "_eventhive._tcp.local."
zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
if mode == "lookup":
    # What eventhive's init_from_broadcast does.
    info = zc.get_service_info(T, name + "." + T, timeout=3000)
    props = None if info is None else {k.decode(): v.decode() for k, v in info.properties.items()}
    print(json.dumps(props), flush=True)
else:
    # What eventhive's Broadcast registers: A record 0.0.0.0, the init dict as TXT.
    info = ServiceInfo(T, name + "." + T, addresses=[socket.inet_aton("0.0.0.0")], port=19522,
                       properties={"host": "127.0.0.1", "port": 19522, "endpoint": "/pubsub", "scheme": "ws"})
    zc.register_service(info)
    print("ready", flush=True)
    sys.stdin.read()
    zc.unregister_service(info)
zc.close()
`;

Deno.test({
  name:
    "advertisePubSubServer() / discoverPubSubServer() find each other inside a network namespace",
  ignore: netnsSkip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ns = await makeNamespace();
    assert.ok("name" in ns, "skip" in ns ? ns.skip : "");
    try {
      const ad = spawnIn(
        ns.name,
        DENO,
        denoPeer("advertise", "my-hive", "127.0.0.1", "19521", "/pubsub"),
      );
      try {
        assert.equal(await ad.line(), "ready");
        const result = await discoverIn(ns.name, "my-hive", 3_000);
        assert.deepEqual(result.found, {
          ...INFO,
          txt: { host: "127.0.0.1", port: "19521", endpoint: "/pubsub", scheme: "ws" },
        });
        const none = await discoverIn(ns.name, "no-such-hive", 300);
        assert.equal(none.found, null);
      } finally {
        await ad.stop();
      }
    } finally {
      await run("ip", ["netns", "del", ns.name]);
    }
  },
});

Deno.test({
  name:
    "discovery interoperates with python-zeroconf (eventhive's lookup and broadcast) inside a network namespace",
  ignore: netnsSkip !== undefined || !zeroconf,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ns = await makeNamespace();
    assert.ok("name" in ns, "skip" in ns ? ns.skip : "");
    try {
      // Python looks up our advertisement and gets the TXT dict eventhive turns into `init`.
      const ad = spawnIn(
        ns.name,
        DENO,
        denoPeer("advertise", "deno-hive", "127.0.0.1", "19521", "/pubsub"),
      );
      try {
        assert.equal(await ad.line(), "ready");
        const out = await new Deno.Command("ip", {
          args: ["netns", "exec", ns.name, "/usr/bin/python3", "-c", ZC, "lookup", "deno-hive"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
          host: "127.0.0.1",
          port: "19521",
          endpoint: "/pubsub",
          scheme: "ws",
        });
      } finally {
        await ad.stop();
      }
      // We find what Python's zeroconf registers the way eventhive does.
      const py = spawnIn(ns.name, "/usr/bin/python3", ["-c", ZC, "register", "py-hive"]);
      try {
        assert.equal(await py.line(), "ready");
        const result = await discoverIn(ns.name, "py-hive", 3_000);
        assert.deepEqual(result.found, {
          host: "127.0.0.1",
          port: 19522,
          endpoint: "/pubsub",
          scheme: "ws",
          txt: { host: "127.0.0.1", port: "19522", endpoint: "/pubsub", scheme: "ws" },
        });
      } finally {
        await py.stop();
      }
    } finally {
      await run("ip", ["netns", "del", ns.name]);
    }
  },
});

Deno.test({
  name:
    "the syft command finds a server by mDNS (from_broadcast) inside a network namespace: listen and publish",
  ignore: netnsSkip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ns = await makeNamespace();
    assert.ok("name" in ns, "skip" in ns ? ns.skip : "");
    const dir = await Deno.makeTempDir();
    try {
      const serve = spawnIn(ns.name, DENO, syftArgs("pubsub", "serve", "--port", "19531"));
      const ad = spawnIn(
        ns.name,
        DENO,
        denoPeer("advertise", "found", "127.0.0.1", "19531", "/pubsub"),
      );
      try {
        while (!(await serve.line()).includes("Press Ctrl-C")) { /* start-up lines */ }
        assert.equal(await ad.line(), "ready");
        const yaml = `${dir}/hive.yaml`;
        await Deno.writeTextFile(
          yaml,
          "connectors:\n  found:\n    pubsub_type: fastapi\n    input_channel: worker\n    from_broadcast: 3\n",
        );
        const listen = spawnIn(
          ns.name,
          DENO,
          syftArgs("pubsub", "listen", "found/worker/*", "--config", yaml, "--count", "1"),
        );
        try {
          let line: string | undefined;
          const got = listen.line().then((l) => (line = l));
          for (let i = 0; i < 40 && line === undefined; i++) {
            const pub = await new Deno.Command("ip", {
              args: [
                "netns",
                "exec",
                ns.name,
                DENO,
                ...syftArgs("pubsub", "publish", "found/worker/job", '{"n": 1}', "--config", yaml),
              ],
              stdout: "piped",
              stderr: "piped",
            }).output();
            assert.ok(pub.success, new TextDecoder().decode(pub.stderr));
            assert.match(
              new TextDecoder().decode(pub.stdout),
              /^published found\/worker\/job on found \(ws:\/\/127\.0\.0\.1:19531\/pubsub/m,
            );
            await Promise.race([got, new Promise((r) => setTimeout(r, 250))]);
          }
          await got;
          const event = JSON.parse(line!);
          assert.equal(event.event, "found/worker/job");
          assert.deepEqual(event.payload, { n: 1 });
        } finally {
          await listen.stop();
        }
      } finally {
        await ad.stop();
        serve.child.kill("SIGINT");
        await serve.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
      await run("ip", ["netns", "del", ns.name]);
    }
  },
});
