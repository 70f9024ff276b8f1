// A v86 machine saved in one blob: v86's own state and each device's state,
// sealed in the state envelope every device uses (src/state.ts, kind
// HostKind.v86Machine), so a truncated, corrupted or foreign blob is refused
// by its checksums and lengths before anything is touched.
//
// Payload fields (tag-length-value, assembly/core/state.ts):
//   V86     v86's save_state() bytes (v86's own format), exactly once
//   DEVICE  once per device, itself fields: NAME (UTF-8, 1..256 bytes),
//           IRQ (u32 0 or 1: the adapter's INTx line), STATE (the device's envelope)
// Unknown tags are skipped, as in every envelope.

import type { DeviceModel } from "../../device.js";
import { HostKind, decodeFields, encodeFields, openEnvelope, sealEnvelope, type EnvelopeField, type OpenedEnvelope } from "../../state.js";
import { Status } from "../../status.js";
import type { V86PciAdapter } from "./pci-adapter.js";
import type { V86Emulator } from "./types.js";

/** Payload version of machine blobs (and of a migration's v86 state, which has the same fields). */
export const MACHINE_VERSION = 1;
const MAX_DEVICES = 64;
const MAX_NAME = 256;
const Tag = { V86: 1, DEVICE: 2 } as const;
const DeviceTag = { NAME: 1, IRQ: 2, STATE: 3 } as const;

/** A device saved with the machine, and the adapter that connects it. */
export interface V86MachineDevice {
  /** The device; `quiesce`/`resume` (a NIC that gives back fetched buffers has them) are called around the save when present. */
  device: DeviceModel & { quiesce?(): void; resume?(): void };
  adapter?: V86PciAdapter;
}

/** A machine blob's contents (views into the blob). */
export interface DecodedMachine { v86: Uint8Array; devices: Array<{ name: string; irq: number; state: Uint8Array }> }

const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };

/**
 * Save v86's state and the devices' states in one blob. Stops the emulator for
 * the duration (and resumes it if it was running) so both halves are from the
 * same instant.
 */
export async function saveV86Machine(emulator: V86Emulator, devices: V86MachineDevice[]): Promise<Uint8Array> {
  const running = emulator.is_running?.() ?? false;
  if (running) await emulator.stop?.();
  // Give back descriptors fetched but not used, so the saved rings show them to the guest again.
  for (const d of devices) d.device.quiesce?.();
  try {
    const v86State = new Uint8Array(await emulator.save_state());
    return await sealEnvelope({ kind: HostKind.v86Machine, payloadVersion: MACHINE_VERSION }, machineFields(v86State, devices));
  } finally {
    for (const d of devices) d.device.resume?.();
    if (running) await emulator.run?.();
  }
}

/** The payload fields of a machine blob: each device's state (saved now) and v86's state bytes. */
export function machineFields(v86State: Uint8Array, devices: readonly V86MachineDevice[]): EnvelopeField[] {
  const enc = new TextEncoder();
  const fields: EnvelopeField[] = devices.map((d) => ({
    tag: Tag.DEVICE,
    value: encodeFields([
      { tag: DeviceTag.NAME, value: enc.encode(d.device.name) },
      { tag: DeviceTag.IRQ, value: u32(d.adapter?.irqLevel ? 1 : 0) },
      { tag: DeviceTag.STATE, value: d.device.saveState() },
    ]),
  }));
  fields.push({ tag: Tag.V86, value: v86State });
  return fields;
}

/**
 * Restore a blob from `saveV86Machine`. The blob is validated first. v86's
 * state goes first (devices may look at guest RAM — their rings — when they
 * restore), then the devices. If v86 or any device refuses, v86 and the devices
 * are put back as they were. Returns a Status; never throws for a bad blob.
 */
