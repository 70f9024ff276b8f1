// An NE2000 driver model, written from the DP8390D data sheet and the
// NE2000 board conventions (station-address PROM, data and reset ports),
// independently of vmdev's device model: the guest side of every NE2000
// test and benchmark.
//
//   probe()     the 8390 check (MAR5 on page 1 / CNTR0 on page 0), a board
//               reset through the reset port (ISR.RST), the PROM read in byte
//               mode (doubled bytes = word-wide board, 0x57 0x57 signature)
//   init()      the data sheet's initialization sequence ("Initialization
//               Procedures" steps 1-11): stop, DCR, RBCR = 0, RCR, loopback,
//               ring (BNRY, PSTART, PSTOP), ISR = ff, IMR, page 1 PAR/MAR/CURR,
//               start, TCR normal
//   transmit()  frames queue (bounded) into one or two transmit buffers on
//               the card by remote write; the next one starts on PTX/TXE
//   service()   the interrupt handler: OVW (the data sheet's overflow recovery),
//               PRX/RXE (packets from BNRY + 1 up to CURR: header, frame, BNRY),
//               PTX/TXE, CNT (tally counters), RDC
//   setMulticast/setPromiscuous/setAllMulti   RCR and the MAR hash filter,
//               the hash computed here from the CRC's definition
//
// Remote DMA moves 8, 16 or 32 bits per port access (dataWidth), with string
// I/O when the port path has it, as Linux's ne2k-pci does (insl/outsl, then a
// word and a byte for the remainder).

import { Cmd, Dcr, ETH_FRAME_MAX, ETH_ZLEN, IMR_DRIVER, Isr, NE_MEM_START_PAGE, NE_MEM_STOP_PAGE, P0R, P0W, P1, PKT_HEADER, Port, Rcr, Rsr, Tcr, Tsr } from "./defs.js";
import type { IoWidth, PortIo } from "./port-io.js";

export interface Ne2kDriverOptions {
  /** Bits per data-port access in remote DMA: 8 (byte mode), 16 or 32 (word mode). Default 16. */
  dataWidth?: 8 | 16 | 32;
  /** Use the port path's string I/O for the data port when it has it (default true). */
  stringIo?: boolean;
  /** First transmit page (default 0x40), first and stop pages of the receive ring (default 0x4c, 0x80). */
  txStartPage?: number;
  rxStartPage?: number;
  stopPage?: number;
  /** Two transmit buffers of 6 pages, loaded while the other sends (default true). */
  pingPong?: boolean;
  /** Packets one receive pass reads before it acknowledges PRX (default: until CURR). Linux's 8390 reads 9. */
  rxBudget?: number;
  /**
   * Write BNRY = next − 1 without wrapping it into the ring (so PSTART − 1 when
   * the next packet is at PSTART), as Linux's 8390 driver does. Default false:
   * the data sheet's ring order (PSTOP − 1).
   */
  linuxBoundary?: boolean;
  /** Passes of the interrupt handler per service() call before it returns (default 64; Linux's MAX_SERVICE is 12). */
  servicePasses?: number;
  /** Frames `transmit` queues while both buffers are busy (default 256). */
  txQueue?: number;
  /** Receive configuration beyond what the filter calls set (default AB). */
  rcr?: number;
}

export interface ProbeResult {
  /** The MAC in the station-address PROM. */
  mac: Uint8Array;
  /** The PROM reads doubled in byte mode: a 16-bit (NE2000, not NE1000) board. */
  wordWide: boolean;
  /** Bytes 14-15 of the PROM are 0x57 0x57. */
  signature: boolean;
  /** Page-0 registers 0x0a/0x0b read 'P' 'C' (RTL8029). */
  rtl8029: boolean;
}

export interface Ne2kDriverStats {
  rxFrames: number;
  rxBytes: number;
  /** Packets whose header was inconsistent (next page, length): the ring was resynchronised to CURR. */
  rxBadHeaders: number;
  /** Packets with RSR error bits (not PRX). */
  rxErrors: number;
  rxOverruns: number;
  txFrames: number;
  txErrors: number;
  /** transmit() refused: the queue was full. */
  txQueueFull: number;
  /** Remote DMAs whose RDC never came. */
  rdcTimeouts: number;
  interrupts: number;
  /** CNTR0-2 as read (frame alignment, CRC, missed packets). */
  tallyFrameAlignment: number;
  tallyCrc: number;
  tallyMissed: number;
}

