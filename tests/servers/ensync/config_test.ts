import assert from "node:assert/strict";
import {
  addEnSyncApp,
  AppRegistry,
  EnSyncConfigError,
  loadEnSyncConfig,
  parseEnSyncConfig,
} from "../../../servers/ensync/mod.ts";
import { tempWorkspace } from "../../_helpers/workspace.ts";
import { testApp } from "./_helpers.ts";

const ID = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

Deno.test("parseEnSyncConfig() reads apps and defaults", () => {
  const config = parseEnSyncConfig(
    `apps:\n  - name: shop\n    access_key: shop-key-1\n    app_id: ${ID}\n    send: ["orders/*"]\n`,
    "inline",
  );
  assert.deepEqual(config, {
    grpcStreams: "auto",
    apps: [{ name: "shop", accessKey: "shop-key-1", appId: ID, send: ["orders/*"], receive: [] }],
  });
  assert.deepEqual(parseEnSyncConfig("", "empty"), { apps: [], grpcStreams: "auto" });
});

Deno.test("parseEnSyncConfig() names the file and field that is wrong", () => {
  const cases: [string, RegExp][] = [
    ["apps: [oops", /Cannot parse EnSync config "x.yaml"/],
    ["apps: 3", /apps: /],
    [`apps:\n  - name: s\n    access_key: short\n    app_id: ${ID}`, /apps\.0\.access_key/],
    [
      `apps:\n  - name: s\n    access_key: long-enough-key\n    app_id: abc`,
      /apps\.0\.app_id: expected the standard base64/,
    ],
    [
      `apps:\n  - name: "bad name"\n    access_key: long-enough-key\n    app_id: ${ID}`,
      /apps\.0\.name/,
    ],
    [`grpc_streams: sometimes`, /grpc_streams/],
    [`unknown: 1`, /unrecognized|unknown/i],
    [
      `apps:\n  - {name: a, access_key: key-aaaaaa, app_id: "${ID}"}\n  - {name: b, access_key: key-aaaaaa, app_id: "${ID}"}`,
      /duplicate accessKey of app "b"/,
    ],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseEnSyncConfig(text, "x.yaml"), (err: unknown) => {
      assert.ok(err instanceof EnSyncConfigError);
      assert.match(err.message, re);
      return true;
    });
  }
});

Deno.test("addEnSyncApp() creates the file, then appends and keeps comments", async () => {
  await using ws = await tempWorkspace();
  const path = `${ws.path}/conf/ensync.yaml`;
  const a = testApp("a");
  const b = testApp("b", ["x/*"], ["y/**"]);
  await addEnSyncApp(path, a);
  await Deno.writeTextFile(path, "# my own note\n" + await Deno.readTextFile(path));
  const after = await addEnSyncApp(path, b);
  assert.deepEqual(after.apps.map((x) => x.name), ["a", "b"]);
  const text = await Deno.readTextFile(path);
  assert.match(text, /# my own note/);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  const loaded = await loadEnSyncConfig(path);
  assert.deepEqual(loaded.apps[1], {
    name: "b",
    accessKey: b.accessKey,
    appId: b.appId,
    send: ["x/*"],
    receive: ["y/**"],
  });
  await assert.rejects(() => addEnSyncApp(path, a), /duplicate name "a"/);
  await assert.rejects(() => loadEnSyncConfig(`${ws.path}/missing.yaml`), EnSyncConfigError);
});

Deno.test("AppRegistry checks send and receive patterns like the client's wildcard rules", () => {
  const app = testApp("a", ["orders/*", "audit/**"], ["*"]);
  const narrow = testApp("n", [], ["orders/**"]);
  const r = new AppRegistry({ apps: [app, narrow], grpcStreams: "auto" });
  assert.equal(r.byAccessKey(app.accessKey)?.name, "a");
  assert.equal(r.byAppId(narrow.appId)?.name, "n");
  assert.equal(r.canSend(app, "orders/created"), true);
  assert.equal(r.canSend(app, "orders/a/b"), false);
  assert.equal(r.canSend(app, "audit/a/b"), true);
  assert.equal(r.canSend(app, "billing/x"), false);
  assert.equal(r.canReceive(app, "any/thing/at/all"), true);
  assert.equal(r.canReceive(narrow, "orders/*"), true);
  assert.equal(r.canReceive(narrow, "orders/eu/x"), true);
  assert.equal(r.canReceive(narrow, "*"), false);
  assert.equal(r.canReceive(narrow, "billing/x"), false);
});
