// The device lifecycle (assembly/core/lifecycle.ts, src/lifecycle.ts) for
// every NIC model: a destroy never frees a device under a call in progress
// on another thread; calls after a destroy return a status and never trap;
// the handle and memory are reused by the next create.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { newCore, type DebugCore } from "../support/core.js";
import { Status } from "../../src/status.js";
import { VirtioNet } from "../../src/devices/virtio-net/index.js";
import { E1000 } from "../../src/devices/e1000/index.js";
import { Ne2k } from "../../src/devices/ne2k/device.js";
import type { InterruptSink } from "../../src/device.js";
import { VirtioDefs, E1000Defs, Ne2kDefs } from "../../src/generated/constants.js";
import { H, type HammerJob, type HammerResult } from "../support/lifecycle-hammer.js";

const sink: InterruptSink = { msi: () => {}, intx: () => {} };
const MAC = "52:54:00:12:34:56";

type Model = HammerJob["model"];
interface Dev { handle: number; inFlight: number; destroy(wait?: number): "freed" | "deferred" }
/** Lifecycle table of each model (assembly/core/lifecycle.ts LC_*). */
const TABLE: Record<Model, number> = { "virtio-net": 0, e1000: 1, ne2k: 2 };
const make: Record<Model, (core: DebugCore) => Dev> = {
  "virtio-net": (core) => VirtioNet.create(core, { mac: MAC, transport: "pci", interrupts: sink }),
  e1000: (core) => E1000.create(core, { mac: MAC, interrupts: sink, timers: "manual", backlogFrames: 32, backlogBytes: 64 * 1024 }),
  ne2k: (core) => Ne2k.create(core, { mac: MAC, interrupts: sink }),
};
const MODELS = Object.keys(make) as Model[];
/** Where each model keeps its counters (inside the device's block) and how many bytes. */
const COUNTERS: Record<Model, (core: DebugCore, h: number) => { ptr: number; bytes: number }> = {
  "virtio-net": (core, h) => ({ ptr: core.exports.vnet_counters_ptr(h) >>> 0, bytes: VirtioDefs.DEV_COUNTERS * 8 }),
  e1000: (core, h) => ({ ptr: core.exports.e1k_counters_ptr(h) >>> 0, bytes: E1000Defs.E1K_COUNTERS * 8 }),
  ne2k: (core, h) => ({ ptr: core.exports.ne2k_counters_ptr(h) >>> 0, bytes: Ne2kDefs.NE2K_COUNTERS * 8 }),
};
const IN_FLIGHT: Record<Model, (core: DebugCore, h: number) => number> = {
  "virtio-net": (core, h) => core.exports.vnet_in_flight(h), e1000: (core, h) => core.exports.e1k_in_flight(h), ne2k: (core, h) => core.exports.ne2k_in_flight(h),
};
/** The byte the debug build fills a freed device block with (assembly/core/lifecycle.ts lcPoison). */
const POISON = 0xdb;

const badHandles = (core: DebugCore) => core.counters().badHandle;

function hammer(job: HammerJob): { worker: Worker; done: Promise<HammerResult> } {
  const worker = new Worker(new URL("../support/ts-worker.mjs", import.meta.url), {
    workerData: { entry: new URL("../support/lifecycle-hammer.worker.ts", import.meta.url).href, data: job },
  });
  const done = new Promise<HammerResult>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
  });
  return { worker, done };
}

