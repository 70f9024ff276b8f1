// Runs of data-port accesses: the host-side read-ahead and write-behind of
// src/devices/ne2k (ne2k_run_read, ne2k_run_commit, ne2k_run_write_budget),
// and string I/O at the data port, which moves a run as one copy.
// A guest's data-port access may cost at most one run of RUN_MAX accesses of
// remote DMA, however it programs the count; and a device driven through the
// runs ends exactly where one driven access by access ends: the same values
// read, the same saved state, the same counters.
//
// The property test's seed is printed on failure; VMDEV_SEED=<n> replays it.
import { describe, expect, it } from "vitest";
import { Ne2k } from "../../../src/devices/ne2k/device.js";
import { NE2K_DEFS } from "../../../src/devices/ne2k/defs.js";
import { Status } from "../../../src/status.js";
import type { VmCore } from "../../../src/vm-core.js";
import { IrqLine, pciPortIo, Cmd, Dcr, Isr, P0R, P0W, P1, Port, type IoWidth, type PortIo } from "../../../src/guest/ne2k/index.js";
import { newCore, rng, testSeed } from "../../support/core.js";
import { ethFrame, GUEST_MAC } from "../../support/ne2k/rig.js";

const RUN_MAX = NE2K_DEFS.RUN_MAX;
type Via = "window" | "pci";
interface Call { name: string; args: number[]; result: unknown }
type RawExports = Record<string, (...a: number[]) => number>;

/**
 * Two identical boards on one core: `ref`, driven one access per call
 * through the raw exports, and `dev`, driven through the TS glue, whose calls
 * into the wasm are recorded.
 */
async function pair(via: Via) {
  const core = await newCore(1 << 20);
  const raw = core.exports as unknown as RawExports;
  const ref = Ne2k.create(core, { mac: GUEST_MAC, interrupts: new IrqLine() });
  const calls: Call[] = [];
  const recording = new Proxy(raw, {
    get(t, k) {
      const f = t[k as string];
      if (typeof f !== "function" || !String(k).startsWith("ne2k_")) return f;
      return (...a: number[]) => { const r = f(...a); calls.push({ name: String(k), args: a, result: r }); return r; };
    },
  });
  Object.defineProperty(core, "exports", { value: recording });
  const dev = Ne2k.create(core, { mac: GUEST_MAC, interrupts: new IrqLine() });
  const h = ref.handle;
  let refIo: PortIo, devIo: PortIo;
  if (via === "pci") {
    ref.pci!.configWrite(4, 2, 1); dev.pci!.configWrite(4, 2, 1);
    refIo = { read: (o, w) => raw.ne2k_bar_read(h, 0, o, w) >>> 0, write: (o, w, v) => { raw.ne2k_bar_write(h, 0, o, w, v >>> 0); } };
    devIo = pciPortIo(dev.pci!);
  } else {
    refIo = { read: (o, w) => raw.ne2k_io_read(h, o, w) >>> 0, write: (o, w, v) => { raw.ne2k_io_write(h, o, w, v >>> 0); } };
    devIo = { read: (o, w) => dev.ioRead(o, w), write: (o, w, v) => dev.ioWrite(o, w, v) };
  }
  return { core: core as VmCore, raw, ref, dev, refIo, devIo, calls };
}

/** Remote-DMA accesses a recorded call can do (its own bound, from its arguments and result). */
function work(c: Call): number {
  switch (c.name) {
    case "ne2k_run_read": return Math.max(0, c.result as number);
    case "ne2k_run_commit": return c.args[1];          // replays at most the reads the guest took
    case "ne2k_io_write_string": case "ne2k_io_read_string": return c.args[3];
    case "ne2k_io_read": case "ne2k_io_write": case "ne2k_bar_read": case "ne2k_bar_write": return 1;
    default: return 0;
  }
}

/** Program a remote DMA on both boards the same way. */
function startDma(ios: PortIo[], dcr: number, addr: number, count: number, write: boolean, ring?: [number, number]): void {
  for (const io of ios) {
    const wr = (r: number, v: number) => io.write(r, 1, v);
    wr(Port.CMD, Cmd.NODMA | Cmd.STA);
    wr(P0W.DCR, dcr);
    if (ring) { wr(P0W.PSTART, ring[0]); wr(P0W.PSTOP, ring[1]); }
    wr(P0W.RBCR0, count & 0xff); wr(P0W.RBCR1, count >> 8);
    wr(P0W.RSAR0, addr & 0xff); wr(P0W.RSAR1, addr >> 8);
    wr(Port.CMD, (write ? Cmd.RWRITE : Cmd.RREAD) | Cmd.STA);
  }
}