/** Polls of ISR for RDC before a remote DMA is given up on. */
const RDC_POLLS = 64;
const TX_PAGES = 6;

/** The 6-bit multicast hash index of `addr` (data sheet: the CRC's 6 most significant bits; bits 5-3 pick MAR0-7, bits 2-0 the bit). */
export function multicastHashIndex(addr: Uint8Array): number {
  // IEEE 802.3 CRC-32 computed the reflected way (LSB-first register, polynomial
  // 0xEDB88320, preset ones); the 8390's MSB-first register is its bit-reversal,
  // so its top 6 bits are the reversed low 6 bits of this register.
  let r = 0xffffffff;
  for (let i = 0; i < 6; i++) {
    r ^= addr[i];
    for (let k = 0; k < 8; k++) r = r & 1 ? (r >>> 1) ^ 0xedb88320 : r >>> 1;
  }
  let idx = 0;
  for (let k = 0; k < 6; k++) idx |= ((r >>> k) & 1) << (5 - k);
  return idx;
}

/** The 8 MAR bytes that accept `addrs`. */
export function multicastFilter(addrs: readonly Uint8Array[]): Uint8Array {
  const mar = new Uint8Array(8);
  for (const a of addrs) { const i = multicastHashIndex(a); mar[i >> 3] |= 1 << (i & 7); }
  return mar;
}

interface TxBuffer { page: number; len: number; loaded: boolean }

export class Ne2kDriver {
  readonly opts: Required<Omit<Ne2kDriverOptions, "rcr">> & { rcr: number };
  mac: Uint8Array = new Uint8Array(6);
  readonly stats: Ne2kDriverStats = {
    rxFrames: 0, rxBytes: 0, rxBadHeaders: 0, rxErrors: 0, rxOverruns: 0, txFrames: 0, txErrors: 0, txQueueFull: 0, rdcTimeouts: 0,
    interrupts: 0, tallyFrameAlignment: 0, tallyCrc: 0, tallyMissed: 0,
  };
  /** Frames received and not yet taken. */
  private rx: Uint8Array[] = [];
  private txq: Uint8Array[] = [];
  private readonly bufs: TxBuffer[];
  /** Buffer being sent, or -1. */
  private sending = -1;
  /** Loaded buffers in the order their frames were queued: they are sent in that order. */
  private loadedOrder: number[] = [];
  /** CR's run bits: STP until init() starts the NIC. */
  private run: number = Cmd.STP;
  /** The next packet to read (the driver's own copy of BNRY + 1). */
  private current = 0;
  private rcr: number;
  private mar: Uint8Array = new Uint8Array(8);
  private started = false;

  constructor(readonly io: PortIo, opts: Ne2kDriverOptions = {}) {
    this.opts = {
      dataWidth: opts.dataWidth ?? 16, stringIo: opts.stringIo ?? true,
      txStartPage: opts.txStartPage ?? NE_MEM_START_PAGE, rxStartPage: opts.rxStartPage ?? NE_MEM_START_PAGE + 2 * TX_PAGES,
      stopPage: opts.stopPage ?? NE_MEM_STOP_PAGE, pingPong: opts.pingPong ?? true, rxBudget: opts.rxBudget ?? Infinity,
      linuxBoundary: opts.linuxBoundary ?? false, servicePasses: opts.servicePasses ?? 64, txQueue: opts.txQueue ?? 256, rcr: opts.rcr ?? Rcr.AB,
    };
    this.rcr = this.opts.rcr;
    const t = this.opts.txStartPage;
    this.bufs = this.opts.pingPong ? [{ page: t, len: 0, loaded: false }, { page: t + TX_PAGES, len: 0, loaded: false }] : [{ page: t, len: 0, loaded: false }];
  }

  // ---- register access ----

