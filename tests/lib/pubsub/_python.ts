/**
 * Runs the `python3` on PATH (standard library only) for expected bytes and peers.
 *
 * @module
 */

/** Runs `python3 -c code` with `input` on stdin and returns stdout (throws on failure). */
export async function python(code: string, input = ""): Promise<string> {
  const child = new Deno.Command("python3", {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`python3 failed (${out.code}): ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

/** Python's json.dumps and canonical form of each JSON text in `inputs` (parsed by json.loads). */
export async function pythonForms(
  inputs: readonly string[],
): Promise<{ dumps: string; canon: string }[]> {
  const out = await python(
    `import json, sys
for line in json.loads(sys.stdin.read()):
    v = json.loads(line)
    print(json.dumps({"dumps": json.dumps(v), "canon": json.dumps(v, indent=0, sort_keys=True, separators=(",", ":"))}))
`,
    JSON.stringify(inputs),
  );
  return out.trimEnd().split("\n").map((l) => JSON.parse(l));
}
