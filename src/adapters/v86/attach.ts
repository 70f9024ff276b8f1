// A vmdev NIC in a v86 emulator in one call: the PCI adapter, a core over
// v86's guest RAM, the device, its frames on v86's network bus, v86's UI
// events, and the NIC's state inside `emulator.save_state()`.
//
// Order of events. The function must be on v86's PCI bus before the guest
// enumerates PCI, and the core needs v86's RAM size, known at `emulator-ready`
// (v86 sends it from `init`, then starts the CPU at once when `autostart` is
// set). So: when the emulator is not ready yet, wait for `emulator-ready`; a
// start of the CPU while the attach is still under way (v86's `emulator-started`,
// sent before its first instruction runs) is stopped at once and resumed when
// the NIC is on the bus, so no guest instruction runs without it. When the
// emulator is ready and running, it is stopped around the attach.
//
// Saved state. `save_state`/`restore_state` are wrapped on the emulator object:
// save gives the blob of saveV86Machine (v86's state and the NIC's, one
// envelope); restore takes such a blob (and refuses anything else, with v86
// and the NIC left as they were). Each attach wraps the methods it finds, so
// several NICs nest; restore them into an emulator with the same NICs attached
// in the same order.

import { VmCore } from "../../vm-core.js";
import type { WasmVariant } from "../../wasm.js";
import { Status, VmdevError, statusName } from "../../status.js";
import type { PciFunction } from "../../pci.js";
import type { HostLink, HostLinkOptions } from "../../net/host-link.js";
import { VirtioNet } from "../../devices/virtio-net/device.js";
import { E1000 } from "../../devices/e1000/device.js";
import { Ne2k } from "../../devices/ne2k/device.js";
import { V86PciAdapter } from "./pci-adapter.js";
import { connectV86NetworkBus } from "./network-bus.js";
import { restoreV86Machine, saveV86Machine, type V86MachineDevice } from "./machine-state.js";
import type { V86AdapterCounters, V86Emulator, V86LifecycleEvent, V86PciAdapterOptions } from "./types.js";

/** The v86 versions the adapter is written against (package.json peerDependencies). */
export const V86_SUPPORTED = "^0.5.462";

/** The NIC models: virtio-net (modern Linux), Intel 82540EM (e1000.ko, Windows), NE2000 PCI / RTL8029 (old systems). */
export type V86NicModel = "virtio" | "e1000" | "ne2k";

/** The device behind a {@link V86Nic}. */
export type V86NicDevice = VirtioNet | E1000 | Ne2k;

/** Options of attachToV86. */
export interface AttachToV86Options extends V86PciAdapterOptions {
  nic: V86NicModel;
  /** The NIC's MAC address, "52:54:00:12:34:56" or 6 bytes; unicast. */
  mac: string | Uint8Array;
  /** v86's network id (`net_device.id`): frames travel as `net<id>-send` / `net<id>-receive`. Default 0. */
  netId?: number;
  /** vmdev's wasm build. Default: "release" in Node; in a browser what the page can run. */
  variant?: WasmVariant;
  /** Host → guest frames queued for the NIC before new ones are dropped (counted). Default 4096. */
  maxPending?: number;
  /**
   * Emit v86's UI events `eth-transmit-end` / `eth-receive-end` (payload
   * `[byte_count]`, as v86's own NICs send) for each frame the guest sends
   * and each frame the NIC takes in. Default true.
   */
  uiEvents?: boolean;
  /** Sees every frame the link carries, after the UI events (a `PcapWriter`'s `tap`, a counter). */
  tap?: HostLinkOptions["tap"];
}

