// Structure-aware fuzzing of the e1000 from the guest side (see fuzz.ts for
// what a case is and what is checked). VMDEV_SEED replays a run;
// VMDEV_E1000_FUZZ_CASES sets the number of cases.
import { describe, expect, it } from "vitest";
import { testSeed } from "../../support/core.js";
import { runE1000Fuzz } from "./fuzz.js";

const CASES = Number(process.env.VMDEV_E1000_FUZZ_CASES ?? 150_000);

describe("e1000 structure-aware fuzz", () => {
  it(`${CASES} cases: no throw, no guard write, state identity, a reset always recovers`, async () => {
    const seed = testSeed();
    const rep = await runE1000Fuzz({ seed, cases: CASES });
    const summary = `seed ${seed} (replay: VMDEV_SEED=${seed}): ${rep.cases} cases, ${rep.probesOk} reset probes ok, ${rep.stateRoundTrips} state round-trips, ${rep.framesSent} frames sent, ${rep.framesDelivered} host frames taken, max case ${rep.maxCaseMs.toFixed(2)} ms`;
    console.log(summary);
    if (rep.failure) console.log(`failing case ${rep.failure.caseIndex}: ${rep.failure.message}\nops: ${JSON.stringify(rep.failure.ops)}`);
    expect(rep.failure, summary).toBeNull();
    expect(rep.cases).toBe(CASES);
    expect(rep.probesOk).toBe(Math.floor(CASES / 1024));
    // The fuzzer must keep reaching the transmit path: across seeds 150 000 cases send 2 776–4 119 frames, so
    // the floor sits well below that spread and catches a generator that stops sending, not an unlucky seed.
    expect(rep.framesSent).toBeGreaterThan(CASES / 100);
  }, 300_000);

  it("regression_e1000_fuzz_frames_floor_below_the_seed_spread: seed 4049411700 sends 2776 frames in 150 000 cases", async () => {
    // The floor was CASES / 50 (3000), inside the spread: this seed failed a clean run.
    const rep = await runE1000Fuzz({ seed: 4049411700, cases: 150_000 });
    expect(rep.failure).toBeNull();
    expect(rep.framesSent).toBeGreaterThan(150_000 / 100);
  }, 300_000);

  // Seed 1945841804 left the guest with memory decode off (PCI command 0x454) and a packet's
  // descriptors completed after its last doorbell: the check's doorbells were dropped, the
  // restore's look at the rings sent the packet, and save → restore → save differed at case
  // 102399. The check now rings them with decode on, as a driver would.
  it("regression_state_identity_with_memory_decode_off: the seed that found it runs clean past its case", async () => {
    const rep = await runE1000Fuzz({ seed: 1945841804, cases: 102_400 });
    expect(rep.failure).toBeNull();
    expect(rep.stateRoundTrips).toBe(200);
  }, 300_000);
});