describe("NE2000 data-port runs: the work one guest access causes is bounded", () => {
  for (const via of ["window", "pci"] as const) {
    it(`${via}: a guest that sets the count to 0xffff and reads or writes the data port without end costs at most one run of RUN_MAX accesses per access`, async () => {
      const p = await pair(via);
      const accesses = 0x10000;
      const busy = Math.ceil(0xffff / 4); // accesses that move bytes; every later one finds no DMA
      for (const write of [false, true]) {
        for (const dcr of [Dcr.WTS | Dcr.LAS, Dcr.LAS]) {
          const what = `${write ? "write" : "read"}, ${dcr & Dcr.WTS ? "word" : "byte"} mode`;
          // The ring is all of RAM, so the address wraps inside it and every byte is one a run may move.
          startDma([p.devIo], dcr, 0x4000, 0xffff, write, [0x40, 0x80]);
          p.calls.length = 0;
          const idle0 = Number(p.dev.counters().dmaIdle);
          let maxCalls = 0, maxWork = 0, longestRun = 0, callsWhileBusy = 0;
          for (let i = 0; i < accesses; i++) {
            const from = p.calls.length;
            if (write) p.devIo.write(Port.DATA, 4, i); else p.devIo.read(Port.DATA, 4);
            const mine = p.calls.slice(from);
            maxCalls = Math.max(maxCalls, mine.length);
            maxWork = Math.max(maxWork, mine.reduce((n, c) => n + work(c), 0));
            for (const c of mine) if (c.name === "ne2k_run_read" || c.name === "ne2k_run_write_budget") longestRun = Math.max(longestRun, c.result as number);
            if (i === busy - 1) callsWhileBusy = p.calls.length;
          }
          // The bound: three calls at most (give back the last run, ask for the next, or do the access
          // alone), none doing more than RUN_MAX accesses.
          expect(maxCalls, what).toBeLessThanOrEqual(3);
          expect(maxWork, what).toBeLessThanOrEqual(2 * RUN_MAX + 1);
          expect(longestRun, what).toBe(RUN_MAX);
          // The runs did take the string: a few calls per RUN_MAX accesses while the count lasted.
          expect(callsWhileBusy, what).toBeLessThanOrEqual(3 * Math.ceil(busy / RUN_MAX) + 3);
          // The count ran out once (RDC); every access past it found no DMA and was counted one by one
          // (in byte mode the last busy access moves 3 bytes and finds none for its fourth).
          const c = p.dev.counters();
          expect(Number(c.dmaIdle) - idle0, what).toBe(accesses - busy + (dcr & Dcr.WTS ? 0 : 1));
          expect(p.devIo.read(P0R.ISR, 1) & Isr.RDC, what).toBe(Isr.RDC);
          p.devIo.write(P0W.ISR, 1, 0xff);
        }
      }
    });
  }

  it("the wasm clamps a run to RUN_MAX whatever the host asks, and refuses one outside the data port", async () => {
    const p = await pair("window");
    const h = p.ref.handle;
    startDma([p.refIo], Dcr.LAS, 0x4000, 0xffff, false);
    expect(p.raw.ne2k_run_read(h, 0, Port.DATA, 1, 60_000, 0)).toBe(RUN_MAX);
    p.raw.ne2k_run_commit(h, RUN_MAX);
    expect(p.raw.ne2k_run_read(h, 0, 0x16, 4, 16, 0)).toBe(-Status.ERR_INVALID_ARG); // straddles the reset port
    expect(p.raw.ne2k_run_read(h, 0, Port.DATA, 3, 16, 0)).toBe(-Status.ERR_INVALID_ARG);
    expect(p.raw.ne2k_run_read(h, 0, Port.DATA, 4, 0x7fffffff, 0)).toBe(-Status.ERR_INVALID_ARG); // beyond the I/O buffer
    expect(p.raw.ne2k_run_read(h, 1, Port.DATA, 4, 16, 0)).toBe(0); // through a BAR that is not enabled
    startDma([p.refIo], Dcr.LAS, 0x4000, 0xffff, true);
    expect(p.raw.ne2k_run_write_budget(h, 0, 4, 0xffffffff)).toBe(RUN_MAX);
    // A commit of more than was read ahead is the whole run; one with nothing outstanding does nothing.
    startDma([p.refIo], Dcr.LAS, 0x4000, 64, false);
    expect(p.raw.ne2k_run_read(h, 0, Port.DATA, 4, 100, 0)).toBe(15); // 60 of 64 bytes: the last access ends the count
    expect(p.raw.ne2k_run_commit(h, 0xffffffff)).toBe(Status.OK);
    expect(p.raw.ne2k_run_commit(h, 3)).toBe(Status.OK);
    expect(p.refIo.read(P0R.CRDA0, 1) | (p.refIo.read(P0R.CRDA1, 1) << 8)).toBe(0x4000 + 60);
  });

  it("regression_ne2k_straddling_data_access_not_served_from_read_ahead: an access from the data port into the reset port is refused, as one by one", async () => {
    for (const via of ["window", "pci"] as const) {
      const p = await pair(via);
      startDma([p.refIo, p.devIo], Dcr.LAS, 0x4000, 64, true);
      for (let i = 0; i < 16; i++) { const v = (0x03020100 + i * 0x04040404) >>> 0; p.refIo.write(Port.DATA, 4, v); p.devIo.write(Port.DATA, 4, v); }
      startDma([p.refIo, p.devIo], Dcr.LAS, 0x4000, 64, false);
      const seen = (io: PortIo) => [io.read(Port.DATA, 4), io.read(0x16, 4), io.read(0x17, 2), io.read(Port.DATA, 4), io.read(0x14, 4)];
      const a = seen(p.refIo), b = seen(p.devIo);
      expect(b).toEqual(a);
      expect(a).toEqual([0x03020100, 0xffffffff, 0xffff, 0x07060504, 0x0b0a0908]);
      expect(p.dev.counters().badAccess).toBe(2n);
      expect(Buffer.from(p.dev.saveState()).equals(Buffer.from(p.ref.saveState()))).toBe(true);
    }
  });
});

