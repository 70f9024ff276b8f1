// What platform firmware does to a PCI hierarchy before the OS runs, through
// configuration cycles alone: number the buses depth first (each bridge gets
// secondary = next free bus, subordinate = the last bus found behind it),
// size every BAR by writing all ones (PCI 3.0 §6.2.5.1), place the BARs
// naturally aligned in the host's windows, set each bridge's I/O, memory and
// prefetchable windows around what is behind it (1 MiB / 4 KiB granules,
// Bridge Architecture 1.2 §3.2.5.6–10) and turn decode on.
//
// SR-IOV: a PF's VFs may sit on bus numbers above the PF's. With
// `reserveVfBuses` (the default) the numbering leaves those buses inside the
// bridge above, as Linux's pci_iov_bus_range does: TotalVFs, with the offset
// and stride the PF reports for NumVFs = TotalVFs. Without it the
// subordinate bus stops at the last real bus, the situation of FreeBSD review
// D21944, and enabling VFs on the buses past it fails. VF BARs (each VF's
// size × TotalVFs) are placed like BARs.
//
// Every walk is bounded: 256 buses, 32 devices, 8 functions, an extended
// capability list of at most (4096 − 256) / 4 entries.

import type { PciHostAccess } from "../../pci.js";
import { Bridge, Cfg, Cmd, EXT_CFG_BASE, EXT_CFG_SIZE, HEADER_MULTI_FUNCTION, HEADER_TYPE_BRIDGE, IO_WINDOW_ALIGN, MEM_WINDOW_ALIGN, SRIOV_CAP_ID, Sriov } from "./defs.js";

export interface FirmwareOptions {
  /** Memory space for BARs and windows, [start, end) (default 0xC0000000..0xFEC00000). */
  mem?: [number, number];
  /** I/O space, [start, end) (default 0x1000..0x10000). */
  io?: [number, number];
  /** Keep the buses of SR-IOV VFs inside the bridges above their PFs (default true). */
  reserveVfBuses?: boolean;
}

/** A BAR as firmware placed it. */
export interface PlacedBarReport { bus: number; dev: number; func: number; index: number; kind: "mem" | "pref" | "io"; size: number; base: number; vf?: boolean }

/** A bridge as firmware programmed it. */
export interface BridgeReport {
  bus: number; dev: number; func: number; secondary: number; subordinate: number;
  io: [number, number] | null; mem: [number, number] | null; pref: [number, number] | null;
}

export interface FirmwareReport {
  lastBus: number;
  bridges: BridgeReport[];
  bars: PlacedBarReport[];
  /** What did not fit or could not be read (the BARs concerned stay at 0, decode off). */
  errors: string[];
}