  private outb(reg: number, v: number): void { this.io.write(reg, 1, v & 0xff); }
  private inb(reg: number): number { return this.io.read(reg, 1) & 0xff; }
  /** CR with the run bits the driver keeps. */
  private cmd(bits: number): void { this.outb(Port.CMD, bits | this.run); }
  private page0(): void { this.cmd(Cmd.NODMA | Cmd.PAGE0); }

  /** Reads a page-0 register (the driver stays in page 0 between calls). */
  readReg(reg: number): number { return this.inb(reg); }

  // ---- probe and init ----

  /** Find and reset the board and read its PROM. Throws if no DP8390 answers. */
  probe(): ProbeResult {
    const cr = this.inb(Port.CMD);
    if (cr === 0xff) throw new Error("ne2k probe: CR reads 0xff (no board)");
    // A DP8390 keeps MAR5 on page 1 apart from CNTR0 on page 0, which a read clears.
    this.outb(Port.CMD, Cmd.NODMA | Cmd.PAGE1 | Cmd.STP);
    this.outb(0x0d, 0xff);
    this.outb(Port.CMD, Cmd.NODMA | Cmd.PAGE0 | Cmd.STP);
    this.inb(P0R.CNTR0);
    if (this.inb(P0R.CNTR0) !== 0) throw new Error("ne2k probe: CNTR0 did not clear on read (not a DP8390)");
    this.resetBoard();
    // The PROM in byte mode: 32 bytes from address 0.
    this.run = Cmd.STP;
    this.page0();
    this.outb(P0W.DCR, Dcr.FT8 | Dcr.LS);
    this.outb(P0W.RBCR0, 0); this.outb(P0W.RBCR1, 0);
    this.outb(P0W.IMR, 0);
    this.outb(P0W.ISR, 0xff);
    this.outb(P0W.RCR, Rcr.MON);
    this.outb(P0W.TCR, Tcr.LOOPBACK1);
    const prom = this.remoteRead(0, 32, 8);
    let wordWide = true;
    for (let i = 0; i < 32; i += 2) if (prom[i] !== prom[i + 1]) wordWide = false;
    const bytes = wordWide ? Uint8Array.from({ length: 16 }, (_, i) => prom[2 * i]) : prom.subarray(0, 16);
    this.mac = bytes.slice(0, 6);
    return {
      mac: this.mac.slice(), wordWide, signature: bytes[14] === 0x57 && bytes[15] === 0x57,
      rtl8029: this.inb(P0R.ID0) === 0x50 && this.inb(P0R.ID1) === 0x43,
    };
  }

  /** Reset through the board's reset port and wait (bounded) for ISR.RST. */
  resetBoard(): void {
    this.io.write(Port.RESET, 1, this.inb(Port.RESET));
    for (let i = 0; i < 100; i++) if (this.inb(P0R.ISR) & Isr.RST) { this.outb(P0W.ISR, 0xff); return; }
    throw new Error("ne2k: no ISR.RST after a board reset");
  }

  /** The data sheet's initialization sequence; the NIC is started at the end. */
  init(): void {
    const o = this.opts;
    this.run = Cmd.STP;
    this.page0();                                                           // 1. stop, page 0
    this.outb(P0W.DCR, (o.dataWidth === 8 ? 0 : Dcr.WTS) | Dcr.LS | Dcr.FT8); // 2. DCR
    this.outb(P0W.RBCR0, 0); this.outb(P0W.RBCR1, 0);                        // 3. clear RBCR
    this.outb(P0W.RCR, this.rcr);                                           // 4. RCR
    this.outb(P0W.TCR, Tcr.LOOPBACK1);                                      // 5. loopback mode 1
    this.outb(P0W.BNRY, o.rxStartPage);                                     // 6. ring
    this.outb(P0W.PSTART, o.rxStartPage);
    this.outb(P0W.PSTOP, o.stopPage);
    this.outb(P0W.ISR, 0xff);                                               // 7. clear ISR
    this.outb(P0W.IMR, IMR_DRIVER);                                         // 8. IMR
    this.cmd(Cmd.NODMA | Cmd.PAGE1);                                        // 9. page 1: PAR, MAR, CURR
    for (let i = 0; i < 6; i++) this.outb(P1.PAR0 + i, this.mac[i]);
    for (let i = 0; i < 8; i++) this.outb(P1.MAR0 + i, this.mar[i]);
    this.current = o.rxStartPage + 1;
    this.outb(P1.CURR, this.current);
    this.run = Cmd.STA;
    this.page0();                                                           // 10. start
    this.outb(P0W.TCR, Tcr.NORMAL);                                         // 11. normal transmit
    for (const b of this.bufs) { b.loaded = false; b.len = 0; }
    this.loadedOrder = [];
    this.sending = -1;
    this.started = true;
  }