/** One seeded session of hostile programming, the same on both boards; returns a log of what it did. */
function session(p: Awaited<ReturnType<typeof pair>>, seed: number, ops: number): string[] {
  const r = rng(seed);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const both = <T,>(f: (io: PortIo) => T): [T, T] => [f(p.refIo), f(p.devIo)];
  const log: string[] = [];
  let width: IoWidth = 4;
  for (let op = 0; op < ops; op++) {
    const x = r();
    if (x < 0.004) {
      // A new remote DMA: anywhere (PROM, RAM, across its end, unmapped), any count, either direction.
      const dcr = pick([Dcr.LAS, Dcr.LAS | Dcr.WTS, Dcr.LAS | Dcr.WTS | Dcr.BOS, Dcr.LAS | Dcr.BOS]);
      const addr = pick([0x4000 + Math.floor(r() * 0x4000), Math.floor(r() * 0x20), 0x7ff0 + Math.floor(r() * 16), 0x5ff8 + Math.floor(r() * 8), 0x3ff8, Math.floor(r() * 0x10000)]);
      const count = pick([Math.floor(r() * 8), Math.floor(r() * 0x600), 0xffff, Math.floor(r() * 0x10000)]);
      const write = r() < 0.4;
      width = pick([1, 2, 4] as const);
      const pstart = pick([0x46, 0x40, 0x5f]);
      for (const io of [p.refIo, p.devIo]) {
        io.write(Port.CMD, 1, Cmd.NODMA | Cmd.STA | Cmd.PAGE1);
        io.write(P1.CURR, 1, pstart);
        io.write(Port.CMD, 1, Cmd.NODMA | Cmd.STA);
        io.write(P0W.PSTART, 1, pstart); io.write(P0W.PSTOP, 1, 0x60); io.write(P0W.BNRY, 1, 0x5f);
      }
      startDma([p.refIo, p.devIo], dcr, addr, count, write);
      log.push(`dma dcr=${dcr} addr=0x${addr.toString(16)} count=${count} ${write ? "write" : "read"} w=${width}`);
    } else if (x < 0.02) {
      width = pick([1, 2, 4] as const);
    } else if (x < 0.03) {
      const [off, w] = pick([[0x16, 4], [0x17, 2], [0x15, 4]] as const);
      const [a, b] = both((io) => io.read(off, w));
      if (a !== b) throw new Error(`op ${op}: straddling read 0x${off.toString(16)}/${w}: ${a} vs ${b}`);
    } else if (x < 0.045) {
      const reg = pick([P0R.ISR, P0R.CRDA0, P0R.CRDA1, Port.CMD]);
      const [a, b] = both((io) => io.read(reg, 1));
      if (a !== b) throw new Error(`op ${op}: register 0x${reg.toString(16)}: ${a} vs ${b}`);
    } else if (x < 0.05) {
      both((io) => io.write(P0W.ISR, 1, 0xff));
    } else if (x < 0.055) {
      // The host hands both a frame: the ring and ISR change under a run the guest has not finished.
      for (const io of [p.refIo, p.devIo]) {
        io.write(Port.CMD, 1, Cmd.NODMA | Cmd.STA); // page 0 (this aborts the DMA, on both)
        io.write(P0W.RCR, 1, 0x04);
      }
      const f = ethFrame(GUEST_MAC, op, 60 + Math.floor(r() * 400));
      p.ref.receive(f); p.dev.receive(f);
      log.push(`frame ${f.length}`);
    } else if (x < 0.057) {
      both((io) => io.read(Port.RESET, 1));
    } else if (x < 0.065) {
      // String I/O (rep insl/outsl) on the TS side, the same accesses one by one on the reference.
      const n = 1 + Math.floor(r() * 600);
      if (r() < 0.6) {
        const got = p.dev.ioReadString(Port.DATA, width, n);
        const want = new Uint8Array(n * width), dv = new DataView(want.buffer);
        for (let i = 0; i < n; i++) { const v = p.refIo.read(Port.DATA, width); if (width === 1) want[i] = v; else if (width === 2) dv.setUint16(2 * i, v, true); else dv.setUint32(4 * i, v, true); }
        if (!Buffer.from(got).equals(Buffer.from(want))) throw new Error(`op ${op}: string read of ${n} × ${width} differs`);
      } else {
        const data = Uint8Array.from({ length: n * width }, () => Math.floor(r() * 256)), dv = new DataView(data.buffer);
        p.dev.ioWriteString(Port.DATA, width, data);
        for (let i = 0; i < n; i++) p.refIo.write(Port.DATA, width, width === 1 ? data[i] : width === 2 ? dv.getUint16(2 * i, true) : dv.getUint32(4 * i, true));
      }
      log.push(`string ${n} × ${width}`);
    } else {
      const off = Port.DATA + Math.floor(r() * (9 - width));
      if (r() < 0.6) {
        const [a, b] = both((io) => io.read(off, width));
        if (a !== b) throw new Error(`op ${op}: data read 0x${off.toString(16)}/${width}: ${a} vs ${b}`);
      } else {
        const v = Math.floor(r() * 2 ** 32) >>> 0;
        both((io) => io.write(off, width, v));
      }
    }
  }
  return log;
}