type Space = "mem" | "pref" | "io";
interface Item { space: Space; size: number; align: number; place(base: number): void }
interface Fn { bus: number; dev: number; func: number; bridge: boolean }

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Number the buses, place every BAR and window, enable decode. */
export function assignPci(host: PciHostAccess, o: FirmwareOptions = {}): FirmwareReport {
  const [memStart, memEnd] = o.mem ?? [0xc000_0000, 0xfec0_0000];
  const [ioStart, ioEnd] = o.io ?? [0x1000, 0x1_0000];
  const report: FirmwareReport = { lastBus: 0, bridges: [], bars: [], errors: [] };
  const r8 = (f: Fn, off: number) => host.configRead(f.bus, f.dev, f.func, off, 1);
  const r16 = (f: Fn, off: number) => host.configRead(f.bus, f.dev, f.func, off, 2);
  const r32 = (f: Fn, off: number) => host.configRead(f.bus, f.dev, f.func, off, 4) >>> 0;
  const w = (f: Fn, off: number, width: 1 | 2 | 4, v: number) => host.configWrite(f.bus, f.dev, f.func, off, width, v >>> 0);

  const functionsOn = (bus: number): Fn[] => {
    const out: Fn[] = [];
    for (let dev = 0; dev < 32; dev++) {
      if (host.configRead(bus, dev, 0, Cfg.VENDOR, 2) === 0xffff) continue;
      const multi = (host.configRead(bus, dev, 0, Cfg.HEADER_TYPE, 1) & HEADER_MULTI_FUNCTION) !== 0;
      for (let func = 0; func < (multi ? 8 : 1); func++) {
        if (host.configRead(bus, dev, func, Cfg.VENDOR, 2) === 0xffff) continue;
        out.push({ bus, dev, func, bridge: (host.configRead(bus, dev, func, Cfg.HEADER_TYPE, 1) & 0x7f) === HEADER_TYPE_BRIDGE });
      }
    }
    return out;
  };

  // ---- bus numbers ----
  let next = 0;
  const tree = new Map<number, Fn[]>();
  const behind = new Map<string, number>(); // bridge → its secondary bus
  const key = (f: Fn) => `${f.bus}:${f.dev}.${f.func}`;
  const number = (bus: number): number => {
    const fns = functionsOn(bus);
    tree.set(bus, fns);
    let last = bus;
    // VFs' buses first: they belong to this bus's PFs, bridges take the numbers after them.
    if (o.reserveVfBuses ?? true) {
      for (const f of fns) {
        if (f.bridge) continue;
        const vfLast = sriovLastBus(host, f, report.errors);
        if (vfLast > last) last = vfLast;
      }
      next = Math.max(next, last);
    }
    for (const f of fns) {
      if (!f.bridge) continue;
      if (next >= 255) { report.errors.push(`bridge ${key(f)}: no bus number left`); continue; }
      const sec = ++next;
      w(f, Bridge.PRIMARY_BUS, 1, bus);
      w(f, Bridge.SECONDARY_BUS, 1, sec);
      w(f, Bridge.SUBORDINATE_BUS, 1, 0xff); // while the buses behind it are numbered
      const sub = number(sec);
      w(f, Bridge.SUBORDINATE_BUS, 1, sub);
      behind.set(key(f), sec);
      last = Math.max(last, sub);
    }
    return last;
  };
  report.lastBus = number(0);

  // ---- BARs and windows ----
  const sizeBar = (f: Fn, off: number): { space: Space; size: number; is64: boolean } | null => {
    const orig = r32(f, off);
    w(f, off, 4, 0xffffffff);
    const lo = r32(f, off);
    w(f, off, 4, orig);
    if (lo === 0) return null;
    if (lo & 1) { const size = ((~(lo & 0xfffffffc) & 0xffff) + 1); return { space: "io", size, is64: false }; }
    const is64 = ((lo >> 1) & 3) === 2, pref = (lo & 8) !== 0;
    let size = (~(lo & 0xfffffff0) >>> 0) + 1;
    if (is64) {
      const origHi = r32(f, off + 4);
      w(f, off + 4, 4, 0xffffffff);
      const hi = r32(f, off + 4);
      w(f, off + 4, 4, origHi);
      if (hi !== 0xffffffff) { report.errors.push(`${key(f)} BAR at 0x${off.toString(16)}: 64-bit BAR of 4 GiB or more is not placed`); return null; }
    }
    if (size > 2 ** 31) return null;
    size = Math.max(size, 16);
    return { space: pref ? "pref" : "mem", size, is64 };
  };

  const barItems = (f: Fn, cmd: { v: number }): Item[] => {
    const items: Item[] = [];
    const count = f.bridge ? 2 : 6;
    for (let i = 0; i < count; i++) {
      const off = Cfg.BAR0 + 4 * i;
      const s = sizeBar(f, off);
      if (!s) continue;
      const index = i;
      items.push({ space: s.space, size: s.size, align: s.size, place: (base) => {
        w(f, off, 4, s.space === "io" ? base | 1 : base);
        if (s.is64) w(f, off + 4, 4, 0);
        cmd.v |= s.space === "io" ? Cmd.IO : Cmd.MEMORY;
        report.bars.push({ bus: f.bus, dev: f.dev, func: f.func, index, kind: s.space, size: s.size, base });
      } });
      if (s.is64) i++;
    }
    const cap = sriovCap(host, f);
    if (cap) {
      const total = r16(f, cap + Sriov.TOTAL_VFS);
      for (let i = 0; i < 6; i++) {
        const off = cap + Sriov.VF_BAR0 + 4 * i;
        const s = sizeBar(f, off);
        if (!s || s.space === "io") continue;
        const index = i;
        items.push({ space: s.space, size: s.size * total, align: s.size, place: (base) => {
          w(f, off, 4, base);
          if (s.is64) w(f, off + 4, 4, 0);
          report.bars.push({ bus: f.bus, dev: f.dev, func: f.func, index, kind: s.space, size: s.size * total, base, vf: true });
        } });
        if (s.is64) i++;
      }
    }
    return items;
  };

  /** The items of everything on `bus` and below, the bridges' windows as single items. */
  const busItems = (bus: number): Item[] => {
    const items: Item[] = [];
    for (const f of tree.get(bus) ?? []) {
      const cmd = { v: 0 };
      w(f, Cfg.COMMAND, 2, r16(f, Cfg.COMMAND) & ~(Cmd.IO | Cmd.MEMORY)); // no decode while BARs are sized and moved
      const own = barItems(f, cmd);
      const finish = () => { const c = r16(f, Cfg.COMMAND); w(f, Cfg.COMMAND, 2, (c & ~(Cmd.IO | Cmd.MEMORY)) | cmd.v | (cmd.v ? Cmd.BUS_MASTER : 0)); };
      if (!f.bridge) {
        for (const it of own) items.push({ ...it, place: (b) => { it.place(b); finish(); } });
        finish();
        continue;
      }
      const sec = behind.get(key(f));
      const inner = sec === undefined ? [] : busItems(sec);
      const rep: BridgeReport = { bus: f.bus, dev: f.dev, func: f.func, secondary: sec ?? 0, subordinate: r8(f, Bridge.SUBORDINATE_BUS), io: null, mem: null, pref: null };
      report.bridges.push(rep);
      closeWindows(f, w);
      for (const space of ["mem", "pref", "io"] as const) {
        const list = inner.filter((x) => x.space === space);
        if (!list.length) continue;
        const gran = space === "io" ? IO_WINDOW_ALIGN : MEM_WINDOW_ALIGN;
        const span = alignUp(pack(list, 0, () => {}), gran);
        items.push({ space, size: span, align: Math.max(gran, ...list.map((x) => x.align)), place: (base) => {
          pack(list, base, (it, at) => it.place(at));
          setWindow(f, w, space, base, base + span - 1);
          rep[space] = [base, base + span - 1];
          cmd.v |= space === "io" ? Cmd.IO : Cmd.MEMORY;
          finish();
        } });
      }
      for (const it of own) items.push(it);
      finish();
    }
    return items;
  };

  const top = busItems(0);
  const place = (list: Item[], start: number, end: number, what: string) => {
    let at = start;
    for (const it of [...list].sort((a, b) => b.align - a.align || b.size - a.size)) {
      const base = alignUp(at, it.align);
      if (base + it.size > end) { report.errors.push(`${what}: ${it.size} bytes do not fit`); continue; }
      it.place(base);
      at = base + it.size;
    }
    return at;
  };
  const memTop = place(top.filter((x) => x.space === "mem"), memStart, memEnd, "memory");
  place(top.filter((x) => x.space === "pref"), alignUp(memTop, MEM_WINDOW_ALIGN), memEnd, "prefetchable memory");
  place(top.filter((x) => x.space === "io"), ioStart, ioEnd, "I/O");
  return report;
}

