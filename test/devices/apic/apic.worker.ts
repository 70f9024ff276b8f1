// Worker side of threads.test.ts: a vCPU thread attached to the VM's
// shared memory. It sends an IPI from its own APIC and hammers MSIs (set and
// withdraw) at a shared target, racing another worker on the same IRR words.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore, ApicBus, ManualClock, type SharedVm } from "../../../src/index.js";

const { shared, self, ipiTo, ipiVector, vectors, rounds, start } = workerData.data as {
  shared: SharedVm; self: number; ipiTo: number; ipiVector: number; vectors: number[]; rounds: number; start: SharedArrayBuffer;
};
const core = await VmCore.attach(shared);
const bus = ApicBus.attach(core, { clock: new ManualClock() });
const x = core.exports;
// The IPI: this vCPU's own ICR (x2APIC), routed from this thread.
bus.apic(self).wrmsr(0x830, (BigInt(ipiTo) << 32n) | BigInt(ipiVector));
// Start together, so the two threads really race on APIC 0's IRR words.
const gate = new Int32Array(start);
Atomics.add(gate, 0, 1);
while (Atomics.load(gate, 0) < 2) { /* spin: both workers run at once */ }
let lost = 0;
for (let r = 0; r < rounds; r++) {
  for (const v of vectors) {
    x.apic_msi(0xfee00000, 0, v);         // to APIC 0
    // Our bit must still be there: only we clear it. The other thread's
    // read-modify-writes on the same word must not have wiped it.
    x.apic_msr_read(0, 0x820 + (v >> 5), 0n);
    if (((BigInt.asUintN(64, x.apic_value()) >> BigInt(v & 31)) & 1n) === 0n) lost++;
    x.apic_irr_clear(0, v);
  }
  x.apic_msi(0xfee03000, 0, 4 << 8);      // NMI to APIC 3
}
for (const v of vectors) x.apic_msi(0xfee00000, 0, v);
parentPort!.postMessage({ lost });
