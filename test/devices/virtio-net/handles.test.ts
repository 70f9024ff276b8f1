// Device handles: a create that fails leaves nothing behind (no handle, no
// slot, no memory), destroy gives the slot and the memory back, and a
// destroyed device is unlinked from its peers and switches. Run on the debug
// build (traps visible) and the release build.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { Status, VirtioNet, VirtualSwitch, createVmCore, instantiate, type VmCore, type WasmVariant } from "../../../src/index.js";
import { debugWasm } from "../../support/core.js";
import { Rig, F, frame } from "./rig.js";

const MAC_HI = 0x5254, MAC_LO = 0x00123456;
const PCI = 1, MMIO = 2;
/** A backlog that cannot fit: 65536 slots of 64 KiB for MTU 65500 is 4 GiB. */
const huge = (e: VmCore["exports"], transport = PCI) => e.vnet_create(transport, MAC_HI, MAC_LO, 1, 65500, 256, 65536);
const small = (e: VmCore["exports"], transport = PCI, lo = MAC_LO) => e.vnet_create(transport, MAC_HI, lo, 1, 1500, 256, 256);

const releaseModule = () => new WebAssembly.Module(readFileSync(new URL("../../../build/vmdev.wasm", import.meta.url)));
const moduleOf = (variant: WasmVariant) => (variant === "debug" ? debugWasm() : releaseModule());

/** Raw exports of an instance whose memory cannot grow past `maxPages` (a host with a memory limit, e.g. a browser tab). */
async function limited(variant: WasmVariant, maxPages: number) {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: maxPages, shared: true });
  const w = await instantiate(moduleOf(variant), { memory });
  return { e: w.exports, memory };
}

