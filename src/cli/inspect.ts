// `vmdev inspect BLOB`: decode a saved-state envelope (any device's, or a v86
// machine blob with its devices nested) into a readable dump, or JSON.
import { Command } from "./deps.js";
import { stat } from "node:fs/promises";
import { defaultDecoders, formatInspection, inspectBlob, inspectionJson } from "../inspect/index.js";
import { CliError, EXIT, JSON_SCHEMA_VERSION, readFileOption, usage } from "./common.js";

/** Largest blob read (a machine blob carries v86's RAM image; 4 GiB guests are the limit). */
const MAX_BLOB_BYTES = 2 ** 32 + (64 << 20);

export function inspectCommand(): Command {
  return new Command("inspect")
    .description("decode a saved-state blob: header, fields by name, queues, APIC registers, filter tables")
    .argument("<blob>", "file holding a state envelope (a device's, or a v86 machine blob)")
    .option("--json", "print the dump as JSON (with schemaVersion)")
    .addHelpText("after", "\nExamples:\n  vmdev inspect nic.state\n  vmdev inspect machine.bin --json\n\nExit status 3 when the blob is one a restore would refuse.")
    .action(async (file: string, opts: { json?: boolean }) => {
      const size = await stat(file).then((s) => s.size, () => -1);
      if (size > MAX_BLOB_BYTES) usage(`<blob> ${file}: ${size} bytes is larger than any saved state (${MAX_BLOB_BYTES})`);
      const blob = new Uint8Array(readFileOption(file, "<blob>"));
      const dump = await inspectBlob(blob, { decoders: defaultDecoders() });
      process.stdout.write((opts.json ? inspectionJson({ schemaVersion: JSON_SCHEMA_VERSION, ...dump } as typeof dump) : formatInspection(dump)) + "\n");
      // A blob the restore path would refuse is worth a non-zero status to a script.
      if (dump.errors.length || dump.decodeError) throw new CliError(`${file}: ${dump.decodeError ?? dump.errors[0]}${dump.errors.length > 1 ? ` (and ${dump.errors.length - 1} more)` : ""}`, EXIT.verifyFailed);
    });
}
