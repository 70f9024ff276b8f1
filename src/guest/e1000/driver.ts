// A guest's driver for an 8254x function, written from the Software
// Developer's Manual and independently of the device model. It follows the
// manual's initialization sequence (§14): PCI enable, global reset through
// the I/O window as Linux does for the 82540EM, EEPROM read by Microwire
// bit-banging (§5.3) with the checksum check, PHY identification and
// auto-negotiation through MDIC, receive addresses, MTA and VFTA cleared,
// rings and control registers, interrupts unmasked. Then it transmits with
// legacy, checksum-offload and TCP-segmentation descriptors (building the
// headers as Linux's e1000 does), receives across one or more descriptors
// per frame, programs the filters (exact entries 1..14 first, then the
// multicast hash, like Linux), and reads the statistics.
//
// It owns a window of guest RAM (`heap`) for its rings and buffers, and
// talks to the function only through its PciFunction (BAR0 or the I/O
// window) and guest RAM.

import type { PciFunction } from "../../pci.js";
import { GuestRam, GuestAllocator } from "../virtio/guest-ram.js";
import { onesComplementSum } from "../../net/responder.js";
import { Reg, Stat, Ctrl, StatusBits, Eecd, Mdic, Icr, Rctl, Tctl, Rxcsum, RAH_AV, Txd, Rxd, Phy, Bmcr, Bmsr, Eeprom, DESC_BYTES } from "./defs.js";

/** Options of the driver. */
export interface E1000DriverOptions {
  /** Guest RAM [start, end) for rings and buffers. Default [1 MiB, end of what it needs). */
  heap?: [number, number];
  /** Receive descriptors (a multiple of 8, ≥ 8). Default 256. */
  rxDescs?: number;
  /** Transmit descriptors (a multiple of 8, ≥ 8). Default 256. */
  txDescs?: number;
  /** Receive buffer size: 256, 512, 1024, 2048 (BSIZE), or 4096, 8192, 16384 (BSEX). Default 2048. */
  rxBufferSize?: number;
  /** Bytes of the buffer behind each transmit descriptor. Default 4096. */
  txBufferSize?: number;
  /** Reach the registers through the I/O window (IOADDR/IODATA) instead of BAR0. */
  io?: boolean;
  /** Ask the device to strip the FCS (RCTL.SECRC); otherwise the driver drops the 4 FCS bytes itself. */
  secrc?: boolean;
  /** VLAN tag stripping on receive and insertion on transmit (CTRL.VME). */
  vlan?: boolean;
  /** Receive checksum offload for TCP/UDP (RXCSUM.TUOFL). Default true. */
  rxChecksum?: boolean;
  /** Long packets (RCTL.LPE). Default false. */
  longPackets?: boolean;
  /** Multicast offset RCTL.MO (0..3). Default 0. */
  multicastOffset?: number;
  /** Interrupt moderation registers, written at init (units of the manual). */
  itr?: number; rdtr?: number; radv?: number; tidv?: number; tadv?: number;
  /** Set IDE on the last descriptor of each packet (delayed TXDW, like Linux with TIDV ≠ 0). */
  ide?: boolean;
  /** Mark guest-RAM writes dirty (off in benchmarks). Default true. */
  trackDirty?: boolean;
}

/** A received frame. */
export interface E1000RxFrame {
  /** The frame without its FCS. */
  data: Uint8Array;
  /** The 4 FCS bytes the device appended (null with SECRC). */
  fcs: Uint8Array | null;
  /** Status and errors of the EOP descriptor; the special (VLAN tag) field. */
  status: number;
  errors: number;
  special: number;
  /** Descriptors the frame took. */
  descriptors: number;
}

