// docs/reference.md's APIC example, run as written (on the debug build).
import { it, expect } from "vitest";
import { ApicBus, ManualClock, Status } from "../../../src/index.js";
import { newCore } from "../../support/core.js";

it("docs/reference.md: an MSI reaches vCPU 7 of 1024, is acknowledged, retired, and the APIC saves", async () => {
  const vm = await newCore(64 << 20);
  const clock = new ManualClock();
  const apics = ApicBus.create(vm, { cpus: 1024, clock });
  const cpu7 = apics.apic(7);
  cpu7.mmioWrite(0xf0, 4, 0x1ff);
  expect(apics.msi({ addressLo: 0xfee07000, addressHi: 0, data: 0x41 })).toBe(1);
  expect(cpu7.pendingVector()).toBe(0x41);
  expect(cpu7.ack()).toBe(0x41);
  expect(cpu7.mmioWrite(0xb0, 4, 0)).toBe(Status.OK);
  expect(cpu7.pendingVector()).toBeNull();
  const blob = cpu7.saveState();
  expect(cpu7.restoreState(blob)).toBe(Status.OK);
  expect(() => ApicBus.create(vm, { cpus: 4, clock })).toThrow(/ERR_ALREADY/);
});
