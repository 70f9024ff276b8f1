// Live migration of a running v86 machine with its vmdev NICs
// (docs/v86.md, "Live migration").
//
// Dirty pages. v86's CPU writes its RAM (a region of v86's wasm memory) with
// no dirty log vmdev can read, so the source keeps a RamMirror
// (src/migration/ram-mirror.ts): a vmdev core of the same size whose RAM is
// the copy the migration sends, and whose sync before every harvest
// (MigrationSource.syncDirty) finds the pages v86 changed. The NICs' own
// writes land in v86's RAM too and are found the same way.
//
// The freeze is v86 stopped (`emulator.stop()`: no instruction runs, v86's
// timers run only inside its main loop) with every NIC's receive side held
// (frames from the network bus wait in the link and are lost with the
// source), after the frames already queued went into the NICs.
//
// v86's own state travels without its RAM: under the freeze v86's
// `save_state` runs with `cpu.pack_memory` answering "no page", and on the
// destination `restore_state` runs with `cpu.unpack_memory` doing nothing,
// so v86 neither packs RAM the pages already carried nor zeroes RAM the pages
// filled. That state (its zero runs squeezed out: packZeroRuns) and each NIC's (with its INTx level) are one
// MigratableDevice of kind HostKind.v86State, the fields of a machine blob
// (machine-state.ts).
//
// Throttle: v86 has no way to slow its CPU short of stopping it, so the
// source does not throttle (`setThrottle` is a no-op and `throttles` is
// false): run the migration with autoConverge off.

import { PAGE_SIZE, VmCore } from "../../vm-core.js";
import type { WasmVariant } from "../../wasm.js";
import { HostKind } from "../../state.js";
import { Status } from "../../status.js";
import { hostOpen, hostSeal } from "../../platform/pci/seal.js";
import type { DestinationFactory, IncomingVm, MigratableDevice, MigrationDestination, MigrationSource } from "../../migration/types.js";
import { RamMirror, copyGuestRamOut, type MirrorSync } from "../../migration/ram-mirror.js";
import { MACHINE_VERSION, decodeMachineFields, machineFields, type V86MachineDevice } from "./machine-state.js";
import type { V86Nic } from "./attach.js";
import type { V86Emulator } from "./types.js";

/** The name of the v86 state device in a migration (HELLO, DEVICE). */
export const V86_STATE_DEVICE = "v86";

/** Largest v86 state (without RAM) a destination takes: VGA memory, disk write caches and the devices fit well within. */
export const MAX_V86_STATE_BYTES = 64 << 20;

/** v86 save format (v86 src/state.js): magic, version. */
const V86_STATE_MAGIC = 0x86768676 | 0;
const V86_STATE_VERSION = 6;

interface V86Internals {
  save_state(): ArrayBuffer;
  restore_state(state: ArrayBuffer): void;
  cpu: {
    memory_size: ArrayLike<number>;
    mem8: Uint8Array;
    wasm_memory: WebAssembly.Memory;
    pack_memory(): unknown;
    unpack_memory(bitmap: unknown, packed: unknown): void;
    jit_clear_cache?(): void;
  };
}

/** The v86 internals a migration uses, or an error naming what is missing (checked before anything runs). */
function internals(emulator: V86Emulator): V86Internals {
  const v = emulator.v86 as unknown as Partial<V86Internals> | undefined;
  const cpu = v?.cpu as Partial<V86Internals["cpu"]> | undefined;
  const checks: Array<[unknown, string]> = [
    [v && typeof v.save_state === "function" && typeof v.restore_state === "function", "v86.save_state/restore_state"],
    [cpu && typeof cpu.pack_memory === "function" && typeof cpu.unpack_memory === "function", "v86.cpu.pack_memory/unpack_memory"],
    [cpu && cpu.wasm_memory instanceof WebAssembly.Memory && cpu.mem8 && (cpu.memory_size?.[0] ?? 0) > 0, "v86.cpu RAM (is the emulator ready?)"],
    [typeof emulator.stop === "function" && typeof emulator.run === "function", "stop/run"],
  ];
  for (const [ok, what] of checks) {
    if (!ok) throw new Error(`v86 migration: this emulator has no ${what}; vmdev's v86 adapter supports v86 ^0.5.462`);
  }
  return v as V86Internals;
}