/** How to send one packet. */
export interface E1000TxOptions {
  /** Legacy descriptor checksum insertion (CMD.IC): checksum of [css, end) at cso. */
  legacyCsum?: { css: number; cso: number };
  /**
   * Checksum offload through a context descriptor: the TCP/UDP checksum of
   * [start, end of packet) at start + offset (the field holds the
   * pseudo-header sum), and optionally the IPv4 header checksum of
   * [ip.start, ip.end] (inclusive) at ip.start + ip.offset.
   */
  csum?: { start: number; offset: number; tcp?: boolean; ip?: { start: number; offset: number; end: number } };
  /** Insert this 802.1Q tag (VLE, needs the vlan option). */
  vlan?: number;
  /** Split the packet's bytes across descriptors of these lengths (the rest in txBufferSize pieces). */
  split?: number[];
  /** Write TDT now (default true); with false, flushTx() does. */
  kick?: boolean;
}

function bufSizeBits(size: number): number {
  switch (size) {
    case 2048: return 0;
    case 1024: return 1 << Rctl.BSIZE_SHIFT;
    case 512: return 2 << Rctl.BSIZE_SHIFT;
    case 256: return 3 << Rctl.BSIZE_SHIFT;
    case 16384: return Rctl.BSEX | (1 << Rctl.BSIZE_SHIFT);
    case 8192: return Rctl.BSEX | (2 << Rctl.BSIZE_SHIFT);
    case 4096: return Rctl.BSEX | (3 << Rctl.BSIZE_SHIFT);
  }
  throw new RangeError(`rxBufferSize ${size} is not one the 8254x supports`);
}

/** The MTA bit the device checks for `addr` with multicast offset `mo` (§13.5.1). */
export function mtaBit(addr: Uint8Array, mo: number): number {
  const w = addr[4] | (addr[5] << 8);
  const shift = [4, 3, 2, 0][mo & 3];
  return (w >> shift) & 0xfff;
}