  /** Stop the NIC (CR.STP) and mask its interrupts. */
  stop(): void {
    this.run = Cmd.STP;
    this.page0();
    this.outb(P0W.IMR, 0);
    this.started = false;
  }

  // ---- remote DMA ----

  private get width(): number { return this.opts.dataWidth; }

  private waitRdc(): void {
    for (let i = 0; i < RDC_POLLS; i++) {
      if (this.inb(P0R.ISR) & Isr.RDC) { this.outb(P0W.ISR, Isr.RDC); return; }
    }
    this.stats.rdcTimeouts++;
  }

  /** Read `count` bytes of card memory from `addr` (the NIC wraps the address at PSTOP). */
  remoteRead(addr: number, count: number, width = this.width): Uint8Array {
    this.page0();
    this.outb(P0W.RBCR0, count & 0xff); this.outb(P0W.RBCR1, count >> 8);
    this.outb(P0W.RSAR0, addr & 0xff); this.outb(P0W.RSAR1, addr >> 8);
    this.cmd(Cmd.RREAD | Cmd.PAGE0);
    const out = new Uint8Array(count);
    let at = 0;
    const io = this.io, str = this.opts.stringIo ? io.readString?.bind(io) : undefined;
    const wide = width === 32 ? 4 : width === 16 ? 2 : 1;
    const n = Math.floor(count / wide);
    if (n > 0) {
      if (str) { out.set(str(Port.DATA, wide as IoWidth, n), 0); }
      else for (let i = 0; i < n; i++) { const v = io.read(Port.DATA, wide as IoWidth); for (let k = 0; k < wide; k++) out[i * wide + k] = (v >>> (8 * k)) & 0xff; }
      at = n * wide;
    }
    // The rest: a word, then a byte (word mode moves a word for it; its low byte is ours).
    if (wide === 4 && count - at >= 2) { const v = io.read(Port.DATA, 2); out[at] = v & 0xff; out[at + 1] = (v >> 8) & 0xff; at += 2; }
    if (count - at >= 1) { out[at] = io.read(Port.DATA, 1) & 0xff; at++; }
    this.waitRdc();
    return out;
  }

  /** Write `data` to card memory at `addr`, the count rounded up to whole words in word mode. */
  remoteWrite(addr: number, data: Uint8Array, width = this.width): void {
    const wide = width === 32 ? 4 : width === 16 ? 2 : 1;
    const count = wide === 1 ? data.length : data.length + (data.length & 1);
    const buf = count === data.length ? data : (() => { const b = new Uint8Array(count); b.set(data); return b; })();
    this.page0();
    this.outb(P0W.ISR, Isr.RDC);
    this.outb(P0W.RBCR0, count & 0xff); this.outb(P0W.RBCR1, count >> 8);
    this.outb(P0W.RSAR0, addr & 0xff); this.outb(P0W.RSAR1, addr >> 8);
    this.cmd(Cmd.RWRITE | Cmd.PAGE0);
    const io = this.io, str = this.opts.stringIo ? io.writeString?.bind(io) : undefined;
    const n = Math.floor(count / wide);
    if (n > 0) {
      if (str) str(Port.DATA, wide as IoWidth, buf.subarray(0, n * wide));
      else for (let i = 0; i < n; i++) { let v = 0; for (let k = 0; k < wide; k++) v |= buf[i * wide + k] << (8 * k); io.write(Port.DATA, wide as IoWidth, v >>> 0); }
    }
    const at = n * wide;
    if (wide === 4 && count - at >= 2) io.write(Port.DATA, 2, buf[at] | (buf[at + 1] << 8));
    this.waitRdc();
  }