describe.each<WasmVariant>(["debug", "release"])("device handles (%s build)", (variant) => {
  const core = (ramBytes = 16 << 20) => createVmCore({ ramBytes, variant });

  it("regression_failed_create_leaves_live_handle: a create refused for memory leaves no handle behind (no trap, nothing written at address 0)", async () => {
    // 1 MiB of RAM keeps linear memory small, so what the zombie read as pointers from address 0 fell outside it (the debug trap).
    const vm = await core(1 << 20);
    const e = vm.exports;
    const low = vm.u8().slice(0, 4096);
    expect(huge(e)).toBe(-Status.ERR_NO_MEMORY);
    expect(e.vnet_reset(1)).toBe(Status.ERR_BAD_HANDLE);
    expect(e.vnet_receive(1, 0, 60)).toBe(Status.ERR_BAD_HANDLE);
    expect(e.vnet_status(1)).toBe(-Status.ERR_BAD_HANDLE);
    expect(vm.u8().slice(0, 4096)).toEqual(low);
    expect(small(e)).toBe(1);
    expect(e.vnet_reset(1)).toBe(Status.OK);
  });

  it("regression_failed_creates_burn_slots: any number of refused creates leave all 15 slots and the memory free", async () => {
    const vm = await core();
    const e = vm.exports;
    expect(huge(e)).toBe(-Status.ERR_NO_MEMORY); // the first create also sets up the instance's shared scratch
    const used = e.vm_memory_used();
    for (let i = 0; i < 40; i++) expect(huge(e, i & 1 ? PCI : MMIO)).toBe(-Status.ERR_NO_MEMORY);
    expect(e.vm_memory_used()).toBe(used);
    const handles = Array.from({ length: 15 }, (_, i) => small(e, PCI, MAC_LO + i));
    expect(handles).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(small(e)).toBe(-Status.ERR_FULL);
  });

  it("regression_failed_alloc_poisons_allocator: a region that memory cannot grow to does not move the allocator past memory", async () => {
    // 64 MiB of linear memory at most: the backlog below needs ~96 MiB.
    const { e } = await limited(variant, 1024);
    expect(e.vm_init(256, 0)).toBe(Status.OK);
    const used = e.vm_memory_used();
    expect(e.vnet_create(PCI, MAC_HI, MAC_LO, 1, 65500, 256, 1536)).toBe(-Status.ERR_NO_MEMORY);
    expect(e.vm_memory_used()).toBeLessThan(used + (2 << 20)); // at most the instance's scratch
    expect(small(e)).toBe(1);
    expect(e.apic_create(2, 1_000_000_000n, 2_000_000_000n)).toBe(Status.OK);
  });

  it("regression_vm_init_half_initialised: a vm_init refused for memory leaves the memory ready for another vm_init", async () => {
    // 3 MiB at most: 2 MiB of RAM fits, the 1 MiB I/O buffer after it does not.
    const { e, memory } = await limited(variant, 48);
    expect(e.vm_init(512, 0)).toBe(Status.ERR_NO_MEMORY);
    expect(e.vm_ready()).toBe(0);
    expect(e.vm_init(256, 0)).toBe(Status.OK);
    expect(e.gm_ram_pages()).toBe(256);
    expect(e.gm_write(255n * 4096n, 4, 7n)).toBe(Status.OK);
    // A worker attaching now sees the VM that exists, not the one that failed.
    const w = await instantiate(moduleOf(variant), { memory });
    expect(w.exports.vm_attach(64 * 1024)).toBe(Status.OK);
    expect(w.exports.gm_ram_pages()).toBe(256);
  });

  it("regression_mig_init_partial_tables: a mig_init refused for memory leaves no tables that claim pages were applied", async () => {
    const { e } = await limited(variant, 1024);
    expect(e.vm_init(256, 0)).toBe(Status.OK);
    expect(e.mig_init(65536)).toBe(Status.ERR_NO_MEMORY); // a 256 MiB delta cache
    expect(e.mig_round_of(0)).toBe(0xffff);
    expect(e.mig_encode(0, 1, 0, 0, 8192)).toBe(-Status.ERR_NOT_READY);
    const used = e.vm_memory_used();
    for (let i = 0; i < 20; i++) expect(e.mig_init(65536)).toBe(Status.ERR_NO_MEMORY);
    expect(e.vm_memory_used()).toBe(used);
    expect(e.mig_init(16)).toBe(Status.OK);
    expect(e.mig_round_of(0)).toBe(0xffff);
  });

  it("regression_apic_create_partial: an apic_create refused for memory leaves nothing, and a smaller one succeeds", async () => {
    const { e } = await limited(variant, 256);
    expect(e.vm_init(256, 0)).toBe(Status.OK);
    expect(e.apic_create(4096, 1_000_000_000n, 2_000_000_000n)).toBe(Status.ERR_NO_MEMORY);
    const used = e.vm_memory_used(); // the first call may set up the instance's free list (512 bytes)
    for (let i = 0; i < 5; i++) expect(e.apic_create(4096, 1_000_000_000n, 2_000_000_000n)).toBe(Status.ERR_NO_MEMORY);
    expect(e.vm_memory_used()).toBe(used);
    expect(e.apic_count()).toBe(0);
    expect(e.apic_create(4, 1_000_000_000n, 2_000_000_000n)).toBe(Status.OK);
    expect(e.apic_count()).toBe(4);
  });

  it("vnet_destroy gives the slot and the memory back: 500 create/destroy cycles use the memory of one", async () => {
    const vm = await core();
    const e = vm.exports;
    const all = Array.from({ length: 15 }, (_, i) => small(e, i & 1 ? MMIO : PCI, MAC_LO + i));
    expect(all.every((h) => h > 0)).toBe(true);
    expect(e.vnet_destroy(7)).toBe(Status.OK);
    expect(e.vnet_destroy(7)).toBe(Status.ERR_BAD_HANDLE);
    expect(e.vnet_status(7)).toBe(-Status.ERR_BAD_HANDLE);
    expect(small(e)).toBe(7);
    for (const h of all) expect(e.vnet_destroy(h)).toBe(Status.OK);
    const h = small(e); expect(e.vnet_destroy(h)).toBe(Status.OK);
    const used = e.vm_memory_used();
    for (let i = 0; i < 500; i++) {
      const a = e.vnet_create(i & 1 ? MMIO : PCI, MAC_HI, MAC_LO, 1 + (i % 3), 1500 + (i % 5) * 100, 256, 256);
      expect(a).toBe(1);
      expect(e.vnet_destroy(a)).toBe(Status.OK);
    }
    expect(e.vm_memory_used()).toBe(used);
    // A device in a reused block starts from power-on state.
    const r = await Rig.create("pci", {}, 16 << 20, vm);
    r.init([F.VERSION_1, F.MAC]);
    expect(r.dev.counters().kicks).toBe(0n);
  });

  it("destroy unlinks the device: its link peer sends to the host again, a device made in its slot gets nothing", async () => {
    const vm = await core(32 << 20);
    const a = await Rig.create("pci", {}, 0, vm, 0);
    const b = await Rig.create("mmio", { mac: "52:54:00:00:00:02" }, 0, vm, 0x400000);
    VirtioNet.connect(a.dev, b.dev);
    a.init([F.VERSION_1, F.MAC]);
    const bh = b.dev.handle;
    b.dev.destroy();
    expect(b.dev.destroyed).toBe(true);
    const c = await Rig.create("mmio", { mac: "52:54:00:00:00:03" }, 0, vm, 0x800000);
    expect(c.dev.handle).toBe(bh);
    c.init([F.VERSION_1, F.MAC]);
    c.postRx(0, 4, 2048);
    const f = frame("52:54:00:00:00:03", 80);
    a.send(f);
    expect(a.tx).toEqual([f]);            // to the host, not into the old peer's slot
    expect(c.dev.counters().rxFrames).toBe(0n);
  });

  it("destroy takes the device off its switch; destroying the switch detaches every port", async () => {
    const vm = await core(32 << 20);
    const a = await Rig.create("pci", {}, 0, vm, 0);
    const b = await Rig.create("pci", { mac: "52:54:00:00:00:02" }, 0, vm, 0x400000);
    const sw = VirtualSwitch.create(vm);
    sw.attach(a.dev); sw.attach(b.dev);
    a.init([F.VERSION_1, F.MAC]);
    b.dev.destroy();
    const c = await Rig.create("pci", { mac: "52:54:00:00:00:02" }, 0, vm, 0x800000);
    c.init([F.VERSION_1, F.MAC]);
    c.postRx(0, 4, 2048);
    a.send(frame("52:54:00:00:00:02", 80));
    expect(c.dev.counters().rxFrames).toBe(0n);   // c is not a port
    expect(a.tx).toEqual([]);                     // a still is
    sw.destroy();
    const f = frame("52:54:00:00:00:02", 90);
    a.send(f);
    expect(a.tx).toEqual([f]);
    const ids = [VirtualSwitch.create(vm), VirtualSwitch.create(vm), VirtualSwitch.create(vm), VirtualSwitch.create(vm)].map((s) => s.id);
    expect(ids.sort()).toEqual([1, 2, 3, 4]);
    expect(vm.exports.vnet_switch_destroy(9)).toBe(Status.ERR_BAD_HANDLE);
  });

  it("a destroyed VirtioNet refuses further use without touching another device", async () => {
    const vm = await core();
    const r = await Rig.create("pci", {}, 0, vm);
    const dev = r.dev;
    dev.destroy();
    dev.destroy(); // twice is fine
    expect(dev.receive(frame("52:54:00:12:34:56"))).toBe(Status.ERR_BAD_HANDLE);
    expect(() => dev.counters()).toThrow(/ERR_BAD_HANDLE/);
    expect(() => dev.saveState()).toThrow(/ERR_BAD_HANDLE/);
    const other = VirtioNet.create(vm, { mac: "52:54:00:00:00:09", transport: "pci", interrupts: { msi: () => {}, intx: () => {} } });
    expect(other.handle).toBe(1);
    dev.pci!.configWrite(4, 2, 0);
    expect(other.pci!.configRead(4, 2)).toBe(0);
    other.pci!.configWrite(4, 2, 6);
    dev.pci!.configWrite(4, 2, 0);
    dev.reset();
    expect(other.pci!.configRead(4, 2)).toBe(6);
    for (let i = 0; i < 100; i++) VirtioNet.create(vm, { mac: "52:54:00:00:00:0a", transport: "mmio", interrupts: { msi: () => {}, intx: () => {} } }).destroy();
  });
});
