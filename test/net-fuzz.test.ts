// Structure-aware fuzzing of virtio-net from the guest side (see
// test/support/virtio/fuzz.ts for what a case is and what is checked).
// VMDEV_SEED replays a run; VMDEV_FUZZ_CASES sets the cases per transport.
import { describe, expect, it } from "vitest";
import { testSeed } from "./support/core.js";
import { runNetFuzz } from "./support/virtio/fuzz.js";

const CASES = Number(process.env.VMDEV_FUZZ_CASES ?? 500_000);

describe("virtio-net structure-aware fuzz", () => {
  for (const transport of ["mmio", "pci"] as const) {
    it(`${CASES} cases over ${transport}: no throw, no guard write, works or NEEDS_RESET`, async () => {
      const seed = testSeed();
      const rep = await runNetFuzz({ seed, cases: CASES, transport });
      const summary = `seed ${seed} (replay: VMDEV_SEED=${seed}) ${transport}: ${rep.cases} cases, ${rep.needsReset} needs-reset, ${rep.probesOk} probes ok, max case ${rep.maxCaseMs.toFixed(2)} ms`;
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