describe("NE2000 data-port runs: the same result as one access at a time", () => {
  for (const via of ["window", "pci"] as const) {
    it(`${via}: seeded hostile sessions read the same values and leave the same state and counters`, async () => {
      const seed = testSeed();
      const p = await pair(via);
      let log: string[] = [];
      try {
        for (let s = 0; s < 6; s++) {
          log = session(p, (seed + s) >>> 0, 20_000);
          expect(Buffer.from(p.dev.saveState()).equals(Buffer.from(p.ref.saveState())), "saved state").toBe(true);
          expect(p.dev.counters()).toEqual(p.ref.counters());
        }
        // The runs were used, and stayed within their bound.
        const runs = p.calls.filter((c) => c.name === "ne2k_run_read" || c.name === "ne2k_run_write_budget").map((c) => c.result as number);
        expect(runs.some((n) => n > 1)).toBe(true);
        expect(Math.max(...runs)).toBeLessThanOrEqual(RUN_MAX);
      } catch (err) {
        console.log(`NE2000 data-run property failed: seed ${seed} (${via}); replay with VMDEV_SEED=${seed}\n${log.slice(-10).join("\n")}`);
        console.log(`last calls:\n${p.calls.slice(-12).map((c) => `${c.name}(${c.args.join(",")}) = ${String(c.result)}`).join("\n")}`);
        throw err;
      }
    });
  }
});