/** 802.3 pseudo-header sum for TCP/UDP over IPv4 (not complemented, folded), as the stack leaves in the checksum field. */
export function pseudoHeaderSum(ipHeader: Uint8Array, proto: number, l4len: number): number {
  let s = onesComplementSum(ipHeader, 12, 8);
  s += proto + l4len;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export class E1000Driver {
  readonly mac = new Uint8Array(6);
  readonly eeprom = new Uint16Array(64);
  phyId = 0;
  private readonly opts: Required<Omit<E1000DriverOptions, "heap" | "itr" | "rdtr" | "radv" | "tidv" | "tadv">> & Pick<E1000DriverOptions, "itr" | "rdtr" | "radv" | "tidv" | "tadv">;
  private readonly heap: [number, number];
  private rxRing = 0;
  private txRing = 0;
  private rxBufs = 0;
  private txBufs = 0;
  private rxNtc = 0;
  private txNtu = 0;
  private txNtc = 0;
  /** EOP descriptor index of each packet in flight, oldest first, with its descriptor count. */
  private txInFlight: Array<{ eop: number; count: number }> = [];
  private chain: Uint8Array[] = [];
  private chainDescs = 0;
  private received: E1000RxFrame[] = [];
  /** Statistics accumulated over clear-on-read reads. */
  readonly stats: Record<keyof typeof Stat, bigint>;
  /** Interrupt causes seen by service(). */
  causes = 0;
  txPackets = 0;
  txCompleted = 0;
  rxFrames = 0;
  rxDiscarded = 0;
  private mta = new Uint32Array(128);
  private vfta = new Uint32Array(128);

  constructor(public fn: PciFunction, public ram: GuestRam, opts: E1000DriverOptions = {}) {
    this.opts = {
      rxDescs: opts.rxDescs ?? 256, txDescs: opts.txDescs ?? 256, rxBufferSize: opts.rxBufferSize ?? 2048,
      txBufferSize: opts.txBufferSize ?? 4096, io: opts.io ?? false, secrc: opts.secrc ?? false, vlan: opts.vlan ?? false,
      rxChecksum: opts.rxChecksum ?? true, longPackets: opts.longPackets ?? false, multicastOffset: opts.multicastOffset ?? 0,
      ide: opts.ide ?? false, trackDirty: opts.trackDirty ?? true,
      itr: opts.itr, rdtr: opts.rdtr, radv: opts.radv, tidv: opts.tidv, tadv: opts.tadv,
    };
    for (const n of [this.opts.rxDescs, this.opts.txDescs]) if (n < 8 || n % 8 !== 0 || n > 65536) throw new RangeError(`ring of ${n} descriptors: want a multiple of 8 from 8 to 65536`);
    bufSizeBits(this.opts.rxBufferSize);
    const need = this.opts.rxDescs * (DESC_BYTES + this.opts.rxBufferSize) + this.opts.txDescs * (DESC_BYTES + this.opts.txBufferSize) + 3 * 4096;
    this.heap = opts.heap ?? [1 << 20, (1 << 20) + need];
    this.stats = Object.fromEntries(Object.keys(Stat).map((k) => [k, 0n])) as Record<keyof typeof Stat, bigint>;
    ram.trackDirty = this.opts.trackDirty;
  }

  /**
   * Continue on another function and guest RAM holding the same state: a
   * restored copy of the device after a migration, with the guest RAM copied.
   * The driver keeps its ring positions and buffers.
   */
  rebind(fn: PciFunction, ram: GuestRam): void {
    this.fn = fn;
    this.ram = ram;
    ram.trackDirty = this.opts.trackDirty;
  }

  // ---- registers ----

  read(off: number): number {
    if (this.opts.io) { this.fn.barWrite(1, 0, 4, off); return this.fn.barRead(1, 4, 4) >>> 0; }
    return this.fn.barRead(0, off, 4) >>> 0;
  }
  write(off: number, v: number): void {
    if (this.opts.io) { this.fn.barWrite(1, 0, 4, off); this.fn.barWrite(1, 4, 4, v >>> 0); return; }
    this.fn.barWrite(0, off, 4, v >>> 0);
  }

  // ---- EEPROM (§5.3 Microwire, driven through EECD) ----

  /** Read word `addr` by bit-banging the Microwire interface. */
  readEeprom(addr: number): number {
    let eecd = this.read(Reg.EECD) | Eecd.REQ;
    this.write(Reg.EECD, eecd);
    for (let i = 0; ; i++) {
      if (this.read(Reg.EECD) & Eecd.GNT) break;
      if (i > 1000) throw new Error("EEPROM: no grant");
    }
    eecd &= ~(Eecd.SK | Eecd.DI);
    this.write(Reg.EECD, eecd);
    eecd |= Eecd.CS;
    this.write(Reg.EECD, eecd);
    const clock = () => { this.write(Reg.EECD, eecd | Eecd.SK); this.write(Reg.EECD, eecd); };
    const out = (bits: number, count: number) => {
      for (let m = 1 << (count - 1); m; m >>= 1) {
        eecd = (eecd & ~Eecd.DI) | (bits & m ? Eecd.DI : 0);
        this.write(Reg.EECD, eecd);
        clock();
      }
      eecd &= ~Eecd.DI;
      this.write(Reg.EECD, eecd);
    };
    out(Eeprom.READ_OPCODE, Eeprom.OPCODE_BITS);
    out(addr, Eeprom.ADDR_BITS);
    let v = 0;
    for (let i = 0; i < 16; i++) {
      this.write(Reg.EECD, eecd | Eecd.SK);
      v = (v << 1) | (this.read(Reg.EECD) & Eecd.DO ? 1 : 0);
      this.write(Reg.EECD, eecd);
    }
    // Release: CS low, a clock pulse, drop the request.
    eecd &= ~(Eecd.CS | Eecd.DI);
    this.write(Reg.EECD, eecd);
    clock();
    this.write(Reg.EECD, eecd & ~Eecd.REQ);
    return v;
  }

  /** Read word `addr` through EERD (§13.4.4). */
  readEepromEerd(addr: number): number {
    this.write(Reg.EERD, (addr << 8) | 1);
    for (let i = 0; i < 1000; i++) {
      const v = this.read(Reg.EERD);
      if (v & (1 << 4)) return v >>> 16;
    }
    throw new Error("EERD: no DONE");
  }

  // ---- PHY through MDIC (§13.4.7) ----

  phyRead(reg: number): number {
    this.write(Reg.MDIC, Mdic.OP_READ | (1 << Mdic.PHY_SHIFT) | (reg << Mdic.REG_SHIFT));
    for (let i = 0; i < 1000; i++) {
      const v = this.read(Reg.MDIC);
      if (v & Mdic.READY) { if (v & Mdic.ERROR) throw new Error(`MDIC read of PHY register ${reg} failed`); return v & 0xffff; }
    }
    throw new Error("MDIC: not ready");
  }

  phyWrite(reg: number, value: number): void {
    this.write(Reg.MDIC, Mdic.OP_WRITE | (1 << Mdic.PHY_SHIFT) | (reg << Mdic.REG_SHIFT) | (value & 0xffff));
    for (let i = 0; i < 1000; i++) {
      const v = this.read(Reg.MDIC);
      if (v & Mdic.READY) { if (v & Mdic.ERROR) throw new Error(`MDIC write of PHY register ${reg} failed`); return; }
    }
    throw new Error("MDIC: not ready");
  }

  get linkUp(): boolean { return (this.read(Reg.STATUS) & StatusBits.LU) !== 0; }

  // ---- bring-up ----

  /** PCI enable, reset, EEPROM, PHY, filters, rings, interrupts. Throws when the function misbehaves. */
  init(): void {
    const id = this.fn.configRead(0, 4) >>> 0;
    if ((id & 0xffff) !== 0x8086) throw new Error(`not an Intel function: ${id.toString(16)}`);
    this.fn.configWrite(4, 2, 0x0007); // I/O, memory, bus master
    // Global reset through the I/O window (Linux's workaround for the 82540EM), mask and clear interrupts.
    this.write(Reg.IMC, 0xffffffff);
    this.write(Reg.RCTL, 0);
    this.write(Reg.TCTL, Tctl.PSP);
    this.fn.barWrite(1, 0, 4, Reg.CTRL);
    this.fn.barWrite(1, 4, 4, (this.read(Reg.CTRL) | Ctrl.RST) >>> 0);
    this.write(Reg.IMC, 0xffffffff);
    this.read(Reg.ICR);
    // EEPROM: the image, its checksum, the MAC.
    let sum = 0;
    for (let i = 0; i < Eeprom.WORDS; i++) { this.eeprom[i] = this.readEeprom(i); sum = (sum + this.eeprom[i]) & 0xffff; }
    if (sum !== Eeprom.SUM) throw new Error(`EEPROM checksum ${sum.toString(16)}, want ${Eeprom.SUM.toString(16)}`);
    for (let i = 0; i < 3; i++) { this.mac[2 * i] = this.eeprom[i] & 0xff; this.mac[2 * i + 1] = this.eeprom[i] >> 8; }
    // PHY: identify, restart auto-negotiation, wait for the link.
    this.phyId = (this.phyRead(Phy.ID1) << 16) | this.phyRead(Phy.ID2);
    this.write(Reg.CTRL, (this.read(Reg.CTRL) | Ctrl.SLU) & ~(Ctrl.FRCSPD | Ctrl.FRCDPX));
    this.phyWrite(Phy.BMCR, this.phyRead(Phy.BMCR) | Bmcr.ANENABLE | Bmcr.ANRESTART);
    for (let i = 0; ; i++) {
      this.phyRead(Phy.BMSR);
      const bmsr = this.phyRead(Phy.BMSR);
      if ((bmsr & (Bmsr.LSTATUS | Bmsr.ANEGCOMPLETE)) === (Bmsr.LSTATUS | Bmsr.ANEGCOMPLETE)) break;
      if (i > 100) throw new Error("PHY: no link");
    }
    // Filters: RAR0 = our MAC, RAR1..15 cleared, MTA and VFTA zeroed.
    this.setRar(0, this.mac);
    for (let i = 1; i < 16; i++) { this.write(Reg.RAL + 8 * i, 0); this.write(Reg.RAH + 8 * i, 0); }
    for (let i = 0; i < 128; i++) { this.write(Reg.MTA + 4 * i, 0); this.write(Reg.VFTA + 4 * i, 0); }
    this.write(Reg.VET, 0x8100);
    if (this.opts.vlan) this.write(Reg.CTRL, this.read(Reg.CTRL) | Ctrl.VME);
    for (const k of Object.keys(Stat) as Array<keyof typeof Stat>) this.read(Stat[k]); // clear the counters
    this.setupRings();
    this.write(Reg.IMS, Icr.RXT0 | Icr.TXDW | Icr.RXDMT0 | Icr.RXSEQ | Icr.LSC | Icr.RXO);
  }

  private setRar(i: number, a: Uint8Array): void {
    this.write(Reg.RAL + 8 * i, (a[0] | (a[1] << 8) | (a[2] << 16) | (a[3] << 24)) >>> 0);
    this.write(Reg.RAH + 8 * i, (a[4] | (a[5] << 8) | RAH_AV) >>> 0);
  }

  private setupRings(): void {
    const o = this.opts;
    const alloc = new GuestAllocator(this.heap[0], this.heap[1]);
    this.txRing = alloc.alloc(o.txDescs * DESC_BYTES, 4096);
    this.rxRing = alloc.alloc(o.rxDescs * DESC_BYTES, 4096);
    this.txBufs = alloc.alloc(o.txDescs * o.txBufferSize, 4096);
    this.rxBufs = alloc.alloc(o.rxDescs * o.rxBufferSize, 4096);
    this.ram.fill(this.txRing, 0, o.txDescs * DESC_BYTES);
    this.ram.fill(this.rxRing, 0, o.rxDescs * DESC_BYTES);
    // Transmit (§14.5).
    this.write(Reg.TDBAL, this.txRing);
    this.write(Reg.TDBAH, 0);
    this.write(Reg.TDLEN, o.txDescs * DESC_BYTES);
    this.write(Reg.TDH, 0);
    this.write(Reg.TDT, 0);
    this.txNtu = 0; this.txNtc = 0; this.txInFlight = [];
    this.write(Reg.TIPG, 10 | (10 << 10) | (10 << 20));
    if (o.tidv !== undefined) this.write(Reg.TIDV, o.tidv);
    if (o.tadv !== undefined) this.write(Reg.TADV, o.tadv);
    this.write(Reg.TCTL, Tctl.EN | Tctl.PSP | (0x0f << Tctl.CT_SHIFT) | (0x40 << Tctl.COLD_SHIFT));
    // Receive (§14.4): every buffer posted but one.
    for (let i = 0; i < o.rxDescs; i++) this.ram.w64(this.rxRing + i * DESC_BYTES, BigInt(this.rxBufs + i * o.rxBufferSize));
    this.write(Reg.RDBAL, this.rxRing);
    this.write(Reg.RDBAH, 0);
    this.write(Reg.RDLEN, o.rxDescs * DESC_BYTES);
    this.write(Reg.RDH, 0);
    this.write(Reg.RDT, o.rxDescs - 1);
    this.rxNtc = 0; this.chain = []; this.chainDescs = 0;
    if (o.rdtr !== undefined) this.write(Reg.RDTR, o.rdtr);
    if (o.radv !== undefined) this.write(Reg.RADV, o.radv);
    if (o.itr !== undefined) this.write(Reg.ITR, o.itr);
    this.write(Reg.RXCSUM, o.rxChecksum ? Rxcsum.TUOFL | Rxcsum.IPOFL : 0);
    this.write(Reg.RCTL, this.rctlBase() | Rctl.EN);
  }

  private rctlBase(): number {
    const o = this.opts;
    return Rctl.BAM | Rctl.RDMTS_HALF | ((o.multicastOffset & 3) << Rctl.MO_SHIFT) | bufSizeBits(o.rxBufferSize) |
      (o.secrc ? Rctl.SECRC : 0) | (o.longPackets ? Rctl.LPE : 0);
  }

  // ---- filters ----

  /** Promiscuous unicast/multicast (UPE/MPE) and broadcast (BAM). */
  setRxMode(m: { promisc?: boolean; allmulti?: boolean; broadcast?: boolean; vlanFilter?: boolean }): void {
    let r = this.read(Reg.RCTL) & ~(Rctl.UPE | Rctl.MPE | Rctl.BAM | Rctl.VFE);
    if (m.promisc) r |= Rctl.UPE | Rctl.MPE;
    if (m.allmulti) r |= Rctl.MPE;
    if (m.broadcast ?? true) r |= Rctl.BAM;
    if (m.vlanFilter) r |= Rctl.VFE;
    this.write(Reg.RCTL, r);
  }

  /** The multicast list as Linux programs it: exact entries RAR1..14 first, the rest hashed into the MTA. */
  setMulticast(addrs: Uint8Array[]): void {
    this.mta.fill(0);
    let i = 1;
    for (const a of addrs) {
      if (i < 15) { this.setRar(i++, a); continue; }
      const bit = mtaBit(a, this.opts.multicastOffset);
      this.mta[bit >> 5] |= 1 << (bit & 31);
    }
    for (; i < 15; i++) { this.write(Reg.RAL + 8 * i, 0); this.write(Reg.RAH + 8 * i, 0); }
    for (let k = 127; k >= 0; k--) this.write(Reg.MTA + 4 * k, this.mta[k]);
  }

  /** Set or clear VLAN ID `vid` in the VFTA. */
  setVlan(vid: number, on: boolean): void {
    const w = vid >> 5;
    if (on) this.vfta[w] |= 1 << (vid & 31); else this.vfta[w] &= ~(1 << (vid & 31));
    this.write(Reg.VFTA + 4 * w, this.vfta[w] >>> 0);
  }

  // ---- transmit ----

  private get txFree(): number {
    const n = this.opts.txDescs;
    return (this.txNtc - this.txNtu - 1 + n) % n;
  }

  private putDesc(i: number, addr: number, lower: number, upper: number): void {
    const p = this.txRing + i * DESC_BYTES;
    this.ram.w64(p, BigInt(addr));
    this.ram.w32(p + 8, lower >>> 0);
    this.ram.w32(p + 12, upper >>> 0);
  }

  private putContext(i: number, ipcss: number, ipcso: number, ipcse: number, tucss: number, tucso: number, tucse: number, cmdLen: number, hdrLen: number, mss: number): void {
    const p = this.txRing + i * DESC_BYTES;
    this.ram.w32(p, (ipcss | (ipcso << 8) | (ipcse << 16)) >>> 0);
    this.ram.w32(p + 4, (tucss | (tucso << 8) | (tucse << 16)) >>> 0);
    this.ram.w32(p + 8, cmdLen >>> 0);
    this.ram.w32(p + 12, (hdrLen << 8 | mss << 16) >>> 0);
  }

  /** Pieces of `len` bytes per descriptor. */
  private pieces(len: number, split?: number[]): number[] {
    const out: number[] = [];
    let left = len;
    for (const s of split ?? []) { if (left <= 0) break; const k = Math.min(s, left); out.push(k); left -= k; }
    while (left > 0) { const k = Math.min(this.opts.txBufferSize, left); out.push(k); left -= k; }
    if (out.length === 0) out.push(0);
    for (const k of out) if (k > this.opts.txBufferSize) throw new RangeError(`a piece of ${k} bytes exceeds txBufferSize`);
    return out;
  }

  /**
   * Queue one packet. Returns false (nothing queued) when the ring lacks the
   * descriptors. Checksum offload uses a context descriptor and extended data
   * descriptors; otherwise legacy descriptors.
   */
  transmit(frame: Uint8Array, t: E1000TxOptions = {}): boolean {
    const parts = this.pieces(frame.length, t.split);
    const ctx = t.csum !== undefined;
    if (this.txFree < parts.length + (ctx ? 1 : 0)) return false;
    const n = this.opts.txDescs;
    const first = this.txNtu;
    if (ctx) {
      const c = t.csum!;
      const ip = c.ip;
      this.putContext(this.txNtu, ip?.start ?? 0, ip ? ip.start + ip.offset : 0, ip?.end ?? 0, c.start, c.start + c.offset, 0, (Txd.DEXT | (c.tcp ? Txd.TUCMD_TCP : 0) | (ip ? Txd.TUCMD_IP : 0)) << 24, 0, 0);
      this.txNtu = (this.txNtu + 1) % n;
    }
    let off = 0;
    let last = this.txNtu;
    parts.forEach((k, j) => {
      const i = this.txNtu;
      const buf = this.txBufs + i * this.opts.txBufferSize;
      this.ram.write(buf, frame.subarray(off, off + k));
      off += k;
      const eop = j === parts.length - 1;
      let cmd = Txd.IFCS | (eop ? Txd.EOP | Txd.RS | (this.opts.ide ? Txd.IDE : 0) : 0);
      if (t.vlan !== undefined) cmd |= Txd.VLE;
      let lower: number, upper: number;
      if (ctx) {
        lower = k | Txd.DTYP_DATA | ((cmd | Txd.DEXT) << 24);
        upper = ((Txd.POPTS_TXSM | (t.csum!.ip ? Txd.POPTS_IXSM : 0)) << 8) | ((t.vlan ?? 0) << 16);
      } else {
        if (t.legacyCsum) cmd |= Txd.IC;
        lower = k | ((t.legacyCsum?.cso ?? 0) << 16) | (cmd << 24);
        upper = ((t.legacyCsum?.css ?? 0) << 8) | ((t.vlan ?? 0) << 16);
      }
      this.putDesc(i, buf, lower, upper);
      last = i;
      this.txNtu = (this.txNtu + 1) % n;
    });
    this.txInFlight.push({ eop: last, count: (this.txNtu - first + n) % n });
    this.txPackets++;
    if (t.kick ?? true) this.flushTx();
    return true;
  }

  /**
   * TCP segmentation of an IPv4/TCP packet longer than one segment, prepared
   * as Linux's e1000_tso does: IP total length and checksum zeroed, the TCP
   * checksum field set to the pseudo-header sum without a length, a context
   * descriptor with TSE/IP/TCP, HDRLEN, MSS and PAYLEN, data descriptors with
   * TSE and both checksum options.
   */
  transmitTso(packet: Uint8Array, mss: number, t: { vlan?: number; split?: number[]; kick?: boolean } = {}): boolean {
    const p = packet.slice();
    if (((p[12] << 8) | p[13]) !== 0x0800) throw new Error("transmitTso: not IPv4");
    const ipcss = 14, ihl = (p[14] & 15) * 4, tucss = ipcss + ihl, thl = (p[tucss + 12] >> 4) * 4;
    if (p[ipcss + 9] !== 6) throw new Error("transmitTso: not TCP");
    const hdr = tucss + thl;
    p[ipcss + 2] = 0; p[ipcss + 3] = 0; p[ipcss + 10] = 0; p[ipcss + 11] = 0;
    const ps = pseudoHeaderSum(p.subarray(ipcss, ipcss + 20), 6, 0);
    p[tucss + 16] = ps >> 8; p[tucss + 17] = ps & 0xff;
    const parts = this.pieces(p.length, t.split);
    if (this.txFree < parts.length + 1) return false;
    const n = this.opts.txDescs;
    const first = this.txNtu;
    const paylen = p.length - hdr;
    this.putContext(this.txNtu, ipcss, ipcss + 10, tucss - 1, tucss, tucss + 16, 0,
      paylen | Txd.DTYP_CONTEXT | ((Txd.DEXT | Txd.TSE << 0 | Txd.TUCMD_IP | Txd.TUCMD_TCP) << 24), hdr, mss);
    this.txNtu = (this.txNtu + 1) % n;
    let off = 0, last = this.txNtu;
    parts.forEach((k, j) => {
      const i = this.txNtu;
      const buf = this.txBufs + i * this.opts.txBufferSize;
      this.ram.write(buf, p.subarray(off, off + k));
      off += k;
      const eop = j === parts.length - 1;
      let cmd = Txd.IFCS | Txd.DEXT | Txd.TSE | (eop ? Txd.EOP | Txd.RS | (this.opts.ide ? Txd.IDE : 0) : 0);
      if (t.vlan !== undefined) cmd |= Txd.VLE;
      this.putDesc(i, buf, k | Txd.DTYP_DATA | (cmd << 24), ((Txd.POPTS_TXSM | Txd.POPTS_IXSM) << 8) | ((t.vlan ?? 0) << 16));
      last = i;
      this.txNtu = (this.txNtu + 1) % n;
    });
    this.txInFlight.push({ eop: last, count: (this.txNtu - first + n) % n });
    this.txPackets++;
    if (t.kick ?? true) this.flushTx();
    return true;
  }

  /** Tell the device about queued packets (TDT). */
  flushTx(): void { this.write(Reg.TDT, this.txNtu); }

  /** Free the descriptors of sent packets (DD on their EOP descriptor). Returns packets completed. */
  reclaimTx(): number {
    let done = 0;
    const n = this.opts.txDescs;
    while (this.txInFlight.length) {
      const p = this.txInFlight[0];
      const sta = this.ram.r8(this.txRing + p.eop * DESC_BYTES + 12);
      if ((sta & Txd.STA_DD) === 0) break;
      this.txInFlight.shift();
      this.txNtc = (this.txNtc + p.count) % n;
      done++;
    }
    this.txCompleted += done;
    return done;
  }

  /** Packets queued and not yet completed. */
  get txPending(): number { return this.txInFlight.length; }

  // ---- receive ----

  /** Take completed receive descriptors, reassemble frames, give the buffers back (RDT). Returns frames taken. */
  pollRx(): number {
    const o = this.opts;
    const n = o.rxDescs;
    let frames = 0, used = 0;
    // Bounded by the ring: a descriptor is taken once per round.
    while (used < n) {
      const d = this.rxRing + this.rxNtc * DESC_BYTES;
      const status = this.ram.r8(d + 12);
      if ((status & Rxd.DD) === 0) break;
      const len = this.ram.r16(d + 8), errors = this.ram.r8(d + 13), special = this.ram.r16(d + 14);
      this.chain.push(this.ram.read(this.rxBufs + this.rxNtc * o.rxBufferSize, len));
      this.chainDescs++;
      this.ram.w8(d + 12, 0);
      this.rxNtc = (this.rxNtc + 1) % n;
      used++;
      if ((status & Rxd.EOP) === 0) continue;
      const total = this.chain.reduce((a, c) => a + c.length, 0);
      const all = new Uint8Array(total);
      let p = 0;
      for (const c of this.chain) { all.set(c, p); p += c.length; }
      const descs = this.chainDescs;
      this.chain = []; this.chainDescs = 0;
      if (errors & (Rxd.ERR_CE | Rxd.ERR_SE | Rxd.ERR_SEQ | Rxd.ERR_CXE | Rxd.ERR_RXE) || (!o.secrc && total < 4)) { this.rxDiscarded++; continue; }
      const body = o.secrc ? all : all.subarray(0, total - 4);
      this.received.push({ data: body, fcs: o.secrc ? null : all.subarray(total - 4), status, errors, special, descriptors: descs });
      this.rxFrames++;
      frames++;
    }
    if (used) this.write(Reg.RDT, (this.rxNtc - 1 + n) % n);
    return frames;
  }

  /** Frames received so far, in order (and forget them). */
  takeReceived(): E1000RxFrame[] { const r = this.received; this.received = []; return r; }

  /** Interrupt service: read (and clear) ICR, then receive and reclaim. Returns the causes. */
  service(): number {
    const icr = this.read(Reg.ICR);
    this.causes |= icr;
    this.pollRx();
    this.reclaimTx();
    return icr;
  }

  // ---- statistics ----

  /** Read every statistics register (each read clears it) and add it to `stats`. */
  readStats(): Record<keyof typeof Stat, bigint> {
    for (const k of Object.keys(Stat) as Array<keyof typeof Stat>) this.stats[k] += BigInt(this.read(Stat[k]));
    return this.stats;
  }

  /** Guest-physical placement of the rings (tests and fuzzers). */
  get layout(): { rxRing: number; txRing: number; rxBufs: number; txBufs: number; rxDescs: number; txDescs: number; rxBufferSize: number; txBufferSize: number; heap: [number, number] } {
    const o = this.opts;
    return { rxRing: this.rxRing, txRing: this.txRing, rxBufs: this.rxBufs, txBufs: this.txBufs, rxDescs: o.rxDescs, txDescs: o.txDescs, rxBufferSize: o.rxBufferSize, txBufferSize: o.txBufferSize, heap: this.heap };
  }
}
