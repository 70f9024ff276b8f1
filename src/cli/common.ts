// What every `vmdev` subcommand shares: the exit-code table, the error that
// carries one, the size parser behind --ram, flag-named file reads, and the
// JSON envelope.
import { readFileSync } from "node:fs";
import { MAX_RAM_BYTES, parseSize } from "../config/schema.js";

/** The exit codes of every subcommand (docs/cli.md has the same table; a test pins one against the other). */
export const EXIT = {
  /** Done; any check the command makes passed. */
  ok: 0,
  /** A runtime failure: the machine, the transport or the file system failed while the command ran. */
  failure: 1,
  /** A usage or config error: a bad flag, value, config key or input file, found before anything ran. */
  usage: 2,
  /** Ran to the end, but what it checks did not hold (migration digest, frames lost, RAM changed under the lock, a blob restore would refuse). */
  verifyFailed: 3,
  /** Interrupted by SIGINT (Ctrl-C). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The table as `vmdev --help` prints it. */
export const EXIT_CODE_HELP = [
  "Exit codes:",
  `  ${EXIT.ok}    ok`,
  `  ${EXIT.failure}    runtime failure`,
  `  ${EXIT.usage}    usage or config error (the message names the flag or key)`,
  `  ${EXIT.verifyFailed}    verification failed`,
  `  ${EXIT.interrupted}  interrupted (SIGINT)`,
].join("\n");

/** An error the CLI reports as one line and exits with `exitCode`. */
export class CliError extends Error {
  /** `printed`: the message is already on stderr (commander's parse errors, --help, --version). */
  constructor(message: string, readonly exitCode: ExitCode, readonly printed = false) {
    super(message);
    this.name = "CliError";
  }
}

/** A usage or config error (exit 2). */
export const usage = (message: string): never => { throw new CliError(message, EXIT.usage); };

/** Version of every `--json` document's layout; bumped when a field is renamed or removed. */
export const JSON_SCHEMA_VERSION = 1;

/** Guest RAM limits a `--ram` value is checked against (the machine's memory.size bounds). */
export const RAM_MIN_BYTES = 64 * 1024;

/**
 * The one size parser of the CLI: `64M`, `1G`, `1GiB`, `512k`, `65536` (bytes).
 * Suffixes are binary (K = 2^10 …) with an optional `B` or `iB`. Errors name the flag.
 */
export function sizeOption(value: string, flag: string, min = RAM_MIN_BYTES, max = MAX_RAM_BYTES, multiple = 64 * 1024): number {
  const n = parseSize(value);
  if (!Number.isFinite(n)) usage(`${flag} ${value}: want a size like 64M, 1G, 1GiB or a number of bytes`);
  if (n < min || n > max) usage(`${flag} ${value}: ${n} bytes is outside ${formatBytes(min)} to ${formatBytes(max)}${/^\s*\d+\s*$/.test(value) && n < min ? ` (a bare number is bytes: ${value}M is ${value} MiB)` : ""}`);
  if (n % multiple) usage(`${flag} ${value}: not a multiple of ${formatBytes(multiple)}`);
  return n;
}

/** `bytes` with the largest binary unit that divides it. */
export function formatBytes(bytes: number): string {
  for (const [u, s] of [[2 ** 40, "T"], [2 ** 30, "G"], [2 ** 20, "M"], [2 ** 10, "K"]] as const) if (bytes % u === 0 && bytes >= u) return `${bytes / u}${s}`;
  return `${bytes} bytes`;
}

/** A number from a flag's value, the flag named when it is not one in range. */
export function numberOption(value: string, flag: string, min: number, max: number, int = false): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) usage(`${flag} ${value}: want ${int ? "a whole number" : "a number"} from ${min} to ${max}`);
  return n;
}

/** Read the file a flag names; a missing or unreadable file is a usage error naming the flag and the path. */
export function readFileOption(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "is a directory" : err.message;
    return usage(`${flag} ${path}: ${why}`);
  }
}

/** A `--json` document: `schemaVersion` first, bigints as decimal strings. */
export function jsonDocument(body: Record<string, unknown>, space: number = 2): string {
  return JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...body }, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), space);
}