/** v86's RAM as a view (rebuilt when v86's memory grows). */
function ramView(v: V86Internals): Uint8Array {
  const cpu = v.cpu;
  return new Uint8Array(cpu.wasm_memory.buffer, cpu.mem8.byteOffset, cpu.memory_size[0] >>> 0);
}

/** v86's state with no RAM packed in (cpu.pack_memory answers "no page" for this one call). */
function saveWithoutRam(v: V86Internals): Uint8Array {
  const cpu = v.cpu;
  const own = Object.prototype.hasOwnProperty.call(cpu, "pack_memory") ? cpu.pack_memory : null;
  cpu.pack_memory = () => ({ bitmap: { get_buffer: () => new ArrayBuffer(0) }, packed_memory: new Uint8Array(0) });
  try {
    return new Uint8Array(v.save_state());
  } finally {
    if (own) cpu.pack_memory = own; else delete (cpu as { pack_memory?: unknown }).pack_memory;
  }
}

/** Restore v86's state leaving its RAM alone (cpu.unpack_memory does nothing for this one call). Throws what v86 throws. */
function restoreWithoutRam(v: V86Internals, state: Uint8Array): void {
  const cpu = v.cpu;
  const own = Object.prototype.hasOwnProperty.call(cpu, "unpack_memory") ? cpu.unpack_memory : null;
  cpu.unpack_memory = () => {};
  try {
    v.restore_state(state.buffer.slice(state.byteOffset, state.byteOffset + state.byteLength) as ArrayBuffer);
  } finally {
    if (own) cpu.unpack_memory = own; else delete (cpu as { unpack_memory?: unknown }).unpack_memory;
  }
}

/**
 * Zero runs of v86's state squeezed out: the state carries v86's VGA memory
 * (2 MiB and more), its disk buffers and other arrays that are mostly zero,
 * and a migration's device state must fit one DEVICE payload. Layout: u32
 * total length, then records (u32 literal length, the bytes, u32 zero
 * bytes) until the total is reached. Zero runs shorter than 64 bytes stay literal.
 */
export function packZeroRuns(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length + 8 + 8 * Math.ceil(src.length / 64));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, src.length, true);
  let o = 4, litStart = 0, i = 0;
  const n = src.length;
  while (i < n) {
    if (src[i] !== 0) { i++; continue; }
    let j = i;
    while (j < n && src[j] === 0) j++;
    if (j - i >= 64 || j === n) {
      dv.setUint32(o, i - litStart, true); out.set(src.subarray(litStart, i), o + 4); o += 4 + (i - litStart);
      dv.setUint32(o, j - i, true); o += 4;
      litStart = j;
    }
    i = j;
  }
  if (litStart < n) { dv.setUint32(o, n - litStart, true); out.set(src.subarray(litStart, n), o + 4); o += 4 + (n - litStart); dv.setUint32(o, 0, true); o += 4; }
  return out.slice(0, o);
}

/** Undo packZeroRuns on untrusted bytes: null when malformed or longer than `max`. */
export function unpackZeroRuns(enc: Uint8Array, max: number): Uint8Array | null {
  if (enc.length < 4) return null;
  const dv = new DataView(enc.buffer, enc.byteOffset, enc.byteLength);
  const total = dv.getUint32(0, true);
  if (total > max) return null;
  const out = new Uint8Array(total);
  let o = 0, i = 4;
  // Bounded: each record consumes at least 8 input bytes.
  while (o < total) {
    if (i + 4 > enc.length) return null;
    const lit = dv.getUint32(i, true); i += 4;
    if (lit > total - o || lit > enc.length - i - 4) return null;
    out.set(enc.subarray(i, i + lit), o); o += lit; i += lit;
    const zeros = dv.getUint32(i, true); i += 4;
    if (zeros > total - o) return null;
    o += zeros;
  }
  return i === enc.length ? out : null;
}

/**
 * Check an untrusted v86 state before v86 sees it: v86's own restore only
 * warns on a RAM size that differs (and then addresses memory it does not
 * have), and reads lengths from the blob. Its header (magic, version, total
 * length, info length), its info block (JSON), and the CPU's RAM size.
 */
