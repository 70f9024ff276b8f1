// `vmdev inspect BLOB`: decode a saved-state envelope (any device's, or a v86
// machine blob with its devices nested) into a readable dump, or JSON.
// `vmdev inspect --control PATH DEVICE`: the same dump of a device of a
// running `vmdev run` / `vmdev migrate`, asked over its control channel
// (src/control/); with `--trace MS` its events instead, as they happen.
import { Command } from "./deps.js";
import { stat } from "node:fs/promises";
import { defaultDecoders, formatInspection, inspectBlob, inspectionJson, type InspectedEnvelope } from "../inspect/index.js";
import { controlRequest } from "../control/client.js";
import { CliError, EXIT, JSON_SCHEMA_VERSION, readFileOption, usage } from "./common.js";

/** Largest blob read (a machine blob carries v86's RAM image; 4 GiB guests are the limit). */
const MAX_BLOB_BYTES = 2 ** 32 + (64 << 20);

interface InspectOpts { json?: boolean; control?: string; trace?: string; count?: string; events?: string; status?: boolean; counters?: boolean }

const number = (v: string, flag: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) usage(`${flag} ${v}: want a whole number ≥ 0`);
  return n;
};

export function inspectCommand(): Command {
  return new Command("inspect")
    .description("decode a saved-state blob (header, fields by name, queues, APIC registers, filter tables), or with --control a running VM's device")
    .argument("[target]", "file holding a state envelope (a device's, or a v86 machine blob); with --control, a device name (virtio-net0, lapic0, pci.0.3.0)")
    .option("--json", "print the dump as JSON (with schemaVersion)")
    .option("--control <path>", "ask the running vmdev run / vmdev migrate listening on this control socket")
    .option("--trace <ms>", "with --control: print the device's events for this long (one JSON line each), instead of its dump")
    .option("--count <n>", "with --trace: stop after this many events")
    .option("--events <types>", "with --trace: only these event types (comma-separated: transmit,receive,interrupt,filterchange,reset,link; migration: phase,round,progress)")
    .option("--status", "with --control: print the command's status")
    .option("--counters", "with --control: print every device's counters")
    .addHelpText("after", "\nExamples:\n  vmdev inspect nic.state\n  vmdev inspect machine.bin --json\n  vmdev inspect --control /tmp/vm.sock virtio-net0\n  vmdev inspect --control /tmp/vm.sock --trace 2000 --events transmit virtio-net0\n\nExit status 3 when the blob is one a restore would refuse.")
    .action(async (target: string | undefined, opts: InspectOpts) => {
      if (opts.control !== undefined) return live(opts.control, target, opts);
      for (const flag of ["trace", "count", "events", "status", "counters"] as const) if (opts[flag] !== undefined) usage(`--${flag} needs --control`);
      if (target === undefined) usage("inspect: give a blob file (or --control PATH DEVICE)");
      const file = target!;
      const size = await stat(file).then((s) => s.size, () => -1);
      if (size > MAX_BLOB_BYTES) usage(`<blob> ${file}: ${size} bytes is larger than any saved state (${MAX_BLOB_BYTES})`);
      const blob = new Uint8Array(readFileOption(file, "<blob>"));
      const dump = await inspectBlob(blob, { decoders: defaultDecoders() });
      process.stdout.write((opts.json ? inspectionJson({ schemaVersion: JSON_SCHEMA_VERSION, ...dump } as typeof dump) : formatInspection(dump)) + "\n");
      // A blob the restore path would refuse is worth a non-zero status to a script.
      if (dump.errors.length || dump.decodeError) throw new CliError(`${file}: ${dump.decodeError ?? dump.errors[0]}${dump.errors.length > 1 ? ` (and ${dump.errors.length - 1} more)` : ""}`, EXIT.verifyFailed);
    });
}

async function live(path: string, device: string | undefined, opts: InspectOpts): Promise<void> {
  const print = (v: unknown) => process.stdout.write(JSON.stringify(v, null, opts.json ? 1 : 2) + "\n");
  if (opts.status || opts.counters) {
    const a = await controlRequest(path, { cmd: opts.status ? "status" : "counters" });
    if (!a.ok) throw new CliError(a.error ?? "refused", EXIT.failure);
    print(a.result);
    return;
  }
  if (device === undefined) usage("inspect --control: name a device (or give --status / --counters)");
  if (opts.trace !== undefined) {
    const req: Record<string, unknown> = { cmd: "trace", device, ms: number(opts.trace, "--trace") };
    if (opts.count !== undefined) req.count = number(opts.count, "--count");
    if (opts.events !== undefined) req.events = opts.events.split(",").map((s) => s.trim()).filter(Boolean);
    const a = await controlRequest(path, req, (ev) => process.stdout.write(JSON.stringify(ev) + "\n"));
    if (!a.ok) throw new CliError(a.error ?? "refused", EXIT.failure);
    process.stderr.write(`trace ${device}: ${JSON.stringify(a.result)}\n`);
    return;
  }
  const a = await controlRequest(path, { cmd: "inspect", device });
  if (!a.ok) throw new CliError(a.error ?? "refused", EXIT.failure);
  const dump = a.result as { name: string; kind: number; state: InspectedEnvelope };
  process.stdout.write((opts.json ? inspectionJson(dump.state) : `device ${dump.name}:\n${formatInspection(dump.state, "  ")}`) + "\n");
}
