// The `vmdev` command line. Each subcommand lives in src/cli/.
import { Command, CommanderError } from "commander";
import { demoCommand } from "./cli/demo.js";
import { runCommand } from "./cli/run.js";
import { inspectCommand } from "./cli/inspect.js";

/** Run the CLI; resolves to the process exit code. Errors are one clear line. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("vmdev")
    .description("Virtual NIC and hypervisor device models in WebAssembly")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.addCommand(demoCommand());
  program.addCommand(runCommand());
  program.addCommand(inspectCommand());
  program.addCommand((await import("./cli/migrate.js")).migrateCommand());
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
}
