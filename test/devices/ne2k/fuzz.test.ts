// A structure-aware fuzz of the NE2000's port window, PCI configuration and
// host side: random register writes biased to meaningful values (ring pages,
// command bits with every RD and page, DCR modes), reads of every offset and
// width (valid or not), data-port bursts and string I/O in and out of a DMA,
// the reset port, host frames of every length and address class, the outbox
// left full or drained, PCI command and BAR writes, host resets. After every
// operation: nothing threw, the backlog and outbox are within their bounds,
// counters never go back, the interrupt line is what ISR & IMR say (PCI
// status bit 3, gated by INTx disable). Every
// 2048 operations the state is saved, restored into a twin and saved again
// (the blobs must match); at the end (and after every reset) a driver must
// bring the board up and move a frame each way.
//
// The seed is printed on failure; VMDEV_SEED=<n> replays it, VMDEV_NE2K_FUZZ_OPS sets the operations per case.
import { describe, expect, it } from "vitest";
import { Ne2k, NE2K_COUNTERS } from "../../../src/devices/ne2k/device.js";
import { NE2K_DEFS } from "../../../src/devices/ne2k/defs.js";
import { Ne2kDriver, IrqLine } from "../../../src/guest/ne2k/index.js";
import { Status } from "../../../src/status.js";
import { newCore, rng, testSeed } from "../../support/core.js";
import { ethFrame, seqOf, GUEST_MAC, windowIo } from "../../support/ne2k/rig.js";

const OPS = Number(process.env.VMDEV_NE2K_FUZZ_OPS ?? 60_000);
const INTERESTING = [0x00, 0x01, 0x02, 0x3f, 0x40, 0x41, 0x46, 0x4c, 0x4d, 0x60, 0x7f, 0x80, 0x81, 0xc0, 0xfe, 0xff];

