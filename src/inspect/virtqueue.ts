// Decoding of the virtio device core's saved fields (assembly/virtio/state.ts)
// and, in the live form, of a split virtqueue's rings in guest RAM
// (virtio 1.2 §2.7): the indices the driver and the device published and the
// descriptor chains the device has yet to take. Every guest read goes through
// the GuestReader (the guest-memory port); every walk is bounded by the queue
// size (§2.7.5.3.1: a chain is at most queue-size descriptors, an indirect
// table at most len/16 and never nested).

import { VirtioDefs } from "../generated/constants.js";
import { DecodeError, Fields, flagNames, hex, part } from "./fields.js";
import type { GuestReader } from "./types.js";

/** Tags of assembly/virtio/state.ts. */
export const VirtioTag = {
  OFFERED: 1, ACKED: 2, STATUS: 3, DEV_FEAT_SEL: 4, DRV_FEAT_SEL: 5, QUEUE_SEL: 6, CONFIG_VECTOR: 7,
  ISR: 8, CONFIG_GEN: 9, NUM_QUEUES: 10, TRANSPORT: 11, PCI_CONFIG: 20, MSIX: 21, QUEUE: 100,
} as const;
/** Queue record bytes (assembly/virtio/state.ts QREC). */
export const QUEUE_RECORD = 56;
/** Queues a dump shows at most (the tags leave room for 0xFFFF - 100). */
const MAX_QUEUES = 1024;
/** Chains shown per queue in the live form. */
const MAX_CHAINS = 64;

export function virtioFieldName(tag: number): string | undefined {
  if (tag >= VirtioTag.QUEUE && tag < VirtioTag.QUEUE + MAX_QUEUES) return `queue${tag - VirtioTag.QUEUE}`;
  const e = Object.entries(VirtioTag).find(([, v]) => v === tag);
  return e ? e[0].toLowerCase() : undefined;
}

const TRANSPORT_FEATURES: Record<number, string> = {
  [VirtioDefs.F_INDIRECT_DESC]: "INDIRECT_DESC", [VirtioDefs.F_EVENT_IDX]: "EVENT_IDX", [VirtioDefs.F_VERSION_1]: "VERSION_1",
};
const STATUS_BITS: Array<[number, string]> = [
  [VirtioDefs.S_ACKNOWLEDGE, "ACKNOWLEDGE"], [VirtioDefs.S_DRIVER, "DRIVER"], [VirtioDefs.S_DRIVER_OK, "DRIVER_OK"],
  [VirtioDefs.S_FEATURES_OK, "FEATURES_OK"], [VirtioDefs.S_NEEDS_RESET, "DEVICE_NEEDS_RESET"], [VirtioDefs.S_FAILED, "FAILED"],
];

export function statusNames(s: number): string[] {
  const out = STATUS_BITS.filter(([b]) => s & b).map(([, n]) => n);
  const rest = STATUS_BITS.reduce((m, [b]) => m & ~b, s);
  if (rest) out.push(hex(rest));
  return out;
}

function features(v: bigint, deviceBits: Record<number, string>) {
  return { value: hex(v, 16), names: flagNames(v, { ...deviceBits, ...TRANSPORT_FEATURES }) };
}

export interface Descriptor { addr: string; len: number; flags: string[]; next?: number; indirect?: Descriptor[] | { error: string } }
export interface Chain { availSlot: number; head: number; descriptors: Descriptor[]; error?: string }
type ChainOrError = Chain | { availSlot: number; error: string };

const DESC_NEXT = 1, DESC_WRITE = 2, DESC_INDIRECT = 4;
function descFlags(f: number): string[] {
  const out: string[] = [];
  if (f & DESC_NEXT) out.push("NEXT");
  if (f & DESC_WRITE) out.push("WRITE");
  if (f & DESC_INDIRECT) out.push("INDIRECT");
  if (f & ~7) out.push(hex(f & ~7));
  return out;
}

function readDesc(g: GuestReader, table: bigint, i: number) {
  const p = table + BigInt(i) * 16n;
  return { addr: g.readU64(p), len: g.readU32(p + 8n), flags: g.readU16(p + 12n), next: g.readU16(p + 14n) };
}

