// Structure-aware fuzzing of virtio-net from the guest side (see
// fuzz.ts beside this file for what a case is and what is checked).
// VMDEV_SEED replays a run; VMDEV_FUZZ_CASES sets the cases per transport.
import { describe, expect, it } from "vitest";
import { rng, testSeed } from "../../support/core.js";
import { BROADCAST, frame } from "../../../src/guest/virtio/frames.js";
import { runNetFuzz } from "./fuzz.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { netRig, transportFor } from "./rig.js";
import { VirtioNetDriver } from "../../../src/guest/virtio/net-driver.js";

const CASES = Number(process.env.VMDEV_FUZZ_CASES ?? 500_000);

describe("virtio-net structure-aware fuzz", () => {
  for (const transport of ["mmio", "pci"] as const) {
    it(`${CASES} cases over ${transport}: no throw, no guard write, works or NEEDS_RESET`, async () => {
      const seed = testSeed();
      const rep = await runNetFuzz({ seed, cases: CASES, transport });
      const summary = `seed ${seed} (replay: VMDEV_SEED=${seed}) ${transport}: ${rep.cases} cases, ${rep.needsReset} needs-reset, ${rep.probesOk} TX/ctrl probes ok, ${rep.rxProbesOk} RX probes ok, ${rep.stateRoundTrips} state round-trips, max case ${rep.maxCaseMs.toFixed(2)} ms (#${rep.slowestCase})`;
      console.log(summary);
      if (rep.failure) {
        console.log(`failing case ${rep.failure.caseIndex}: ${rep.failure.message}\nops: ${JSON.stringify(rep.failure.ops)}`);
      }
      expect(rep.failure, summary).toBeNull();
      expect(rep.cases).toBe(CASES);
      // The generator reaches both outcomes: devices that carry on and devices that need a reset.
      expect(rep.probesOk).toBeGreaterThan(CASES / 16);
      expect(rep.needsReset).toBeGreaterThan(0);
    }, 300_000);
  }
});

describe("virtio-net register fuzz", () => {
  for (const transport of ["mmio", "pci"] as const) {
    it(`random register accesses of every width at every offset (${transport}) never throw; a reset + init recovers`, async () => {
      const seed = testSeed();
      const r = rng(seed);
      const rig = await netRig({ transport });
      const int = (n: number) => Math.floor(r() * n);
      const val = () => (r() < 0.3 ? pick([0, 1, 0xff, 0xffff, 0xffffffff, 0x80000000]) : int(2 ** 32));
      const pick = <T>(xs: T[]): T => xs[int(xs.length)];
      const widths: Array<1 | 2 | 4> = [1, 2, 4];
      try {
        for (let i = 0; i < 200_000; i++) {
          const w = pick(widths);
          const write = r() < 0.5;
          if (transport === "mmio") {
            const off = r() < 0.8 ? int(0x200) : int(2 ** 32);
            if (write) rig.dev.mmioWrite(off, w, val()); else rig.dev.mmioRead(off, w);
          } else {
            const fn = rig.dev.pci!;
            if (r() < 0.4) {
              const off = r() < 0.9 ? int(256) : int(8192);
              if (write) fn.configWrite(off, w, val()); else fn.configRead(off, w);
            } else {
              const bar = r() < 0.9 ? pick(fn.bars.map((b) => b.index)) : int(8);
              const off = r() < 0.9 ? int(fn.bars.find((b) => b.index === bar)?.size ?? 4096) : int(2 ** 32);
              if (write) fn.barWrite(bar, off, w, val()); else fn.barRead(bar, off, w);
            }
          }
          if ((i & 255) === 0) rig.dev.receive(frame({ dst: BROADCAST, seq: i }));
        }
      } catch (e) {
        throw new Error(`seed ${seed} (replay: VMDEV_SEED=${seed}): ${(e as Error).message}`);
      }
      // Whatever state the registers were left in, the guest's reset path brings the device back.
      rig.dev.reset();
      const drv = new VirtioNetDriver(transportFor(rig.dev, transport), new GuestRam(rig.core), rig.irq, { heap: [4 << 20, 8 << 20] });
      drv.init();
      expect(rig.dev.needsReset).toBe(false);
      const before = rig.sent.length;
      expect(drv.transmit(frame({ dst: BROADCAST, seq: 7 }))).toBe(true);
      expect(rig.sent.length - before, `seed ${seed}`).toBe(1);
    }, 120_000);
  }
});