async function fuzzCase(seed: number, bus: "pci" | "isa"): Promise<string[]> {
  const r = rng(seed);
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const byte = () => (r() < 0.6 ? pick(INTERESTING) : Math.floor(r() * 256));
  const width = () => pick([1, 1, 1, 2, 4, 3] as const) as 1 | 2 | 4;
  const core = await newCore(1 << 20);
  const line = new IrqLine();
  const dev = Ne2k.create(core, { mac: GUEST_MAC, interrupts: line, bus, backlogFrames: 1 + Math.floor(r() * 64) });
  const twin = Ne2k.create(core, { mac: GUEST_MAC, interrupts: new IrqLine(), bus, backlogFrames: 64 });
  const e = core.exports, h = dev.handle;
  const log: string[] = [];
  const note = (s: string) => { log.push(s); if (log.length > 40) log.shift(); };
  if (bus === "pci") e.ne2k_cfg_write(h, 4, 2, 1);
  let last = dev.counters();
  const io = (off: number, w: number, v?: number) => (bus === "pci" ? (v === undefined ? e.ne2k_bar_read(h, 0, off, w) : e.ne2k_bar_write(h, 0, off, w, v)) : (v === undefined ? e.ne2k_io_read(h, off, w) : e.ne2k_io_write(h, off, w, v)));

  const bringUp = (tag: string) => {
    e.ne2k_tx_done(h);
    dev.reset();
    if (bus === "pci") dev.pci!.configWrite(4, 2, 1);
    const got: Uint8Array[] = [];
    const sent: Uint8Array[] = [];
    dev.onTransmit = (f) => sent.push(f);
    const drv = new Ne2kDriver(windowIo(dev), { dataWidth: pick([8, 16, 32] as const) });
    drv.probe(); drv.init();
    expect(dev.receive(ethFrame(GUEST_MAC, 4242))).toBe(Status.OK);
    drv.transmit(ethFrame("02:00:00:00:00:05", 4343));
    for (let i = 0; i < 64 && line.level; i++) { drv.service(); got.push(...drv.takeReceived()); }
    expect(got.map(seqOf), tag).toEqual([4242]);
    expect(sent.map(seqOf), tag).toEqual([4343]);
    dev.onTransmit = null;
  };

  for (let i = 0; i < OPS; i++) {
    const k = r();
    if (k < 0.30) {
      const reg = Math.floor(r() * 16), v = reg === 0 ? (Math.floor(r() * 4) << 6) | (Math.floor(r() * 8) << 3) | Math.floor(r() * 8) : byte();
      note(`w ${reg.toString(16)}=${v.toString(16)}`);
      io(reg, 1, v);
    } else if (k < 0.45) {
      const off = r() < 0.97 ? Math.floor(r() * 0x18) : Math.floor(r() * 34), w = width();
      note(`r ${off.toString(16)}/${w}`);
      io(off, w);
    } else if (k < 0.60) {
      const w = pick([1, 2, 4] as const), n = Math.floor(r() * 64), wr = r() < 0.5;
      if (r() < 0.7) {
        // Program a remote DMA first: a count, a start in RAM, the PROM or anywhere, read or write.
        const count = r() < 0.2 ? byte() | (byte() << 8) : Math.floor(r() * 2 * n * w + 1), start = pick([0x4000 + Math.floor(r() * 0x4000), Math.floor(r() * 32), Math.floor(r() * 0x10000)]);
        io(0x0e, 1, pick([0x48, 0x49, 0x4b, byte()]));
        io(0x0a, 1, count & 0xff); io(0x0b, 1, count >> 8); io(0x08, 1, start & 0xff); io(0x09, 1, start >> 8);
        io(0, 1, (wr ? 0x10 : 0x08) | pick([0x02, 0x01, 0x00]));
        note(`dma ${wr ? "write" : "read"} ${count} at ${start.toString(16)}`);
      }
      note(`data ${wr ? "out" : "in"} ${n}×${w}`);
      for (let j = 0; j < n; j++) if (wr) io(0x10 + Math.floor(r() * (9 - w)), w, Math.floor(r() * 2 ** 32)); else io(0x10 + Math.floor(r() * (9 - w)), w);
    } else if (k < 0.63) {
      const w = pick([1, 2, 4] as const), n = Math.floor(r() * 300);
      note(`string ${n}×${w}`);
      if (r() < 0.5) expect(e.ne2k_io_read_string(h, 0x10, w, n, 0)).toBe(Status.OK);
      else { core.io().fill(0xa5, 0, n * w); expect(e.ne2k_io_write_string(h, 0x10, w, n, 0)).toBe(Status.OK); }
    } else if (k < 0.75) {
      const len = r() < 0.1 ? Math.floor(r() * 1700) : 14 + Math.floor(r() * 1505);
      const dst = pick(["52:54:00:12:34:56", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01", "02:00:00:00:00:99"]);
      const f = len >= 18 ? ethFrame(dst, i, len) : new Uint8Array(len);
      note(`rx ${len} to ${dst}`);
      core.io().set(f, 0);
      const st = e.ne2k_receive(h, 0, f.length);
      expect([Status.OK, Status.ERR_FULL, Status.ERR_INVALID_ARG]).toContain(st);
    } else if (k < 0.78) {
      note("tx_done");
      e.ne2k_tx_done(h);
    } else if (k < 0.80) {
      const page = pick([0x40, 0x46, 0x7a, 0x7f, byte()]), len = r() < 0.8 ? 14 + Math.floor(r() * 1505) : byte() | (byte() << 8);
      note(`txp ${page.toString(16)} ${len}`);
      io(4, 1, page); io(5, 1, len & 0xff); io(6, 1, len >> 8); io(0, 1, 0x26 | (pick([0, 0, 1, 2]) << 6));
    } else if (k < 0.83) {
      // A ring Linux-style or random, then start.
      const ps = pick([0x40, 0x46, 0x4c, 0x60, 0x7e, Math.floor(r() * 256)]), pe = pick([0x80, 0x60, ps + 1, ps + 2, Math.floor(r() * 256)]);
      note(`ring ${ps.toString(16)}-${pe.toString(16)}`);
      io(0, 1, 0x21); io(1, 1, ps); io(2, 1, pe); io(3, 1, pick([ps, pe - 1, ps - 1, byte()]));
      io(0, 1, 0x61); io(7, 1, pick([ps, ps + 1, byte()])); io(0, 1, 0x22); io(0x0c, 1, byte() & 0x3f); io(0x0d, 1, pick([0, 0, 2, 4, 6]));
    } else if (k < 0.86 && bus === "pci") {
      const off = pick([4, 5, 6, 0x10, 0x11, 0x3c, 0x14, Math.floor(r() * 260)]), w = width(), v = Math.floor(r() * 2 ** 32);
      note(`cfg w ${off.toString(16)}/${w}=${v.toString(16)}`);
      e.ne2k_cfg_write(h, off, w, v);
      e.ne2k_cfg_read(h, Math.floor(r() * 260), width());
      if (r() < 0.7) e.ne2k_cfg_write(h, 4, 2, 1);
    } else if (k < 0.87) {
      note("reset port");
      io(0x18 + Math.floor(r() * 8), 1);
    } else if (k < 0.8705) {
      note("bring up");
      bringUp(`after op ${i}`);
    } else {
      const reg = Math.floor(r() * 16), v = byte();
      note(`w page ${reg.toString(16)}=${v.toString(16)}`);
      io(reg, 1, v);
    }
    // Invariants.
    const bl = e.ne2k_backlog(h);
    expect(bl).toBeGreaterThanOrEqual(0);
    expect(e.ne2k_tx_frames(h)).toBeLessThanOrEqual(NE2K_DEFS.OUTBOX_FRAMES);
    if (bus === "pci") {
      // The line is ISR & IMR (PCI status bit 3) unless INTx is disabled.
      const cmdStatus = e.ne2k_cfg_read(h, 4, 4);
      expect(e.ne2k_intx(h) === 1).toBe((cmdStatus & (1 << 19)) !== 0 && (cmdStatus & 0x400) === 0);
    }
    if ((i & 255) === 0) {
      const c = dev.counters();
      for (const name of Object.keys(NE2K_COUNTERS)) expect(c[name] >= last[name], name).toBe(true);
      last = c;
    }
    if ((i & 2047) === 2047) {
      const blob = dev.saveState();
      expect(twin.restoreState(blob)).toBe(Status.OK);
      expect(Buffer.from(twin.saveState()).equals(Buffer.from(blob))).toBe(true);
      expect(dev.restoreState(blob)).toBe(Status.OK);
      dev.resume(); // a restored device is quiesced until resumed
    }
  }
  bringUp("at the end");
  const c = dev.counters();
  return [`seed ${seed} ${bus}: ${Object.entries(c).filter(([, v]) => v > 0n).map(([k, v]) => `${k}=${v}`).join(" ")}`, ...log];
}

describe("NE2000 register fuzz", () => {
  for (const bus of ["pci", "isa"] as const) {
    it(`${bus}: random programming never traps, stays within its bounds, and a driver brings the board back`, async () => {
      const seed = testSeed();
      try {
        const out = await fuzzCase(seed, bus);
        console.log(out[0]);
      } catch (err) {
        console.log(`NE2000 fuzz failed: seed ${seed} (${bus}); replay with VMDEV_SEED=${seed}`);
        throw err;
      }
    });
  }
});