function v86StateOk(state: Uint8Array, ramBytes: number): boolean {
  if (state.length < 16 || state.length > MAX_V86_STATE_BYTES) return false;
  const dv = new DataView(state.buffer, state.byteOffset, state.byteLength);
  if (dv.getInt32(0, true) !== V86_STATE_MAGIC || dv.getInt32(4, true) !== V86_STATE_VERSION) return false;
  if (dv.getInt32(8, true) !== state.length) return false;
  const infoLen = dv.getInt32(12, true);
  if (infoLen <= 0 || infoLen > state.length - 16) return false;
  let info: unknown;
  try { info = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(state.subarray(16, 16 + infoLen))); } catch { return false; }
  const { state: cpu, buffer_infos: buffers } = (info ?? {}) as { state?: unknown; buffer_infos?: unknown };
  if (!Array.isArray(cpu) || cpu[0] !== ramBytes || !Array.isArray(buffers)) return false;
  const base = (16 + infoLen + 3) & ~3;
  // Every buffer lies inside the blob (v86 slices them without looking).
  return buffers.every((b) => {
    const { offset, length } = (b ?? {}) as { offset?: unknown; length?: unknown };
    return Number.isInteger(offset) && Number.isInteger(length) && (offset as number) >= 0 && (length as number) >= 0 && base + (offset as number) + (length as number) <= state.length;
  });
}

/**
 * v86's state and its vmdev NICs' as one migratable device (see the top of
 * this file). On the source it saves under the freeze; on the destination
 * its restore (at the DEVICE message, the emulator not started) validates the
 * blob and restores v86 without RAM and every NIC, or leaves all as they
 * were and refuses.
 */
export class V86StateDevice implements MigratableDevice {
  readonly kind = HostKind.v86State;
  readonly name = V86_STATE_DEVICE;
  private readonly machineDevices: V86MachineDevice[];
  /** Source: frames the NICs' links held when it retired (lost with the migration). */
  private lost = 0;
  /** Destination: frames that reached this side before the source froze, dropped at restore (the source's guest took them). */
  discardedAtRestore = 0;

  constructor(private readonly v: V86Internals, readonly nics: readonly V86Nic[]) {
    this.machineDevices = nics.map((n) => ({ device: n.device, adapter: n.adapter }));
  }

  get ramBytes(): number { return this.v.cpu.memory_size[0] >>> 0; }

  quiesce(): void { for (const n of this.nics) n.device.quiesce?.(); }

  resume(): void { for (const n of this.nics) n.device.resume?.(); }

  saveState(): Uint8Array {
    return hostSeal(HostKind.v86State, MACHINE_VERSION, machineFields(packZeroRuns(saveWithoutRam(this.v)), this.machineDevices));
  }

  restoreState(blob: Uint8Array): number {
    const opened = hostOpen(blob, HostKind.v86State);
    if (typeof opened === "number") return opened;
    const parsed = decodeMachineFields(opened);
    if (typeof parsed === "number") return parsed;
    const byName = new Map(parsed.devices.map((d) => [d.name, d]));
    if (byName.size !== parsed.devices.length || byName.size !== this.nics.length) return Status.ERR_STATE_INVALID;
    for (const n of this.nics) if (!byName.has(n.device.name)) return Status.ERR_STATE_INVALID;
    const v86State = unpackZeroRuns(parsed.v86, MAX_V86_STATE_BYTES);
    if (!v86State || !v86StateOk(v86State, this.ramBytes)) return Status.ERR_STATE_INVALID;
    const v86Backup = saveWithoutRam(this.v);
    const nicBackups = this.nics.map((n) => n.device.saveState());
    const rollback = (restored: number): void => {
      for (let i = 0; i < restored; i++) this.nics[i].device.restoreState(nicBackups[i]);
      restoreWithoutRam(this.v, v86Backup);
    };
    try {
      restoreWithoutRam(this.v, v86State);
    } catch {
      rollback(0);
      return Status.ERR_STATE_INVALID;
    }
    if ((this.v.cpu.memory_size[0] >>> 0) !== this.ramBytes || this.ramView().length !== this.ramBytes) { rollback(0); return Status.ERR_STATE_INVALID; }
    for (let i = 0; i < this.nics.length; i++) {
      const st = this.nics[i].device.restoreState(byName.get(this.nics[i].device.name)!.state);
      if (st !== Status.OK) { rollback(i); return st; }
    }
    for (const n of this.nics) n.adapter.restoreLevel(byName.get(n.device.name)!.irq === 1);
    // Frames that reached this side before the source froze were the source's to take.
    for (const n of this.nics) this.discardedAtRestore += n.link.discardPending();
    return Status.OK;
  }