export async function restoreV86Machine(emulator: V86Emulator, blob: Uint8Array, devices: V86MachineDevice[]): Promise<number> {
  const parsed = await decodeMachine(blob);
  if (typeof parsed === "number") return parsed;
  const byName = new Map(parsed.devices.map((d) => [d.name, d]));
  if (byName.size !== parsed.devices.length || byName.size !== devices.length) return Status.ERR_STATE_INVALID;
  for (const d of devices) if (!byName.has(d.device.name)) return Status.ERR_STATE_INVALID;
  const running = emulator.is_running?.() ?? false;
  if (running) await emulator.stop?.();
  try {
    const deviceBackups = devices.map((d) => d.device.saveState());
    const v86Backup = await emulator.save_state();
    const rollback = async (restoredDevices: number) => {
      // A restored device stays quiesced until resumed.
      for (let i = 0; i < restoredDevices; i++) { devices[i].device.restoreState(deviceBackups[i]); devices[i].device.resume?.(); }
      await emulator.restore_state(v86Backup);
    };
    const v = parsed.v86;
    try {
      await emulator.restore_state(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer);
    } catch {
      await rollback(0);
      return Status.ERR_STATE_INVALID;
    }
    for (let i = 0; i < devices.length; i++) {
      const st = devices[i].device.restoreState(byName.get(devices[i].device.name)!.state);
      if (st !== Status.OK) { await rollback(i); return st; }
    }
    for (const d of devices) d.adapter?.restoreLevel(byName.get(d.device.name)!.irq === 1);
    // A restored NIC processes no queue until resumed: look at every one once (kicks lost with the saved machine).
    for (const d of devices) d.device.resume?.();
    return Status.OK;
  } finally {
    if (running) await emulator.run?.();
  }
}

/** Open and parse a machine blob (untrusted); a Status number when it is malformed. */
export async function decodeMachine(blob: Uint8Array): Promise<DecodedMachine | number> {
  const opened = await openEnvelope(blob, HostKind.v86Machine);
  if (typeof opened === "number") return opened;
  return decodeMachineFields(opened);
}

/** The fields of an opened machine envelope (any kind that carries them), validated; a Status number when malformed. */
export function decodeMachineFields(opened: OpenedEnvelope): DecodedMachine | number {
  if (opened.header.payloadVersion !== MACHINE_VERSION) return Status.ERR_STATE_VERSION;
  const dec = new TextDecoder("utf-8", { fatal: true });
  let v86: Uint8Array | null = null;
  const devices: DecodedMachine["devices"] = [];
  for (const f of opened.fields) {
    if (f.tag === Tag.V86) {
      if (v86) return Status.ERR_STATE_INVALID;
      v86 = f.value;
    } else if (f.tag === Tag.DEVICE) {
      if (devices.length === MAX_DEVICES) return Status.ERR_STATE_INVALID;
      const d = decodeDevice(f.value, dec);
      if (typeof d === "number") return d;
      devices.push(d);
    }
  }
  if (!v86) return Status.ERR_STATE_INVALID;
  return { v86, devices };
}

function decodeDevice(value: Uint8Array, dec: TextDecoder): DecodedMachine["devices"][number] | number {
  const fields = decodeFields(value);
  if (typeof fields === "number") return fields;
  const one = (tag: number): Uint8Array | null | undefined => {
    const found = fields.filter((f) => f.tag === tag);
    return found.length === 1 ? found[0].value : found.length === 0 ? undefined : null;
  };
  const nameBytes = one(DeviceTag.NAME), irqBytes = one(DeviceTag.IRQ), state = one(DeviceTag.STATE);
  if (!nameBytes || !irqBytes || !state) return Status.ERR_STATE_INVALID;
  if (nameBytes.length === 0 || nameBytes.length > MAX_NAME || irqBytes.length !== 4) return Status.ERR_STATE_INVALID;
  let name: string;
  try { name = dec.decode(nameBytes); } catch { return Status.ERR_STATE_INVALID; }
  const irq = new DataView(irqBytes.buffer, irqBytes.byteOffset, 4).getUint32(0, true);
  if (irq > 1) return Status.ERR_STATE_INVALID;
  return { name, irq, state };
}