/** Wait (without blocking this thread's event loop) until `cond()` or the worker fails. */
async function until(cond: () => boolean, failed: Promise<unknown>): Promise<void> {
  let err: unknown = null;
  failed.catch((e) => { err = e; });
  while (!cond()) {
    if (err) throw err;
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** PCI command: I/O and memory space, bus mastering (so BAR accesses reach the registers). */
function enableSpaces(core: DebugCore, model: Model, h: number): void {
  if (model === "virtio-net") core.exports.vpci_cfg_write(h, 4, 2, 7);
  else if (model === "e1000") core.exports.e1k_cfg_write(h, 4, 2, 7, 0n);
  else core.exports.ne2k_cfg_write(h, 4, 2, 7);
}

describe("device lifecycle", () => {
  it("regression_attached_instance_reaches_device_by_handle: a worker's register reads, notifications and receives reach the device the main thread created", async () => {
    // The handle tables and the virtio device-type table were per instance: an attached
    // instance saw no device (every call a bad handle), and a notification through the
    // virtio transport would have called through a type table it never had.
    const core = await newCore(16 << 20);
    const nic = VirtioNet.create(core, { mac: MAC, transport: "pci", interrupts: sink });
    enableSpaces(core, "virtio-net", nic.handle);
    const before = nic.counters();
    const { done } = hammer({ shared: core.shareable(), sync: new SharedArrayBuffer(32), model: "virtio-net", handle: nic.handle, rounds: 50 });
    const r = await done;
    expect(r.odd).toEqual([]);
    expect(r.refused).toBe(0);
    expect(r.admitted).toBe(50 * 5);
    const after = nic.counters();
    expect(after.kicks - before.kicks).toBe(50n);
    expect(after.kicksIgnored - before.kicksIgnored).toBe(50n);
    // The frames the worker handed over wait in the backlog (no driver yet), counted here.
    expect(nic.backlogLength).toBe(50);
    expect(nic.destroy()).toBe("freed");
  });

  for (const model of MODELS) {
    it(`${model}: a worker hammering register and receive exports by handle while the main thread destroys and re-creates it, 20 times: no trap, no write after the free, every call after a destroy refused, the slot reused`, async () => {
      const core = await newCore(16 << 20);
      const sync = new SharedArrayBuffer(32);
      const s = new Int32Array(sync);
      let job: ReturnType<typeof hammer> | null = null;
      let h = 0, epoch = 0;
      try {
        for (let round = 0; round < 20; round++) {
          const dev = make[model](core);
          if (round === 0) h = dev.handle;
          // The handle the worker calls names the next device in the slot.
          expect(dev.handle).toBe(h);
          enableSpaces(core, model, h);
          job ??= hammer({ shared: core.shareable(), sync, model, handle: h });
          // Admitted calls from the worker's instance (the tables are in shared memory), then more while this thread destroys it.
          const a0 = Atomics.load(s, H.ADMITTED);
          await until(() => Atomics.load(s, H.ADMITTED) > a0 + 50, job.done);
          // The device's counters: every admitted call writes them; after the free the debug build's poison fills them.
          const ctr = COUNTERS[model](core, h);
          expect(dev.destroy()).toBe("freed");
          Atomics.store(s, H.EPOCH, ++epoch); // odd: destroyed
          expect(IN_FLIGHT[model](core, h)).toBe(-Status.ERR_BAD_HANDLE);
          const c0 = Atomics.load(s, H.CALLS);
          await until(() => Atomics.load(s, H.CALLS) > c0 + 200, job.done);
          // The poison is intact: no call wrote the device's memory after its free.
          expect(core.u8().subarray(ctr.ptr, ctr.ptr + ctr.bytes).every((b) => b === POISON)).toBe(true);
          // No call that started while the device was gone is still running when the next create comes.
          Atomics.store(s, H.EPOCH, ++epoch);
          await until(() => Atomics.load(s, H.DONE) === epoch, job.done);
        }
      } finally { Atomics.store(s, H.STOP, 1); }
      const r = await job!.done;
      expect(r.odd).toEqual([]);
      expect(r.admitted).toBeGreaterThanOrEqual(20 * 50);
      expect(r.lateAdmitted).toBe(0);
      expect(r.lateRefused).toBeGreaterThanOrEqual(20 * 100);
    }, 120_000);

    it(`${model}: a destroy while a call holds the device defers, refuses new calls, and frees once the call leaves (or at the next create)`, async () => {
      const core = await newCore(16 << 20);
      const e = core.exports;
      const t = TABLE[model];
      const inFlight = (h: number) => (model === "virtio-net" ? e.vnet_in_flight(h) : model === "e1000" ? e.e1k_in_flight(h) : e.ne2k_in_flight(h));
      const destroy = (h: number) => (model === "virtio-net" ? e.vnet_destroy(h) : model === "e1000" ? e.e1k_destroy(h) : e.ne2k_destroy(h));
      const cfg = (h: number) => (model === "virtio-net" ? e.vpci_cfg_read(h, 0, 4) : model === "e1000" ? e.e1k_cfg_read(h, 0, 4) : e.ne2k_cfg_read(h, 0, 4)) >>> 0;
      const dev = make[model](core);
      const h = dev.handle;
      const id = cfg(h);
      expect(id).not.toBe(0xffffffff);
      // A call in progress (as on another thread): one reference.
      expect(e.lc_hold(t, h)).toBe(1);
      expect(dev.inFlight).toBe(1);
      expect(dev.destroy(0)).toBe("deferred");
      // Closed: calls are refused, the handle is not free (a create takes another), the count is still visible.
      expect(cfg(h)).toBe(0xffffffff);
      expect(e.lc_hold(t, h)).toBe(0);
      expect(inFlight(h)).toBe(1);
      expect(destroy(h)).toBe(Status.ERR_MORE);
      const other = make[model](core);
      expect(other.handle).not.toBe(h);
      // The call leaves: the next destroy frees it.
      e.lc_release(t, h);
      expect(inFlight(h)).toBe(0);
      expect(destroy(h)).toBe(Status.OK);
      expect(inFlight(h)).toBe(-Status.ERR_BAD_HANDLE);
      expect(destroy(h)).toBe(Status.ERR_BAD_HANDLE);
      // Freed at the next create when nobody calls destroy again.
      const oh = other.handle;
      expect(e.lc_hold(t, oh)).toBe(1);
      expect(other.destroy(0)).toBe("deferred");
      expect(other.handle).toBe(0);
      e.lc_release(t, oh);
      expect(inFlight(oh)).toBe(0);
      const again = make[model](core);
      expect(again.handle).toBe(h);
      expect(inFlight(oh)).toBe(-Status.ERR_BAD_HANDLE);
      const last = make[model](core);
      expect(last.handle).toBe(oh);
      expect(cfg(again.handle)).toBe(id);
      again.destroy(); last.destroy();
    });
  }

  for (const model of MODELS) {
    it(`${model}: destroy runs the detach hooks first, newest first, while the device still answers; a hook that throws does not stop the destroy`, async () => {
      const core = await newCore(16 << 20);
      const dev = make[model](core) as Dev & { onDetach(fn: () => void): () => void; pci: { configRead(o: number, w: 1 | 2 | 4): number } | null };
      const seen: string[] = [];
      dev.onDetach(() => { seen.push(`filters ${dev.pci!.configRead(0, 2).toString(16)}`); });
      const gone = dev.onDetach(() => { seen.push("removed"); });
      dev.onDetach(() => { seen.push(`port ${dev.inFlight}`); throw new Error("port detach failed"); });
      gone();
      const h = dev.handle;
      expect(() => dev.destroy()).toThrow(/port detach failed/);
      expect(seen).toEqual(["port 0", `filters ${model === "virtio-net" ? "1af4" : model === "e1000" ? "8086" : "10ec"}`]);
      expect(dev.handle).toBe(0);
      expect(make[model](core).handle).toBe(h);
    });
  }

  // Every export that takes a device handle first, called on a destroyed one:
  // what it returns, and that it counts one bad handle (never traps).
  const ONES = 0xffffffff;
  const refusal: Record<string, number | bigint | undefined | "status"> = {
    // virtio transports and virtio-net
    vpci_cfg_read: ONES, vpci_cfg_write: undefined, vpci_bar_read: ONES, vpci_bar_write: undefined, vpci_msix_ptr: 0,
    vmmio_read: 0, vmmio_write: undefined,
    vnet_destroy: Status.ERR_BAD_HANDLE, vnet_reset: Status.ERR_BAD_HANDLE, vnet_receive: Status.ERR_BAD_HANDLE,
    vnet_receive_batch: -Status.ERR_BAD_HANDLE, vnet_receive_frames: -Status.ERR_BAD_HANDLE, vnet_tx_frames: -Status.ERR_BAD_HANDLE, vnet_tx_ptr: 0,
    vnet_tx_bytes: -Status.ERR_BAD_HANDLE, vnet_tx_done: Status.ERR_BAD_HANDLE, vnet_announce: Status.ERR_BAD_HANDLE,
    vnet_quiesce: Status.ERR_BAD_HANDLE, vnet_resume: Status.ERR_BAD_HANDLE, vnet_port_sync: -Status.ERR_BAD_HANDLE,
    vnet_counters_ptr: 0, vnet_status: -Status.ERR_BAD_HANDLE, vnet_backlog: -Status.ERR_BAD_HANDLE, vnet_pending: 0,
    vnet_irq_take: 0, vnet_intx: 0, vnet_save: -Status.ERR_BAD_HANDLE, vnet_state_bound: -Status.ERR_BAD_HANDLE,
    vnet_restore: Status.ERR_BAD_HANDLE, vnet_in_flight: -Status.ERR_BAD_HANDLE,
    vnet_set_mac: Status.ERR_BAD_HANDLE, vnet_set_vlan_table: Status.ERR_BAD_HANDLE, vnet_set_mtu: Status.ERR_BAD_HANDLE,
    vnet_send: Status.ERR_BAD_HANDLE, vnet_filter_take: -Status.ERR_BAD_HANDLE, vnet_rx_mode: -Status.ERR_BAD_HANDLE,
    vnet_mc_count: -Status.ERR_BAD_HANDLE, vnet_mc_ptr: 0, vnet_uc_count: -Status.ERR_BAD_HANDLE, vnet_uc_ptr: 0,
    // e1000
    e1k_destroy: Status.ERR_BAD_HANDLE, e1k_reset: Status.ERR_BAD_HANDLE, e1k_cfg_read: ONES, e1k_cfg_write: undefined,
    e1k_bar_read: ONES, e1k_bar_write: undefined, e1k_reg_peek: 0, e1k_phy_peek: 0, e1k_receive: Status.ERR_BAD_HANDLE,
    e1k_receive_frames: -Status.ERR_BAD_HANDLE,
    e1k_tx_frames: -Status.ERR_BAD_HANDLE, e1k_tx_ptr: 0, e1k_tx_done: Status.ERR_BAD_HANDLE, e1k_advance: Status.ERR_BAD_HANDLE,
    e1k_next_deadline: -1n, e1k_set_link: Status.ERR_BAD_HANDLE, e1k_pending: 0, e1k_intx: 0, e1k_counters_ptr: 0,
    e1k_backlog: -Status.ERR_BAD_HANDLE, e1k_quiesce: Status.ERR_BAD_HANDLE, e1k_resume: Status.ERR_BAD_HANDLE,
    e1k_save: -Status.ERR_BAD_HANDLE, e1k_state_bound: -Status.ERR_BAD_HANDLE, e1k_restore: Status.ERR_BAD_HANDLE,
    e1k_in_flight: -Status.ERR_BAD_HANDLE, e1k_set_mac: Status.ERR_BAD_HANDLE, e1k_set_vfta: Status.ERR_BAD_HANDLE,
    e1k_mc_mode: -Status.ERR_BAD_HANDLE, e1k_rar_group: -1n, e1k_rar_unicast: -1n, e1k_filter_take: -Status.ERR_BAD_HANDLE,
    // NE2000
    ne2k_destroy: Status.ERR_BAD_HANDLE, ne2k_reset: Status.ERR_BAD_HANDLE, ne2k_io_read: ONES, ne2k_io_write: undefined,
    ne2k_io_read_string: Status.ERR_BAD_HANDLE, ne2k_io_write_string: Status.ERR_BAD_HANDLE, ne2k_run_read: -Status.ERR_BAD_HANDLE,
    ne2k_run_commit: Status.ERR_BAD_HANDLE, ne2k_run_write_budget: -Status.ERR_BAD_HANDLE, ne2k_cfg_read: ONES,
    ne2k_cfg_write: undefined, ne2k_bar_read: ONES, ne2k_bar_write: undefined, ne2k_receive: Status.ERR_BAD_HANDLE,
    ne2k_receive_frames: -Status.ERR_BAD_HANDLE,
    ne2k_tx_frames: -Status.ERR_BAD_HANDLE, ne2k_tx_ptr: 0, ne2k_tx_done: Status.ERR_BAD_HANDLE, ne2k_host_flags_ptr: 0,
    ne2k_intx: 0, ne2k_counters_ptr: 0, ne2k_backlog: -Status.ERR_BAD_HANDLE, ne2k_save: -Status.ERR_BAD_HANDLE,
    ne2k_state_bound: -Status.ERR_BAD_HANDLE, ne2k_restore: Status.ERR_BAD_HANDLE, ne2k_filter_state: ONES,
    ne2k_in_flight: -Status.ERR_BAD_HANDLE, ne2k_quiesce: Status.ERR_BAD_HANDLE, ne2k_resume: Status.ERR_BAD_HANDLE,
    ne2k_set_mac: Status.ERR_BAD_HANDLE, ne2k_filter_take: -Status.ERR_BAD_HANDLE,
  };
  // Control-path exports that name a device but are not per-call entry points: a status, no count promised.
  const control = new Set(["vnet_disconnect", "vnet_port_attach", "vnet_port_detach", "vnet_port_mode"]);
  const abi = JSON.parse(readFileSync(new URL("../../build/abi.json", import.meta.url), "utf8")) as Array<{ name: string; params: Array<{ name: string; type: string }>; result: string }>;
  const prefix: Record<Model, RegExp> = { "virtio-net": /^(vnet|vpci|vmmio)_/, e1000: /^e1k_/, ne2k: /^ne2k_/ };

  for (const model of MODELS) {
    it(`${model}: every entry point named by a destroyed handle returns its refusal and counts one bad handle (table-driven over the ABI)`, async () => {
      const core = await newCore(16 << 20);
      const e = core.exports as unknown as Record<string, (...a: unknown[]) => unknown>;
      const dev = make[model](core);
      const h = dev.handle;
      expect(dev.destroy()).toBe("freed");
      const entries = abi.filter((x) => prefix[model].test(x.name) && x.params[0]?.name === "h" && !control.has(x.name));
      expect(entries.length).toBeGreaterThan(10);
      for (const x of entries) {
        expect(x.name in refusal, `${x.name} has a row in the refusal table`).toBe(true);
        const args = x.params.map((p, i) => (i === 0 ? h : p.type === "u64" || p.type === "i64" ? 0n : p.name === "width" ? 4 : p.name === "len" ? 60 : 0));
        const bad = badHandles(core);
        const v = e[x.name](...args);
        const want = refusal[x.name];
        const got = typeof v === "number" && x.result === "u32" ? v >>> 0 : v;
        expect(got, x.name).toBe(want);
        if (x.name.endsWith("_in_flight")) continue; // a probe, not a call on the device
        expect(badHandles(core) - bad, `${x.name} counts one bad handle`).toBe(1n);
      }
      for (const name of control) if (prefix[model].test(name)) {
        const x = abi.find((y) => y.name === name)!;
        const v = e[name](...x.params.map((_, i) => (i === 0 ? h : 0)));
        expect(v, name).toBe(name === "vnet_port_sync" ? -Status.ERR_BAD_HANDLE : Status.ERR_BAD_HANDLE);
      }
    });
  }
});