/** Lay `list` out from `base`, largest alignment first; returns the end. */
function pack(list: Item[], base: number, put: (it: Item, at: number) => void): number {
  let at = base;
  for (const it of [...list].sort((a, b) => b.align - a.align || b.size - a.size)) {
    at = alignUp(at, it.align);
    put(it, at);
    at += it.size;
  }
  return at - base;
}

type Write = (f: Fn, off: number, width: 1 | 2 | 4, v: number) => void;

function closeWindows(f: Fn, w: Write): void {
  w(f, Bridge.IO_BASE, 1, 0xf0); w(f, Bridge.IO_LIMIT, 1, 0);
  w(f, Bridge.MEM_BASE, 2, 0xfff0); w(f, Bridge.MEM_LIMIT, 2, 0);
  w(f, Bridge.PREF_BASE, 2, 0xfff0); w(f, Bridge.PREF_LIMIT, 2, 0);
  w(f, Bridge.PREF_BASE_UPPER, 4, 0); w(f, Bridge.PREF_LIMIT_UPPER, 4, 0);
}

function setWindow(f: Fn, w: Write, space: Space, base: number, limit: number): void {
  if (space === "io") { w(f, Bridge.IO_BASE, 1, (base >> 8) & 0xf0); w(f, Bridge.IO_LIMIT, 1, (limit >> 8) & 0xf0); return; }
  const b = (base >>> 16) & 0xfff0, l = (limit >>> 16) & 0xfff0;
  if (space === "mem") { w(f, Bridge.MEM_BASE, 2, b); w(f, Bridge.MEM_LIMIT, 2, l); return; }
  w(f, Bridge.PREF_BASE, 2, b); w(f, Bridge.PREF_LIMIT, 2, l);
  w(f, Bridge.PREF_BASE_UPPER, 4, Math.floor(base / 2 ** 32)); w(f, Bridge.PREF_LIMIT_UPPER, 4, Math.floor(limit / 2 ** 32));
}