/** Walk the chain at `head` (§2.7.5.2); at most `size` descriptors, one level of indirection. */
function walkChain(g: GuestReader, desc: bigint, size: number, head: number): { descriptors: Descriptor[]; error?: string } {
  const out: Descriptor[] = [];
  let i = head;
  // Bounded: at most `size` descriptors (§2.7.5.3.1); a longer chain is a loop.
  for (let n = 0; n < size; n++) {
    if (i >= size) return { descriptors: out, error: `descriptor index ${i} outside a queue of ${size}` };
    const d = readDesc(g, desc, i);
    const shown: Descriptor = { addr: hex(d.addr), len: d.len, flags: descFlags(d.flags) };
    if (d.flags & DESC_NEXT) shown.next = d.next;
    if (d.flags & DESC_INDIRECT) shown.indirect = part(() => walkIndirect(g, d.addr, d.len));
    out.push(shown);
    if (!(d.flags & DESC_NEXT)) return { descriptors: out };
    i = d.next;
  }
  return { descriptors: out, error: `chain longer than the queue size ${size} (a loop)` };
}

function walkIndirect(g: GuestReader, table: bigint, len: number): Descriptor[] {
  if (len % 16 !== 0 || len === 0) throw new DecodeError(`indirect table of ${len} bytes is not a non-zero multiple of 16`);
  const count = len / 16;
  if (g.check(table, len) !== 0) throw new DecodeError(`indirect table ${hex(table)}+${len} is not in guest RAM`);
  const out: Descriptor[] = [];
  let i = 0;
  // Bounded: at most `count` entries of a table the port checked.
  for (let n = 0; n < count; n++) {
    const d = readDesc(g, table, i);
    const shown: Descriptor = { addr: hex(d.addr), len: d.len, flags: descFlags(d.flags) };
    if (d.flags & DESC_NEXT) shown.next = d.next;
    out.push(shown);
    if (d.flags & DESC_INDIRECT) throw new DecodeError("an indirect descriptor inside an indirect table (§2.7.5.3.1)");
    if (!(d.flags & DESC_NEXT)) return out;
    if (d.next >= count) throw new DecodeError(`indirect next ${d.next} outside a table of ${count}`);
    i = d.next;
  }
  throw new DecodeError(`indirect chain longer than its table of ${count} (a loop)`);
}

/** The rings of a ready queue as the guest sees them now (split layout, §2.7.6/§2.7.8). */
function liveRings(g: GuestReader, q: { size: number; desc: bigint; avail: bigint; used: bigint; lastAvail: number }) {
  const { size, desc, avail, used } = q;
  if (g.check(desc, size * 16) !== 0 || g.check(avail, 6 + 2 * size) !== 0 || g.check(used, 6 + 8 * size) !== 0) throw new DecodeError("the rings are not in guest RAM");
  const availFlags = g.readU16(avail), availIdx = g.readU16(avail + 2n);
  const usedFlags = g.readU16(used), usedIdx = g.readU16(used + 2n);
  const pending = (availIdx - q.lastAvail) & 0xffff;
  const chains: ChainOrError[] = [];
  const errors: string[] = [];
  if (pending > size) errors.push(`avail idx ${availIdx} is ${pending} ahead of the device's ${q.lastAvail}, more than the queue size`);
  // Bounded: at most min(pending, size, MAX_CHAINS) chains.
  for (let k = 0; k < Math.min(pending, size, MAX_CHAINS); k++) {
    const slot = (q.lastAvail + k) % size;
    // One unreadable chain does not hide the others.
    try {
      const head = g.readU16(avail + 4n + BigInt(slot) * 2n);
      chains.push({ availSlot: slot, head, ...walkChain(g, desc, size, head) });
    } catch (e) { chains.push({ availSlot: slot, error: e instanceof Error ? e.message : String(e) }); }
  }
  return { availFlags, availIdx, usedFlags, usedIdx, pendingChains: pending, chains, ...(errors.length ? { errors } : {}) };
}

