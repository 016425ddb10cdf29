/** The committed page bundle is what `deno task build:dashboard` makes from the client sources. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

Deno.test("servers/dashboard/static/bundle.ts matches servers/dashboard/client/ (run deno task build:dashboard)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--unstable-raw-imports",
      "-P=bench",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}servers/dashboard/build.ts`,
      "--check",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text);
  assert.match(text, /up to date/);
});
