// deno-lint-ignore-file no-console
/**
 * Everything the `syft` command prints goes through here: results to stdout, messages to stderr.
 *
 * @module
 */

/** Prints a line of human-readable output to stdout. */
export function print(line: string): void {
  console.log(line);
}

/** Prints a value as one line of JSON to stdout (JSON lines for streams). */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value));
}

/** Prints a line to stderr. */
export function printErr(line: string): void {
  console.error(line);
}

/** Prints `value` as JSON when `json` is set, else the lines `human()` returns. */
export function printResult(json: boolean, value: unknown, human: () => string[]): void {
  if (json) printJson(value);
  else for (const line of human()) print(line);
}