function queue(f: Fields, i: number, role: string | undefined, guest?: GuestReader) {
  const dv = f.view(VirtioTag.QUEUE + i, QUEUE_RECORD);
  const size = dv.getUint32(0, true), ready = dv.getUint32(4, true), msixVector = dv.getUint32(8, true), flags = dv.getUint32(12, true);
  const desc = dv.getBigUint64(16, true), avail = dv.getBigUint64(24, true), used = dv.getBigUint64(32, true);
  const lastAvail = dv.getUint32(40, true), usedIdx = dv.getUint32(44, true), signalled = dv.getUint32(48, true), signalledValid = dv.getUint32(52, true);
  return {
    index: i, ...(role ? { role } : {}), size, ready: ready === 1, msixVector: msixVector === VirtioDefs.NO_VECTOR ? "none" : msixVector,
    flags: [...(flags & 1 ? ["EVENT_IDX"] : []), ...(flags & 2 ? ["INDIRECT"] : []), ...(flags & ~3 ? [hex(flags & ~3)] : [])],
    desc: hex(desc), avail: hex(avail), used: hex(used),
    // The device's side: next avail slot it will read, the used index it published, the last used event signalled.
    lastAvail, usedIdx, signalled: signalledValid ? signalled : "none",
    ...(guest && ready === 1 && size > 0 && (size & (size - 1)) === 0 ? { live: part(() => liveRings(guest, { size, desc, avail, used, lastAvail })) } : {}),
  };
}

/**
 * The virtio core and its queues; `deviceFeatures` names the device type's
 * feature bits, `roles` its queues (from the number of queues).
 */
export function decodeVirtioCore(f: Fields, deviceFeatures: Record<number, string>, roles: (numQueues: number) => string[], guest?: GuestReader) {
  const numQueues = part(() => f.u32(VirtioTag.NUM_QUEUES));
  const n = typeof numQueues === "number" ? Math.min(numQueues, MAX_QUEUES) : 0;
  const names = part(() => roles(n));
  return {
    offered: part(() => features(f.u64(VirtioTag.OFFERED), deviceFeatures)),
    acked: part(() => features(f.u64(VirtioTag.ACKED), deviceFeatures)),
    status: part(() => { const s = f.u32(VirtioTag.STATUS); return { value: hex(s, 2), names: statusNames(s) }; }),
    transport: part(() => { const t = f.u32(VirtioTag.TRANSPORT); return t === VirtioDefs.TRANSPORT_PCI ? "pci" : t === VirtioDefs.TRANSPORT_MMIO ? "mmio" : `unknown ${t}`; }),
    queueSelect: part(() => f.u32(VirtioTag.QUEUE_SEL)),
    featureSelect: part(() => ({ device: f.u32(VirtioTag.DEV_FEAT_SEL), driver: f.u32(VirtioTag.DRV_FEAT_SEL) })),
    configVector: part(() => { const v = f.u32(VirtioTag.CONFIG_VECTOR); return v === VirtioDefs.NO_VECTOR ? "none" : v; }),
    isr: part(() => f.u32(VirtioTag.ISR)),
    configGeneration: part(() => f.u32(VirtioTag.CONFIG_GEN)),
    numQueues,
    queues: Array.from({ length: n }, (_, i) => part(() => queue(f, i, Array.isArray(names) ? names[i] : undefined, guest))),
    ...(f.has(VirtioTag.PCI_CONFIG) ? { pciConfig: part(() => pciSummary(f.view(VirtioTag.PCI_CONFIG, 256))) } : {}),
  };
}

function pciSummary(dv: DataView) {
  return {
    vendor: hex(dv.getUint16(0, true), 4), device: hex(dv.getUint16(2, true), 4),
    command: hex(dv.getUint16(4, true), 4), status: hex(dv.getUint16(6, true), 4),
    bars: Array.from({ length: 6 }, (_, i) => hex(dv.getUint32(0x10 + i * 4, true), 8)),
    interruptLine: dv.getUint8(0x3c), interruptPin: dv.getUint8(0x3d),
  };
}
