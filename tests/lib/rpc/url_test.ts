import assert from "node:assert/strict";
import { isValidEmail, SyftBoxURL, SyftUrlError } from "../../../lib/rpc/mod.ts";

Deno.test("SyftBoxURL.parse() splits host, path and query as syft-core does", () => {
  const url = SyftBoxURL.parse(
    "syft://bob@example.com/app_data/pingpong/rpc/ping?x=1&y=a=b&flag&x=2",
  );
  assert.equal(url.host, "bob@example.com");
  assert.equal(url.datasite, "bob@example.com");
  assert.equal(url.path, "/app_data/pingpong/rpc/ping");
  // No percent-decoding, the last duplicate wins, parameters without "=" are dropped.
  assert.deepEqual(url.query, { x: "2", y: "a=b" });
  assert.equal(url.appName, "pingpong");
  assert.equal(url.endpoint, "ping");
  assert.equal(
    url.toString(),
    "syft://bob@example.com/app_data/pingpong/rpc/ping?x=1&y=a=b&flag&x=2",
  );
  assert.equal(
    JSON.stringify({ url }),
    '{"url":"syft://bob@example.com/app_data/pingpong/rpc/ping?x=1&y=a=b&flag&x=2"}',
  );
  assert.deepEqual(SyftBoxURL.parse("syft://admin@server.io").query, {});
  assert.equal(SyftBoxURL.parse("syft://admin@server.io").path, "");
  assert.equal(SyftBoxURL.parse("syft://a@b.io/app_data/x/y/rpc/user_code/create").appName, "x/y");
  assert.equal(
    SyftBoxURL.parse("syft://a@b.io/app_data/x/rpc/user_code/create").endpoint,
    "user_code/create",
  );
  assert.equal(SyftBoxURL.parse("syft://a@b.io/public/file.txt").appName, undefined);
});

Deno.test("SyftBoxURL.rpc() and fromPath() build URLs like make_url and from_path", () => {
  assert.equal(
    SyftBoxURL.rpc("bob@example.com", "echo", "//echo").href,
    "syft://bob@example.com/app_data/echo/rpc/echo",
  );
  assert.equal(
    SyftBoxURL.fromPath("/d/datasites/bob@x.io/app_data/a/rpc/b", "/d/datasites").href,
    "syft://bob@x.io/app_data/a/rpc/b",
  );
  assert.throws(() => SyftBoxURL.fromPath("/elsewhere/x", "/d/datasites"), SyftUrlError);
  assert.equal(
    SyftBoxURL.parse("syft://a@b.io/app_data/e/rpc").join("ping").href,
    "syft://a@b.io/app_data/e/rpc/ping",
  );
});

Deno.test("SyftBoxURL.toLocalPath() maps into the datasite and ignores the query", () => {
  const url = SyftBoxURL.parse("syft://bob@example.com/app_data/echo/rpc/echo/?q=1");
  assert.equal(
    url.toLocalPath("/data/datasites"),
    "/data/datasites/bob@example.com/app_data/echo/rpc/echo",
  );
  assert.equal(SyftBoxURL.parse("syft://bob@example.com").toLocalPath("/d"), "/d/bob@example.com");
  assert.equal(
    SyftBoxURL.parse("syft://bob@example.com/./a//b").toLocalPath("/d"),
    "/d/bob@example.com/a/b",
  );
});

Deno.test("SyftBoxURL refuses anything that would leave the datasites root", () => {
  const bad = [
    "syft://bob@example.com/../alice@example.com/x",
    "syft://bob@example.com/app_data/../../../etc/passwd",
    "syft://bob@example.com/a/..",
    "syft://bob@example.com/a/%2e%2e/%2E%2E/etc",
    "syft://bob@example.com/a/..%2fetc",
    "syft://bob@example.com/a/%2f/etc",
    "syft://bob@example.com/a/%5c..",
    "syft://bob@example.com/a\\..\\..\\x",
    "syft://bob@example.com/a/x\u0000y",
    "syft://bob@example.com/a/%00",
    "syft://bob@example.com/C:/Windows",
  ];
  for (const url of bad) {
    assert.throws(
      () => SyftBoxURL.parse(url),
      (err) => err instanceof SyftUrlError && err.url === url,
      url,
    );
    assert.equal(SyftBoxURL.canParse(url), false);
  }
});

Deno.test("SyftBoxURL refuses malformed URLs with a clear message", () => {
  for (
    const url of [
      "http://bob@example.com/x",
      "syft://bob@localhost/x",
      "syft://example.com/x",
      "syft://bob@example.com?x",
      "syft:/bob@example.com/x",
      "",
    ]
  ) {
    assert.throws(
      () => SyftBoxURL.parse(url),
      (err) => err instanceof SyftUrlError && /Invalid syft URL/.test(err.message),
      url,
    );
  }
  assert.throws(() => new SyftBoxURL(42 as unknown as string), /expected a string/);
});

Deno.test("isValidEmail() requires a dotted domain", () => {
  assert.equal(isValidEmail("a.b+c@x-y.example.org"), true);
  assert.equal(isValidEmail("bob@localhost"), false);
  assert.equal(isValidEmail("no-at.example.com"), false);
  assert.equal(isValidEmail("a/b@x.io"), false);
});
