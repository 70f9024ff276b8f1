// `vmdev inspect BLOB`: decode a saved-state envelope (any device's, or a v86
// machine blob with its devices nested) into a readable dump, or JSON.
import { Command } from "commander";
import { readFile, stat } from "node:fs/promises";
import { defaultDecoders, formatInspection, inspectBlob, inspectionJson } from "../inspect/index.js";

/** Largest blob read (a machine blob carries v86's RAM image; 4 GiB guests are the limit). */
const MAX_BLOB_BYTES = 2 ** 32 + (64 << 20);

export function inspectCommand(): Command {
  return new Command("inspect")
    .description("decode a saved-state blob: header, fields by name, queues, APIC registers, filter tables")
    .argument("<blob>", "file holding a state envelope (a device's, or a v86 machine blob)")
    .option("--json", "print the dump as JSON")
    .action(async (file: string, opts: { json?: boolean }) => {
      const size = (await stat(file)).size;
      if (size > MAX_BLOB_BYTES) throw new Error(`${file}: ${size} bytes is larger than any saved state (${MAX_BLOB_BYTES})`);
      const blob = new Uint8Array(await readFile(file));
      const dump = await inspectBlob(blob, { decoders: defaultDecoders() });
      process.stdout.write((opts.json ? inspectionJson(dump) : formatInspection(dump)) + "\n");
      // A blob the restore path would refuse is worth a non-zero status to a script.
      if (dump.errors.length || dump.decodeError) process.exitCode = 1;
    });
}