/** A NIC attached by attachToV86. */
export interface V86Nic {
  readonly model: V86NicModel;
  readonly device: V86NicDevice;
  readonly adapter: V86PciAdapter;
  /** The link between the NIC and v86's network bus (counters, pending frames). */
  readonly link: HostLink;
  readonly core: VmCore;
  /**
   * While `held`, frames from v86's network bus wait in the link's queue and
   * none reaches the NIC (a migration holds them under the freeze, so nothing
   * writes guest RAM); released, the queued frames go in.
   */
  holdRx(held: boolean): void;
  /** Every layer's counters: the device's (bigint), the adapter's and the link's. */
  counters(): { device: Record<string, bigint>; adapter: V86AdapterCounters; link: ReturnType<HostLink["counters"]> };
  /**
   * Take the NIC off v86's network bus and give the emulator back its own
   * `save_state`/`restore_state` (when nothing wrapped them since). The PCI
   * function stays on v86's bus (v86 cannot remove one): the guest still sees
   * the device, which sends and receives nothing more.
   */
  detach(): void;
  /** detach(), then destroy the device. Guest accesses to it are refused and counted from then on. */
  destroy(): void;
}

type Loader = () => Promise<WebAssembly.Module>;

const isReady = (e: V86Emulator) => (e.v86?.cpu?.memory_size?.[0] ?? 0) > 0;

function listen(e: V86Emulator, name: V86LifecycleEvent, fn: () => void): () => void {
  e.add_listener!(name, fn);
  return () => e.remove_listener?.(name, fn);
}

/** What is missing for the adapter, or null: checked before anything is built, so an unsupported v86 fails clearly. */
function missingInternals(e: V86Emulator): string | null {
  const cpu = e.v86?.cpu;
  const checks: Array<[unknown, string]> = [
    [e.emulator_bus && typeof e.emulator_bus.send === "function" && typeof e.emulator_bus.register === "function", "emulator_bus"],
    // v86 hands out its typed-array views as proxies (libv86 `view`): test what is read, not the class.
    [cpu && cpu.mem8 && cpu.wasm_memory instanceof WebAssembly.Memory && typeof cpu.memory_size?.[0] === "number", "v86.cpu.mem8/wasm_memory/memory_size"],
    [cpu && cpu.io && typeof cpu.io.mmap_register === "function" && typeof cpu.io.register_read === "function", "v86.cpu.io"],
    [cpu && cpu.devices && cpu.devices.pci && typeof cpu.devices.pci.register_device === "function", "v86.cpu.devices.pci"],
    [typeof e.save_state === "function" && typeof e.restore_state === "function", "save_state/restore_state"],
  ];
  for (const [ok, what] of checks) if (!ok) return what;
  return null;
}

function unsupported(what: string): Error {
  return new Error(`attachToV86: this emulator has no ${what}; vmdev's v86 adapter supports v86 ${V86_SUPPORTED} (is another v86 version installed?)`);
}

/**
 * The work of attachToV86 (exported by the Node and browser entries, which
 * supply `load`, the module loader of their platform).
 */
export async function attachV86Nic(emulator: V86Emulator, opts: AttachToV86Options, load: Loader): Promise<V86Nic> {
  const model = opts.nic;
  if (model !== "virtio" && model !== "e1000" && model !== "ne2k") throw new VmdevError(Status.ERR_INVALID_ARG, `attachToV86: nic must be "virtio", "e1000" or "ne2k", not ${JSON.stringify(model)}`);
  const netId = opts.netId ?? 0;
  if (!Number.isInteger(netId) || netId < 0) throw new VmdevError(Status.ERR_INVALID_ARG, `attachToV86: netId ${netId} is not a non-negative integer`);
  if (!emulator || typeof emulator.save_state !== "function") throw unsupported("save_state (not a V86 instance?)");
  const adapter = new V86PciAdapter({ ...opts, name: opts.name ?? "vmdev-net0" });

  // Hold the CPU from the first start until the NIC is on the bus (see the top of this file).
  let attaching = true;
  let held = false;
  const unhold = emulator.add_listener ? listen(emulator, "emulator-started", () => {
    if (!attaching) return;
    held = true;
    emulator.v86?.stop?.();
  }) : () => {};
  let core: VmCore | null = null;
  let device: V86NicDevice | null = null;
  try {
    const module = load();
    module.catch(() => {}); // awaited below; a refusal before that must not leave it unhandled
    if (!isReady(emulator)) {
      if (!emulator.add_listener) throw unsupported("add_listener");
      await new Promise<void>((resolve) => { const off = listen(emulator, "emulator-ready", () => { off(); resolve(); }); });
    } else if (emulator.is_running?.()) {
      held = true;
      await emulator.stop?.();
    }
    const missing = missingInternals(emulator);
    if (missing) throw unsupported(missing);
    const ramBytes = emulator.v86!.cpu.memory_size[0] >>> 0;
    core = await VmCore.create({ module: await module, variant: opts.variant ?? "release", ramBytes, foreign: adapter.guestRam });
    const made = createDevice(core, model, opts, adapter);
    device = made.device;
    adapter.attach(emulator, made.pci);
    const nic = finish(emulator, model, core, device, adapter, netId, opts);
    return nic;
  } catch (err) {
    device?.destroy();
    throw err;
  } finally {
    attaching = false;
    unhold();
    if (held) void emulator.run?.();
  }
}

