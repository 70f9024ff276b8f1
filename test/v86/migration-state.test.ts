// The v86 state a migration carries: zero runs squeezed out (packZeroRuns),
// unpacked as untrusted bytes; and the regression that made it necessary.
import { describe, expect, it } from "vitest";
import { attachToV86 } from "../../src/index.js";
import { V86StateDevice, packZeroRuns, unpackZeroRuns } from "../../src/adapters/v86/index.js";
import { MAX_PAYLOAD } from "../../src/migration/wire.js";
import { bootGuest, guestFiles } from "../support/v86-guest.js";

const files = guestFiles();

describe("packZeroRuns / unpackZeroRuns", () => {
  it("round-trips random mixes of zero runs and literals (seed printed)", () => {
    const seed = (Date.now() ^ 0x2545f491) >>> 0;
    console.log(`zero-runs property seed ${seed}`);
    let x = seed || 1;
    const rnd = (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
    for (let t = 0; t < 200; t++) {
      const a = new Uint8Array(rnd(5000));
      for (let i = 0; i < a.length;) {
        const run = 1 + rnd(300);
        if (rnd(2)) for (let k = 0; k < run && i + k < a.length; k++) a[i + k] = 1 + rnd(255);
        i += run;
      }
      const back = unpackZeroRuns(packZeroRuns(a), 1 << 20);
      expect(back && Buffer.from(back).equals(a), `seed ${seed} case ${t}`).toBe(true);
    }
    expect(packZeroRuns(new Uint8Array(1 << 20)).length).toBeLessThan(16);
  });

  it("refuses malformed input: truncated, a record past the total, trailing bytes, a total over the bound", () => {
    const good = packZeroRuns(Uint8Array.from([1, 2, 3, ...new Uint8Array(100), 4]));
    expect(unpackZeroRuns(good, 1000)).not.toBeNull();
    expect(unpackZeroRuns(good.subarray(0, good.length - 1), 1000)).toBeNull();
    expect(unpackZeroRuns(Uint8Array.from([...good, 0]), 1000)).toBeNull();
    expect(unpackZeroRuns(good, 50)).toBeNull();
    const past = good.slice(); new DataView(past.buffer).setUint32(4, 0xffff_fff0, true);
    expect(unpackZeroRuns(past, 1000)).toBeNull();
    const zeros = good.slice(); new DataView(zeros.buffer).setUint32(4 + 4 + 3, 0x7fff_ffff, true);
    expect(unpackZeroRuns(zeros, 1000)).toBeNull();
    expect(unpackZeroRuns(new Uint8Array(3), 1000)).toBeNull();
  });
});

describe.skipIf(typeof files === "string")("the v86 state of a migration", () => {
  it("regression_v86_state_fits_one_device_payload: a 128 MiB machine's state without RAM (2 MiB VGA memory, a 1 MiB disk: 4.27 MB raw) fits a DEVICE frame", async () => {
    if (typeof files === "string") return;
    const run = bootGuest(files, { memoryBytes: 128 << 20, disk: true, start: false });
    const nic = await attachToV86(run.emulator, { nic: "virtio", mac: "52:54:00:12:34:56", name: "net0", variant: "release" });
    await run.ready;
    try {
      const blob = new V86StateDevice((run.emulator as unknown as { v86: never }).v86, [nic]).saveState();
      expect(blob.length + 64).toBeLessThan(MAX_PAYLOAD);
    } finally {
      await run.stop();
      nic.destroy();
    }
  }, 120_000);
});