  // ---- transmit ----

  /** Queue a frame (padded to 60 bytes); false if the queue is full. */
  transmit(frame: Uint8Array): boolean {
    if (frame.length > ETH_FRAME_MAX) throw new RangeError(`frame of ${frame.length} bytes is longer than ${ETH_FRAME_MAX}`);
    if (this.txq.length >= this.opts.txQueue) { this.stats.txQueueFull++; return false; }
    let f = frame;
    if (f.length < ETH_ZLEN) { f = new Uint8Array(ETH_ZLEN); f.set(frame); }
    this.txq.push(f);
    this.kickTx();
    return true;
  }

  /** Frames queued and not yet in a transmit buffer. */
  get txQueued(): number { return this.txq.length; }
  /** A transmission is in progress or loaded. */
  get txBusy(): boolean { return this.sending >= 0 || this.bufs.some((b) => b.loaded); }

  private kickTx(): void {
    if (!this.started) return;
    for (const b of this.bufs) {
      if (b.loaded || this.txq.length === 0) continue;
      if (this.sending >= 0 && this.bufs[this.sending] === b) continue;
      const f = this.txq.shift()!;
      this.remoteWrite(b.page << 8, f);
      b.len = f.length;
      b.loaded = true;
      this.loadedOrder.push(this.bufs.indexOf(b));
    }
    if (this.sending < 0 && this.loadedOrder.length > 0) this.trigger(this.loadedOrder[0]);
  }

  private trigger(i: number): void {
    const b = this.bufs[i];
    this.page0();
    this.outb(P0W.TPSR, b.page);
    this.outb(P0W.TBCR0, b.len & 0xff); this.outb(P0W.TBCR1, b.len >> 8);
    this.cmd(Cmd.NODMA | Cmd.TXP | Cmd.PAGE0);
    this.sending = i;
    b.loaded = false;
    this.loadedOrder.splice(this.loadedOrder.indexOf(i), 1);
  }

  private txDone(ok: boolean): void {
    const tsr = this.inb(P0R.TSR);
    if (ok && (tsr & Tsr.PTX)) this.stats.txFrames++;
    else this.stats.txErrors++;
    this.sending = -1;
    this.kickTx();
  }

  // ---- receive ----

  /** Frames received since the last call. */
  takeReceived(): Uint8Array[] { const r = this.rx; this.rx = []; return r; }
  /** Frames received and not yet taken. */
  get receivedCount(): number { return this.rx.length; }

  private writeBoundary(next: number): void {
    const o = this.opts;
    let b = next - 1;
    if (b < o.rxStartPage && !o.linuxBoundary) b = o.stopPage - 1;
    this.outb(P0W.BNRY, b & 0xff);
  }

  private readCurr(): number {
    this.cmd(Cmd.NODMA | Cmd.PAGE1);
    const c = this.inb(P1.CURR);
    this.page0();
    return c;
  }

  /** Read packets from the ring up to CURR (or the budget), then acknowledge PRX/RXE. */
  private receive(): void {
    const o = this.opts, ringPages = o.stopPage - o.rxStartPage;
    for (let n = 0; n < o.rxBudget; n++) {
      const curr = this.readCurr();
      if (this.current === curr) break;
      const at = this.current;
      const h = this.remoteRead(at << 8, PKT_HEADER);
      const status = h[0], next = h[1], count = h[2] | (h[3] << 8);
      const len = count - PKT_HEADER;
      let expect = at + Math.ceil(count / 256);
      if (expect >= o.stopPage) expect -= ringPages;
      if (next !== expect || len < ETH_ZLEN || len > ETH_FRAME_MAX) {
        this.stats.rxBadHeaders++;
        this.current = curr;
        this.writeBoundary(curr);
        break;
      }
      if (status & Rsr.PRX) {
        const data = this.remoteRead((at << 8) + PKT_HEADER, len);
        this.rx.push(data);
        this.stats.rxFrames++;
        this.stats.rxBytes += len;
      } else this.stats.rxErrors++;
      this.current = next;
      this.writeBoundary(next);
    }
    this.outb(P0W.ISR, Isr.PRX | Isr.RXE);
  }