function createDevice(core: VmCore, model: V86NicModel, opts: AttachToV86Options, adapter: V86PciAdapter): { device: V86NicDevice; pci: PciFunction } {
  const common = { mac: opts.mac, interrupts: adapter.interrupts, name: adapter.name };
  if (model === "virtio") {
    const d = VirtioNet.create(core, { ...common, transport: "pci" });
    return { device: d, pci: d.pci! };
  }
  if (model === "e1000") {
    const d = E1000.create(core, common);
    return { device: d, pci: d.pci };
  }
  const d = Ne2k.create(core, common);
  return { device: d, pci: d.pci! };
}

function finish(
  emulator: V86Emulator, model: V86NicModel, core: VmCore, device: V86NicDevice, adapter: V86PciAdapter, netId: number, opts: AttachToV86Options,
): V86Nic {
  const bus = emulator.emulator_bus!;
  const ui = opts.uiEvents ?? true;
  let rxHeld = false;
  const { link, disconnect } = connectV86NetworkBus(device, emulator, netId, {
    maxPending: opts.maxPending ?? 4096,
    up: () => !rxHeld,
    tap: ui || opts.tap ? (dir, frame) => {
      if (ui) bus.send(dir === "tx" ? "eth-transmit-end" : "eth-receive-end", [frame.length]);
      opts.tap?.(dir, frame);
    } : undefined,
  });

  // The emulator as saveV86Machine/restoreV86Machine see it: the methods found here, not the wrappers.
  const save = emulator.save_state, restore = emulator.restore_state;
  const inner: V86Emulator = {
    save_state: () => save.call(emulator),
    restore_state: (s) => restore.call(emulator, s),
    is_running: () => emulator.is_running?.() ?? false,
    stop: () => emulator.stop?.(),
    run: () => emulator.run?.(),
  };
  const devices: V86MachineDevice[] = [{ device, adapter }];
  const wrappedSave = async (): Promise<ArrayBuffer> => {
    const running = emulator.is_running?.() ?? false;
    if (running) await emulator.stop?.();
    try {
      // Frames on their way in go to the device first (its backlog keeps what the guest has no buffers for).
      link.drain();
      const blob = await saveV86Machine(inner, devices);
      return blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength) as ArrayBuffer;
    } finally {
      if (running) await emulator.run?.();
    }
  };
  const wrappedRestore = async (state: ArrayBuffer): Promise<void> => {
    const st = await restoreV86Machine(inner, new Uint8Array(state), devices);
    if (st !== Status.OK) {
      throw new VmdevError(st, `restore_state: not a machine saved with ${adapter.name} (${model}) attached, or damaged (${statusName(st)}); v86 and the NIC are as they were`);
    }
  };
  emulator.save_state = wrappedSave;
  emulator.restore_state = wrappedRestore;

  let detached = false;
  const detach = () => {
    if (detached) return;
    detached = true;
    disconnect();
    if (emulator.save_state === wrappedSave) emulator.save_state = save;
    if (emulator.restore_state === wrappedRestore) emulator.restore_state = restore;
  };
  return {
    model, device, adapter, link, core,
    holdRx: (held) => { rxHeld = held; if (!held) link.drain(); },
    counters: () => ({ device: device.counters() as Record<string, bigint>, adapter: adapter.counters(), link: link.counters() }),
    detach,
    destroy: () => { detach(); device.destroy(); },
  };
}