/**
 * Offset of the SR-IOV extended capability of a function, or 0. The walk is
 * bounded by the extended space and stops at a pointer back or below 0x100.
 */
export function sriovCap(host: Pick<PciHostAccess, "configRead">, f: { bus: number; dev: number; func: number }): number {
  let at = EXT_CFG_BASE;
  const seen = new Set<number>();
  while (at >= EXT_CFG_BASE && at < EXT_CFG_SIZE && !seen.has(at)) {
    seen.add(at);
    const h = host.configRead(f.bus, f.dev, f.func, at, 4) >>> 0;
    if (h === 0 || h === 0xffffffff) return 0;
    if ((h & 0xffff) === SRIOV_CAP_ID) return at;
    at = (h >>> 20) & 0xffc;
  }
  return 0;
}

/** The last bus a PF's VFs can reach (TotalVFs of them), or the PF's bus when it has no SR-IOV. */
function sriovLastBus(host: PciHostAccess, f: Fn, errors: string[]): number {
  const cap = sriovCap(host, f);
  if (!cap) return f.bus;
  const rd = (o: number) => host.configRead(f.bus, f.dev, f.func, cap + o, 2);
  const total = rd(Sriov.TOTAL_VFS);
  if (total === 0) return f.bus;
  const before = rd(Sriov.NUM_VFS);
  host.configWrite(f.bus, f.dev, f.func, cap + Sriov.NUM_VFS, 2, total); // offset and stride may depend on NumVFs
  const off = rd(Sriov.FIRST_VF_OFFSET), stride = rd(Sriov.VF_STRIDE);
  host.configWrite(f.bus, f.dev, f.func, cap + Sriov.NUM_VFS, 2, before);
  const last = ((f.bus << 8) | (f.dev << 3) | f.func) + off + (total - 1) * stride;
  if (last > 0xffff) { errors.push(`${f.bus}:${f.dev}.${f.func}: its VFs reach past bus 255`); return 255; }
  return last >> 8;
}