  /** The data sheet's receive buffer ring overflow recovery. */
  private overrun(): void {
    this.stats.rxOverruns++;
    const wasTx = this.inb(Port.CMD) & Cmd.TXP;
    this.run = Cmd.STP;
    this.page0();                                       // 2. stop
    this.outb(P0W.RBCR0, 0); this.outb(P0W.RBCR1, 0);  // 4. clear RBCR
    const resend = wasTx !== 0 && (this.inb(P0R.ISR) & (Isr.PTX | Isr.TXE)) === 0;
    this.outb(P0W.TCR, Tcr.LOOPBACK1);                  // 5. loopback
    this.run = Cmd.STA;
    this.page0();                                       // 6. start
    this.receive();                                     // 7. remove packets
    this.outb(P0W.ISR, Isr.OVW);
    this.outb(P0W.TCR, Tcr.NORMAL);                     // 8. out of loopback
    if (resend) this.cmd(Cmd.NODMA | Cmd.TXP | Cmd.PAGE0);
  }

  /**
   * The interrupt handler: service what ISR shows until it shows nothing the
   * driver enabled (bounded). Returns the passes that found work.
   */
  service(): number {
    let passes = 0;
    this.stats.interrupts++;
    for (let i = 0; i < this.opts.servicePasses; i++) {
      this.page0();
      const isr = this.inb(P0R.ISR);
      if ((isr & (IMR_DRIVER | Isr.RDC)) === 0) break;
      passes++;
      if (isr & Isr.OVW) this.overrun();
      else if (isr & (Isr.PRX | Isr.RXE)) this.receive();
      if (isr & Isr.PTX) { this.outb(P0W.ISR, Isr.PTX); this.txDone(true); }
      else if (isr & Isr.TXE) { this.outb(P0W.ISR, Isr.TXE); this.txDone(false); }
      if (isr & Isr.CNT) { this.readTallies(); this.outb(P0W.ISR, Isr.CNT); }
      if (isr & Isr.RDC) this.outb(P0W.ISR, Isr.RDC);
    }
    return passes;
  }

  /** Read (and so clear) the tally counters. */
  readTallies(): void {
    this.page0();
    this.stats.tallyFrameAlignment += this.inb(P0R.CNTR0);
    this.stats.tallyCrc += this.inb(P0R.CNTR1);
    this.stats.tallyMissed += this.inb(P0R.CNTR2);
  }

  // ---- filters ----

  private writeRcr(): void { this.page0(); this.outb(P0W.RCR, this.rcr); }

  private writeMar(): void {
    this.cmd(Cmd.NODMA | Cmd.PAGE1);
    for (let i = 0; i < 8; i++) this.outb(P1.MAR0 + i, this.mar[i]);
    this.page0();
  }

  /** Accept exactly these groups (hash-filtered): MAR from their CRC, RCR.AM when any. */
  setMulticast(addrs: readonly Uint8Array[]): void {
    this.mar = multicastFilter(addrs);
    this.writeMar();
    this.rcr = addrs.length > 0 ? this.rcr | Rcr.AM : this.rcr & ~Rcr.AM;
    this.writeRcr();
  }

  /** Accept every group address (MAR all ones, AM). */
  setAllMulti(on: boolean): void {
    this.mar = new Uint8Array(8).fill(on ? 0xff : 0);
    this.writeMar();
    this.rcr = on ? this.rcr | Rcr.AM : this.rcr & ~Rcr.AM;
    this.writeRcr();
  }

  /** Promiscuous: RCR.PRO for every individual address, and every group (MAR all ones, AM), as Linux does. */
  setPromiscuous(on: boolean): void {
    this.setAllMulti(on);
    this.rcr = on ? this.rcr | Rcr.PRO : this.rcr & ~Rcr.PRO;
    this.writeRcr();
  }

  /** Set RCR directly (AB, AM, PRO, MON, AR, SEP). */
  setRcr(rcr: number): void { this.rcr = rcr & 0x3f; this.writeRcr(); }
  /** The MAR bytes the driver last programmed. */
  get multicastBytes(): Uint8Array { return this.mar.slice(); }
}