  /** Destination, once v86 runs: the NICs do the work they hold (a restored NIC processes nothing until resumed) and announce their new place. */
  announce(): void {
    for (const n of this.nics) {
      n.device.resume?.();
      (n.device as MigratableDevice).announce?.();
      n.holdRx(false);
    }
  }

  framesLost(): number { return this.lost; }

  /** @internal the source retires: what its links still hold is lost. */
  dropHeld(): void { for (const n of this.nics) this.lost += n.link.pendingFrames; }

  reset(): void { for (const n of this.nics) n.device.reset(); }

  /** @internal */
  ramView(): Uint8Array { return ramView(this.v); }
}

/** Options of {@link v86MigrationSource}. */
export interface V86SourceOptions {
  /** vmdev's compiled module (loadModule in Node), for the RAM mirror's core. */
  module: WebAssembly.Module;
  variant?: WasmVariant;
  /** Bytes of v86's RAM read per step of a mirror sync (default 1 MiB). */
  chunkBytes?: number;
}

/** A running v86 machine as a migration source. */
export interface V86Source extends MigrationSource {
  readonly mirror: RamMirror;
  readonly state: V86StateDevice;
  /** False: v86 cannot be throttled (see the top of this file); migrate with autoConverge off. */
  readonly throttles: false;
  /** Each mirror sync's figures (the first is the copy made at creation). */
  readonly syncs: readonly MirrorSync[];
  /** The source retired (the destination runs the guest): v86 stays stopped and the NICs are off the bus. */
  readonly retired: boolean;
}

/**
 * A v86 emulator (ready, running or not) with its vmdev NICs (attachToV86)
 * as a migration source. The mirror is filled here, while the guest runs;
 * what the guest writes afterwards is found by the syncs.
 */
export async function v86MigrationSource(emulator: V86Emulator, nics: readonly V86Nic[], opts: V86SourceOptions): Promise<V86Source> {
  const v = internals(emulator);
  const state = new V86StateDevice(v, nics);
  const ramBytes = state.ramBytes;
  let ram = ramView(v);
  const mirror = await RamMirror.create({
    module: opts.module, variant: opts.variant, ramBytes, chunkBytes: opts.chunkBytes,
    read: (gpa, dst) => {
      if (ram.buffer !== v.cpu.wasm_memory.buffer) ram = ramView(v);
      dst.set(ram.subarray(gpa, gpa + dst.length));
    },
    // JavaScript sees v86's memory: compare in place where Buffer exists (measured faster: bench v86-migrate).
    view: () => (ram.buffer === v.cpu.wasm_memory.buffer ? ram : (ram = ramView(v))),
  });
  mirror.sync();
  let frozen = false, retired = false;
  return {
    core: mirror.core,
    devices: [state],
    mirror,
    state,
    throttles: false,
    get syncs() { return mirror.syncs; },
    get retired() { return retired; },
    async writeLock() {
      await emulator.stop!();
      // Frames already queued go into the NICs (their writes are found by the final sync); later ones wait.
      for (const n of nics) { n.link.drain(); n.holdRx(true); }
      frozen = true;
      return () => {
        if (!frozen || retired) return;
        frozen = false;
        for (const n of nics) n.holdRx(false);
        void emulator.run!();
      };
    },
    setThrottle() { /* v86 has no throttle: see the top of this file */ },
    syncDirty() { mirror.sync(); },
    retire() {
      retired = true;
      state.dropHeld();
      // Nothing leaves the source any more: the NICs are off v86's bus (v86 stays stopped).
      for (const n of nics) n.detach();
    },
  };
}

/** Options of {@link v86DestinationFactory}. */
export interface V86DestinationOptions {
  module: WebAssembly.Module;
  variant?: WasmVariant;
  /** Called once the destination runs: how long copying the migrated RAM into v86 took. */
  onResumed?(info: { ramCopyMs: number }): void;
}

