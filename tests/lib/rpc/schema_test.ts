// deno-lint-ignore-file no-console
/**
 * `rpc.schema.json` in syft-event's shape: compared byte for byte with what Python writes for the
 * same models (pydantic 2, the `python3` on PATH; skipped with a message without it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { SyftEvents } from "../../../lib/rpc/mod.ts";
import { describeType, endpointSchema, RPC_PERMISSIONS_YAML } from "../../../lib/rpc/schema.ts";
import { pythonJson, pythonTitle } from "../../../lib/rpc/_pydantic_schema.ts";
import { rpcWorkspace } from "./_fixtures.ts";

const PYDANTIC = (await new Deno.Command("python3", {
  args: ["-c", "import pydantic; assert pydantic.VERSION.startswith('2.')"],
  stdout: "null",
  stderr: "null",
}).output().catch(() => ({ success: false }))).success;
if (!PYDANTIC) {
  console.warn(
    "%crpc.schema.json pydantic comparison skipped: python3 with pydantic 2 is not available",
    "color: yellow",
  );
}

// The zod side of tests/lib/rpc/_pydantic_schema_peer.py, model for model.
const Color = z.enum(["red", "green"]).meta({ title: "Color", description: "A colour." });
const Address = z.object({
  street: z.string().describe("Street and number (café, 😀, 日本)"),
  zip_code: z.string().length(5).regex(/^[0-9]+$/),
  country: z.string().default("FR"),
}).meta({ title: "Address", description: "A postal address." });
const User = z.object({
  user_id: z.int().min(0).lt(1000),
  name: z.string().min(1).max(50),
  userName: z.string(),
  email: z.string().nullish(),
  nickname: z.string().optional(),
  maybe: z.int().nullable(),
  score: z.number().gt(0).max(1).multipleOf(0.25).default(0.5),
  ratio: z.number().min(1e-7).default(0.00001),
  active: z.boolean().default(true),
  tags: z.array(z.string()).default([]),
  counts: z.array(z.int()).min(1).max(3),
  scores: z.record(z.string(), z.int()).default({}),
  extra: z.record(z.string(), z.any()),
  address: Address,
  home: Address.describe("Where they live"),
  previous: Address.nullish(),
  addresses: z.array(Address).default([]),
  color: Color.default("red"),
  kind: z.enum(["a", "b"]).default("a"),
  single: z.literal("x"),
  when: z.iso.datetime(),
  uid: z.uuid(),
  anything: z.any(),
  either: z.union([z.int(), z.string()]),
  either_or_none: z.union([z.int(), z.string()]).nullish(),
  pair: z.tuple([z.int(), z.string()]),
}).meta({ title: "User", description: "A user of the app." });
const CalcRequest = z.object({
  a: z.number(),
  b: z.number(),
  operation: z.enum(["add", "multiply"]).default("add"),
});
interface NodeT {
  name: string;
  children: NodeT[];
}
const Node: z.ZodType<NodeT> = z.object({
  name: z.string(),
  get children() {
    return z.array(Node).default([]);
  },
}).meta({ title: "Node" });
const Strict = z.strictObject({ a: z.int() }).meta({ title: "Strict" });
const Cat = z.object({ kind: z.literal("cat"), lives: z.int().default(9) }).meta({ title: "Cat" });
const Dog = z.object({ kind: z.literal("dog") }).meta({ title: "Dog" });
const Owner = z.object({ pet: z.discriminatedUnion("kind", [Cat, Dog]) }).meta({ title: "Owner" });
const Empty = z.object({}).meta({ title: "Empty" });

function register(box: SyftEvents): void {
  box.onRequest("/calculate", {
    input: CalcRequest,
    output: z.number(),
    arg: "request",
    model: "CalcRequest",
    description: "Add or multiply",
  }, () => 0);
  box.onRequest(
    "/users/create",
    { input: User, output: User, arg: "user", description: "Create a user." },
    (u) => u,
  );
  box.onRequest("/users/list", { output: z.array(User), description: "List the users." }, () => []);
  box.onRequest("/tree", { input: Node, output: z.int(), arg: "node" }, () => 1);
  box.onRequest("/strict", { input: Strict, output: Empty }, () => ({}));
  box.onRequest("/owner", { input: Owner, arg: "owner" }, () => null);
  box.onRequest("/echo", (body) => body);
  box.onRequest("/text", { input: z.string(), output: z.string(), arg: "text" }, (t) => t);
}

Deno.test({
  name:
    "SyftEvents writes rpc.schema.json byte for byte as syft-event does for the same pydantic models",
  ignore: !PYDANTIC,
  async fn() {
    const peer = fileURLToPath(new URL("./_pydantic_schema_peer.py", import.meta.url));
    const out = await new Deno.Command("python3", { args: [peer] }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const python = new TextDecoder().decode(out.stdout);
    await using ws = await rpcWorkspace();
    await using box = new SyftEvents("models", { workspace: ws.workspace });
    register(box);
    await box.start();
    const ours = await Deno.readTextFile(join(box.rpcDir, "rpc.schema.json"));
    assert.equal(ours, python);
  },
});

Deno.test("endpointSchema() names the argument and model; no input is no argument", () => {
  const input = z.object({ a: z.number(), b: z.int().optional() });
  assert.deepEqual(endpointSchema("/add", { input, arg: "request", model: "AddRequest" }), {
    description: null,
    args: {
      request: {
        type: {
          type: "model",
          name: "AddRequest",
          schema: {
            properties: {
              a: { title: "A", type: "number" },
              b: { default: null, title: "B", type: "integer" },
            },
            required: ["a"],
            title: "AddRequest",
            type: "object",
          },
        },
        required: true,
      },
    },
    returns: "any",
  });
  // Defaults: the argument is "body", the model is named by its meta, else after the endpoint.
  const named = endpointSchema("/add", { input: input.meta({ title: "Sum" }).optional() });
  assert.deepEqual(Object.keys(named.args), ["body"]);
  assert.equal(named.args.body!.required, false);
  assert.equal((named.args.body!.type as { name: string }).name, "Sum");
  const unnamed = endpointSchema("/user_code/create", { input, output: input });
  assert.equal((unnamed.args.body!.type as { name: string }).name, "UserCodeCreateRequest");
  assert.equal((unnamed.returns as { name: string }).name, "UserCodeCreateResponse");
  assert.deepEqual(endpointSchema("/ping", {}).args, {});
  assert.deepEqual(endpointSchema("/text", { input: z.string(), arg: "text" }).args, {
    text: { type: "str", required: true },
  });
  // An integer has no ±2^53 bounds; nullable is anyOf.
  assert.deepEqual(
    (describeType(z.object({ n: z.int().nullable() })) as { schema: unknown }).schema,
    {
      properties: { n: { anyOf: [{ type: "integer" }, { type: "null" }], title: "N" } },
      required: ["n"],
      title: "Model",
      type: "object",
    },
  );
});

Deno.test("pythonJson() writes what json.dumps(indent=2) writes; pythonTitle() is str.title()", () => {
  assert.equal(
    pythonJson({ s: 'héllo 😀\u007f\n"', n: [1, 0.5, 1e-5, 1.5e-7, 1e21, -2], e: {}, l: [] }),
    '{\n  "s": "h\\u00e9llo \\ud83d\\ude00\\u007f\\n\\"",\n  "n": [\n    1,\n    0.5,\n' +
      '    1e-05,\n    1.5e-07,\n    1000000000000000000000,\n    -2\n  ],\n  "e": {},\n  "l": []\n}',
  );
  assert.equal(pythonTitle("user_id"), "User Id");
  assert.equal(pythonTitle("userName"), "Username");
  assert.equal(pythonTitle("tags2"), "Tags2");
  assert.equal(pythonTitle("a1b_c"), "A1B C");
  assert.equal(pythonTitle("_private"), "Private");
  assert.equal(pythonTitle("éte_x"), "Éte X");
  assert.equal(pythonTitle("ßa"), "Ssa");
});

Deno.test("RPC_PERMISSIONS_YAML starts with the blank line syft-event writes", () => {
  assert.match(RPC_PERMISSIONS_YAML, /^\nrules:\n- pattern: rpc.schema.json\n/);
  assert.ok(RPC_PERMISSIONS_YAML.endsWith("    - 'USER'\n"));
});
