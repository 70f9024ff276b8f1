// The `vmdev` command line. Each subcommand lives in src/cli/; what they share
// (exit codes, the size parser, the JSON envelope) in src/cli/common.ts.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "./cli/deps.js";
import { demoCommand } from "./cli/demo.js";
import { runCommand } from "./cli/run.js";
import { inspectCommand } from "./cli/inspect.js";
import { CliError, EXIT, EXIT_CODE_HELP } from "./cli/common.js";
import { ConfigError } from "./config/tree.js";

/** The package's version (package.json beside src/ and dist/). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

const EXAMPLES = `
Examples:
  vmdev demo --ram 64M                      the core at work: dirty tracking, harvest, a state envelope
  vmdev run -m 256M -c 2 -s 3,virtio-net    a machine with a virtio-net; freeze it, resume it, print stats
  vmdev run -f vm.conf --dump-config        the effective config, defaults included
  vmdev migrate --traffic                   live-migrate a VM with frames flowing (what npm start runs)
  vmdev inspect nic.state --json            decode a saved-state blob`;

/**
 * Run the CLI; resolves to the process exit code. Errors are thrown: a
 * CliError carries its exit code (see EXIT), a ConfigError is a usage error,
 * anything else is a runtime failure.
 */
export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("vmdev")
    .description("Virtual NIC and hypervisor device models in WebAssembly")
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.replace(/^error: /, "vmdev: ")) })
    .addHelpText("after", `${EXAMPLES}\n\n${EXIT_CODE_HELP}\n`);
  program.addCommand(demoCommand());
  program.addCommand(runCommand());
  program.addCommand(inspectCommand());
  program.addCommand((await import("./cli/migrate.js")).migrateCommand());
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, `vmdev ${c.name()}: `)) });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0; every parse error is a usage error.
      throw new CliError(err.message, err.exitCode === 0 ? EXIT.ok : EXIT.usage, true);
    }
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
}

/** The subcommand named in `argv` (for the prefix of error lines), or "" for none. */
function subcommandOf(argv: string[]): string {
  const known = ["demo", "run", "inspect", "migrate"];
  return argv.slice(2).find((a) => known.includes(a)) ?? "";
}

/**
 * The process around main: prints an error as one line `vmdev CMD: message`
 * and resolves to the exit code; a closed stdout (`vmdev run | head`) ends
 * the process quietly with 0; SIGINT ends it with 130 unless the command
 * handles SIGINT itself.
 */
export async function cli(argv: string[]): Promise<number> {
  const onPipeError = (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(EXIT.ok);
    throw e;
  };
  process.stdout.on("error", onPipeError);
  process.stderr.on("error", onPipeError);
  const onSigint = () => { if (process.listenerCount("SIGINT") === 1) process.exit(EXIT.interrupted); };
  process.on("SIGINT", onSigint);
  const prefix = `vmdev${subcommandOf(argv) ? ` ${subcommandOf(argv)}` : ""}`;
  try {
    return await main(argv);
  } catch (err) {
    if (!(err instanceof CliError && err.printed)) process.stderr.write(`${prefix}: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof CliError ? err.exitCode : EXIT.failure;
  } finally {
    process.off("SIGINT", onSigint);
  }
}