/** The destination VM: a core receiving the pages, and the v86 it resumes. */
export interface V86Destination extends MigrationDestination {
  readonly state: V86StateDevice;
  /** Milliseconds copying the received RAM into v86 took at resume (part of the downtime); -1 before. */
  ramCopyMs: number;
  /** Milliseconds touching v86's RAM pages when the VM was accepted (before any page arrived; outside the downtime). */
  readonly ramTouchMs: number;
}

/**
 * A DestinationFactory for a fresh v86 (ready, not started, the same images
 * and RAM size as the source) with the same vmdev NICs attached (same
 * names, models and MACs). Their receive side is held from now until the
 * guest runs here. Refuses a VM of another RAM size or other devices.
 */
export function v86DestinationFactory(emulator: V86Emulator, nics: readonly V86Nic[], opts: V86DestinationOptions): { factory: DestinationFactory; destination(): V86Destination | null } {
  const v = internals(emulator);
  if (emulator.is_running?.()) throw new Error("v86 migration: the destination emulator must not be running");
  const state = new V86StateDevice(v, nics);
  for (const n of nics) n.holdRx(true);
  let made: V86Destination | null = null;
  const factory = async (vm: IncomingVm): Promise<MigrationDestination> => {
    if (made) throw new Error("this destination already received a VM");
    if (vm.ramBytes !== state.ramBytes) throw new Error(`the source's RAM is ${vm.ramBytes} bytes, this v86 has ${state.ramBytes}`);
    if (vm.devices.length !== 1 || vm.devices[0].kind !== HostKind.v86State || vm.devices[0].name !== V86_STATE_DEVICE) {
      throw new Error(`the source announces devices ${JSON.stringify(vm.devices.map((d) => d.name))}, this v86 destination takes "${V86_STATE_DEVICE}" (v86 with its NICs)`);
    }
    const core = await VmCore.create({ module: opts.module, variant: opts.variant ?? "release", ramBytes: vm.ramBytes });
    // v86's RAM pages not yet touched would fault in during the copy at resume, in the downtime
    // (about 0.9 ms per MiB): touch each page now, while pre-copy runs, its contents unchanged.
    const t = performance.now();
    const ram = state.ramView();
    for (let off = 0; off < ram.length; off += PAGE_SIZE) ram[off] = ram[off];
    const pages = vm.ramBytes / PAGE_SIZE;
    // The rounds whose pages are in v86's RAM already (roundApplied), and the copy time under the freeze.
    let copiedRounds = 0, finalCopied = false, finalCopyMs = 0;
    const dest: V86Destination = {
      core, devices: [state], state, ramCopyMs: -1, ramTouchMs: performance.now() - t,
      // Each round's pages go into v86 when the round is in, so the freeze
      // copies only the final round's. Rounds arrive in order from 0; a
      // round missed (never, by the protocol) leaves the whole copy to resume.
      roundApplied(round: number, final: boolean) {
        if (round !== copiedRounds) return;
        const t0 = performance.now();
        const e = core.exports;
        let ram = state.ramView();
        if (ram.buffer !== v.cpu.wasm_memory.buffer) ram = state.ramView();
        // Runs of pages last applied in this round, copied a run at a time.
        for (let p = 0; p < pages;) {
          if (e.mig_round_of(p) !== round) { p++; continue; }
          let q = p + 1;
          while (q < pages && e.mig_round_of(q) === round) q++;
          ram.set(core.guest.view(p * PAGE_SIZE, (q - p) * PAGE_SIZE), p * PAGE_SIZE);
          p = q;
        }
        copiedRounds++;
        if (final) { finalCopied = true; finalCopyMs = performance.now() - t0; }
      },
      async resume() {
        let ram = state.ramView();
        dest.ramCopyMs = finalCopied ? finalCopyMs : copyGuestRamOut(core, (gpa, src) => {
          if (ram.buffer !== v.cpu.wasm_memory.buffer) ram = state.ramView();
          ram.set(src, gpa);
        });
        // Code v86 compiled from the RAM it had is stale (none ran since the restore; this is cheap).
        v.cpu.jit_clear_cache?.();
        await emulator.run!();
        opts.onResumed?.({ ramCopyMs: dest.ramCopyMs });
      },
    };
    made = dest;
    return dest;
  };
  return { factory, destination: () => made };
}
