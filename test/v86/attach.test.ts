// attachToV86 with the Debian guest, for each NIC model: one call on v86's own
// V86 object, v86's "fetch" network backend answering (its fake router), the
// guest's `ping -A` as sustained load, v86's UI events counted against the
// link, and `emulator.save_state()` → a fresh emulator's `restore_state()`
// carrying the NIC (the guest pings on there). A state of v86 alone is refused
// by the wrapped restore_state, leaving the machine as it was.
import { describe, expect, it } from "vitest";
import { guestFiles } from "../support/v86-guest.js";
import { AttachedGuest, type AttachedGuestOptions } from "../support/v86-attached-guest.js";
import { decodeMachine } from "../../src/adapters/v86/index.js";
import { VmdevError } from "../../src/status.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 attachToV86 test skipped: ${files}`);

const PINGS = 500;
const PINGS_AFTER_RESTORE = 200;

const cases: AttachedGuestOptions[] = [
  { nic: "virtio", attach: "before-ready" },
  { nic: "e1000", attach: "after-ready" },
  { nic: "ne2k", attach: "before-ready" },
];

describe.skipIf(typeof files === "string")("attachToV86 with a Linux guest", () => {
  it.each(cases)("$nic (attached $attach): ping -A through v86's fetch backend, UI events, save_state/restore_state", async (opts) => {
    if (typeof files === "string") return;
    const g = await AttachedGuest.boot(files, opts);
    try {
      // Attached before v86 ran a single guest instruction (before ready: the start at emulator-ready was held).
      expect(g.instructionsAtAttach).toBe(0);
      await g.ready();
      expect(await g.ping(PINGS)).toEqual({ transmitted: PINGS, received: PINGS });

      // Every frame each way was announced as v86's own NICs announce theirs.
      const c = g.nic.counters();
      const ev = g.events();
      expect(ev).toEqual({ tx: c.link.txFrames, txBytes: c.link.txBytes, rx: c.link.rxFrames, rxBytes: c.link.rxBytes });
      expect(ev.tx).toBeGreaterThanOrEqual(PINGS);
      expect(ev.rx).toBeGreaterThanOrEqual(PINGS);
      expect(c.link.rxDropped + c.link.errors).toBe(0);
      expect(c.adapter.ramFaults + c.adapter.deviceErrors + c.adapter.mmioOutside).toBe(0);
      // The guest RAM the core sees is v86's, sized from the emulator.
      expect(g.nic.core.guest.check(128 << 20, 1)).not.toBe(0);
      expect(g.nic.core.guest.check((128 << 20) - 1, 1)).toBe(0);

      const state = await g.migrate(async (fresh) => {
        // A plain v86 state (no NIC state in it) is refused, and the fresh machine is left as it was.
        const before = fresh.get_instruction_counter();
        await expect(fresh.restore_state(new ArrayBuffer(64))).rejects.toThrow(VmdevError);
        await expect(fresh.restore_state(new ArrayBuffer(64))).rejects.toThrow(/not a machine saved with net0/);
        expect(fresh.get_instruction_counter()).toBe(before);
      });
      const decoded = await decodeMachine(new Uint8Array(state));
      if (typeof decoded === "number") throw new Error(`save_state gave no machine blob (status ${decoded})`);
      expect(decoded.devices.map((d) => d.name)).toEqual(["net0"]);

      // Traffic carries on in the restored machine, through the restored NIC.
      expect(await g.ping(PINGS_AFTER_RESTORE)).toEqual({ transmitted: PINGS_AFTER_RESTORE, received: PINGS_AFTER_RESTORE });
      const c2 = g.nic.counters();
      const ev2 = g.events();
      expect(ev2).toEqual({ tx: c2.link.txFrames, txBytes: c2.link.txBytes, rx: c2.link.rxFrames, rxBytes: c2.link.rxBytes });
      expect(ev2.rx).toBeGreaterThanOrEqual(PINGS_AFTER_RESTORE);
      console.log(`attachToV86 ${opts.nic}: ${PINGS}/${PINGS} pings, ${ev.tx} tx / ${ev.rx} rx frames announced; `
        + `saved machine ${(state.byteLength / 1048576).toFixed(1)} MiB; after restore ${ev2.tx} tx / ${ev2.rx} rx; boot ${(g.bootInstructions / 1e9).toFixed(2)}e9 instructions`);
      expect(c2.adapter.ramFaults + c2.adapter.deviceErrors + c2.adapter.mmioOutside).toBe(0);
    } catch (err) {
      console.log(g.state());
      throw err;
    } finally {
      await g.stop();
    }
  }, 900_000);
});
